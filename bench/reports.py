#!/usr/bin/env python3
"""Report streaming benchmark (not a test): download the discrepancy report of N findings.

For each backend it starts a hub (uvicorn, one process) on a fresh database holding N
synthetic findings (half about persons, half about units; inserted set-based), downloads the
report as JSON, CSV and XLSX over HTTP and measures the wall time, the rows per second and the
server's peak resident memory (``VmHWM``, reset before each download): "a million rows in
bounded memory". In the same run it times the raw baseline: the same rows, same order, written
by the database itself (PostgreSQL ``COPY (SELECT …) TO STDOUT``; SQLite a plain cursor over
the same SELECT). Results replace the section of this benchmark in ``bench/RESULTS.md``.

    .venv/bin/python bench/reports.py --findings 1000000
    .venv/bin/python bench/reports.py --findings 100000 --backends sqlite --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from ingest import Hub, create_pg_database  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Reports (bench/reports.py)"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# One statement per dialect: N findings, half person findings (keys matching no record: the
# ID-number lookups still run), spread over 2,000 units of 230100 and its districts.
FILL = {
    "postgresql": """
INSERT INTO reconciliation_finding (id, identity, rule, severity, severity_rank, status, region,
  unit_code, person_key, establishment_type, level, departments, summary_zh, summary_en,
  first_seen_at, last_seen_at, resolved_at, first_run_id, last_run_id, resolved_run_id)
SELECT md5('f' || i)::varchar(32), 'R:' || i, 'OVER_QUOTA', 'high', 1, 'open',
  '2301' || lpad((i % 3)::text, 2, '0'), '12230100MB' || lpad((i % 2000)::text, 8, '0'),
  CASE WHEN i % 2 = 0 THEN md5('p' || i)::varchar(32) END, 'administrative', NULL,
  ',establishment,', '超编：核定 10 人，实名在编 11 人', 'over quota: 11 on the roster for 10',
  now(), now(), NULL, 'run', 'run', NULL
FROM generate_series(1, :n) AS i
""",
    "sqlite": """
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n)
INSERT INTO reconciliation_finding (id, identity, rule, severity, severity_rank, status, region,
  unit_code, person_key, establishment_type, level, departments, summary_zh, summary_en,
  first_seen_at, last_seen_at, resolved_at, first_run_id, last_run_id, resolved_run_id)
SELECT printf('%032x', i), 'R:' || i, 'OVER_QUOTA', 'high', 1, 'open',
  '2301' || printf('%02d', i % 3), '12230100MB' || printf('%08d', i % 2000),
  CASE WHEN i % 2 = 0 THEN printf('p%031x', i) END, 'administrative', NULL,
  ',establishment,', '超编：核定 10 人，实名在编 11 人', 'over quota: 11 on the roster for 10',
  '2026-11-27 00:00:00.000000', '2026-11-27 00:00:00.000000', NULL, 'run', 'run', NULL
FROM seq
""",
}
BASELINE_SELECT = (
    "SELECT rule, severity, status, region, unit_code, person_key, establishment_type, level, "
    "departments, first_seen_at, last_seen_at, resolved_at, summary_zh "
    "FROM reconciliation_finding ORDER BY severity_rank, id"
)


def download(hub: Hub, fmt: str) -> tuple[float, int, float]:
    """Stream the report in ``fmt``: (seconds, bytes, server peak MiB)."""
    headers = hub.authorization()
    hub.reset_peak()
    started = time.perf_counter()
    size = 0
    with httpx.stream(
        "GET", f"{hub.base}/api/v1/reports/discrepancies", params={"format": fmt},
        headers=headers, timeout=3600,
    ) as response:  # fmt: skip
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
    return time.perf_counter() - started, size, hub.peak_mib()


def fill(url: str, n: int) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(FILL[engine.dialect.name]), {"n": n})
    engine.dispose()


def baseline(url: str) -> float:
    started = time.perf_counter()
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for _row in conn.execute(BASELINE_SELECT):
                pass
    else:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with (
            psycopg.connect(dsn) as conn,
            conn.cursor() as cur,
            cur.copy(f"COPY ({BASELINE_SELECT}) TO STDOUT WITH CSV") as copy,
        ):
            for _data in copy:
                pass
    return time.perf_counter() - started


def run_backend(backend: str, n: int, pg_admin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lh-bench-reports-") as tmp:
        data_dir = Path(tmp)
        drop = None
        if backend == "postgres":
            url, drop = create_pg_database(pg_admin)
        else:
            url = f"sqlite:///{data_dir / 'hub.db'}"
        try:
            # Audit of the whole province reads the report, as a real client with a token.
            with Hub(url, data_dir, department="audit", region="230000") as hub:
                fill(url, n)
                base = baseline(url)
                result: dict[str, Any] = {"backend": backend, "findings": n, "baseline": base}
                print(f"{backend}: baseline {base:.2f} s", flush=True)
                for fmt in ("csv", "xlsx", "json"):
                    seconds, size, peak = download(hub, fmt)
                    result[fmt] = {"seconds": seconds, "bytes": size, "peak_mib": peak}
                    print(f"{backend} {fmt}: {seconds:.2f} s, {size / 1e6:,.0f} MB, "
                          f"peak {peak:,.0f} MiB", flush=True)  # fmt: skip
            return result
        finally:
            if drop is not None:
                drop()


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        SECTION, "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"({platform.machine()}), load average {os.getloadavg()[0]:.1f}. Command:", "",
        f"    {command}", "",
        "N synthetic findings (half about persons: the ID-number lookups run), the discrepancy "
        "report downloaded over HTTP by audit of the province. Baseline: the same rows in the "
        "same order produced by the database alone.", "",
        "| backend | format | findings | seconds | rows/s | MB | server peak MiB | × baseline |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in results:
        for fmt in ("csv", "xlsx", "json"):
            m = r[fmt]
            lines.append(
                f"| {r['backend']} | {fmt} | {r['findings']:,} | {m['seconds']:.1f} | "
                f"{r['findings'] / m['seconds']:,.0f} | {m['bytes'] / 1e6:,.0f} | "
                f"{m['peak_mib']:,.0f} | {m['seconds'] / r['baseline']:.1f} |"
            )
        lines.append(f"| {r['backend']} | baseline | {r['findings']:,} | {r['baseline']:.1f} "
                     "| | | – | 1.0 |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1 :] if nxt >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--pg", default=os.environ.get("LINKAGE_BENCH_PG", DEFAULT_PG))
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()
    results = [run_backend(b, args.findings, args.pg) for b in args.backends.split(",")]
    section = report(results, "python bench/reports.py " + shlex.join(sys.argv[1:]))
    print(section)
    if not args.no_write:
        write_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
