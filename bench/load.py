"""Load: two uvicorn workers on PostgreSQL holding a province, under read load and a push.

    .venv/bin/python bench/load.py                     # province (1,000,000 persons), 60 s
    .venv/bin/python bench/load.py --persons 100000 --seconds 20   # a short run while developing

1. creates a throwaway database on the server (``--postgres``), migrates it and loads the
   demo province through ``linkage-hub demo`` (the batch code path), unless ``--database-url``
   names one already loaded (with ``--data-dir``, its ID keys); then ``VACUUM (ANALYZE)`` and
   a ``CHECKPOINT`` (superuser or ``pg_checkpoint``); in every case the roster and its
   indexes are read into the page cache (``pg_prewarm``);
2. starts ``linkage-hub serve --workers 2`` on it; with ``--proxy``, two ``linkage-hub serve``
   processes on ports of their own behind HAProxy with ``deploy/haproxy.cfg`` (Debian's
   ``haproxy``), which then decides admission instead of the processes;
3. after a 5 s warm-up at a fifth of the rates (not measured), open-loop load from one
   asyncio client on raw HTTP/1.1 keep-alive connections (requests are sent on schedule
   whether or not earlier ones answered; latency counts from the scheduled time, so a stalled
   server is not hidden by a waiting client; "sent late" shows the generator's own lag):
   single-record GET at ``--get-rate`` req/s as audit and a 100-item list at ``--list-rate``
   req/s as finance (two departments), both for ``--seconds``, each multiplied by
   ``--rate-factor`` (2: the overload run, in which the hub must shed, not collapse); a
   third of the way in, a 10,000-row roster push (NDJSON) as the establishment office;
4. prints p50/p99/max of the answered requests, how many were shed (503) and how fast the
   refusals came, errors and the achieved rate of each stream, the push's wall time, and
   the targets (GET p99 ≤ 50 ms, list p99 ≤ 150 ms, push ≤ 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import create_pg_database, free_port  # noqa: E402

from linkage_hub.identifiers import id_check_char  # noqa: E402

BIN = Path(sys.executable).parent
TARGETS = {"get": 50.0, "list": 150.0}
SHED_TARGET = 10.0  # ms: a refusal must be fast to be worth making
PROXY_NICE = -10  # --proxy: HAProxy's scheduling priority (bench/RESULTS.md, "A proxy in front")


def hub_env(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env.update(
        LINKAGE_DATABASE_URL=url,
        LINKAGE_DATA_DIR=str(data_dir),
        LINKAGE_SIGNING_KEY="load-signing-key-" + "x" * 32,
        LINKAGE_RECORD_KEY_SECRET="load-record-key-secret-" + "x" * 32,
        LINKAGE_LOG_LEVEL="WARNING",
    )
    return env


def token(base: str, url: str, data_dir: Path, department: str) -> str:
    script = (
        "from linkage_hub.auth.service import create_client\n"
        "from linkage_hub.db import Database\n"
        "from linkage_hub.settings import Settings\n"
        "db = Database(Settings())\n"
        "with db.transaction() as s:\n"
        f"    c = create_client(s, name='load {department} ' + __import__('uuid').uuid4().hex,"
        f" department='{department}', region='230000')\n"
        "    print(c.client.client_id, c.client_secret)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=hub_env(url, data_dir),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    answer = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": out[0], "client_secret": out[1]},
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def push_body(rows: int, units: list[str]) -> bytes:
    lines = []
    for n in range(rows):
        body = f"2301021990{1 + n // 1000 % 9:02d}{10 + n // 9000:02d}{n % 1000:03d}"
        lines.append(
            json.dumps(
                {
                    "id_number": body + id_check_char(body),
                    "unit_code": units[n % len(units)],
                    "name": f"压测{n}",
                    "establishment_type": "institutional",
                    "status": "active",
                    "entered_on": "2024-01-01",
                },
                ensure_ascii=False,
            )
        )
    return "\n".join(lines).encode()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams.

    The generator shares the machine with the hub, so it must cost far less per request than
    what it measures: httpx spends about as much CPU on a request as the hub does on a small
    GET, which capped an earlier version of this benchmark at ~60 req/s. Connections are
    reused; a request that finds none idle opens one (open loop: nothing waits for a slot).
    """

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.header = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    async def get(self, path: str) -> tuple[int, bool]:
        """The answer's status, and whether it came on a connection opened for it."""
        reused = bool(self.idle)
        if reused:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.opened += 1
        try:
            writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.header)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                if reused and not getattr(exc, "partial", b""):  # the server closed an idle
                    writer.close()  # keep-alive connection: retry on a new one, as clients do
                    return await self.get(path)
                raise
            status = int(head[9:12])
            lower = head.lower()
            if b"transfer-encoding: chunked" in lower:
                while size := int((await reader.readline()).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readexactly(2)
            else:
                marker = lower.index(b"content-length:") + 15
                await reader.readexactly(int(lower[marker : lower.index(b"\r\n", marker)]))
        except BaseException:
            writer.close()
            raise
        self.idle.append((reader, writer))
        return status, not reused


async def stream(
    client: RawClient,
    name: str,
    rate: float,
    seconds: float,
    make: Any,
    results: dict[str, dict[str, Any]],
) -> None:
    latencies: list[float] = []
    late: list[float] = []  # how late the generator itself sent each request
    errors: dict[str, int] = {}
    tasks = []
    start = time.perf_counter()

    shed: list[float] = []  # 503s: how fast the refusal came
    shed_fresh: list[float] = []  # the refusals that came on a connection opened for them
    shed_reused: list[float] = []  # and those on a kept-alive one

    async def one(due: float, url: str) -> None:
        late.append((time.perf_counter() - due) * 1000)
        try:
            status, fresh = await client.get(url)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if status == 503:
            shed.append((time.perf_counter() - due) * 1000)
            shed_timeline.append((due - start, shed[-1]))
            (shed_fresh if fresh else shed_reused).append(shed[-1])
            return
        if status != 200:
            errors[str(status)] = errors.get(str(status), 0) + 1
            return
        latencies.append((time.perf_counter() - due) * 1000)
        timeline.append((due - start, latencies[-1]))

    timeline: list[tuple[float, float]] = []  # (second of the run, latency): where the tail is
    shed_timeline: list[tuple[float, float]] = []  # the same for the refusals
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, make(i))))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    results[name] = {
        "requests": total,
        "ok": len(latencies),
        "errors": errors,
        "rate": total / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "connections": client.opened,
        "late_p99": percentile(late, 99),
        "slow_seconds": sorted({int(t) for t, ms in timeline if ms > TARGETS[name]}),
        "shed": len(shed),
        "shed_p99": percentile(shed, 99),
        "shed_max": max(shed) if shed else float("nan"),
        "shed_fresh": len(shed_fresh),
        "shed_fresh_p99": percentile(shed_fresh, 99),
        "shed_reused_p99": percentile(shed_reused, 99),
        "slow_shed_seconds": sorted({int(t) for t, ms in shed_timeline if ms > SHED_TARGET}),
    }


