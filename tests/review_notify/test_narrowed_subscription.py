"""A subscription narrowed with PATCH still sends what it no longer asks for.

The dispatcher fans events out to ``delivery`` rows when they happen; PATCH changes the
subscription's region, events and filters but leaves the deliveries already queued (paused, or
waiting for a retry) as they were, and the worker (dispatch.claim/load) never looks at the
subscription's filters again. A system that narrows its subscription from the city to one
county - because that receiver now belongs to the county - goes on receiving the other
county's events, and a replay sends them again."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, verifies
from tests.records.factory import unit

SUBS = "/api/v1/subscriptions"
CITY, COUNTY, SIBLING = "230100", "230102", "230103"


def test_events_outside_the_narrowed_region_are_not_sent_after_the_change(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    office = headers_for("establishment", CITY)
    made = client.post(
        SUBS,
        json={"url": receiver.url, "events": ["records.changed"], "filters": {"region": CITY}},
        headers=office,
    )
    assert made.status_code == 201, made.text
    sub = made.json()
    paused = client.patch(f"{SUBS}/{sub['id']}", json={"active": False}, headers=office)
    assert paused.status_code == 200, paused.text

    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [unit(61, region=SIBLING)]},
        headers=office,
    )
    assert pushed.status_code == 201, pushed.text
    for _ in range(200):  # the dispatcher has queued the sibling county's event
        if client.get(f"{SUBS}/{sub['id']}", headers=office).json()["last_seq"] >= 1:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the event was never queued")

    narrowed = client.patch(
        f"{SUBS}/{sub['id']}", json={"filters": {"region": COUNTY}, "active": True}, headers=office
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["filters"]["region"] == COUNTY

    time.sleep(3)  # the worker polls every 0.1 s here
    regions = [r.json["data"]["region"] for r in receiver.received if verifies(sub["secret"], r)]
    assert SIBLING not in regions, f"after narrowing to {COUNTY}, received events of {regions}"
