#!/usr/bin/env python3
"""The audit log's person search at province size (``GET /api/v1/audit-log?id_number=``).

For each backend it starts a hub (uvicorn, one process) with a real audit client of the
province 230000, then fills the four person tables in SQL: ``--persons`` persons each, every
record with a closed first version and a current second one (a province after a year of
monthly pushes has many more closed versions than current ones), spread over three counties.
One person carries the hub's own key for a real ID number. PostgreSQL is then analysed (what
autovacuum does after a load).

Timed over HTTP, ``--requests`` each: the log searched for that person, against the same
route unfiltered (the baseline, measured in the same run): median, p95, and the ratio of the
medians. Results replace this benchmark's section of ``bench/RESULTS.md``.

    .venv/bin/python bench/audit_search.py --persons 1000000
    .venv/bin/python bench/audit_search.py --persons 100000 --backends sqlite --no-write

``--append-persons N`` measures instead what the search's rows cost the log's writer: the
append (``audit.service.append_many``, in a transaction of its own, as the access recorder's
flush does) of a read entry naming N persons, each with the region of their record (spread
over three counties), ``--requests`` times; printed only. It runs on the code before
migration 0032 too (persons named without their region), for a before/after comparison.

    .venv/bin/python bench/audit_search.py --append-persons 100 --requests 200
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from ingest import Hub, create_pg_database  # noqa: E402
from reconcile import write_results  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from linkage_hub.keys import Keyring  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402

SECTION = "## The audit log's person search (bench/audit_search.py)"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET = "230102198001010014"  # a valid ID number: the searched person
LOG = "/api/v1/audit-log"

SERIES = {
    "postgresql": "generate_series(1, :n) AS g(i)",
    "sqlite": "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    "SELECT i FROM s) AS g",
}
HEX = {"postgresql": "lpad(to_hex(i), 31, '0')", "sqlite": "printf('%031x', i)"}
UNIT = {  # 5,000 units
    "postgresql": "'12230100MB' || lpad((i % 5000)::text, 7, '0') || 'X'",
    "sqlite": "'12230100MB' || printf('%07d', i % 5000) || 'X'",
}
EXTRA = {
    "records_roster": ("establishment_type, status", "'administrative', 'active'"),
    "records_employment": ("category, status", "'civil_servant', 'active'"),
    "records_cadre": ("leader_level, status, civil_servant_registered", "'none', 'active', false"),
    "records_payroll": (
        "period, establishment_type, funding, gross_pay, status",
        "'2026-10', 'administrative', 'full', 5000, 'paid'",
    ),
}


def fill(url: str, persons: int, target_key: str) -> None:
    """Every table: ``persons`` records, version 1 closed by batch ``b2``, version 2 current."""
    engine = create_engine(url)
    dialect = engine.dialect.name
    now = "now()" if dialect == "postgresql" else "'2026-11-27 00:00:00.000000'"
    with engine.begin() as conn:
        for table, (columns, values) in EXTRA.items():
            for version, closed in ((1, f"{now}, 'b2'"), (2, "NULL, NULL")):
                conn.execute(
                    text(
                        f"INSERT INTO {table} (record_key, version, region, batch_id, client_id, "
                        "recorded_at, closed_at, closed_batch_id, person_key, id_number, "
                        f"unit_code, name, name_norm, {columns}) "
                        f"SELECT 'r' || {HEX[dialect]}, {version}, "
                        f"'23010' || (2 + i % 3), 'b{version}', 'filler', {now}, {closed}, "
                        f"CASE WHEN i = 1 THEN :target ELSE 'p' || {HEX[dialect]} END, "
                        f"'v1:filler', {UNIT[dialect]}, "
                        f"'李四', '李四', {values} FROM {SERIES[dialect]}"
                    ),
                    {"n": persons, "target": target_key},
                )
        if dialect == "postgresql":
            for table in EXTRA:
                conn.execute(text(f"ANALYZE {table}"))
    engine.dispose()


def timed(hub: Hub, params: dict[str, str], requests: int) -> list[float]:
    headers = hub.authorization()
    seconds: list[float] = []
    with httpx.Client(base_url=hub.base, headers=headers, timeout=600) as client:
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(LOG, params={"limit": "100", **params})
            seconds.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text[:300]}")
    return seconds


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def run_backend(backend: str, persons: int, requests: int, pg_admin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lh-bench-audit-") as tmp:
        data_dir = Path(tmp)
        drop = None
        if backend == "postgres":
            url, drop = create_pg_database(pg_admin)
        else:
            url = f"sqlite:///{data_dir / 'hub.db'}"
        try:
            with Hub(url, data_dir, department="audit", region="230000") as hub:
                keyring = Keyring(Settings(database_url=url, data_dir=data_dir))
                started = time.perf_counter()
                fill(url, persons, keyring.person_key(TARGET))
                print(f"{backend}: filled in {time.perf_counter() - started:.0f} s", flush=True)
                timed(hub, {"id_number": TARGET}, 2)  # warm the caches both ways
                base = timed(hub, {}, requests)
                search = timed(hub, {"id_number": TARGET}, requests)
            result = {"backend": backend, "persons": persons, "base": base, "search": search}
            print(
                f"{backend}: search median {statistics.median(search) * 1000:.1f} ms, "
                f"baseline {statistics.median(base) * 1000:.1f} ms",
                flush=True,
            )
            return result
        finally:
            if drop is not None:
                drop()


def append_cost(backend: str, persons: int, appends: int, pg_admin: str) -> list[float]:
    """Seconds of each of ``appends`` appends of a read entry naming ``persons`` persons."""
    import dataclasses

    from linkage_hub.audit.service import Entry, append_many
    from linkage_hub.db import Database
    from linkage_hub.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="lh-bench-append-") as tmp:
        data_dir = Path(tmp)
        drop = None
        if backend == "postgres":
            url, drop = create_pg_database(pg_admin)
        else:
            url = f"sqlite:///{data_dir / 'hub.db'}"
        settings = Settings(
            database_url=url,
            data_dir=data_dir,
            signing_key="bench-signing-key-" + "x" * 32,
            record_key_secret="bench-record-key-secret-" + "x" * 32,
        )
        upgrade(settings)
        db = Database(settings)
        by_region = "persons" in {f.name for f in dataclasses.fields(Entry)}
        seconds: list[float] = []
        try:
            for n in range(appends):
                named = [(f"p{n:012d}{i:019d}", f"23010{2 + i % 3}") for i in range(persons)]
                fields: dict[str, Any] = (
                    {"persons": frozenset(named)}
                    if by_region
                    else {"person_keys": frozenset(k for k, _ in named)}
                )
                entry = Entry(
                    action="read",
                    actor="lhc_" + "0" * 24,
                    department="hr",
                    region="230100",
                    target_type="route",
                    target_id="GET /api/v1/datasets/{dataset}/records",
                    detail={"status": 200, "person_records": persons},
                    regions=frozenset({"230102", "230103", "230104"}),
                    **fields,
                )
                started = time.perf_counter()
                with db.transaction() as session:
                    append_many(session, [entry])
                seconds.append(time.perf_counter() - started)
        finally:
            db.dispose()
            if drop is not None:
                drop()
    return seconds


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        SECTION, "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"({platform.machine()}), load average {os.getloadavg()[0]:.1f}. Command:", "",
        f"    {command}", "",
        "Each person table holds N persons, each record a closed and a current version "
        "(8 N versions). Audit of the province searches the log for one person over HTTP; "
        "the baseline is the same route unfiltered, in the same run.", "",
        "| backend | persons | versions | search median ms | search p95 ms | "
        "baseline median ms | × baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in results:
        search, base = statistics.median(r["search"]), statistics.median(r["base"])
        lines.append(
            f"| {r['backend']} | {r['persons']:,} | {8 * r['persons']:,} | {search * 1000:.1f} "
            f"| {p95(r['search']) * 1000:.1f} | {base * 1000:.1f} | {search / base:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--pg", default=os.environ.get("LINKAGE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    parser.add_argument("--append-persons", type=int, help="time appends naming N persons")
    args = parser.parse_args()
    if args.append_persons:
        for backend in args.backends.split(","):
            cost = append_cost(backend, args.append_persons, args.requests, args.pg)[5:]
            print(
                f"{backend}: append of a read naming {args.append_persons} persons: median "
                f"{statistics.median(cost) * 1000:.2f} ms, p95 {p95(cost) * 1000:.2f} ms "
                f"({len(cost)} appends after 5 of warm-up)",
                flush=True,
            )
        return 0
    results = [
        run_backend(b, args.persons, args.requests, args.pg) for b in args.backends.split(",")
    ]
    section = report(results, "python bench/audit_search.py " + shlex.join(sys.argv[1:]))
    print(section)
    if not args.no_write:
        write_results(section, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
