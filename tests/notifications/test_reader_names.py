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
from tests.notifications.test_webhooks import ghost_pay, push, run, subscribe
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
