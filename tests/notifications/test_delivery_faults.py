"""Nothing lost, nothing sent twice under two ids: a hub killed between commit and delivery, a
worker that dies holding a lease, and two workers sharing the work."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from linkage_hub.db import Database
from linkage_hub.notifications import dispatch, sender
from linkage_hub.notifications.models import Attempt, Delivery
from linkage_hub.notifications.sender import Outcome
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.net import free_port
from tests.notifications.conftest import Receiver, local_hooks, verifies
from tests.records.factory import unit
from tests.robustness.test_faults import _serve

SUBS = "/api/v1/subscriptions"
WAIT = 60.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's own app sends nothing: the processes and workers under test do."""
    return local_hooks(settings, deliver_in_process=False)


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
    """With a lease too short for the timeout (given by hand: :func:`worker.lease_for` makes
    none) a POST could outlive it: the worker sends none of the claim rather than race another
    worker for it, and hands it back at once."""

    headers = headers_for("establishment")
    subscribe(client, headers, receiver)
    push_units(client, headers, range(1, 3))
    slow = Database(settings.model_copy(update={"webhook_timeout_seconds": 60.0}))
    try:
        assert Deliverer(slow, lease=dt.timedelta(seconds=60)).round() == 0
    finally:
        slow.dispose()
    assert receiver.received == []
    with database.transaction() as session:
        leases = session.execute(select(Delivery.status, Delivery.lease_until)).all()
    assert sorted(leases) == [("pending", None), ("pending", None)]
    Deliverer(database).drain()
    assert sorted(r.json["seq"] for r in receiver.received) == [1, 2]


# --- a slow receiver, and a worker that stalls past its lease ---------------------------------

TIMEOUT = 1.0  # LINKAGE_WEBHOOK_TIMEOUT_SECONDS of the workers below
LEASE = dt.timedelta(seconds=4)  # a short lease, so the tests take seconds, not minutes
SLACK = 0.5


class Slow:
    """An endpoint that answers its first POST a line a second — header lines, or body lines
    after ``Content-Length: 1000000`` — never silent for ``TIMEOUT`` and never done within
    ``drip`` seconds; later POSTs at once."""

    def __init__(self, *, drip: float, body: bool = False) -> None:
        self.drip, self.body = drip, body
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.requests = 0
        self.started = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.requests += 1
            first = self.requests == 1
            self.started.set()
            try:
                if not first:
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                if self.body:
                    conn.sendall(b"Content-Length: 1000000\r\n\r\n")
                end = time.monotonic() + self.drip
                while time.monotonic() < end:
                    conn.sendall(b"x\n" if self.body else b"X-Drip: 1\r\n")
                    time.sleep(TIMEOUT / 4)
                conn.sendall(b"" if self.body else b"Content-Length: 0\r\n\r\n")
            except OSError:  # the hub hung up: what the timeout is for
                pass

    def close(self) -> None:
        self.sock.close()


def short(settings: Settings) -> Database:
    """A second hub process's database, its webhook timeout ``TIMEOUT``."""
    return Database(settings.model_copy(update={"webhook_timeout_seconds": TIMEOUT}))


@pytest.mark.parametrize("body", [False, True], ids=["headers", "body"])
def test_a_post_ends_within_the_timeout_however_the_receiver_drips(body: bool) -> None:
    """httpx's timeout bounds each socket read; a receiver answering a line at a time kept a
    POST open as long as it liked. The timeout now bounds the whole exchange."""
    slow = Slow(drip=30, body=body)
    try:
        with sender.client(TIMEOUT) as http:
            started = time.monotonic()
            outcome = sender.post(http, slow.url, b"{}", {}, ["127.0.0.1"])
            took = time.monotonic() - started
    finally:
        slow.close()
    assert outcome.error == "timed out" and outcome.status_code is None
    assert took < TIMEOUT + 0.5, f"the POST took {took:.1f} s (timeout {TIMEOUT} s)"


