"""A delivery's fields have the shapes the API gives them.

A finding's ``departments`` is a list wherever the API shows the finding (API.md,
Discrepancies); the outbox stores it as the findings table does (``",finance,"``), and the
deliveries sent that string, so a receiver routing a finding ``for d in data["departments"]``
iterated over characters. Now every finding event gives the list.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver
from tests.notifications.test_webhooks import ghost_pay, run, subscribe

A = "230102"


def test_a_finding_events_departments_are_the_list_the_api_shows(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    office = headers_for("establishment", A)
    sub = subscribe(client, office, receiver.url, ["finding.opened", "finding.commented"])
    ghost_pay(client, headers_for, A, 10)
    run(client, headers_for, A)
    [finding] = client.get("/api/v1/discrepancies", headers=office).json()["items"]
    commented = client.post(
        f"/api/v1/discrepancies/{finding['id']}/comments", json={"body": "请核实"}, headers=office
    )
    assert commented.status_code == 201, commented.text
    receiver.wait(lambda _: len(receiver.verified(sub["secret"])) >= 2)
    events = {e["type"]: e["data"] for e in receiver.verified(sub["secret"])}
    assert set(events) == {"finding.opened", "finding.commented"}
    assert sorted(finding["departments"]) == ["establishment", "finance"]
    for data in events.values():
        assert data["departments"] == finding["departments"], data
