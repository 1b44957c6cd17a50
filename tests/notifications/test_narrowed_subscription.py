"""A subscription narrowed with PATCH still sends what it no longer asks for.

The dispatcher fans events out to ``delivery`` rows when they happen; PATCH changes the
subscription's region, events and filters but leaves the deliveries already queued (paused, or
waiting for a retry) as they were, and the worker (dispatch.claim/load) never looks at the
subscription's filters again. A system that narrows its subscription from the city to one
county - because that receiver now belongs to the county - goes on receiving the other
county's events, and a replay sends them again. Now a change of region, events or filters drops
the waiting deliveries the subscription no longer asks for (``dropped``, an ``attempt`` 0 entry in
``/deliveries`` saying why; the worker drops one a fan-out gave out beside the change too), and a
replay sends only what it asks for now."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from linkage_hub.db import Database
from linkage_hub.notifications import dispatch
from linkage_hub.notifications.models import Delivery, Subscription
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.versioning import region_bounds
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
    log = client.get(f"{SUBS}/{sub['id']}/deliveries", headers=office).json()["items"]
    assert [(a["seq"], a["attempt"], a["status_code"]) for a in log] == [(1, 0, None)]
    assert log[0]["error"].startswith("not sent: the subscription was changed")

    replayed = client.post(f"{SUBS}/{sub['id']}/replay", json={"from_seq": 1}, headers=office)
    assert replayed.status_code == 202 and replayed.json() == {"replayed": 0}


def test_a_replay_after_narrowing_sends_only_what_the_subscription_asks_for_now(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    office = headers_for("establishment", CITY)
    body = {"url": receiver.url, "events": ["records.changed"], "filters": {"region": CITY}}
    sub = client.post(SUBS, json=body, headers=office).json()
    for n, region in ((62, SIBLING), (63, COUNTY)):
        pushed = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [unit(n, region=region)]},
            headers=office,
        )
        assert pushed.status_code == 201, pushed.text
    receiver.wait(lambda got: len(got) == 2)
    narrowed = client.patch(
        f"{SUBS}/{sub['id']}", json={"filters": {"region": COUNTY}}, headers=office
    )
    assert narrowed.status_code == 200, narrowed.text

    replayed = client.post(f"{SUBS}/{sub['id']}/replay", json={"from_seq": 1}, headers=office)
    assert replayed.status_code == 202 and replayed.json() == {"replayed": 1}
    receiver.wait(lambda got: len(got) == 3)
    time.sleep(1)
    regions = [r.json["data"]["region"] for r in receiver.received if verifies(sub["secret"], r)]
    assert sorted(regions) == sorted([SIBLING, COUNTY, COUNTY]), regions


def test_a_delivery_given_out_beside_the_change_is_dropped_by_the_worker(
    client: TestClient,
    headers_for: HeadersFor,
    receiver: Receiver,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fan-out that read the subscription before the change committed queues its events
    under the old criteria after the change dropped the waiting ones: the worker checks what
    it loads against the subscription as it stands, and drops it unsent.

    Only this test fans out and delivers: the app's own worker (polling every 0.1 s) would
    otherwise take the event first, and, fanning it out after the change, queue nothing (the
    clean-clone run of 2026-12-07 found no delivery at all, once, on a loaded machine)."""
    own_round = Deliverer.round

    def only_ours(self: Deliverer) -> int:
        return 0 if threading.current_thread().name == "webhook-delivery" else own_round(self)

    monkeypatch.setattr(Deliverer, "round", only_ours)
    office = headers_for("establishment", CITY)
    body = {"url": receiver.url, "events": ["records.changed"], "filters": {"region": CITY}}
    sub = client.post(SUBS, json=body, headers=office).json()
    client.patch(f"{SUBS}/{sub['id']}", json={"active": False}, headers=office)
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [unit(64, region=SIBLING)]},
        headers=office,
    )
    assert pushed.status_code == 201, pushed.text
    with database.transaction() as session:
        dispatch.dispatch(session)
        # As if the change committed between the fan-out's read and its insert.
        session.execute(
            update(Subscription)
            .where(Subscription.id == sub["id"])
            .values(region=COUNTY, region_lo=COUNTY, region_hi=region_bounds(COUNTY)[1])
        )
    client.patch(f"{SUBS}/{sub['id']}", json={"active": True}, headers=office)
    Deliverer(database).drain()
    time.sleep(0.5)  # a POST, had one been made, reaches the receiver
    assert receiver.received == []
    with database.transaction() as session:
        assert session.scalars(select(Delivery.status)).all() == ["dropped"]
