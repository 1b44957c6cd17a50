"""API1 across time: a subscription's deliveries judged by its owner's rights of today.

The fan-out matched an event to a subscription by the subscription's region and department as
they were when it was made, and the worker POSTed (and a replay queued again) whatever had
been given out, so two things a subscriber can no longer read kept reaching it:

- **A finding that followed its unit.** County A's auditor subscribed to its findings; the
  city moved A's unit, and its live finding, to the sibling county B. The finding is 404 to A
  now (``test_api1_findings_over_a_move.py``), yet ``POST .../replay`` queued A's old
  ``finding.opened`` and ``finding.commented`` again (its id, unit, rule and statuses, and the
  comment's id), and a delivery that waited (paused, or retrying) was sent after the move.
- **A client moved in the database.** A client row's region or department changed after it
  subscribed: every token is checked against the row (its old token is refused), but its
  subscription went on receiving its old region's events, and its old department's.

Now the matching asks the owner's client row as it stands and, for a finding event, where the
finding is filed now (``dispatch._owner_may_read``), in the fan-out, before each POST and in
a replay: a replay is a new send, not a copy of the old one. The city, which holds both
counties, still replays them; B heard of the finding as ``finding.opened`` (``kind: moved``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from linkage_hub.auth.models import AuthClient
from linkage_hub.db import Database
from linkage_hub.notifications.models import Delivery
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, local_hooks, verifies
from tests.notifications.conftest import receiver as receiver  # the fixture
from tests.notifications.test_webhooks import ghost_pay, run, sub_owner, subscribe
from tests.records import factory as f

SUBS = "/api/v1/subscriptions"
CITY, A, B = "230100", "230102", "230103"
EVENTS = ["finding.opened", "finding.commented"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return local_hooks(settings, webhook_poll_seconds=0.1)


def _bodies(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    return [r.json for r in receiver.received if verifies(secret, r)]


def _finding_of_a(client: TestClient, headers_for: HeadersFor) -> str:
    """County A's ghost-pay finding (unit 70), found by the city's run, and a comment on it."""
    ghost_pay(client, headers_for, A, 70)
    run(client, headers_for, CITY)
    found = client.get("/api/v1/discrepancies", headers=headers_for("audit", A)).json()["items"]
    [finding] = found
    said = client.post(
        f"/api/v1/discrepancies/{finding['id']}/comments",
        json={"body": "县里的意见"},
        headers=headers_for("finance", A),
    )
    assert said.status_code == 201, said.text
    return str(finding["id"])


def _move_the_unit(client: TestClient, headers_for: HeadersFor, fid: str) -> None:
    moved = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(70, region=A) | {"region": B}]},
        headers=headers_for("establishment", CITY),
    )
    assert moved.status_code == 201, moved.text
    there = client.get(f"/api/v1/discrepancies/{fid}", headers=headers_for("audit", B))
    assert there.status_code == 200 and there.json()["region"] == B, there.text
    gone = client.get(f"/api/v1/discrepancies/{fid}", headers=headers_for("audit", A))
    assert gone.status_code == 404, gone.text


def _wait_seq(client: TestClient, headers: dict[str, str], sub_id: str, seq: int) -> None:
    for _ in range(400):
        if client.get(f"{SUBS}/{sub_id}", headers=headers).json()["last_seq"] >= seq:
            return
        time.sleep(0.05)
    raise AssertionError("the events were never given out")


def test_a_replay_after_the_move_sends_the_county_it_left_nothing_of_the_finding(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    county, city = headers_for("audit", A), headers_for("audit", CITY)
    mine = subscribe(client, county, receiver.url, EVENTS)
    above = subscribe(client, city, receiver.url, EVENTS)
    fid = _finding_of_a(client, headers_for)
    receiver.wait(lambda _: len(_bodies(receiver, mine["secret"])) >= 2)
    assert {b["data"]["finding_id"] for b in _bodies(receiver, mine["secret"])} == {fid}
    receiver.wait(lambda _: len(_bodies(receiver, above["secret"])) >= 2)
    _move_the_unit(client, headers_for, fid)
    sent = len(_bodies(receiver, mine["secret"]))

    replayed = client.post(f"{SUBS}/{mine['id']}/replay", json={"from_seq": 1}, headers=county)
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"replayed": 0}
    # The city holds both counties: its replay sends them again.
    again = client.post(f"{SUBS}/{above['id']}/replay", json={"from_seq": 1}, headers=city)
    assert again.status_code == 202 and again.json()["replayed"] >= 2, again.text
    receiver.wait(lambda _: len(_bodies(receiver, above["secret"])) >= 4)
    assert len(_bodies(receiver, mine["secret"])) == sent


def test_a_delivery_that_waited_over_the_move_is_not_sent_to_the_county_it_left(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    county = headers_for("audit", A)
    mine = subscribe(client, county, receiver.url, ["finding.commented"])
    paused = client.patch(f"{SUBS}/{mine['id']}", json={"active": False}, headers=county)
    assert paused.status_code == 200, paused.text
    fid = _finding_of_a(client, headers_for)
    _wait_seq(client, county, mine["id"], 1)  # given out while the finding was A's
    _move_the_unit(client, headers_for, fid)

    resumed = client.patch(f"{SUBS}/{mine['id']}", json={"active": True}, headers=county)
    assert resumed.status_code == 200, resumed.text
    log: list[dict[str, Any]] = []
    for _ in range(400):
        log = client.get(f"{SUBS}/{mine['id']}/deliveries", headers=county).json()["items"]
        if log:
            break
        time.sleep(0.05)
    assert [(a["seq"], a["attempt"], a["status_code"]) for a in log] == [(1, 0, None)], log
    assert log[0]["error"].startswith("not sent: ") and "may no longer read" in log[0]["error"]
    assert _bodies(receiver, mine["secret"]) == []


@pytest.mark.parametrize(("column", "value"), [("region", B), ("department", "hr")])
def test_a_client_moved_in_the_database_gets_nothing_more_of_its_old_rights(
    client: TestClient,
    headers_for: HeadersFor,
    receiver: Receiver,
    database: Database,
    column: str,
    value: str,
) -> None:
    moving = subscribe(client, headers_for("audit", A), receiver.url, ["records.changed"])
    marker = subscribe(client, headers_for("establishment", A), receiver.url, ["records.changed"])
    with database.transaction() as session:
        session.execute(
            update(AuthClient)
            .where(AuthClient.client_id == sub_owner(database, moving["id"]))
            .values({column: value})
        )
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(71, region=A)]},
        headers=headers_for("establishment", A),
    )
    assert pushed.status_code == 201, pushed.text
    # The fan-out gives out every subscription's deliveries in one transaction.
    receiver.wait(lambda _: len(_bodies(receiver, marker["secret"])) >= 1)
    with database.transaction() as session:
        made = session.scalar(select(func.count()).where(Delivery.subscription_id == moving["id"]))
    assert made == 0
    assert _bodies(receiver, moving["secret"]) == []