async def drive(
    base: str, read_token: str, list_token: str, write_token: str, args: argparse.Namespace
) -> Any:
    headers = {"Authorization": f"Bearer {read_token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        page = (await client.get("/api/v1/datasets/roster/records?limit=1000")).json()
        keys = [r["record_key"] for r in page["items"]]
        units = sorted({r["unit_code"] for r in page["items"]})
        cursors = [None]
        cursor = page.get("next_cursor")
        for _ in range(20):  # some later pages too, so lists are not all the first page
            if not cursor:
                break
            cursors.append(cursor)
            cursor = (
                (await client.get(f"/api/v1/datasets/roster/records?limit=1000&cursor={cursor}"))
                .json()
                .get("next_cursor")
            )
        rng = random.Random(7)
        body = push_body(args.push_rows, units)
        results: dict[str, dict[str, Any]] = {}

        def get_url(i: int) -> str:
            return f"/api/v1/datasets/roster/records/{rng.choice(keys)}"

        def list_url(i: int) -> str:
            c = rng.choice(cursors)
            return "/api/v1/datasets/roster/records?limit=100" + (f"&cursor={c}" if c else "")

        async def push() -> None:
            await asyncio.sleep(args.seconds / 3)
            started = time.perf_counter()
            # Its own connection: the push is one more client, not queued behind the reads.
            async with httpx.AsyncClient(base_url=base, timeout=120) as writer:
                answer = await writer.post(
                    "/api/v1/datasets/roster/batches",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {write_token}",
                        "Content-Type": "application/x-ndjson",
                    },
                )
            results["push"] = {
                "status": answer.status_code,
                "second": started - t0,
                "seconds": time.perf_counter() - started,
                "answer": answer.text[:300],
            }

        port = int(base.rsplit(":", 1)[1])
        get_client = RawClient("127.0.0.1", port, read_token)
        list_client = RawClient("127.0.0.1", port, list_token)  # another department
        # Warm-up, not measured: each worker builds its routes and caches on first use.
        scratch: dict[str, dict[str, Any]] = {}
        await asyncio.gather(
            stream(get_client, "get", args.get_rate / 5, args.warmup, get_url, scratch),
            stream(list_client, "list", args.list_rate / 5, args.warmup, list_url, scratch),
        )
        t0 = time.perf_counter()
        await asyncio.gather(
            stream(
                get_client,
                "get",
                args.get_rate,
                args.seconds,
                get_url,
                results,
            ),
            stream(
                list_client,
                "list",
                args.list_rate,
                args.seconds,
                list_url,
                results,
            ),
            push(),
        )
        return results


