#!/usr/bin/env python3
"""Ingest benchmark (not a test): push N roster rows as NDJSON over HTTP to a running hub.

For each backend (PostgreSQL, SQLite) it starts its own hub (uvicorn, one process, on a free
127.0.0.1 port) against a fresh database, and measures

- the first push of N rows, an unchanged re-push, and a re-push with 1 % of rows changed
  (rows/s, wall time of the HTTP request);
- the server's peak resident memory during each push (``VmHWM`` of /proc, reset per push);
- the raw baseline in the same run: PostgreSQL ``COPY`` of the same rows into an unindexed
  table, SQLite ``executemany`` into a bare table.

The figures and the ratios go to ``bench/RESULTS.md`` (the section of this benchmark is
replaced) together with the command that produced them.

    .venv/bin/python bench/ingest.py --rows 1000000
    .venv/bin/python bench/ingest.py --rows 100000 --backends sqlite --no-write
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from linkage_hub.identifiers import id_check_char, uscc_check_char  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Ingest (bench/ingest.py)"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
UNITS = 2_000
FIELDS = ("id_number", "unit_code", "name", "establishment_type", "status", "entered_on")


# --- data -----------------------------------------------------------------------------------------


def _units() -> list[str]:
    out = []
    for n in range(UNITS):
        body = f"12230100MB{n:07d}"
        out.append(body + uscc_check_char(body))
    return out


def rows(count: int, changed_every: int = 0) -> Iterator[tuple[str, ...]]:
    """Deterministic roster rows: unique valid ID numbers across birth dates and sequences."""
    units = _units()
    start = dt.date(1960, 1, 1)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    for i in range(count):
        born = start + dt.timedelta(days=i // 900)
        body = f"230102{born:%Y%m%d}{i % 900 + 100:03d}"
        name = surnames[i % 20] + "某" + str(i % 97)
        if changed_every and i % changed_every == 0:
            name += "改"
        yield (
            body + id_check_char(body),
            units[i % UNITS],
            name,
            "institutional",
            "active",
            f"20{10 + i % 15:02d}-0{1 + i % 9}-1{i % 9}",
        )


def write_ndjson(path: Path, count: int, changed_every: int = 0) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows(count, changed_every):
            out.write(json.dumps(dict(zip(FIELDS, row, strict=True)), ensure_ascii=False))
            out.write("\n")


# --- the hub under test ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Hub:
    """A hub process on its own port, with a real client of ``department`` in ``region``."""

    def __init__(
        self, url: str, data_dir: Path, department: str = "establishment", region: str = "230100"
    ) -> None:
        self.url = url
        self.department, self.region = department, region
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "LINKAGE_DATABASE_URL": url,
            "LINKAGE_DATA_DIR": str(data_dir),
            "LINKAGE_LOG_LEVEL": "WARNING",
            "LINKAGE_MAX_BODY_BYTES": str(4 * 1024**3),
            # This measures the push. The incremental run each push starts would share the
            # two cores with the next push (bench/settle.py measures it); set it to true to
            # see both together.
            "LINKAGE_RECONCILE_ON_WRITE": os.environ.get("LINKAGE_RECONCILE_ON_WRITE", "false"),
            "PYTHONPATH": str(ROOT / "src"),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.credentials: dict[str, str] = {}

    def __enter__(self) -> Hub:
        bin_dir = Path(sys.executable).parent
        hub = str(bin_dir / "linkage-hub")
        subprocess.run([hub, "migrate"], env=self.env, check=True)
        # The benchmark acts as a real client (by default the establishment office of Harbin),
        # with a real token (its check costs the same for a 1-row and a 1 M-row push).
        command = [hub, "clients", "create", "--name", "benchmark"]
        command += ["--department", self.department, "--region", self.region]
        created = subprocess.run(
            command,
            env=self.env,
            check=True,
            capture_output=True,
        )
        client = json.loads(created.stdout)
        self.credentials = {
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "linkage_hub.app:create_app",
                "--factory",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=self.env,
            cwd=self.data_dir,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/health/live", timeout=2).status_code == 200:
                    return self
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("the hub did not start")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset_peak(self) -> None:
        assert self.process is not None
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def authorization(self) -> dict[str, str]:
        token = httpx.post(f"{self.base}/oauth/token", data=self.credentials, timeout=30)
        token.raise_for_status()
        return {"authorization": f"Bearer {token.json()['access_token']}"}

    def push(self, path: Path, query: str = "") -> tuple[float, dict[str, Any], float]:
        self.reset_peak()

        def body() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

        headers = {"content-type": "application/x-ndjson", **self.authorization()}
        started = time.perf_counter()
        response = httpx.post(
            f"{self.base}/api/v1/datasets/roster/batches{query}",
            content=body(),
            headers=headers,
            timeout=3600,
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 201:
            raise RuntimeError(f"push failed: {response.status_code} {response.text[:500]}")
        return elapsed, response.json(), self.peak_mib()


# --- baselines ------------------------------------------------------------------------------------


def baseline_postgres(url: str, count: int) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE bench_baseline (id_number text, unit_code text, name text, "
            "establishment_type text, status text, entered_on date)"
        )
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_baseline FROM STDIN") as copy:
            for row in rows(count):
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_baseline")
    return elapsed


def baseline_sqlite(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE bench_baseline (id_number TEXT, unit_code TEXT, name TEXT, "
        "establishment_type TEXT, status TEXT, entered_on TEXT)"
    )
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO bench_baseline VALUES (?, ?, ?, ?, ?, ?)", rows(count))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE bench_baseline")
    conn.close()
    return elapsed


# --- the run --------------------------------------------------------------------------------------


def create_pg_database(admin_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"lh_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def run_backend(backend: str, count: int, files: dict[str, Path], pg_admin: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"lh-bench-{backend}-"))
    drop = None
    if backend == "postgres":
        url, drop = create_pg_database(pg_admin)
    else:
        url = f"sqlite:///{work / 'hub.db'}"
    result: dict[str, Any] = {"backend": backend, "rows": count, "load": os.getloadavg()[0]}
    try:
        with Hub(url, work) as hub:
            for label, path in files.items():
                elapsed, body, peak = hub.push(path)
                result[label] = {
                    "seconds": elapsed,
                    "rows_per_s": count / elapsed,
                    "peak_mib": peak,
                }
                result[label]["counts"] = {
                    k: body[k] for k in ("inserted", "updated", "unchanged", "closed")
                }
                print(
                    f"{backend} {label}: {elapsed:.2f} s, {count / elapsed:,.0f} rows/s, "
                    f"peak {peak:,.0f} MiB, {result[label]['counts']}",
                    flush=True,
                )
        if backend == "postgres":
            baseline = baseline_postgres(url, count)
        else:
            baseline = baseline_sqlite(work / "baseline.db", count)
        result["baseline"] = {"seconds": baseline, "rows_per_s": count / baseline}
        print(f"{backend} baseline: {baseline:.2f} s, {count / baseline:,.0f} rows/s", flush=True)
    finally:
        if drop is not None:
            drop()
        for child in sorted(work.glob("**/*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        work.rmdir()
    return result


TARGETS = {
    "postgres": {"first": 10.0, "unchanged": 10.0, "peak_mib": 1024.0, "rows_per_s": 100_000},
    "sqlite": {"rows_per_s": 50_000},
}


def verdict(backend: str, result: dict[str, Any]) -> list[str]:
    lines = []
    target = TARGETS[backend]
    scale = 1_000_000 / result["rows"]
    if backend == "postgres":
        for label in ("first", "unchanged"):
            seconds = result[label]["seconds"] * scale
            ok = seconds <= target[label]
            lines.append(
                f"- {label} push of 1 M rows ≤ {target[label]:.0f} s: "
                f"{'met' if ok else 'not met'} ({seconds:.1f} s"
                f"{' extrapolated' if scale != 1 else ''})"
            )
        peak = max(result[k]["peak_mib"] for k in ("first", "unchanged", "changed_1pct"))
        lines.append(
            f"- server peak ≤ 1 GiB: {'met' if peak <= target['peak_mib'] else 'not met'} "
            f"({peak:,.0f} MiB)"
        )
    rate = result["first"]["rows_per_s"]
    lines.append(
        f"- first push ≥ {target['rows_per_s']:,} rows/s: "
        f"{'met' if rate >= target['rows_per_s'] else 'not met'} ({rate:,.0f} rows/s)"
    )
    return lines


def report(results: list[dict[str, Any]], command: str) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        SECTION,
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"({cpu}), Python {platform.python_version()}. Command:",
        "",
        f"    {command}",
        "",
        "Load average (1 min) when each backend started: "
        + ", ".join(f"{r['backend']} {r['load']:.2f}" for r in results)
        + " (the machine may be shared: figures vary by ±20 %).",
        "",
        "| backend | push | rows | seconds | rows/s | server peak MiB | × baseline time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        base = r["baseline"]["seconds"]
        for label in ("first", "unchanged", "changed_1pct"):
            m = r[label]
            lines.append(
                f"| {r['backend']} | {label} | {r['rows']:,} | {m['seconds']:.2f} | "
                f"{m['rows_per_s']:,.0f} | {m['peak_mib']:,.0f} | {m['seconds'] / base:.1f} |"
            )
        name = "COPY, unindexed table" if r["backend"] == "postgres" else "executemany, bare table"
        lines.append(
            f"| {r['backend']} | baseline ({name}) | {r['rows']:,} | {base:.2f} | "
            f"{r['baseline']['rows_per_s']:,.0f} | – | 1.0 |"
        )
    lines += ["", "Targets:", ""]
    for r in results:
        lines.append(f"{r['backend']}:")
        lines += verdict(r["backend"], r)
        lines.append("")
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
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument(
        "--pg-url", default=os.environ.get("LINKAGE_BENCH_POSTGRES_URL", DEFAULT_PG)
    )
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()
    files_dir = Path(tempfile.mkdtemp(prefix="lh-bench-data-"))
    files = {
        "first": files_dir / "first.ndjson",
        "unchanged": files_dir / "first.ndjson",
        "changed_1pct": files_dir / "changed.ndjson",
    }
    try:
        write_ndjson(files["first"], args.rows)
        write_ndjson(files["changed_1pct"], args.rows, changed_every=100)
        results = []
        for backend in args.backends.split(","):
            results.append(run_backend(backend.strip(), args.rows, files, args.pg_url))
    finally:
        for path in set(files.values()):
            path.unlink(missing_ok=True)
        files_dir.rmdir()
    command = "python bench/ingest.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    section = report(results, command.strip())
    print(section)
    if not args.no_write:
        write_results(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
