"""Receivers do not wait on each other; a receiver that hangs holds up only its own deliveries.

The worker sent a claim's deliveries one after the other: a department whose receiver hung
cost every other department's deliveries a timeout for each of its own. Now each
subscription's deliveries go in order, different subscriptions at once
(``LINKAGE_WEBHOOK_CONCURRENCY``), and a delivery that got no answer sends the rest of its
subscription's claim back to wait for its own next attempt, uncounted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.db import Database
from linkage_hub.notifications import dispatch
from linkage_hub.notifications.models import Attempt, Delivery
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, local_hooks
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"
TIMEOUT = 3.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return local_hooks(settings, webhook_timeout_seconds=TIMEOUT, deliver_in_process=False)


class Hanging:
    """Answers nothing within the timeout; notes whether the other receiver had every event
    (three) while it hung. Sent one after the other, a POST to it ended (timed out) before
    any later delivery started."""

    def __init__(self, other: Receiver) -> None:
        self.other = other
        self.posts = 0
        self.saw_other: list[bool] = []
        self.release = threading.Event()
        state = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                state.posts += 1
                reached = threading.Event()
                for _ in range(int(TIMEOUT * 20) - 10):  # well inside the client's timeout
                    if len(state.other.received) >= 3:
                        reached.set()
                        break
                    if state.release.wait(0.05):
                        break
                state.saw_other.append(reached.is_set())
                state.release.wait(TIMEOUT + 1)  # past the client's timeout

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hang"


@pytest.fixture
def hanging(receiver: Receiver) -> Iterator[Hanging]:
    state = Hanging(receiver)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        state.server.shutdown()
        state.server.server_close()


def subscribe(client: TestClient, headers: dict[str, str], url: str) -> str:
    made = client.post(SUBS, json={"url": url, "events": ["records.changed"]}, headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_a_hanging_receiver_holds_up_only_its_own_deliveries(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    receiver: Receiver,
    hanging: Hanging,
) -> None:
    headers = headers_for("establishment")
    stuck = subscribe(client, headers, hanging.url)
    subscribe(client, headers, receiver.url)
    for n in range(3):
        answer = client.post(
            "/api/v1/datasets/units/batches", json={"records": [unit(n + 1)]}, headers=headers
        )
        assert answer.status_code == 201, answer.text

    deliverer = Deliverer(database)
    try:
        deliverer.round()
    finally:
        deliverer.stop()

    assert len(receiver.received) == 3  # every event reached the receiver that answers
    assert hanging.saw_other == [True]  # while the hanging one was still being waited for
    assert hanging.posts == 1  # the rest of its claim waits for that delivery's retry
    with database.transaction() as session:
        mine = session.execute(
            select(Delivery.id, Delivery.status, Delivery.attempts, Delivery.next_attempt_at)
            .where(Delivery.subscription_id == stuck)
            .order_by(Delivery.id)
        ).all()
        tried = session.scalars(select(Attempt.delivery_id).where(Attempt.subscription_id == stuck))
        tried_ids = list(tried)
    assert [row.status for row in mine] == ["pending"] * 3
    assert [row.attempts for row in mine] == [1, 0, 0]  # the others uncounted
    assert tried_ids == [mine[0].id]
    retry = mine[0].next_attempt_at
    assert all(row.next_attempt_at >= retry for row in mine[1:])  # not due before it


def test_a_claim_is_shared_among_the_subscriptions_with_deliveries_due(
    client: TestClient, headers_for: HeadersFor, database: Database, receiver: Receiver
) -> None:
    """A claim took the oldest deliveries of all: one subscription's fan-out comes in one
    block, so a claim held its backlog alone and the others waited for its receiver."""
    headers = headers_for("establishment")
    first = subscribe(client, headers, receiver.url + "/first")
    for n in range(12):
        answer = client.post(
            "/api/v1/datasets/units/batches", json={"records": [unit(n + 1)]}, headers=headers
        )
        assert answer.status_code == 201, answer.text
    with database.transaction() as session:
        dispatch.dispatch(session)  # twelve deliveries for the first subscription
    second = subscribe(client, headers, receiver.url + "/second")
    answer = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(13)]}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    with database.transaction() as session:
        dispatch.dispatch(session)  # one more each
        claimed = dispatch.claim(session, 4)
        owners = session.execute(
            select(Delivery.subscription_id, func.count())
            .where(Delivery.id.in_(claimed))
            .group_by(Delivery.subscription_id)
        ).all()
    # Two each, but the second has one due: the place it leaves goes to the first.
    assert dict(owners) == {first: 3, second: 1}
