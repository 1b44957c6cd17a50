"""A unit moved between counties carries its records along (records.publish.
propagate_unit_regions): the roster, cadre, employment and payroll records of the unit get a
``close`` feed row in the county it leaves and an ``upsert`` in the county it enters, under the
units batch's id. ``announce_batch`` announced the batch's feed rows as *one* event per region
labelled with the batch's dataset (``units``), whatever dataset each row was of:

- a subscriber that follows the roster (``filters.datasets: ["roster"]``, the way an HR or
  finance system keeps a synchronised copy) heard nothing of roster records that entered (or
  left) its region;
- the ``units`` event it did deliver counted and listed (``changes``, ``record_keys``) rows
  of other datasets, and its ``links.changes`` (``dataset=units``) led to fewer changes than
  it announced.

Now each dataset's rows of the batch are that dataset's events (per region, and for payroll
per audience: both HR, which cannot read pay, and finance hear of the lines that moved, a
region being a field every department reads), and the dispatcher lists an event's record keys
from the rows of its own dataset.

README ("Events"): ``records.changed`` carries the dataset, the count and the change-feed
range; the filter ``datasets`` selects them.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.db import Database
from linkage_hub.notifications.dispatch import _record_keys
from linkage_hub.outbox.models import OutboxEvent
from linkage_hub.records.models import Change
from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, verifies
from tests.records import factory as f

A, B, CITY = "230102", "230103", "230100"
PERIOD = "2026-10"
SUBS = "/api/v1/subscriptions"


def _push(
    client: TestClient,
    headers_for: HeadersFor,
    dataset: str,
    rows: list[Any],
    department: str = "establishment",
) -> str:
    body: dict[str, Any] = {"records": rows}
    if dataset == "payroll":
        body["scope"] = {"period": PERIOD}
    answer = client.post(
        f"/api/v1/datasets/{dataset}/batches", json=body, headers=headers_for(department, CITY)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["batch_id"])


def _keys(client: TestClient, headers_for: HeadersFor, dataset: str, region: str) -> set[str]:
    answer = client.get(
        f"/api/v1/datasets/{dataset}/records",
        params={"limit": 1000},
        headers=headers_for("audit", region),
    )
    assert answer.status_code == 200, answer.text
    return {i["record_key"] for i in answer.json()["items"]}


def _subscribe(
    client: TestClient, headers: dict[str, str], url: str, **filters: Any
) -> dict[str, Any]:
    answer = client.post(
        SUBS,
        json={"url": url, "events": ["records.changed"], "filters": filters},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _move(client: TestClient, headers_for: HeadersFor) -> str:
    """The city moves unit 1 from A to B; the units batch's id."""
    return _push(client, headers_for, "units", [f.unit(1, region=A) | {"region": B}])


