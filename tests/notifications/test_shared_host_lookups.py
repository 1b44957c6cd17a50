"""Receivers behind one host name are all sent to when the worker sends to them at once.

The worker sends to up to ``LINKAGE_WEBHOOK_CONCURRENCY`` subscriptions at once, and each POST
looks its host up. A host name with :data:`sender.MAX_LOOKUPS_PER_HOST` lookups running got no
more: the third subscription on one host name (departments' receivers behind one government
platform's name) was refused without a lookup, its delivery recorded as a failed attempt
("timed out") and the rest of its claim held back to that attempt's retry, although the name
server answered. A lookup already running for the name is now shared, not refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.notifications import sender
from linkage_hub.notifications.models import Attempt
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, local_hooks
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"
HOST = "hooks.shared.test"
RECEIVERS = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    shared = local_hooks(settings, deliver_in_process=False, webhook_concurrency=RECEIVERS)
    shared.webhook_allow_hosts.append(HOST)
    return shared


@pytest.fixture
def shared_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Once armed, the shared name resolves when every receiver's lookup has started (each
    waits for the others, at most a few seconds): the lookups overlap, as they do when a
    name server takes a moment to answer three POSTs started together."""
    armed = threading.Event()
    real = socket.getaddrinfo
    everyone = threading.Event()
    lock = threading.Lock()
    seen = [0]

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if host == HOST:
            if armed.is_set():
                with lock:
                    seen[0] += 1
                    if seen[0] >= RECEIVERS:
                        everyone.set()
                everyone.wait(5)
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(sender.socket, "getaddrinfo", resolve)
    yield armed


def test_receivers_behind_one_host_name_are_all_sent_to(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    receiver: Receiver,
    shared_dns: threading.Event,
) -> None:
    headers = headers_for("establishment")
    port = urlsplit(receiver.url).port
    for n in range(RECEIVERS):
        made = client.post(
            SUBS,
            json={"url": f"http://{HOST}:{port}/hooks/{n}", "events": ["records.changed"]},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    answer = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=headers
    )
    assert answer.status_code == 201, answer.text

    shared_dns.set()
    deliverer = Deliverer(database)
    try:
        deliverer.round()
    finally:
        deliverer.stop()

    with database.transaction() as session:
        errors = list(session.scalars(select(Attempt.error)))
    assert errors == [None] * RECEIVERS
    assert len(receiver.received) == RECEIVERS
