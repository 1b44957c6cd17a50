"""Nothing lost, nothing sent twice under two ids: a hub killed between commit and delivery, a
worker that dies holding a lease, and two workers sharing the work."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from linkage_hub.db import Database
from linkage_hub.notifications import dispatch
from linkage_hub.notifications.models import Delivery
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings
from tests.net import free_port
from tests.notifications.conftest import Receiver, verifies
from tests.records.factory import unit
from tests.robustness.test_faults import _serve

SUBS = "/api/v1/subscriptions"
WAIT = 60.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's own app sends nothing: the processes and workers under test do."""
    return make_settings(
        settings.database_url or "",
        settings.data_dir,
        webhook_allow_hosts=["127.0.0.1"],
        deliver_in_process=False,
    )


def subscribe(client: TestClient, headers: dict[str, str], receiver: Receiver) -> str:
    """Subscribes the receiver to records.changed; returns the signing secret."""
    body = {"url": receiver.url, "events": ["records.changed"]}
    answer = client.post(SUBS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["secret"])


def push_units(http: TestClient | httpx.Client, headers: dict[str, str], ns: range) -> None:
    for n in ns:
        answer = http.post(
            "/api/v1/datasets/units/batches", json={"records": [unit(n)]}, headers=headers
        )
        assert answer.status_code == 201, answer.text


def serve(settings: Settings, log: Path, *, deliver: bool) -> subprocess.Popen[bytes]:
    return _serve(
        settings,
        free_port(),
        log,
        LINKAGE_RECONCILE_ON_WRITE="false",
        LINKAGE_DELIVER_IN_PROCESS=str(deliver).lower(),
        LINKAGE_WEBHOOK_ALLOW_HOSTS=json.dumps(["127.0.0.1"]),
        LINKAGE_WEBHOOK_POLL_SECONDS="0.2",
    )


def test_a_hub_killed_after_commit_loses_no_event(
    client: TestClient,
    headers_for: HeadersFor,
    settings: Settings,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    headers = headers_for("establishment")
    subscribe(client, headers, receiver)
    first = serve(settings, tmp_path / "hub.log", deliver=False)
    port = int(first.args[-1])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as http:
            push_units(http, headers, range(1, 4))  # three commits, three events
        first.send_signal(signal.SIGKILL)  # before anything was sent
        first.wait(WAIT)
    finally:
        if first.poll() is None:
            first.kill()
    assert receiver.received == []

    second = serve(settings, tmp_path / "hub.log", deliver=True)
    try:
        receiver.wait(lambda got: len(got) >= 3, WAIT)
        time.sleep(1.0)  # time enough for a duplicate to show
    finally:
        second.terminate()
        second.wait(WAIT)
    seqs = sorted(r.json["seq"] for r in receiver.received)
    assert seqs == [1, 2, 3]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 3


def test_a_worker_dying_with_a_lease_delays_but_loses_nothing(
    client: TestClient, headers_for: HeadersFor, database: Database, receiver: Receiver
) -> None:
    headers = headers_for("establishment")
    subscribe(client, headers, receiver)
    push_units(client, headers, range(1, 3))
    with database.transaction() as session:
        dispatch.dispatch(session)
    with database.transaction() as session:
        leased = dispatch.claim(session, 32)  # ... and the worker dies here
    assert len(leased) == 2
    other = Deliverer(database)
    other.drain()
    assert receiver.received == []  # leased: not the other worker's to send yet
    with database.transaction() as session:  # the lease runs out
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(Delivery).values(lease_until=past))
    other.drain()
    assert sorted(r.json["seq"] for r in receiver.received) == [1, 2]


def test_two_workers_send_each_event_once(
    client: TestClient, headers_for: HeadersFor, database: Database, receiver: Receiver
) -> None:
    headers = headers_for("establishment")
    secrets = [subscribe(client, headers, receiver) for _ in range(2)]
    push_units(client, headers, range(1, 21))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            Deliverer(database).drain()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert errors == []
    sent = Counter(
        (next(i for i, s in enumerate(secrets) if verifies(s, r)), r.headers["webhook-id"])
        for r in receiver.received
    )
    assert len(sent) == 40 and set(sent.values()) == {1}
    for i in range(2):
        seqs = sorted(r.json["seq"] for r in receiver.received if verifies(secrets[i], r))
        assert seqs == list(range(1, 21))


def test_a_claim_the_lease_cannot_cover_is_handed_back_unsent(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,
) -> None:
    """With a 60 s timeout a POST could outlive the 60 s lease: the worker sends none of the
    claim rather than race another worker for it, and hands it back at once."""
    from sqlalchemy import select

    headers = headers_for("establishment")
    subscribe(client, headers, receiver)
    push_units(client, headers, range(1, 3))
    slow = Database(settings.model_copy(update={"webhook_timeout_seconds": 60.0}))
    try:
        assert Deliverer(slow).round() == 0
    finally:
        slow.dispose()
    assert receiver.received == []
    with database.transaction() as session:
        leases = session.execute(select(Delivery.status, Delivery.lease_until)).all()
    assert sorted(leases) == [("pending", None), ("pending", None)]
    Deliverer(database).drain()
    assert sorted(r.json["seq"] for r in receiver.received) == [1, 2]
