#!/usr/bin/env python3
"""Webhook delivery benchmark: events per second from the outbox to a local receiver.

For each backend it migrates a fresh database, makes one subscription to a receiver on
127.0.0.1 (a threading HTTP server answering 204), appends ``--events`` outbox events in one
statement and times the hub's delivery worker (:class:`Deliverer`, one worker, as in a hub
process): fan-out, lease, sign, POST, and the attempt recorded, per event. The baseline in
the same run is the same number of POSTs of the same bodies from one ``httpx.Client`` to the
same receiver with no database at all, so the ratio is what the outbox and its bookkeeping
cost over the HTTP calls themselves.

    .venv/bin/python bench/webhooks.py --events 5000 --backend both

``--outbox-rows N`` measures instead what the outbox adds to a push of N records: the
``records.changed`` statement (:func:`linkage_hub.records.publish.announce_batch`, one GROUP BY
over the batch's change-feed rows) against the change-feed insert of the same N rows, which
every push already makes, in the same transaction and run.

``--subscriptions N`` (default 1) subscribes N departments' receivers to every event, and
``--delay-ms D`` makes the receiver answer after D ms (a receiver across a network): the
worker sends to up to ``LINKAGE_WEBHOOK_CONCURRENCY`` receivers at once, each one's in order,
where the baseline's POSTs go one after the other.

Figures are printed; RESULTS.md ("Notifications") records them with this command.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ingest import create_pg_database  # noqa: E402 - bench/ is the script's directory

from linkage_hub.db import Database  # noqa: E402
from linkage_hub.migrations import upgrade  # noqa: E402
from linkage_hub.notifications.models import Subscription  # noqa: E402
from linkage_hub.notifications.signing import Sealer, new_secret  # noqa: E402
from linkage_hub.notifications.worker import Deliverer  # noqa: E402
from linkage_hub.outbox.models import OutboxEvent  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class Receiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.count = 0
        lock = threading.Lock()
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                if delay:
                    time.sleep(delay)
                with lock:
                    state.count += 1
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextlib.contextmanager
def fresh_database(backend: str, data_dir: Path) -> Iterator[str]:
    """A new database for one measurement, dropped after it (PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{data_dir / 'hub.db'}"
        return
    url, drop = create_pg_database(os.environ.get("LINKAGE_TEST_POSTGRES_URL", DEFAULT_PG))
    try:
        yield url
    finally:
        drop()


def baseline(url: str, n: int) -> float:
    body = b'{"type":"records.changed","timestamp":"2026-12-03T00:00:00+00:00","seq":1,"data":{}}'
    headers = {"webhook-id": "x", "webhook-timestamp": "0", "webhook-signature": "v1,x"}
    with httpx.Client(timeout=15, trust_env=False) as client:
        started = time.perf_counter()
        for _ in range(n):
            client.post(url, content=body, headers=headers).raise_for_status()
        return time.perf_counter() - started


def measure(
    backend: str, events: int, subscriptions: int = 1, delay: float = 0.0
) -> dict[str, float]:
    receiver = Receiver(delay)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as url:
        data_dir = Path(tmp)
        settings = Settings(
            database_url=url,
            data_dir=data_dir,
            webhook_allow_hosts=["127.0.0.1"],
            deliver_in_process=False,
            log_level="WARNING",
        )
        upgrade(settings)
        db = Database(settings)
        now = dt.datetime.now(dt.UTC)
        with db.transaction() as session:
            session.add_all(
                Subscription(
                    id=uuid.uuid4().hex,
                    client_id="bench",
                    department="finance",
                    region="230100",
                    region_lo="230100",
                    region_hi="230199",
                    url=f"{receiver.url}/{n}",
                    events=["records.changed"],
                    filters={},
                    description=None,
                    active=True,
                    disabled_reason=None,
                    secret=Sealer(settings).seal(new_secret()),
                    cursor=0,
                    last_seq=0,
                    created_at=now,
                    updated_at=now,
                )
                for n in range(subscriptions)
            )
            session.execute(
                text(
                    "INSERT INTO auth_client (client_id, name, department, region, scopes, "
                    "secret_hash, active, created_at, secret_version) VALUES ('bench', 'bench', "
                    "'finance', '230100', 'read', 'x', true, :now, 1)"
                ),
                {"now": now.replace(tzinfo=None) if backend == "sqlite" else now},
            )
            rows = [
                {
                    "event_id": uuid.uuid4().hex,
                    "type": "records.changed",
                    "region": "230102",
                    "dataset": "roster",
                    "batch_id": str(uuid.uuid4()),
                    "data": {"changes": 1, "from_seq": i, "to_seq": i},
                    "created_at": now,
                }
                for i in range(1, events + 1)
            ]
            session.execute(insert(OutboxEvent), rows)
        worker = Deliverer(db)
        started = time.perf_counter()
        worker.drain(timeout=3600)
        hub = time.perf_counter() - started
        worker.client.close()
        assert receiver.count == events * subscriptions, (receiver.count, events)
        base = baseline(receiver.url, events * subscriptions)
        db.dispose()
        receiver.server.shutdown()
    return {"hub_s": hub, "baseline_s": base}


def outbox_cost(backend: str, rows: int) -> dict[str, float]:
    from linkage_hub.records.publish import announce_batch

    with tempfile.TemporaryDirectory() as tmp, fresh_database(backend, Path(tmp)) as url:
        data_dir = Path(tmp)
        settings = Settings(database_url=url, data_dir=data_dir, log_level="WARNING")
        upgrade(settings)
        db = Database(settings)
        series = (
            "SELECT g AS n FROM generate_series(1, :rows) AS g"
            if backend == "postgres"
            else "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :rows) "
            "SELECT n FROM s"
        )
        now = dt.datetime.now(dt.UTC)
        with db.sessions() as session, session.begin():
            started = time.perf_counter()
            session.execute(
                text(
                    "INSERT INTO records_change (dataset, record_key, version, op, region, "
                    "batch_id, recorded_at) SELECT 'roster', 'k' || CAST(n AS VARCHAR(12)), 1, "
                    "'upsert', CASE WHEN n % 3 = 0 THEN '230102' ELSE '230103' END, 'b', :now "
                    f"FROM ({series}) AS t"
                ),
                {"rows": rows, "now": now.replace(tzinfo=None) if backend == "sqlite" else now},
            )
            feed = time.perf_counter() - started
            started = time.perf_counter()
            announce_batch(session, "roster", "b", now, 0)
            announce = time.perf_counter() - started
            session.rollback()
        db.dispose()
    return {"feed_s": feed, "announce_s": announce}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--outbox-rows", type=int, help="measure the outbox's cost instead")
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="the receiver's answer time")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    if args.outbox_rows:
        print(f"a push of {args.outbox_rows:,} changes; load {os.getloadavg()[0]:.2f}")
        print("| backend | change-feed insert s | records.changed s | outbox / feed |")
        print("|---|---:|---:|---:|")
        for backend in backends:
            m = outbox_cost(backend, args.outbox_rows)
            print(
                f"| {backend} | {m['feed_s']:.2f} | {m['announce_s']:.3f} | "
                f"{m['announce_s'] / m['feed_s']:.1%} |"
            )
        return 0
    print(
        f"{args.events} events, {args.subscriptions} subscription(s), receiver answering in "
        f"{args.delay_ms:g} ms, one worker; load {os.getloadavg()[0]:.2f}"
    )
    print("| backend | hub s | deliveries/s | baseline s (POSTs alone) | POSTs/s | × baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for backend in backends:
        m = measure(backend, args.events, args.subscriptions, args.delay_ms / 1000)
        sent = args.events * args.subscriptions
        print(
            f"| {backend} | {m['hub_s']:.2f} | {sent / m['hub_s']:,.0f} | "
            f"{m['baseline_s']:.2f} | {sent / m['baseline_s']:,.0f} | "
            f"{m['hub_s'] / m['baseline_s']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
