"""A delivery names only the batches, runs and meetings its reader may open.

An event belongs to a region (the county whose records changed, the county a finding is filed
in) and goes to every subscription over that region: the county's own and its city's. What it
names is read by each subscriber's owner, so the dispatcher leaves out, per delivery, the id
(and link) of a batch whose scope, a run whose region or a meeting whose region lies outside
the owner's region — a 404 to it through the API — as the runs list and a run's 409 do
(``tests/reconciliation/test_run_history.py``, ``tests/security/test_api1_run_conflict.py``).
The city, which may open them, keeps them; so the city's subscriber of a city meeting's
decision on a county finding is told the meeting again.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.meetings.test_meetings import MEETINGS, convene
from tests.meetings.test_meetings import found as found  # the fixture
from tests.notifications.conftest import Receiver, verifies
from tests.notifications.test_webhooks import SUBS, ghost_pay, push, run, subscribe
from tests.public.conftest import City
from tests.public.conftest import city as city  # the fixture
from tests.public.conftest import publish as publish  # the fixture
from tests.records import factory as f

A, CITY = "230102", "230100"


def heard(receiver: Receiver, sub: dict[str, Any], type: str) -> list[dict[str, Any]]:
    return [
        r.json["data"]
        for r in receiver.received
        if verifies(sub["secret"], r) and r.json["type"] == type
    ]


def test_a_city_batch_is_named_to_the_city_not_to_the_county(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    county = subscribe(client, headers_for("audit", A), receiver.url, ["records.changed"])
    city = subscribe(
        client, headers_for("audit", CITY), receiver.url, ["records.changed"], region=A
    )
    batch = push(client, headers_for, "units", [f.unit(1, region=A)], CITY)
    receiver.wait(lambda _: bool(heard(receiver, county, "records.changed")))
    receiver.wait(lambda _: bool(heard(receiver, city, "records.changed")))
    [told] = heard(receiver, county, "records.changed")
    [full] = heard(receiver, city, "records.changed")
    assert (
        client.get(f"/api/v1/batches/{batch}", headers=headers_for("audit", A)).status_code == 404
    )
    assert "batch_id" not in told and "batch" not in told["links"], told
    assert batch not in str(told)
    assert (full["batch_id"], full["links"]["batch"]) == (batch, f"/api/v1/batches/{batch}")
    # The rest is the same: the county follows the change feed to what changed.
    same = {k: v for k, v in full.items() if k not in ("batch_id", "links", "event_id")}
    assert {k: v for k, v in told.items() if k not in ("links", "event_id")} == same
    assert told["links"]["changes"] == full["links"]["changes"]
    assert client.get(told["links"]["changes"], headers=headers_for("audit", A)).status_code == 200


def test_a_city_run_is_named_to_the_city_not_to_the_county(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    county = subscribe(client, headers_for("audit", A), receiver.url, ["finding.opened"])
    city = subscribe(client, headers_for("audit", CITY), receiver.url, ["finding.opened"])
    mine = subscribe(client, headers_for("audit", A), receiver.url, ["run.finished"])
    ghost_pay(client, headers_for, A, 10)
    city_run = run(client, headers_for, CITY)
    receiver.wait(lambda _: bool(heard(receiver, county, "finding.opened")))
    receiver.wait(lambda _: bool(heard(receiver, city, "finding.opened")))
    [told] = heard(receiver, county, "finding.opened")
    [full] = heard(receiver, city, "finding.opened")
    assert told["finding_id"] == full["finding_id"] and told["region"] == A
    assert "run_id" not in told and city_run not in str(told), told
    assert full["run_id"] == city_run
    # A county run is the county's to open: named to it.
    county_run = run(client, headers_for, A)
    receiver.wait(lambda _: bool(heard(receiver, mine, "run.finished")))
    [done] = heard(receiver, mine, "run.finished")
    assert done["run_id"] == county_run
    assert done["links"]["run"] == f"/api/v1/reconciliation/runs/{county_run}"


def test_a_city_meeting_is_named_to_the_city_not_to_the_county(
    found: dict[str, Any], client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    county = subscribe(client, headers_for("audit", A), receiver.url, ["finding.transitioned"])
    city = subscribe(client, headers_for("audit", CITY), receiver.url, ["finding.transitioned"])
    a, b, _ = found["county"]
    by_city = convene(client, headers_for("establishment", CITY), [a], region=CITY,
                      minutes_no="市联席〔2026〕1号").json()  # fmt: skip
    by_county = convene(client, headers_for("establishment", A), [b]).json()
    for meeting, held_by, finding in ((by_city, CITY, a), (by_county, A, b)):
        decided = client.post(
            f"{MEETINGS}/{meeting['id']}/decisions",
            json={"decisions": [{"finding_id": finding, "to": "waived", "reason": "借调"}]},
            headers=headers_for("establishment", held_by),
        )
        assert decided.status_code == 200, decided.text
    receiver.wait(lambda _: len(heard(receiver, county, "finding.transitioned")) >= 2)
    receiver.wait(lambda _: len(heard(receiver, city, "finding.transitioned")) >= 2)
    told = {d["finding_id"]: d for d in heard(receiver, county, "finding.transitioned")}
    full = {d["finding_id"]: d for d in heard(receiver, city, "finding.transitioned")}
    assert (
        client.get(f"{MEETINGS}/{by_city['id']}", headers=headers_for("audit", A)).status_code
        == 404
    )
    assert "meeting_id" not in told[a] and told[a]["document_no"] == "市联席〔2026〕1号"
    assert by_city["id"] not in str(told[a])
    assert full[a]["meeting_id"] == by_city["id"]
    assert told[b]["meeting_id"] == full[b]["meeting_id"] == by_county["id"]
    assert all("meeting_region" not in d for d in (*told.values(), *full.values()))


def test_a_case_handed_to_a_sibling_county_names_its_unit_to_the_city_only(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver, city: City, publish: Any
) -> None:
    """A report to the city naming a unit of county A, handed down to county B: B's
    ``case.transitioned`` named A's unit (``unit_code``), as the case's API did
    (``tests/security/test_api1_case_unit_code.py``); now the city's subscriber alone is told."""
    publish()
    b = "230103"
    unit = city.public_code["county_a"]
    county = subscribe(client, headers_for("establishment", b), receiver.url, ["case.transitioned"])
    above = subscribe(
        client, headers_for("establishment", CITY), receiver.url, ["case.transitioned"], region=b
    )
    report = {"category": "ghost_pay", "region": CITY, "facts": "某单位吃空饷。", "unit_code": unit}
    assert client.post("/public/v1/reports", json=report).status_code == 201
    office = headers_for("establishment", CITY)
    [case] = client.get("/api/v1/cases", headers=office).json()["items"]
    for step in ({"to": "accepted"}, {"to": "assigned", "region": b}):
        answer = client.post(f"/api/v1/cases/{case['id']}/transitions", json=step, headers=office)
        assert answer.status_code == 200, answer.text
    receiver.wait(lambda _: bool(heard(receiver, county, "case.transitioned")))
    receiver.wait(lambda _: bool(heard(receiver, above, "case.transitioned")))
    [told] = heard(receiver, county, "case.transitioned")
    [full] = heard(receiver, above, "case.transitioned")
    assert told["step"] == full["step"] == "assigned" and told["region"] == b
    assert "unit_code" not in told and unit not in str(told), told
    assert full["unit_code"] == unit


