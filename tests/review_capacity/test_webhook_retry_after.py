"""A subscriber's own receiver answering ``503`` with ``Retry-After: ²`` (a character
``str.isdigit`` calls a digit but ``float`` cannot read) makes every delivery round raise:
other departments' deliveries in the same claim are never sent, or sent without their outcome
recorded (and so sent again when the lease runs out)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings
from tests.notifications.conftest import Receiver, receiver  # noqa: F401
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return make_settings(
        settings.database_url or "",
        settings.data_dir,
        webhook_allow_hosts=["127.0.0.1"],
        webhook_poll_seconds=0.1,
        deliver_in_process=False,
    )


@pytest.fixture
def hostile_url() -> Iterator[str]:
    """A receiver that answers every POST 503 with ``Retry-After: \\xb2`` (latin-1 '²')."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(503)
            self.send_header("Retry-After", "\u00b2")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_a_receivers_odd_retry_after_stalls_other_departments_deliveries(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    receiver: Receiver,  # noqa: F811
    hostile_url: str,
) -> None:
    """Should: the organization department's receiver's 503 is recorded as a failed attempt
    (the unreadable Retry-After ignored), and the establishment office's subscription gets its
    event with the attempt recorded (status 204).
    Does: ``sender._retry_after`` calls ``float('²')`` outside any ``try`` (``'²'.isdigit()``
    is true), the ``ValueError`` escapes ``sender.post`` and ``Deliverer.round``; no outcome of
    the claim is written, and the honest delivery is not delivered/recorded."""
    honest = headers_for("establishment")
    attacker = headers_for("organization")
    made = client.post(SUBS, json={"url": receiver.url, "events": ["records.changed"]},
                       headers=honest)
    assert made.status_code == 201, made.text
    honest_id = made.json()["id"]
    bad = client.post(SUBS, json={"url": hostile_url, "events": ["records.changed"]},
                      headers=attacker)
    assert bad.status_code == 201, bad.text
    bad_id = bad.json()["id"]
    answer = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=honest
    )
    assert answer.status_code == 201, answer.text

    worker = Deliverer(database)
    worker.start()
    try:
        end = time.monotonic() + 5
        attempts: list[dict[str, Any]] = []
        hostile: list[dict[str, Any]] = []
        while time.monotonic() < end:
            attempts = client.get(f"{SUBS}/{honest_id}/deliveries", headers=honest).json()[
                "items"
            ]
            hostile = client.get(f"{SUBS}/{bad_id}/deliveries", headers=attacker).json()[
                "items"
            ]
            if attempts and hostile:
                break
            time.sleep(0.2)
    finally:
        worker.stop()
    assert len(receiver.received) == 1, "the honest subscription's event was not delivered"
    assert [a["status_code"] for a in attempts] == [204], attempts
    assert [a["status_code"] for a in hostile] == [503], hostile
