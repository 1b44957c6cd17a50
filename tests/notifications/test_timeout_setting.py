"""Every webhook timeout the settings accept delivers.

``LINKAGE_WEBHOOK_TIMEOUT_SECONDS`` accepts up to 60 s, and the worker starts a POST only while
``claimed + lease - timeout - slack`` has not passed. The lease was a fixed 60 s, so with a
timeout over 55 s that moment came before the claim: every delivery was handed back unsent,
round after round, and nothing was ever delivered. Now the lease is at least twice the timeout
and the slack (:func:`worker.lease_for`)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.notifications import dispatch, worker
from linkage_hub.notifications.worker import SLACK, Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, local_hooks
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The largest timeout the settings accept.
    return local_hooks(settings, webhook_timeout_seconds=60.0, deliver_in_process=False)


def test_the_largest_timeout_accepted_still_delivers(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,
) -> None:
    assert settings.webhook_timeout_seconds == 60.0
    headers = headers_for("establishment")
    made = client.post(
        SUBS, json={"url": receiver.url, "events": ["records.changed"]}, headers=headers
    )
    assert made.status_code == 201, made.text
    answer = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    Deliverer(database).drain(timeout=5)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("timeout", [0.5, 15.0, 27.5, 50.0, 55.0, 58.0, 60.0])
def test_the_lease_leaves_a_timeout_to_start_posts_in(timeout: float) -> None:
    lease = worker.lease_for(timeout).total_seconds()
    assert lease >= dispatch.LEASE.total_seconds()
    assert lease - timeout - SLACK >= timeout
    assert worker.lease_for(15.0) == dispatch.LEASE  # the default's lease is as it was