def test_a_unit_filter_does_not_match_a_unit_withheld_from_its_subscriber(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver, city: City, publish: Any
) -> None:
    """The same hand-down to county B, whose subscription filters by units (``units``) naming
    county A's unit: the event matched on the withheld ``unit_code``, so B learnt from the
    delivery (or its ``seq``) which unit the case handed to it concerns. Now a unit withheld
    from the subscriber matches no unit filter; the city's filter by that unit still does."""
    publish()
    b = "230103"
    unit = city.public_code["county_a"]
    events = ["case.transitioned"]
    office_b = headers_for("establishment", b)
    guessing = subscribe(client, office_b, receiver.url, events, units=[unit])
    everything = subscribe(client, office_b, receiver.url, events)
    above = subscribe(
        client, headers_for("establishment", CITY), receiver.url, events, region=b, units=[unit]
    )
    report = {"category": "ghost_pay", "region": CITY, "facts": "某单位吃空饷。", "unit_code": unit}
    assert client.post("/public/v1/reports", json=report).status_code == 201
    office = headers_for("establishment", CITY)
    [case] = client.get("/api/v1/cases", headers=office).json()["items"]
    for step in ({"to": "accepted"}, {"to": "assigned", "region": b}):
        answer = client.post(f"/api/v1/cases/{case['id']}/transitions", json=step, headers=office)
        assert answer.status_code == 200, answer.text
    # One fan-out gives every subscription its deliveries: once B's unfiltered subscription
    # and the city's have heard the hand-down, the filtered one was passed over, or not.
    receiver.wait(lambda _: bool(heard(receiver, everything, "case.transitioned")))
    receiver.wait(lambda _: bool(heard(receiver, above, "case.transitioned")))
    [told] = heard(receiver, everything, "case.transitioned")
    assert told["step"] == "assigned" and "unit_code" not in told
    [full] = heard(receiver, above, "case.transitioned")
    assert full["unit_code"] == unit
    sub = client.get(f"{SUBS}/{guessing['id']}", headers=office_b).json()
    assert sub["last_seq"] == 0, sub
    assert heard(receiver, guessing, "case.transitioned") == []
    deliveries = client.get(f"{SUBS}/{guessing['id']}/deliveries", headers=office_b).json()
    assert deliveries["items"] == []
