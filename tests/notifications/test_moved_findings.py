"""A finding that follows its unit to another region is announced there.

When the city moves a unit from county A to B, the unit's live findings are filed in B
(``tests/reconciliation/test_unit_moves.py``). B's subscribers are told of each as
``finding.opened`` with ``kind: moved``, the status it has and the units batch that moved it,
so the department that must now settle it hears of it as of a finding a run opened (the batch's
id to those who may open it: here the province's batch, to the province). A's
subscribers hear nothing of the move (the finding is not theirs any more); the city, holding
both, hears it as B does. A move that leaves the findings where they were says nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, verifies
from tests.notifications.test_webhooks import subscribe
from tests.reconciliation.test_unit_moves import MOVING, PROVINCE, RULES, STAYS, Hub, unit_row
from tests.reconciliation.test_unit_moves import hub as hub  # the fixture

A, B, CITY = "230102", "230103", "230100"


class Told:
    """A ``finding.opened`` subscription of audit in each of A, B, the city and the province."""

    def __init__(self, client: TestClient, headers_for: HeadersFor, receiver: Receiver) -> None:
        self.receiver = receiver
        self.secrets = {
            region: subscribe(
                client, headers_for("audit", region), receiver.url, ["finding.opened"]
            )["secret"]
            for region in (A, B, CITY, PROVINCE)
        }

    def bodies(self, region: str) -> list[dict[str, Any]]:
        return [r.json for r in self.receiver.received if verifies(self.secrets[region], r)]


@pytest.fixture
def told(client: TestClient, headers_for: HeadersFor, receiver: Receiver) -> Told:
    return Told(client, headers_for, receiver)


def test_the_region_it_entered_hears_of_each_moved_finding(
    hub: Hub, told: Told, client: TestClient, headers_for: HeadersFor
) -> None:
    ids = {hub.findings(A)[rule]["id"]: rule for rule in RULES}
    answer = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [unit_row(MOVING, B)]},
        headers=headers_for("establishment", PROVINCE),
    )
    assert answer.status_code == 201, answer.text
    heard = (B, CITY, PROVINCE)
    told.receiver.wait(lambda _: all(len(told.bodies(region)) >= 2 for region in heard))
    for region in heard:
        assert sorted(b["data"]["finding_id"] for b in told.bodies(region)) == sorted(ids)
        for body in told.bodies(region):
            data = body["data"]
            assert body["type"] == "finding.opened"
            assert data["rule"] == ids[data["finding_id"]]
            assert (data["region"], data["unit_code"]) == (B, MOVING)
            assert (data["kind"], data["status"]) == ("moved", "open")
            # The province's units batch: named to the province only, which may open it.
            if region == PROVINCE:
                assert data["batch_id"] == answer.json()["batch_id"]
            else:
                assert "batch_id" not in data, data
            assert "from_status" not in data
    assert told.bodies(A) == []


def test_a_batch_that_moves_no_unit_announces_no_finding(
    hub: Hub, told: Told, client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    marker = subscribe(client, headers_for("audit", B), receiver.url, ["records.changed"])
    hub.push("units", [unit_row(MOVING, A) | {"name": "改名的单位"}, unit_row(STAYS, A)])
    hub.push("units", [unit_row(STAYS, B)])  # moves a unit without live findings
    receiver.wait(lambda got: sum(verifies(marker["secret"], r) for r in got) >= 1)
    assert [told.bodies(region) for region in (A, B, CITY, PROVINCE)] == [[], [], [], []]