@contextlib.contextmanager
def demo_hub(
    args: argparse.Namespace, *, workers: int
) -> Iterator[tuple[str, str, Path, subprocess.Popen[bytes]]]:
    """A hub serving the demo city of ``args.persons`` on a throwaway PostgreSQL database
    (or on ``args.database_url``): yields its base URL, the database URL, the data dir and
    the serve process; stops the hub and drops the database afterwards (unless ``--keep``)."""
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="lh-load-"))
    drop = None
    url = args.database_url
    if url is None:
        url, drop = create_pg_database(args.postgres)
    env = hub_env(url, data_dir)
    for setting in getattr(args, "setting", None) or ():
        name, _, value = setting.partition("=")
        env["LINKAGE_" + name.upper()] = value
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if args.database_url is None:
            subprocess.run([str(BIN / "linkage-hub"), "migrate"], env=env, check=True)
            started = time.perf_counter()
            subprocess.run(
                [str(BIN / "linkage-hub"), "demo", "--persons", str(args.persons)],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"load: demo of {args.persons} persons in {time.perf_counter() - started:.0f} s")
            # A province in service has been reconciled (the nightly run): without it the hub's
            # first incremental run would read the whole province inside the measured minute.
            subprocess.run(
                [str(BIN / "linkage-hub"), "reconcile", "--region", "230000"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            # What autovacuum does on a production server after a bulk load (it is off on
            # this machine's server): statistics, and hint bits set once instead of by the
            # first reads of the measured run. Then a checkpoint, so the measured minute is
            # not the one in which the server writes the load's gigabytes out.
            settle = create_engine(url, isolation_level="AUTOCOMMIT")
            with settle.connect() as conn:
                conn.execute(text("VACUUM (ANALYZE)"))
                conn.execute(text("CHECKPOINT"))
            settle.dispose()
            if args.keep:
                print(f"load: kept; rerun with --database-url {url} --data-dir {data_dir}")
        prewarm(url)
        serve = [str(BIN / "linkage-hub"), "serve"]
        if getattr(args, "proxy", False):
            base = behind_proxy(serve, env, workers, procs)
        else:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            procs.append(
                subprocess.Popen(
                    [*serve, "--port", str(port), "--workers", str(workers)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                )
            )
        wait_ready(base)
        yield base, url, data_dir, procs[0]
    finally:
        for started_ in reversed(procs):
            started_.terminate()
            started_.wait(30)
        if drop is not None and not args.keep:
            drop()


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"load: {base} not ready after 120 s")


def behind_proxy(
    serve: list[str], env: dict[str, str], processes: int, procs: list[subprocess.Popen[bytes]]
) -> str:
    """``processes`` hub processes, each on its own port with the hub's own bound off, behind
    HAProxy with deploy/haproxy.cfg (the proxy decides admission); returns the proxy's base
    URL, and adds each process it starts to ``procs`` (the proxy last)."""
    if processes != 2:
        raise SystemExit("load: deploy/haproxy.cfg names two hub processes")
    ports = [free_port() for _ in range(processes)]
    hub_env_ = {**env, "LINKAGE_MAX_IN_FLIGHT": "0", "LINKAGE_TRUSTED_PROXIES": '["127.0.0.1"]'}
    for port in ports:
        procs.append(
            subprocess.Popen([*serve, "--port", str(port)], env=hub_env_, stdout=subprocess.DEVNULL)
        )
    for port in ports:
        wait_ready(f"http://127.0.0.1:{port}")
    slots = int(env.get("LINKAGE_MAX_IN_FLIGHT", "8"))
    front = free_port()
    deploy = ROOT / "deploy"
    key = Path(env["LINKAGE_DATA_DIR"]) / "token-key.pem"
    key.write_bytes(
        subprocess.run([serve[0], "token-key"], env=env, check=True, capture_output=True).stdout
    )
    proxy_env = {
        **os.environ,
        "LH_BIND": f"127.0.0.1:{front}",
        "LH_HUB1": f"127.0.0.1:{ports[0]}",
        "LH_HUB2": f"127.0.0.1:{ports[1]}",
        "LH_SLOTS": str(slots),
        "LH_CALLER_SLOTS": str(slots * processes // 2),
        "LH_RESERVE": str(max(1, slots * processes // 4)),
        "LH_TOKEN_KEY": str(key),
        "LH_503": str(deploy / "haproxy-503.http"),
    }
    haproxy = shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if haproxy is None:
        raise SystemExit("load: --proxy needs HAProxy (apt-get install haproxy)")
    procs.append(
        # The proxy runs before the hub processes when both want a core (README, "Capacity"):
        # it decides in microseconds, but only once it is scheduled. Without root, nice warns
        # and runs it at the normal priority.
        subprocess.Popen(
            ["nice", "-n", str(PROXY_NICE), haproxy, "-db", "-f", str(deploy / "haproxy.cfg")],
            env=proxy_env,
        )
    )
    return f"http://127.0.0.1:{front}"


def prewarm(url: str) -> None:
    """Read the roster and its indexes into the page cache (``pg_prewarm``), as the working
    set of a server in service would be, so the measured minute does not pay first reads
    from disk (this machine's kernel also pages out memory left cold: DAMON reclaim)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
            blocks = conn.execute(
                text(
                    "SELECT sum(pg_prewarm(c.oid, 'read')) FROM pg_class c "
                    "WHERE c.oid = 'records_roster'::regclass OR c.oid IN "
                    "(SELECT indexrelid FROM pg_index WHERE indrelid = 'records_roster'::regclass)"
                )
            ).scalar()
        print(f"load: prewarmed {int(blocks or 0) * 8 // 1024} MiB of the roster and its indexes")
    except Exception as exc:  # an extension the server lacks, or no right to create it
        print(f"load: not prewarmed ({type(exc).__name__}); first reads will come from disk")
    finally:
        engine.dispose()


def add_database_arguments(parser: argparse.ArgumentParser, persons: int) -> None:
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--database-url", help="an already loaded database (skips the load)")
    parser.add_argument(
        "--data-dir", type=Path, help="with --database-url: the directory holding its ID keys"
    )
    parser.add_argument("--persons", type=int, default=persons)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--setting",
        action="append",
        metavar="NAME=VALUE",
        help="a hub setting for the served hub, e.g. max_in_flight=16 (repeatable)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_database_arguments(parser, persons=1_000_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds at 1/5 rate")
    parser.add_argument("--get-rate", type=float, default=300)
    parser.add_argument("--list-rate", type=float, default=100)
    parser.add_argument("--push-rows", type=int, default=10_000)
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="two hub processes behind HAProxy (deploy/haproxy.cfg), which decides admission",
    )
    parser.add_argument(
        "--rate-factor",
        type=float,
        default=1.0,
        help="multiply both rates (2: the overload run, where the hub must shed)",
    )
    args = parser.parse_args()
    args.get_rate *= args.rate_factor
    args.list_rate *= args.rate_factor

    with demo_hub(args, workers=2) as (base, url, data_dir, _proc):
        read_token = token(base, url, data_dir, "audit")
        list_token = token(base, url, data_dir, "finance")
        write_token = token(base, url, data_dir, "establishment")
        # The generator's own collector must not pause it: a whole-heap collection over the
        # tens of thousands of tasks and timings a run holds stalls its event loop for tens of
        # milliseconds, and every answer that arrives meanwhile is timed late. Its garbage is
        # acyclic (reference counting frees it); collection resumes after the run.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            results = asyncio.run(drive(base, read_token, list_token, write_token, args))
        finally:
            gc.enable()

    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    print(
        "| stream | target | requests | ok | shed (503) | errors | achieved req/s | p50 ms "
        "| p99 ms | max ms | shed p99 / max ms | connections | sent late p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in ("get", "list"):
        r = results[key]
        print(
            f"| {key} | p99 ≤ {TARGETS[key]:.0f} ms | {r['requests']} | {r['ok']} | {r['shed']} "
            f"| {r['errors'] or 0} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['max']:.1f} | {r['shed_p99']:.1f} / {r['shed_max']:.1f} | {r['connections']} "
            f"| {r['late_p99']:.1f} |"
        )
    for key in ("get", "list"):
        r = results[key]
        print(f"{key}: seconds of the run with answers over target: {results[key]['slow_seconds']}")
        print(
            f"{key}: refusals on a new connection {r['shed_fresh']} (p99 "
            f"{r['shed_fresh_p99']:.1f} ms), on a reused one p99 {r['shed_reused_p99']:.1f} ms"
        )
        print(
            f"{key}: seconds with refusals over {SHED_TARGET:.0f} ms: "
            f"{results[key]['slow_shed_seconds']}"
        )
    p = results["push"]
    print(
        f"push of {args.push_rows} rows: HTTP {p['status']} in {p['seconds']:.2f} s (target ≤ 3 s),"
        f" sent at second {p['second']:.0f}"
    )
    if p["status"] >= 300:
        print(p["answer"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
