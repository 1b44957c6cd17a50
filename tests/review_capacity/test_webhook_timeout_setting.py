"""``LINKAGE_WEBHOOK_TIMEOUT_SECONDS`` accepts up to 60 s, but the delivery worker starts a POST
only while ``claimed + lease (60 s) - timeout - slack (5 s)`` has not passed: with a timeout
over 55 s that moment is before the claim, every claimed delivery is handed back unsent, and
no webhook is ever delivered."""

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
        webhook_timeout_seconds=58.0,  # accepted: the setting's bound is 60
        deliver_in_process=False,
    )


def test_a_timeout_the_settings_accept_delivers_nothing(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,  # noqa: F811
) -> None:
    """Should: with a webhook timeout the settings accept (58 s) an event is still delivered
    (or the setting is refused at start).
    Does: ``Deliverer.round`` computes a deadline 3 s before the claim and hands every
    delivery back unsent, round after round; the receiver never hears anything."""
    assert settings.webhook_timeout_seconds == 58.0
    headers = headers_for("establishment")
    made = client.post(SUBS, json={"url": receiver.url, "events": ["records.changed"]},
                       headers=headers)
    assert made.status_code == 201, made.text
    answer = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    worker = Deliverer(database)
    worker.start()
    try:
        end = time.monotonic() + 5
        while time.monotonic() < end and not receiver.received:
            time.sleep(0.1)
    finally:
        worker.stop()
    assert len(receiver.received) == 1
