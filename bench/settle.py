#!/usr/bin/env python3
"""Incremental reconciliation benchmark: how long until a write's findings are settled.

Loads the province of bench/reconcile.py (``--persons``, default 1,000,000), times the
single-pass baseline and a full run (which leaves the watermark), then writes as a push does
— close the current versions, insert the new ones, append their change-feed rows, one
transaction per batch — and times the incremental run the hub starts after it:

1. **1 % of each person dataset**, one batch each (roster, employment, cadres, payroll): the
   incremental run's time against the full run's, measured in the same process (goal ≤ 0.1 ×);
   then **the same 1 % again**: back as they were (the findings the first batches opened
   resolve) or, for the cadres' names, changed again (their findings stand, found again);
2. **one record**, 100 times, each a different person (the four datasets in turn): p50, p95 and
   max of the incremental run (goal: settled ≤ 1 s after the 201, p95);
3. a **full run after them** must change nothing (new = resolved = reopened = 0), or the
   benchmark fails.

What a write waits for in the hub is the on-write delay (``LINKAGE_RECONCILE_ON_WRITE_DELAY``,
0.2 s) and then this run; the figures add the delay to give the settle time. The batch is
written by SQL here, not by HTTP: the province's person keys and record keys are the bench's
own (bench/reconcile.py), not the hub's keyed hashes, so a pushed record would be another
record. tests/reconciliation/test_incremental.py covers the path from the 201 through the
hub's own thread.

    .venv/bin/python bench/settle.py --persons 100000 --backend both
    .venv/bin/python bench/settle.py --results          # 1 M persons, both databases
    .venv/bin/python bench/settle.py --backend postgres --statements   # where a 1 % run's time goes
    .venv/bin/python bench/settle.py --backend postgres --jit-ab 8     # JIT on/off, interleaved
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reconcile as rb

from linkage_hub.db import Database
from linkage_hub.migrations import upgrade
from linkage_hub.reconciliation.runs import INCREMENTAL, create_run, execute_run
from linkage_hub.records import tally
from linkage_hub.settings import Settings

DELAY = Settings.model_fields["reconcile_on_write_delay"].default
TITLE = "## Incremental reconciliation (bench/settle.py)"

# What a new version changes, per table (column → SQL over the old version ``t``); a person is
# picked by the first two hex digits of its key: three of 256 values, about 1.2 %.
CHANGES: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "roster": (
        "records_roster",
        {
            "status": "CASE WHEN t.status = 'active' THEN 'exited' ELSE 'active' END",
            "exited_on": "CASE WHEN t.status = 'active' THEN {date} END",
        },
        ("a7", "3c", "e1"),
    ),
    "employment": (
        "records_employment",
        {
            "status": "CASE WHEN t.status = 'active' THEN 'retired' ELSE 'active' END",
            "status_on": "{date}",
        },
        ("08", "9d", "b4"),
    ),
    "cadres": ("records_cadre", {"name_norm": "t.name_norm || '甲'"}, ("42", "77", "f0")),
    "payroll": (
        "records_payroll",
        {"status": "CASE WHEN t.status = 'paid' THEN 'suspended' ELSE 'paid' END"},
        ("11", "5f", "c2"),
    ),
}


UPKEEP: list[float] = []  # seconds of each batch's tally.apply, in the batch's transaction


def write_batch(db: Database, dataset: str, where: str, params: dict[str, Any]) -> tuple[str, int]:
    """A new version of every current record of ``dataset`` matching ``where`` (over ``t``),
    with its feed row, committed as one batch: what a push leaves behind."""
    table, changes, _ = CHANGES[dataset]
    date = "CAST('2026-10-09' AS DATE)" if db.dialect == "postgresql" else "'2026-10-09'"
    batch = uuid.uuid4().hex
    now = dt.datetime.now(dt.UTC)
    columns = rb.COLUMNS[table]
    values = []
    for column in columns:
        if column in changes:
            values.append(changes[column].format(date=date))
        elif column == "version":
            values.append("t.version + 1")
        elif column in ("batch_id", "recorded_at"):
            values.append(f":{column}")
        else:
            values.append(f"t.{column}")
    bound = {**params, "batch_id": batch, "recorded_at": now}
    with db.engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text(f"SELECT t.id FROM {table} t WHERE t.closed_at IS NULL AND {where}"), bound
            )
        ]
        if not ids:
            return batch, 0
        chosen = ", ".join(str(i) for i in ids)
        seq = conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM records_change")).scalar_one()
        conn.execute(
            text(
                f"UPDATE {table} SET closed_at = :recorded_at, closed_batch_id = :batch_id "
                f"WHERE id IN ({chosen})"
            ),
            bound,
        )
        conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
                f"FROM {table} t WHERE t.id IN ({chosen})"
            ),
            bound,
        )
        conn.execute(
            text(
                "INSERT INTO records_change (dataset, record_key, version, op, region, batch_id, "
                f"recorded_at) SELECT '{dataset}', record_key, version, 'upsert', region, "
                f"batch_id, recorded_at FROM {table} WHERE batch_id = :batch_id "
                "AND closed_at IS NULL"
            ),
            bound,
        )
        started = time.perf_counter()
        with Session(bind=conn) as session:  # the connection's transaction: as the push's
            tally.apply(session, batch_id=batch, after_seq=seq)
        UPKEEP.append(time.perf_counter() - started)
    return batch, len(ids)


def one_percent(db: Database, dataset: str) -> int:
    """A batch of a new version of each record of ``dataset`` whose person is among the ~1 %
    its prefixes pick (:data:`CHANGES`); the number of records."""
    picked = ", ".join(f"'{p}'" for p in CHANGES[dataset][2])
    return write_batch(db, dataset, f"substr(t.person_key, 1, 2) IN ({picked})", {})[1]


def incremental_run(db: Database, region: str) -> tuple[float, dict[str, Any]]:
    """The run the on-write thread starts (same parameters as the settling full run)."""
    start = time.perf_counter()
    with db.transaction() as session:
        run, lock = create_run(
            session,
            db,
            region=region,
            period=rb.PERIOD,
            as_of=rb.AS_OF,
            requested_by="bench",
            kind=INCREMENTAL,
        )
        run_id = run.id
    status = execute_run(db, run_id, lock)
    elapsed = time.perf_counter() - start
    with db.transaction() as session:
        row = session.execute(
            text("SELECT warnings, counts, timings, error FROM reconciliation_run WHERE id = :id"),
            {"id": run_id},
        ).one()
    if status != "succeeded":
        raise SystemExit(f"incremental run failed: {row[3]}")
    warnings, counts, timings = _json(row[0]), _json(row[1]), _json(row[2])
    if warnings:
        raise SystemExit(f"the run after the batch did not run incrementally: {warnings}")
    return elapsed, {"counts": counts, "timings": timings}


def jit_ab(db: Database, region: str, reps: int) -> None:
    """``--jit-ab``: 1 % batches of each dataset, each followed by its incremental run with
    PostgreSQL's JIT off (as the engine sets it) and on (the statement rewritten on its way to
    the server), the two interleaved and their order swapped every repetition, so both see
    the same machine and as many batches that open findings as batches that resolve them
    (a batch flips the same persons back; give an even count). Medians on stderr."""
    arm = {"jit": "off"}
    rewritten = Counter[str]()

    def flip(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> Any:
        if statement == "SET LOCAL jit = off":
            statement = f"SET LOCAL jit = {arm['jit']}"
            rewritten[arm["jit"]] += 1
        return statement, parameters

    event.listen(db.engine, "before_cursor_execute", flip, retval=True)
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for rep in range(reps):
            for dataset in CHANGES:
                for jit in ("on", "off") if rep % 2 == 0 else ("off", "on"):
                    arm["jit"] = jit
                    one_percent(db, dataset)
                    elapsed, _ = incremental_run(db, region)
                    times.setdefault((dataset, jit), []).append(elapsed)
    finally:
        event.remove(db.engine, "before_cursor_execute", flip)
    if rewritten["on"] != reps * len(CHANGES):  # the engine's statement changed: off vs off
        raise SystemExit(f"--jit-ab: the engine's 'SET LOCAL jit = off' was seen {rewritten}")
    for dataset in CHANGES:
        on, off = (statistics.median(times[(dataset, jit)]) for jit in ("on", "off"))
        print(f"jit {dataset} 1 %: on {on:.3f} s, off {off:.3f} s (off ÷ on {off / on:.3f})",
              file=sys.stderr)  # fmt: skip
    on_s, off_s = (sum(sum(v) for (_, j), v in times.items() if j == jit) for jit in ("on", "off"))
    print(f"jit, all {reps * 4} pairs: on {on_s:.2f} s, off {off_s:.2f} s "
          f"(off ÷ on {off_s / on_s:.3f})", file=sys.stderr)  # fmt: skip


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


class StatementClock:
    """Wall time per SQL statement (its first 150 characters) while ``on``: where a run's
    seconds go, statement by statement (``--statements``)."""

    def __init__(self, db: Database) -> None:
        self.on = False
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        event.listen(db.engine, "before_cursor_execute", self._before)
        event.listen(db.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["statement_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            key = " ".join(statement.split())[:150]
            self.seconds[key] += time.perf_counter() - conn.info["statement_started"]
            self.calls[key] += 1

    def report(self, title: str, n: int = 15) -> None:
        print(f"{title}: {sum(self.seconds.values()):.2f} s in statements", file=sys.stderr)
        for key, seconds in self.seconds.most_common(n):
            print(f"  {seconds * 1000:7.1f} ms ×{self.calls[key]:<3} {key}", file=sys.stderr)
        self.seconds.clear()
        self.calls.clear()


def bench_backend(
    backend: str,
    persons: int,
    province: rb.Province,
    work: Path,
    statements: bool = False,
    jit_reps: int = 0,
) -> dict[str, Any]:
    region = rb.PROVINCE
    if backend == "sqlite":
        url, admin, name = f"sqlite:///{work / 'settle.db'}", None, None
    else:
        admin = create_engine(rb.PG_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"lh_settle_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(rb.PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    settings = Settings(
        database_url=url, data_dir=work, record_key_secret="bench-record-key-" + "x" * 32
    )
    try:
        upgrade(settings)
        if backend == "sqlite":
            rb.load_sqlite(work / "settle.db", province)
        else:
            rb.load_postgres(url, province)
        db = Database(settings)
        try:
            rb.time_baseline(db, run_settings=False)  # warm the cache
            baseline = min(rb.time_baseline(db, run_settings=flag) for flag in (False, True))
            full_s, _ = rb.time_run(db, region)  # leaves the watermark
            clock = StatementClock(db) if statements else None
            batches = []
            # The same persons twice: first their records change and findings open; then they
            # change back (roster, employment, payroll: those findings resolve) or again (cadre
            # names: the findings stand and are found again, their evidence renewed).
            for label in ("1 %", "1 % again"):
                for dataset in CHANGES:
                    n = one_percent(db, dataset)
                    if clock:
                        clock.on = True
                    elapsed, run = incremental_run(db, region)
                    if clock:
                        clock.on = False
                        clock.report(f"{backend} {dataset} {label}")
                    steps_of = {step: float(seconds) for step, seconds in run["timings"].items()}
                    print(
                        f"{backend} {dataset} {label}: {elapsed:.2f} s {steps_of}; the push's "
                        f"head-count upkeep {UPKEEP[-1]:.3f} s",
                        file=sys.stderr,
                    )
                    batches.append((f"{dataset} {label}", n, elapsed, steps_of))
            singles: list[float] = []
            steps: dict[str, list[float]] = {}
            keys = _some_person_keys(db, 100)
            for i, key in enumerate(keys):
                dataset = list(CHANGES)[i % 4]
                _, n = write_batch(db, dataset, "t.person_key = :key", {"key": key})
                if n == 0:  # the person has no record there: their roster entry, then
                    write_batch(db, "roster", "t.person_key = :key", {"key": key})
                elapsed, run = incremental_run(db, region)
                singles.append(elapsed)
                for step, seconds in run["timings"].items():
                    steps.setdefault(step, []).append(float(seconds))
            if jit_reps and backend == "postgres":
                jit_ab(db, region, jit_reps)
            after_s, after = rb.time_run(db, region)
            changed = {
                rule: c
                for rule, c in after["counts"].items()
                if c["new"] or c["resolved"] or c["reopened"]
            }
            if changed:
                raise SystemExit(f"{backend}: the full run after the incremental runs changed "
                                 f"findings: {changed}")  # fmt: skip
        finally:
            db.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return {
        "backend": backend,
        "persons": persons,
        "baseline": baseline,
        "full": full_s,
        "full_after": after_s,
        "batches": batches,
        "singles": singles,
        "single_steps": {k: statistics.median(v) for k, v in steps.items()},
    }


def _some_person_keys(db: Database, n: int) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT person_key FROM records_roster WHERE closed_at IS NULL "
                "AND substr(person_key, 1, 1) = '5' ORDER BY person_key LIMIT :n"
            ),
            {"n": n},
        )
        return [r[0] for r in rows]


def report(figures: Sequence[dict[str, Any]], command: str) -> str:
    lines = [
        TITLE,
        "",
        f"Command: `{command}`  ",
        f"Measured {dt.date.today().isoformat()} on this machine (2 cores, shared: expect noise); "
        f"settle = the on-write delay ({DELAY} s) + the incremental run.",
        "",
        "| database | persons | baseline | full run | full ÷ baseline | batch | records "
        "| incremental run | ÷ full run | settle | slowest steps |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        for dataset, n, elapsed, steps in f["batches"]:
            lines.append(
                f"| {f['backend']} | {f['persons']:,} | {f['baseline']:.2f} s | {f['full']:.2f} s "
                f"| {f['full'] / f['baseline']:.2f} × | {dataset} | {n:,} | {elapsed:.2f} s "
                f"| {elapsed / f['full']:.3f} × | {elapsed + DELAY:.2f} s "
                f"| {_slowest(steps)} |"
            )
    lines += [
        "",
        "One record changed, 100 times (a different person each time, the four datasets in "
        "turn), each settled before the next:",
        "",
        "| database | persons | run p50 | run p95 | run max | settle p95 (+ delay) "
        "| slowest steps (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        s = sorted(f["singles"])
        p95 = s[int(0.95 * (len(s) - 1))]
        lines.append(
            f"| {f['backend']} | {f['persons']:,} | {statistics.median(s):.3f} s "
            f"| {p95:.3f} s | {s[-1]:.3f} s | {p95 + DELAY:.3f} s | {_slowest(f['single_steps'])} |"
        )
    lines += [
        "",
        "A full run after all of them changed nothing (new = resolved = reopened = 0 for every "
        "rule; the benchmark fails otherwise).",
        "",
    ]
    return "\n".join(lines)


def _slowest(steps: dict[str, float], n: int = 3) -> str:
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{step} {seconds:.2f} s" for step, seconds in top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--results", action="store_true", help="write bench/RESULTS.md")
    parser.add_argument(
        "--statements", action="store_true", help="print each 1 %% run's slowest SQL statements"
    )
    parser.add_argument(
        "--jit-ab",
        type=int,
        default=0,
        metavar="REPS",
        help="PostgreSQL: also time REPS (even) rounds of 1 %% batches with JIT on and off",
    )
    args = parser.parse_args(argv)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    started = time.perf_counter()
    province = rb.generate(args.persons)
    print(f"generated {args.persons:,} persons in {time.perf_counter() - started:.1f} s")
    figures = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as work:
            figures.append(
                bench_backend(
                    backend, args.persons, province, Path(work), args.statements, args.jit_ab
                )
            )
    command = "python bench/settle.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text_ = report(figures, command.strip())
    print(text_)
    if args.results:
        rb.write_results(text_, TITLE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
