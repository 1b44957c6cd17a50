"""SSRF: the shared address space 100.64.0.0/10 (RFC 6598) is not a public address.

sender._public refuses what ``ipaddress`` calls private, loopback, link-local, multicast,
reserved or unspecified. Python's ``is_private`` is False for 100.64.0.0/10 (neither private nor
global), so a subscription may point the hub at carrier-grade-NAT / cloud-internal addresses
(Alibaba Cloud, and the government clouds built on it, put their internal services there:
100.100.100.200 is its instance metadata, 100.100.2.136 its DNS). The README promises "https to
public addresses only"; these are not public, and /deliveries then reports each attempt's
connect or TLS error - a port scan of the internal range."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings

SUBS = "/api/v1/subscriptions"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No allow-list (the default), as in production."""
    return make_settings(settings.database_url or "", settings.data_dir, deliver_in_process=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://100.100.100.200/latest/meta-data/ram/security-credentials/",
        "https://100.64.0.1/hook",
    ],
)
def test_a_shared_address_space_target_is_refused(
    client: TestClient, headers_for: HeadersFor, url: str
) -> None:
    answer = client.post(
        SUBS, json={"url": url, "events": ["finding.opened"]}, headers=headers_for("hr")
    )
    assert answer.status_code == 422, answer.text
