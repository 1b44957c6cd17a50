"""A revoked client's subscriptions "get nothing more" (notifications.dispatch's docstring;
``clients revoke`` is how an office takes a system, or a leaked secret, out of the hub). The
dispatcher does stop fanning new events out to them, but ``dispatch.claim`` never looks at the
owner: every delivery already pending when the client was revoked — a receiver that was
failing, a replay — keeps being POSTed to the revoked client's URL, with retries for about
three days.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from linkage_hub.auth.service import revoke_client
from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver
from tests.notifications.test_webhooks import make_due, wait_for_attempts
from tests.records import factory as f

COUNTY = "230102"


def test_a_revoked_clients_pending_delivery_is_not_sent(
    client: TestClient,
    headers_for: HeadersFor,
    client_id_for: object,
    receiver: Receiver,
    database: Database,
) -> None:
    headers = headers_for("audit", COUNTY)
    sub = client.post(
        "/api/v1/subscriptions",
        json={"url": receiver.url, "events": ["records.changed"]},
        headers=headers,
    )
    assert sub.status_code == 201, sub.text
    receiver.answers = [(500, {})]  # the receiver fails once: the delivery waits for a retry
    answer = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(1, region=COUNTY)]},
        headers=headers_for("establishment", COUNTY),
    )
    assert answer.status_code == 201, answer.text
    receiver.wait(lambda got: len(got) == 1)
    wait_for_attempts(client, headers, sub.json()["id"], 1)

    with database.transaction() as session:
        revoke_client(session, client_id_for("audit", COUNTY))  # type: ignore[operator]
    make_due(database)  # the retry's time comes
    time.sleep(2.0)  # the worker polls every 0.1 s
    assert len(receiver.received) == 1, "a revoked client's subscription was POSTed to again"
