"""Throughput: what one hub worker spends on a request, against its own floor in the same run.

    .venv/bin/python bench/throughput.py                  # 20,000-person demo city
    .venv/bin/python bench/throughput.py --database-url URL --data-dir DIR

One ``linkage-hub serve`` process (one worker) on PostgreSQL, driven closed-loop by
``--concurrency`` raw keep-alive connections for ``--seconds`` per operation:

- ``live``: ``GET /health/live`` — uvicorn, the middleware and no database: the floor;
- ``get``: one roster record by key (token check, region-scoped query, ID number decrypted,
  access record and audit read entry);
- ``list``: a page of 100 roster records.

Prints requests per second, latency p50/p99, and the CPU the hub process *and* its
PostgreSQL backends spent per request (from /proc, so a busy neighbour on a shared machine
does not inflate it), each also as a ratio to ``live`` measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import RawClient, add_database_arguments, demo_hub, percentile, token


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (those that ended count as zero)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def backend_pids(url: str) -> list[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        engine.dispose()
    return [r[0] for r in rows]


async def closed_loop(
    client: RawClient, paths: list[str], concurrency: int, seconds: float
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    failures = 0
    rng = random.Random(11)
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal failures
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status, _ = await client.get(rng.choice(paths))
            if status != 200:
                failures += 1
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies, failures


async def measure(
    client: RawClient,
    operations: dict[str, list[str]],
    hub: int,
    url: str,
    args: argparse.Namespace,
) -> list[tuple[str, float, float, float, float, float, int]]:
    rows: list[tuple[str, float, float, float, float, float, int]] = []
    for name, paths in operations.items():
        await closed_loop(client, paths, args.concurrency, 1)  # warm-up: the pool fills
        backends = backend_pids(url)  # the backends the hub has open now
        before = cpu_seconds([hub]), cpu_seconds(backends)
        started = time.perf_counter()
        done, latencies, failures = await closed_loop(client, paths, args.concurrency, args.seconds)
        elapsed = time.perf_counter() - started
        hub_cpu = (cpu_seconds([hub]) - before[0]) / max(done, 1) * 1000
        db_cpu = (cpu_seconds(backends) - before[1]) / max(done, 1) * 1000
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        rows.append((name, done / elapsed, p50, p99, hub_cpu + db_cpu, hub_cpu, failures))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_arguments(parser, persons=20_000)
    parser.add_argument("--seconds", type=float, default=10)
    # At most one caller's share of a process (LINKAGE_MAX_IN_FLIGHT × LINKAGE_CALLER_SHARE =
    # 4): more from one token would be refused with 503 by design (linkage_hub.loadshed).
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    with demo_hub(args, workers=1) as (base, url, data_dir, proc):
        read_token = token(base, url, data_dir, "audit")
        page = httpx.get(
            f"{base}/api/v1/datasets/roster/records?limit=1000",
            headers={"Authorization": f"Bearer {read_token}"},
        ).json()
        keys = [r["record_key"] for r in page["items"]]
        operations = {
            "live": ["/health/live"],
            "get": [f"/api/v1/datasets/roster/records/{k}" for k in keys],
            "list": ["/api/v1/datasets/roster/records?limit=100"],
        }
        port = int(base.rsplit(":", 1)[1])
        rows = asyncio.run(
            measure(
                RawClient("127.0.0.1", port, read_token),
                operations,
                proc.pid,
                url,
                args,
            )
        )

    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    print(
        "| operation | req/s | p50 ms | p99 ms | CPU ms/request (hub + PostgreSQL) "
        "| of it the hub | × live CPU | failures |"
    )
    print("|---|---|---|---|---|---|---|---|")
    floor = rows[0][4]
    for name, rate, p50, p99, cpu, hub_cpu, failures in rows:
        print(
            f"| {name} | {rate:.0f} | {p50:.1f} | {p99:.1f} | {cpu:.2f} | {hub_cpu:.2f} "
            f"| {cpu / floor:.1f} | {failures} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
