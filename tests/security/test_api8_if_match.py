"""API8: a conditional write the hub cannot honour is refused, not applied.

API.md: "Single records carry an `ETag`; a write with a stale `If-Match` is `412`" — a dataset's
single record (``tests/records``). A subscription and a finding carry no ETag, and a write sent
with an ``If-Match`` was applied anyway, though RFC 9110 §13.1.1 says a false If-Match condition
must not perform the method: two operators changing one subscription, or two departments
deciding one finding, overwrote each other even when their system asked the hub to refuse a
stale write. Now any write with an ``If-Match`` other than ``*`` to a resource without an ETag is
a 412 (``auth.policy._no_unmatched_condition``) and changes nothing; without the header, or with
``*``, it goes through as before.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.security.regions import Regions

HOOK = {"url": "https://93.184.216.34/hook", "events": ["bulletin.published"]}


def test_a_subscription_changed_with_an_if_match_is_refused(
    client: TestClient, headers_for: HeadersFor
) -> None:
    h = headers_for("establishment")
    created = client.post("/api/v1/subscriptions", json=HOOK, headers=h)
    assert created.status_code == 201, created.text
    path = f"/api/v1/subscriptions/{created.json()['id']}"
    stale = client.patch(path, json={"active": False}, headers={**h, "If-Match": '"stale"'})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert client.get(path, headers=h).json()["active"] is True
    gone = client.delete(path, headers={**h, "If-Match": 'W/"1"'})
    assert gone.status_code == 412 and client.get(path, headers=h).status_code == 200
    anything = client.patch(path, json={"active": False}, headers={**h, "If-Match": "*"})
    assert anything.status_code == 200 and anything.json()["active"] is False


def test_a_finding_decided_with_an_if_match_is_refused(
    regions: Regions, client: TestClient
) -> None:
    h = regions.headers_for("establishment", "230100")
    finding = regions.findings("establishment", "230100")[0]["id"]
    path = f"/api/v1/discrepancies/{finding}"
    waive = {"to": "waived", "reason": "经联席会议认定", "document_no": "哈编〔2026〕3号"}
    stale = client.post(f"{path}/transitions", json=waive, headers={**h, "If-Match": '"stale"'})
    assert stale.status_code == 412, stale.text
    assert client.get(path, headers=h).json()["status"] == "open"
    plain = client.post(f"{path}/transitions", json=waive, headers=h)
    assert plain.status_code == 200 and plain.json()["status"] == "waived"


def test_a_record_still_evaluates_its_own_if_match(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """The dataset's single record keeps its ETag check: not refused by the general rule."""
    h = headers_for("establishment")
    unit = f.unit(1)
    assert (
        client.post(
            "/api/v1/datasets/units/batches", json={"records": [unit]}, headers=h
        ).status_code
        == 201
    )
    key = client.get("/api/v1/datasets/units/records", headers=h).json()["items"][0]["record_key"]
    path = f"/api/v1/datasets/units/records/{key}"
    tag = client.get(path, headers=h).headers["etag"]
    changed = client.put(path, json=unit | {"name": "新名称"}, headers={**h, "If-Match": tag})
    assert changed.status_code == 200, changed.text
    stale = client.put(path, json=unit | {"name": "又一个"}, headers={**h, "If-Match": tag})
    assert stale.status_code == 412
