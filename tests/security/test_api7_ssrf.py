"""API7 Server Side Request Forgery: webhooks are the hub's only outbound calls.

Without ``LINKAGE_WEBHOOK_ALLOW_HOSTS`` a department cannot point the hub at anything but a
public ``https`` address: not loopback, private, link-local (the cloud metadata address) or
unspecified, not plain http, not a URL with credentials. The same checks run again at each
delivery (a subscription stored before the allow-list changed, or a host whose DNS answer
changed, is refused then), and the hub follows no redirect.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from linkage_hub.db import Database
from linkage_hub.notifications.models import Delivery, Subscription
from linkage_hub.notifications.sender import TargetRefused, check_target
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings
from tests.notifications.conftest import Receiver, receiver  # noqa: F401 - fixture
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No allow-list (the default), and no delivery worker in the app: the test sends."""
    return make_settings(settings.database_url or "", settings.data_dir, deliver_in_process=False)


REFUSED = [
    "http://127.0.0.1:8000/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://10.0.0.7/hook",
    "https://192.168.1.1/hook",
    "https://172.16.0.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://0.0.0.0/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
    "https://[64:ff9b::a00:1]/hook",  # NAT64 of 10.0.0.1
    "https://[fec0::1]/hook",  # site-local
    "https://[fd00::1]/hook",  # unique local
    "https://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://93.184.216.34/hook",  # public, but plain http
    "https://user:pw@93.184.216.34/hook",
    "file:///etc/passwd",
    "gopher://93.184.216.34/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_loopback_and_plain_targets_are_refused(
    client: TestClient, headers_for: HeadersFor, url: str
) -> None:
    answer = client.post(
        SUBS, json={"url": url, "events": ["finding.opened"]}, headers=headers_for("hr")
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["url"]
    assert client.get(SUBS, headers=headers_for("hr")).json()["items"] == []


def test_a_public_https_address_is_accepted(client: TestClient, headers_for: HeadersFor) -> None:
    body = {"url": "https://93.184.216.34/hook", "events": ["bulletin.published"]}
    assert client.post(SUBS, json=body, headers=headers_for("hr")).status_code == 201


def test_changing_the_url_is_checked_too(client: TestClient, headers_for: HeadersFor) -> None:
    body = {"url": "https://93.184.216.34/hook", "events": ["bulletin.published"]}
    sub = client.post(SUBS, json=body, headers=headers_for("hr")).json()
    answer = client.patch(
        f"{SUBS}/{sub['id']}",
        json={"url": "https://169.254.169.254/latest"},
        headers=headers_for("hr"),
    )
    assert answer.status_code == 422
    shown = client.get(f"{SUBS}/{sub['id']}", headers=headers_for("hr")).json()
    assert shown["url"] == body["url"]


def test_the_allow_list_is_by_host() -> None:
    assert check_target("http://127.0.0.1:9/x", ["127.0.0.1"]) == "127.0.0.1"
    with pytest.raises(TargetRefused):
        check_target("http://127.0.0.2:9/x", ["127.0.0.1"])


def test_delivery_checks_again_and_follows_no_redirect(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,  # noqa: F811
) -> None:
    body = {"url": "https://93.184.216.34/hook", "events": ["records.changed"]}
    headers = headers_for("establishment")
    sub = client.post(SUBS, json=body, headers=headers).json()
    # As if stored when 127.0.0.1 was allowed: the delivery must still refuse it.
    with database.transaction() as session:
        session.execute(update(Subscription).values(url=receiver.url))
    pushed = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=headers
    )
    assert pushed.status_code == 201
    Deliverer(database).drain()
    log = client.get(f"{SUBS}/{sub['id']}/deliveries", headers=headers).json()["items"]
    assert log and log[0]["status_code"] is None and log[0]["error"].startswith("refused")
    assert receiver.received == []

    # Allowed now; the receiver redirects to the metadata address: not followed.
    allowed = make_settings(
        settings.database_url or "", settings.data_dir, webhook_allow_hosts=["127.0.0.1"]
    )
    db = Database(allowed)
    try:
        receiver.answers = [(307, {"Location": "http://169.254.169.254/latest/meta-data"})]
        with db.transaction() as session:  # time passes: the retry is due
            session.execute(update(Delivery).values(next_attempt_at=dt.datetime.now(dt.UTC)))
        Deliverer(db).drain()
    finally:
        db.dispose()
    assert len(receiver.received) == 1
    log = client.get(f"{SUBS}/{sub['id']}/deliveries", headers=headers).json()["items"]
    assert log[0]["status_code"] == 307 and log[0]["error"] == "answered 307"
