"""A subscription URL that passes the hub's own checks but that httpx cannot build a request
for (a control character in the path) makes every delivery round raise: the claim's other
deliveries -- other departments' -- are never sent, or sent without their outcome recorded."""

from __future__ import annotations

import time

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


def test_one_bad_subscription_url_stalls_other_departments_deliveries(
    client: TestClient, headers_for: HeadersFor, database: Database, receiver: Receiver
) -> None:
    """Should: the organization department's subscription with a URL holding ``\\x01`` is
    refused at creation (422), or its deliveries fail as attempts of their own, while the
    establishment office's subscription gets its event and the attempt is recorded.
    Does: the URL is accepted (201); ``httpx.InvalidURL`` (not an ``httpx.HTTPError``) escapes
    ``sender._post`` and ``Deliverer.round``, so no outcome of the claim is ever written and
    the honest delivery is either never sent or sent with no attempt recorded (so sent again
    when the lease runs out)."""
    honest = headers_for("establishment")
    attacker = headers_for("organization")
    made = client.post(SUBS, json={"url": receiver.url, "events": ["records.changed"]},
                       headers=honest)
    assert made.status_code == 201, made.text
    honest_id = made.json()["id"]
    poison = client.post(
        SUBS,
        json={"url": receiver.url + "\u0001", "events": ["records.changed"]},
        headers=attacker,
    )
    if poison.status_code == 422:
        return  # refused at the door: fine
    assert poison.status_code == 201, poison.text
    answer = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=honest
    )
    assert answer.status_code == 201, answer.text

    worker = Deliverer(database)
    worker.start()
    try:
        end = time.monotonic() + 5
        attempts: list[dict] = []
        while time.monotonic() < end:
            got = client.get(f"{SUBS}/{honest_id}/deliveries", headers=honest)
            assert got.status_code == 200, got.text
            attempts = got.json()["items"]
            if attempts and len(receiver.received) >= 1:
                break
            time.sleep(0.2)
    finally:
        worker.stop()
    assert len(receiver.received) == 1, "the honest subscription's event was not delivered"
    assert [a["status_code"] for a in attempts] == [204], attempts
