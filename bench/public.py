#!/usr/bin/env python3
"""The public face at province size: publishing a disclosure, and what a public page costs.

Generates the reconciliation benchmark's province (``--persons``, default 1,000,000; 1 unit per
50 persons, groups of 8 units under a parent), marks every 50th parent classified (its seven
children are then hidden too, by the recursive walk), loads it into PostgreSQL and SQLite, and
times, in one run per database:

1. the baseline: the staffing report's rows for the province on the same day — the figures a
   disclosure reuses, so publishing cannot be cheaper than this;
2. publishing the province (the figures, the document numbers, leader posts against serving
   cadres, the classified walk, and one row per public unit written);
3. requests through the app in-process (no network): ``/health/live`` (the floor), a unit as
   JSON, a unit page, the province's first page of units (JSON, 1,000 units), every unit of the
   province (JSON, a tenth as many requests) and the region page (200 units), as the median and
   p95 of ``--requests`` each, and their ratios to the floor. Every read walks the classified
   subtrees again (a unit classified since publication is withdrawn at once);
4. the first public read of a publication in a process: the codes it could name, read once
   for its ETags (``disclosures.named_codes``), against a unit JSON's median.

    .venv/bin/python bench/public.py --persons 200000
    .venv/bin/python bench/public.py --results      # 1 M persons, both databases
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import reconcile as prov  # bench/reconcile.py: the province generator and loaders
from ingest import create_pg_database
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi.testclient import TestClient  # noqa: E402

from linkage_hub.app import create_app  # noqa: E402
from linkage_hub.auth.principal import Principal  # noqa: E402
from linkage_hub.db import Database  # noqa: E402
from linkage_hub.domain import Department  # noqa: E402
from linkage_hub.migrations import upgrade  # noqa: E402
from linkage_hub.public import disclosures  # noqa: E402
from linkage_hub.reports import staffing  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402

REGION = prov.PROVINCE
DAY = prov.AS_OF
OFFICE = Principal("bench", "bench", Department.establishment, REGION, frozenset({"reconcile"}))


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=data_dir,
        signing_key="bench-signing-key-" + "x" * 32,
        record_key_secret="bench-record-key-" + "x" * 32,
        reconcile_on_write=False,
        bulletin_cron=None,
        deliver_in_process=False,
        public_requests_per_minute=10_000_000,
        public_concurrency=1000,
        log_level="WARNING",
    )


def classify(db: Database) -> int:
    """Every 50th parent of a group of 8 is classified: the group (8 units) goes dark."""
    with db.transaction() as session:
        parents = (
            session.execute(
                text(
                    "SELECT unit_code FROM registry_unit WHERE parent_code IS NULL "
                    "ORDER BY unit_code"
                )
            )
            .scalars()
            .all()
        )
        chosen = parents[::50]
        for code in chosen:
            session.execute(
                text("UPDATE registry_unit SET classified = :yes WHERE unit_code = :c"),
                {"yes": True, "c": code},
            )
    return len(chosen)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def requests(client: TestClient, path: str, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run_backend(backend: str, province: prov.Province, work: Path, n: int) -> dict[str, Any]:
    if backend == "postgres":
        url, admin = create_pg_database(prov.PG_ADMIN)
    else:
        url, admin = f"sqlite:///{work / 'public.db'}", None
    try:
        settings = settings_for(url, work)
        upgrade(settings)
        (prov.load_postgres if backend == "postgres" else prov.load_sqlite_url)(url, province)
        db = Database(settings)
        hidden_parents = classify(db)
        baselines, publishes = [], []
        for _ in range(3):  # alternate, take the best of three of each
            with db.transaction() as session:
                baselines.append(
                    timed(lambda: staffing.staffing_rows(session, REGION, DAY, settings.zone))[0]
                )
            with db.transaction() as session:
                seconds, made = timed(
                    lambda: disclosures.publish(session, OFFICE, REGION, DAY, settings.zone)
                )
                publishes.append(seconds)
                units = made.unit_count
        # The codes a publication could name, read once a process for its ETags: the first
        # public read of a publication after a start pays it (best of three, cache emptied).
        firsts = []
        for _ in range(3):
            disclosures.forget_named()
            with db.transaction() as session:
                firsts.append(timed(lambda: disclosures.named_codes(session, made.id))[0])
        with db.transaction() as session:
            some = session.execute(
                text(
                    "SELECT unit_code FROM public_disclosure_unit WHERE parent_code IS NOT NULL "
                    "ORDER BY unit_code LIMIT 1 OFFSET 500"
                )
            ).scalar_one()
        app = create_app(settings, database=db)
        paths = {
            "/health/live": "/health/live",
            "unit JSON": f"/public/v1/disclosures/{REGION}/units/{some}",
            "unit page": f"/public/disclosures/{REGION}/units/{some}",
            "1,000 units JSON": f"/public/v1/disclosures/{REGION}?limit=1000",
            "every unit JSON": f"/public/v1/disclosures/{REGION}",
            "region page (200 units)": f"/public/disclosures/{REGION}",
        }
        reads = {}
        with TestClient(app) as client:
            for path in paths.values():
                requests(client, path, 20)  # warm
            for name, path in paths.items():
                # the whole province is megabytes: fewer of those
                reads[name] = requests(client, path, n if "every" not in name else max(n // 10, 5))
        db.dispose()
        return {
            "backend": backend,
            "baseline": min(baselines),
            "publish": min(publishes),
            "named": min(firsts),
            "units": units,
            "hidden_parents": hidden_parents,
            "reads": reads,
        }
    finally:
        if admin is not None:
            admin()


def report(results: list[dict[str, Any]], persons: int, command: str) -> str:
    lines = [
        "## The public face (bench/public.py)",
        "",
        f"`{command}` — {dt.date.today()}, {persons:,} persons, "
        f"{results[0]['units']:,} public units (every 50th group of 8 classified and hidden). "
        "Publishing against the staffing report's rows for the same region and day (the figures "
        "it reuses); reads in-process (TestClient, no network) against `/health/live` on the "
        "same app, median and p95.",
        "",
        "| database | staffing rows (baseline) | publish | ratio |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['baseline']:.2f} s | {r['publish']:.2f} s | "
            f"{r['publish'] / r['baseline']:.2f} × |"
        )
    lines.append("")
    for r in results:
        lines.append(
            f"- {r['backend']}: the codes the publication could name, read by the first public "
            f"request of a process for its ETags (`named_codes`): {r['named'] * 1000:.0f} ms, "
            f"{r['named'] / r['reads']['unit JSON'][0]:.1f} × a unit JSON's median."
        )
    lines += [
        "",
        "| database | request | median | p95 | median ÷ /health/live |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        floor = r["reads"]["/health/live"][0]
        for name, (median, p95) in r["reads"].items():
            lines.append(
                f"| {r['backend']} | {name} | {median * 1000:.2f} ms | {p95 * 1000:.2f} ms | "
                f"{median / floor:.1f} × |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--results", action="store_true", help="write bench/RESULTS.md")
    args = parser.parse_args()
    province = prov.generate(args.persons)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="lh-bench-public-") as work:
            result = run_backend(backend, province, Path(work), args.requests)
        results.append(result)
        print(result)
    command = "python bench/public.py " + " ".join(sys.argv[1:])
    section = report(results, args.persons, command.strip())
    print(section)
    if args.results:
        prov.write_results(section, "## The public face (bench/public.py)")
        print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
