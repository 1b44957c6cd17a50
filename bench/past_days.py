"""The staffing report of a past day, over records with a history of leaving and coming back.

The reports' day predicates (``linkage_hub.validtime``) read a record's current version and,
when its current spell starts after the day, the version that ended an earlier spell. This
benchmark loads the province of ``bench/reconcile.py``, spreads entry and hire dates over
2010–2023, gives a share of the roster, HR and cadre records a return (an ended version, then
an active one from a later day, written by one batch as an update writes them), and times the
province's staffing rows on a day before most returns (2015-06-30) against the same rows on
the benchmark's as-of day, in the same run. ``--src`` runs another checkout's code on the same
data shape (before/after).

    python bench/past_days.py --persons 200000 --backend postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import reconcile as prov  # bench/reconcile.py: the province generator and loaders
from ingest import create_pg_database
from sqlalchemy import inspect, text

ROOT = Path(__file__).resolve().parents[1]
PAST = dt.date(2015, 6, 30)

# table: (start, end, ended status, the column an active record's end date is in)
SPELLS = {
    "records_roster": ("entered_on", "exited_on", "exited"),
    "records_employment": ("hired_on", "status_on", "transferred_out"),
    "records_cadre": ("appointed_on", "removed_on", "removed"),
}


def _day(dialect: str, base: str, days: str) -> str:
    if dialect == "postgresql":
        return f"(DATE '{base}' + CAST({days} AS INTEGER))"
    return f"date('{base}', '+' || ({days}) || ' days')"


def add_history(engine: Any, every: int) -> dict[str, int]:
    """Dates spread over 2010–2023; every ``every``-th current record left after three years
    and came back two years later (one batch closes the ended version and writes the return)."""
    dialect = engine.dialect.name
    returned = {}
    with engine.begin() as conn:
        for table, (start, end, ended) in SPELLS.items():
            columns = [c["name"] for c in inspect(conn).get_columns(table) if c["name"] != "id"]
            began = _day(dialect, "2010-01-01", "id % 5000")
            conn.execute(text(f"UPDATE {table} SET {start} = {began} WHERE closed_at IS NULL"))
            left = _day(dialect, "2013-01-01", "id % 5000")
            back = _day(dialect, "2015-01-01", "id % 5000")
            closed = conn.execute(
                text(f"""UPDATE {table} SET status = '{ended}', {end} = {left},
                closed_at = recorded_at, closed_batch_id = 'bench-return'
                WHERE closed_at IS NULL AND id % {every} = 0 AND status = 'active'""")
            ).rowcount
            copied = ", ".join(
                {
                    "version": "version + 1",
                    "status": "'active'",
                    start: back,
                    end: "NULL",
                    "batch_id": "'bench-return'",
                    "closed_at": "NULL",
                    "closed_batch_id": "NULL",
                }.get(c, c)
                for c in columns
            )
            conn.execute(
                text(f"""INSERT INTO {table} ({", ".join(columns)})
                SELECT {copied} FROM {table} WHERE closed_batch_id = 'bench-return'""")
            )
            returned[table] = closed
        if dialect == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    return returned


def best(fn: Any, n: int = 3) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(n):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def run_backend(backend: str, province: prov.Province, work: Path, every: int) -> dict[str, Any]:
    from linkage_hub.db import Database
    from linkage_hub.migrations import upgrade
    from linkage_hub.reports import staffing
    from linkage_hub.settings import Settings

    if backend == "postgres":
        url, admin = create_pg_database(prov.PG_ADMIN)
    else:
        url, admin = f"sqlite:///{work / 'past.db'}", None
    try:
        settings = Settings(
            database_url=url,
            data_dir=work,
            signing_key="bench-signing-key-" + "x" * 32,
            record_key_secret="bench-record-key-" + "x" * 32,
            reconcile_on_write=False,
            bulletin_cron=None,
            deliver_in_process=False,
            log_level="WARNING",
        )
        upgrade(settings)
        (prov.load_postgres if backend == "postgres" else prov.load_sqlite_url)(url, province)
        db = Database(settings)
        returned = add_history(db.engine, every)
        out: dict[str, Any] = {"backend": backend, "returned": returned}
        for name, day in (("as-of day", prov.AS_OF), ("2015-06-30", PAST)):
            with db.transaction() as session:
                seconds, rows = best(
                    lambda d=day, s=session: staffing.staffing_rows(
                        s, prov.PROVINCE, d, settings.zone
                    )
                )
            out[name] = (seconds, sum(r.on_roster for r in rows), sum(r.employed for r in rows))
        db.dispose()
        return out
    finally:
        if admin is not None:
            admin()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="postgres")
    parser.add_argument("--every", type=int, default=10, help="every N-th record comes back")
    args = parser.parse_args()
    province = prov.generate(args.persons)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    print(f"python bench/past_days.py {' '.join(sys.argv[1:])}  (code: {ROOT})")
    print("| database | day | staffing rows | ÷ as-of day | on roster | employed |")
    print("|---|---|---:|---:|---:|---:|")
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="lh-bench-past-") as work:
            r = run_backend(backend, province, Path(work), args.every)
        base = r["as-of day"][0]
        for name in ("as-of day", "2015-06-30"):
            seconds, on_roster, employed = r[name]
            print(
                f"| {backend} | {name} | {seconds:.3f} s | {seconds / base:.2f} × "
                f"| {on_roster:,} | {employed:,} |"
            )
        print(f"returns written: {r['returned']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