def test_roster_records_entering_a_county_reach_its_roster_subscriber(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    _subscribe(client, headers_for("hr", B), receiver.url, datasets=["roster"])
    moving, staying = f.unit_code(1, region=A), f.unit_code(2, region=B)
    _push(client, headers_for, "units", [f.unit(1, region=A), f.unit(2, region=B)])
    _push(client, headers_for, "roster", [f.roster(n) | {"unit_code": moving} for n in (1, 2)])

    # The city moves unit 1 from A to B: its two roster records now lie in B.
    _move(client, headers_for)
    moved = _keys(client, headers_for, "roster", B)
    assert len(moved) == 2

    # A roster push in B afterwards, as a marker that everything before it was dispatched.
    _push(client, headers_for, "roster", [f.roster(3) | {"unit_code": staying}])
    receiver.wait(lambda got: any(r.json["data"].get("changes") == 1 for r in got))
    time.sleep(0.5)  # deliveries go out side by side: let an earlier seq land too

    bodies = [r.json for r in receiver.received]
    assert all(b["data"]["dataset"] == "roster" for b in bodies)
    heard: set[str] = set()
    for b in bodies:
        heard |= set(b["data"].get("record_keys") or [])
    assert moved <= heard, (
        f"the roster subscriber of {B} was not told of the two roster records that entered "
        f"its region; it received {bodies}"
    )


def test_each_event_of_a_move_counts_and_links_its_own_datasets_changes(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    # The city's subscriber over B: the units batch is the city's, named to those who open it.
    _subscribe(client, headers_for("audit", CITY), receiver.url, region=B)
    moving = f.unit_code(1, region=A)
    _push(client, headers_for, "units", [f.unit(1, region=A)])
    _push(client, headers_for, "roster", [f.roster(n) | {"unit_code": moving} for n in (1, 2)])
    batch = _move(client, headers_for)
    receiver.wait(lambda got: len(got) >= 2)
    time.sleep(0.5)
    events = {
        r.json["data"]["dataset"]: r.json["data"]
        for r in receiver.received
        if r.json["data"]["batch_id"] == batch
    }
    assert set(events) == {"units", "roster"}, events
    assert events["units"]["changes"] == 1
    assert events["units"]["record_keys"] == [events["units"]["record_key"]]
    assert set(events["roster"]["record_keys"]) == _keys(client, headers_for, "roster", B)
    for event in events.values():
        # Follow the event's own link: the changes it announces are the ones it leads to.
        followed = client.get(event["links"]["changes"], headers=headers_for("audit", B))
        assert followed.status_code == 200, followed.text
        rows = [c for c in followed.json()["items"] if c["batch_id"] == batch]
        assert event["changes"] == len(rows), (event, rows)
        assert event["record_keys"] == [c["record_key"] for c in rows]
        assert {c["dataset"] for c in rows} == {event["dataset"]}
        assert event["from_seq"] == rows[0]["seq"] and event["to_seq"] == rows[-1]["seq"]


def test_moved_payroll_lines_reach_each_audience_of_both_counties(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    subs = {
        (department, region): _subscribe(
            client,
            headers_for(department, CITY),  # over each county, by the city (the batch's owner)
            f"{receiver.url}?who={department}{region}",
            datasets=["payroll"],
            region=region,
        )
        for department in ("hr", "finance")
        for region in (A, B)
    }
    moving = f.unit_code(1, region=A)
    _push(client, headers_for, "units", [f.unit(1, region=A)])
    lines = [f.payroll(n, unit_code=moving, period=PERIOD) for n in (1, 2)]
    _push(client, headers_for, "payroll", lines, department="finance")
    batch = _move(client, headers_for)
    moved = _keys(client, headers_for, "payroll", B)
    assert len(moved) == 2

    def of(department: str, region: str) -> list[dict[str, Any]]:
        secret = subs[(department, region)]["secret"]
        return [
            r.json["data"]
            for r in receiver.received
            if verifies(secret, r) and r.json["data"]["batch_id"] == batch
        ]

    receiver.wait(lambda _: all(of(d, r) for d, r in subs))
    time.sleep(0.5)
    for (department, region), _sub in subs.items():
        events = of(department, region)
        assert len(events) == 1, (department, region, events)
        event = events[0]
        assert event["dataset"] == "payroll" and event["region"] == region
        assert event["changes"] == 2 and set(event["record_keys"]) == moved, event
        assert "hidden" not in event and "gross_pay" not in str(event)


def test_record_keys_of_a_range_are_those_of_the_events_dataset(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    moving = f.unit_code(1, region=A)
    _push(client, headers_for, "units", [f.unit(1, region=A)])
    _push(client, headers_for, "roster", [f.roster(n) | {"unit_code": moving} for n in (1, 2)])
    _move(client, headers_for)
    roster = _keys(client, headers_for, "roster", B)
    with database.transaction() as session:
        high = int(session.scalar(select(func.max(Change.seq))) or 0)
        kinds = session.scalars(select(Change.dataset).where(Change.region == B)).all()
        assert {"units", "roster"} <= set(kinds)
        # An event whose range in B holds feed rows of units and of the roster.
        event = OutboxEvent(
            id=-1,
            type="records.changed",
            region=B,
            dataset="roster",
            data={"changes": 2, "from_seq": 1, "to_seq": high},
        )
        keys = _record_keys(session, [event])
    assert len(keys[-1]) == 2 and set(keys[-1]) == roster, keys