def test_a_slow_receiver_does_not_make_another_process_resend_others_deliveries(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,
) -> None:
    """One subscriber's endpoint answering a byte at a time held the worker's POST past its
    lease; the other process then claimed the whole claim again and every other subscriber in
    it got its events twice. The POST now ends at the timeout, inside the lease."""
    headers = headers_for("establishment")
    subscribe(client, headers, receiver)  # a well-behaved department's system
    push_units(client, headers, range(1, 2))
    with database.transaction() as session:
        dispatch.dispatch(session)  # its delivery of the first event comes first in a claim
    slow = Slow(drip=LEASE.total_seconds() + 6)
    body = {"url": slow.url, "events": ["records.changed"]}  # another subscriber's, slow
    answer = client.post(SUBS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    push_units(client, headers, range(2, 3))

    first_db, second_db = short(settings), short(settings)  # two hub processes
    try:
        first = Deliverer(first_db, lease=LEASE, slack=SLACK)
        second = Deliverer(second_db, lease=LEASE, slack=SLACK)
        worker = threading.Thread(target=first.round, daemon=True)
        claimed_at = time.monotonic()
        worker.start()
        assert slow.started.wait(30)
        worker.join(LEASE.total_seconds())
        assert not worker.is_alive(), "the slow POST outlived the lease"
        time.sleep(max(0.0, claimed_at + LEASE.total_seconds() + 0.5 - time.monotonic()))
        second.round()  # the lease has run out: anything left leased would be claimed here
    finally:
        slow.close()
        first_db.dispose()
        second_db.dispose()

    ids = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert len(ids) == 2 and set(ids.values()) == {1}, (
        f"the well-behaved receiver got an event twice: {dict(ids)}"
    )


def test_a_worker_that_lost_its_lease_sends_and_writes_nothing_more(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,
) -> None:
    """A worker stalls after a POST (a paused process, a slow database) until its lease has run
    out and another worker has claimed and sent the deliveries. Resumed, it sent the rest of
    its claim again and wrote its outcomes over the other's; now it sends nothing more, writes
    nothing, and leaves the other's lease alone."""
    headers = headers_for("establishment")
    subscribe(client, headers, receiver)
    push_units(client, headers, range(1, 4))
    with database.transaction() as session:
        dispatch.dispatch(session)

    class Stalling(Deliverer):
        def send(self, item: dispatch.Due) -> Outcome:
            outcome = super().send(item)
            time.sleep(LEASE.total_seconds() + 1.5)  # ... past the lease
            return outcome

    first_db, second_db = short(settings), short(settings)
    try:
        stalling = Stalling(first_db, lease=LEASE, slack=SLACK)
        worker = threading.Thread(target=stalling.round, daemon=True)
        claimed_at = time.monotonic()
        worker.start()
        receiver.wait(lambda got: len(got) >= 1)
        time.sleep(max(0.0, claimed_at + LEASE.total_seconds() + 0.3 - time.monotonic()))
        # Another worker claims the three again: the first POST's outcome was never written.
        Deliverer(second_db, lease=LEASE, slack=SLACK).drain()
        assert len(receiver.received) == 4
    finally:
        worker.join(30)
        first_db.dispose()
        second_db.dispose()
    assert not worker.is_alive()

    seqs = Counter(r.json["seq"] for r in receiver.received)
    # The POST in flight when the lease ran out is sent again (same webhook-id: at least
    # once); nothing after it is.
    assert seqs == {1: 2, 2: 1, 3: 1}, seqs
    with database.transaction() as session:
        attempts = session.execute(select(Attempt.seq, Attempt.attempt, Attempt.status_code))
        rows = sorted(attempts.all())
        delivered = session.execute(select(Delivery.status, Delivery.attempts)).all()
    assert rows == [(1, 1, 204), (2, 1, 204), (3, 1, 204)]  # the stalled worker wrote none
    assert sorted(delivered) == [("delivered", 1)] * 3
