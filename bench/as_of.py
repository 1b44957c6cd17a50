#!/usr/bin/env python3
"""What a read ``as_of`` a moment costs: the settle before it, idle and beside a writer.

A read of a dataset as of a moment first settles (``linkage_hub.records.queries.settle``):
on PostgreSQL it takes the dataset's merge advisory lock and the regions lock, both shared,
for one statement; on SQLite it takes the database's write lock (``BEGIN IMMEDIATE``) on a
connection of its own and drops it. This benchmark pushes a city's roster (``--records``,
default 20,000, NDJSON batches of ``--batch`` through ``POST /api/v1/datasets/roster/batches``
as the establishment office of 230100), takes a moment after it, and times in-process
(TestClient on ``create_app``, no network), as the audit office of the city, the first page
of 50 roster records (PostgreSQL analysed after the pushes, as autovacuum would be soon
after; SQLite as the hub leaves it):

1. **current** (no ``as_of``): the baseline;
2. **as_of** the moment (the settle, then the historical page statement);
3. **as_of, settle skipped** (``queries.settle`` replaced by a no-op for those requests
   only): the historical statement alone, so the settle's share is the difference;

``--reads`` of each, the three interleaved and their order rotated every round, so the
shared machine's noise falls on all alike; then the same three again while a thread pushes
employment batches of the same city (``--batch`` rows, as the HR office, a name changed each
round so every batch writes versions) through the same app. On PostgreSQL the roster read
should not wait for an employment push (another dataset's merge lock; the regions lock is
shared on both sides); on SQLite the settle waits for whichever writer holds the write lock.
Median and p95 in ms, each against the idle baseline and against the current read of the
same phase; reads that started while a push was in flight are counted.

    .venv/bin/python bench/as_of.py --backend both
    .venv/bin/python bench/as_of.py --backend sqlite --records 50000 --reads 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingest import DEFAULT_PG, FIELDS, create_pg_database, rows
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi.testclient import TestClient  # noqa: E402

from linkage_hub.app import create_app  # noqa: E402
from linkage_hub.auth.service import create_client  # noqa: E402
from linkage_hub.db import Database  # noqa: E402
from linkage_hub.identifiers import uscc_check_char  # noqa: E402
from linkage_hub.migrations import upgrade  # noqa: E402
from linkage_hub.records import queries  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402

TITLE = "## Reads as of a moment (bench/as_of.py)"
REGION = "230100"  # ingest.rows' units are all of Harbin
DISTRICT = "230102"  # --district-every: that share of the roster in units of one district
PAGE = "/api/v1/datasets/roster/records"
VARIANTS = ("current", "as_of", "as_of, settle skipped")


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=data_dir,
        signing_key="bench-signing-key-" + "x" * 32,
        record_key_secret="bench-record-key-" + "x" * 32,
        reconcile_on_write=False,  # the writer is the pushes alone, not the runs after them
        bulletin_cron=None,
        deliver_in_process=False,
        log_level="WARNING",
    )


def headers(
    client: TestClient, db: Database, department: str, region: str = REGION
) -> dict[str, str]:
    """A real client of ``department`` in ``region`` and a token from ``POST /oauth/token``."""
    with db.transaction() as session:
        created = create_client(
            session, name=f"bench {department}", department=department, region=region
        )
        client_id = created.client.client_id
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": created.client_secret,
        },
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def district_unit(n: int) -> str:
    body = f"12{DISTRICT}MD{n % 100:07d}"
    return body + uscc_check_char(body)


def roster_rows(count: int, district_every: int = 0) -> list[dict[str, Any]]:
    """``ingest.rows``; with ``district_every``, every such row in a unit of the district."""
    out = [dict(zip(FIELDS, row, strict=True)) for row in rows(count)]
    if district_every:
        for i in range(0, count, district_every):
            out[i]["unit_code"] = district_unit(i)
    return out


def employment_rows(count: int, round_: int) -> list[dict[str, Any]]:
    """The same persons as employment records; the name changes each round (new versions)."""
    out = []
    for record in roster_rows(count):
        out.append(
            {
                "id_number": record["id_number"],
                "unit_code": record["unit_code"],
                "name": record["name"] + str(round_),
                "category": "institution_staff",
                "status": "active",
                "hired_on": record["entered_on"],
            }
        )
    return out


def push(client: TestClient, auth: dict[str, str], dataset: str, batch: list[dict[str, Any]]):
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch).encode()
    answer = client.post(
        f"/api/v1/datasets/{dataset}/batches",
        content=body,
        headers={**auth, "content-type": "application/x-ndjson"},
    )
    if answer.status_code != 201:
        raise SystemExit(f"{dataset} push: {answer.status_code} {answer.text[:300]}")
    return answer


@contextmanager
def settle_skipped(calls: list[int]) -> Iterator[None]:
    """``queries.settle`` as a no-op that counts its calls (the list endpoint reaches it
    through the module, ``queries.settle``): if it is not called, the bench says so."""
    real = queries.settle

    def skipped(*_args: Any, **_kwargs: Any) -> None:
        calls[0] += 1

    queries.settle = skipped  # type: ignore[assignment]
    try:
        yield
    finally:
        queries.settle = real  # type: ignore[assignment]


class Writer(threading.Thread):
    """Pushes employment batches of the city until stopped; ``busy`` while a push is in
    flight (a read that starts then may meet the writer's locks)."""

    def __init__(self, client: TestClient, auth: dict[str, str], records: int, batch: int):
        super().__init__(daemon=True)
        self.client, self.auth, self.records, self.batch = client, auth, records, batch
        self.stop = threading.Event()
        self.busy = threading.Event()
        self.seconds: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        round_ = 0
        try:
            while not self.stop.is_set():
                round_ += 1
                everyone = employment_rows(self.records, round_)
                for start in range(0, len(everyone), self.batch):
                    if self.stop.is_set():
                        return
                    self.busy.set()
                    began = time.perf_counter()
                    push(self.client, self.auth, "employment", everyone[start : start + self.batch])
                    self.seconds.append(time.perf_counter() - began)
                    self.busy.clear()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.busy.clear()


def measure(
    client: TestClient,
    auth: dict[str, str],
    moment: str,
    reads: int,
    writer: Writer | None = None,
) -> dict[str, Any]:
    """``reads`` of each variant, interleaved, the order rotated every round."""
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    during: dict[str, int] = dict.fromkeys(VARIANTS, 0)  # started while a push was in flight
    refused: dict[str, int] = dict.fromkeys(VARIANTS, 0)
    calls = [0]
    params: dict[str, dict[str, str]] = {
        "current": {"limit": "50"},
        "as_of": {"limit": "50", "as_of": moment},
        "as_of, settle skipped": {"limit": "50", "as_of": moment},
    }

    def one(variant: str) -> None:
        busy = writer is not None and writer.busy.is_set()
        began = time.perf_counter()
        if variant == "as_of, settle skipped":
            with settle_skipped(calls):
                answer = client.get(PAGE, params=params[variant], headers=auth)
        else:
            answer = client.get(PAGE, params=params[variant], headers=auth)
        elapsed = time.perf_counter() - began
        if answer.status_code == 503:  # SQLite: the busy timeout passed behind a writer
            refused[variant] += 1
            return
        if answer.status_code != 200 or len(answer.json()["items"]) != 50:
            raise SystemExit(f"{variant}: {answer.status_code} {answer.text[:300]}")
        samples[variant].append(elapsed)
        during[variant] += busy

    for _ in range(10):  # warm every path
        for variant in VARIANTS:
            one(variant)
    for v in VARIANTS:
        samples[v].clear()
        during[v] = refused[v] = 0
    if writer is not None:
        writer.start()
        while not writer.seconds and writer.is_alive():  # the first push under way
            time.sleep(0.01)
    try:
        for i in range(reads):
            shift = i % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                one(variant)
    finally:
        if writer is not None:
            writer.stop.set()
            writer.join()
    if calls[0] < reads:
        raise SystemExit("queries.settle was not called by the list endpoint: the bench is stale")
    if writer is not None and writer.error is not None:
        raise SystemExit(f"writer: {writer.error!r}")
    out: dict[str, Any] = {}
    for v in VARIANTS:
        ordered = sorted(samples[v])
        out[v] = {
            "p50": statistics.median(ordered),
            "p95": ordered[max(int(len(ordered) * 0.95) - 1, 0)],
            "n": len(ordered),
            "during": during[v],
            "refused": refused[v],
        }
    return out


def run_backend(backend: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    if backend == "postgres":
        url, drop = create_pg_database(args.pg_url)
    else:
        url, drop = f"sqlite:///{work / 'as_of.db'}", None
    try:
        settings = settings_for(url, work)
        upgrade(settings)
        db = Database(settings)
        app = create_app(settings, database=db)
        load = os.getloadavg()[0]
        with TestClient(app) as client:
            office = headers(client, db, "establishment")
            hr = headers(client, db, "hr")
            audit = headers(client, db, "audit", args.read_region)
            everyone = roster_rows(args.records, args.district_every)
            began = time.perf_counter()
            for start in range(0, len(everyone), args.batch):
                push(client, office, "roster", everyone[start : start + args.batch])
            loaded = time.perf_counter() - began
            if backend == "postgres":  # as autovacuum would soon after the pushes
                with db.engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            time.sleep(0.05)
            moment = dt.datetime.now(dt.UTC).isoformat()
            time.sleep(0.05)
            idle = measure(client, audit, moment, args.reads)
            writer = Writer(client, hr, args.records, args.batch)
            busy = None if args.idle_only else measure(client, audit, moment, args.reads, writer)
        db.dispose()
        return {
            "backend": backend,
            "load": load,
            "loaded": loaded,
            "idle": idle,
            "busy": busy,
            "pushes": writer.seconds,
        }
    finally:
        if drop is not None:
            drop()


def report(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    district = (
        f", every {args.district_every:,}th in a unit of {DISTRICT}" if args.district_every else ""
    )
    loads = ", ".join(f"{r['backend']} {r['load']:.2f}" for r in results)
    lines = [
        TITLE,
        "",
        f"`{command}` — {when}, {os.cpu_count()} cores, load average (1 min) when each "
        f"database started: {loads}. {args.records:,} roster records pushed through the API "
        f"in batches of {args.batch:,}{district}; the first page of 50 as the audit office "
        f"of {args.read_region}, "
        f"{args.reads} reads of each variant, interleaved; the writer pushes employment "
        f"batches of {args.batch:,} of the same city in a thread of the same process.",
        "",
        "| database | writer | read | p50 | p95 | p50 ÷ baseline | p95 ÷ baseline "
        "| p50 ÷ current, same phase | reads during a push | 503 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        base = r["idle"]["current"]
        for phase, label in (("idle", "none"), ("busy", "employment")):
            if r[phase] is None:
                continue
            current = r[phase]["current"]
            for v in VARIANTS:
                m = r[phase][v]
                lines.append(
                    f"| {r['backend']} | {label} | {v} | {m['p50'] * 1000:.2f} ms "
                    f"| {m['p95'] * 1000:.2f} ms | {m['p50'] / base['p50']:.2f} × "
                    f"| {m['p95'] / base['p95']:.2f} × | {m['p50'] / current['p50']:.2f} × "
                    f"| {m['during']} / {m['n']} | {m['refused']} |"
                )
    lines.append("")
    for r in results:
        pushes = sorted(r["pushes"])
        if pushes:
            lines.append(
                f"{r['backend']}: roster loaded in {r['loaded']:.1f} s; {len(pushes)} employment "
                f"pushes during the reads, median {statistics.median(pushes) * 1000:.0f} ms, "
                f"max {pushes[-1] * 1000:.0f} ms."
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2_000, help="rows a push")
    parser.add_argument("--reads", type=int, default=300, help="reads of each variant a phase")
    parser.add_argument(
        "--district-every",
        type=int,
        default=0,
        help=f"every such roster record in a unit of {DISTRICT} (the rest: of {REGION})",
    )
    parser.add_argument(
        "--read-region", default=REGION, help=f"the audit office's region ({DISTRICT}: the few)"
    )
    parser.add_argument("--idle-only", action="store_true", help="no writer phase")
    parser.add_argument(
        "--pg-url", default=os.environ.get("LINKAGE_BENCH_POSTGRES_URL", DEFAULT_PG)
    )
    args = parser.parse_args()
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="lh-bench-as-of-") as work:
            results.append(run_backend(backend, Path(work), args))
    command = "python bench/as_of.py " + " ".join(sys.argv[1:])
    print(report(results, args, command.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
