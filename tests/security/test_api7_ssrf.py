"""API7 Server Side Request Forgery: webhooks are the hub's only outbound calls.

Without ``LINKAGE_WEBHOOK_ALLOW_HOSTS`` a department cannot point the hub at anything but a
public ``https`` address (``is_global``): not loopback, private, link-local or shared (the cloud
metadata addresses 169.254.169.254 and 100.100.100.200), IPv6 mapping of any of those, or
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


SHARED_SPACE = [
    "https://100.100.100.200/latest/meta-data/ram/security-credentials/",
    "https://100.64.0.1/hook",
    "https://[::ffff:100.100.100.200]/hook",  # IPv4-mapped
    "https://[64:ff9b::6464:64c8]/hook",  # NAT64 of 100.100.100.200
    "https://[2002:6464:64c8::1]/hook",  # 6to4 of 100.100.100.200
    "https://[::a00:1]/hook",  # IPv4-compatible 10.0.0.1
    "https://[64:ff9b:1::a00:1]/hook",  # local-use NAT64 (RFC 8215)
]


@pytest.mark.parametrize("url", SHARED_SPACE)
def test_a_shared_address_space_target_is_refused(
    client: TestClient, headers_for: HeadersFor, url: str
) -> None:
    """SSRF: the shared address space 100.64.0.0/10 (RFC 6598) is not a public address.

    sender._public refused what ``ipaddress`` calls private, loopback, link-local, multicast,
    reserved or unspecified. Python's ``is_private`` is False for 100.64.0.0/10 (neither
    private nor global), so a subscription could point the hub at carrier-grade-NAT /
    cloud-internal addresses (Alibaba Cloud, and the government clouds built on it, put their
    internal services there: 100.100.100.200 is its instance metadata, 100.100.2.136 its DNS),
    and /deliveries then reported each attempt's connect or TLS error - a port scan of the
    internal range. Now only global addresses are accepted, an IPv6 address judged as the IPv4
    one it maps."""
    answer = client.post(
        SUBS, json={"url": url, "events": ["finding.opened"]}, headers=headers_for("hr")
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["url"]


def test_a_global_address_inside_an_ipv6_one_is_accepted() -> None:
    """NAT64 and 6to4 of a public IPv4 address stay reachable."""
    assert check_target("https://[64:ff9b::5db8:d822]/hook", []) == "64:ff9b::5db8:d822"
    assert check_target("https://[2002:5db8:d822::1]/hook", []) == "2002:5db8:d822::1"
