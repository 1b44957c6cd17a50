"""API1 across time: the person view (``GET /api/v1/persons/{id_number}``) after the city moved
the person's unit from county A to county B, and an ``Idempotency-Key`` replayed over the move.

Suspected in a review (2026-12-07) of leaking to B what A holds of the person (A's HR record, its
unit and exit date, the versions finance changed the pay in, A's findings), to A what followed the
unit to B, and to the sibling county C that the person exists at all; and of a comment key A used
on a finding, sent by B once the finding is B's, answering with A's comment. Not so: kept as a
guard.

County A (230102): person P is on the roster of unit MOVING and paid by it (finance changed the
pay alone once), and HR lists P at HRUNIT (also in A), retired. The city's run files P's findings
under MOVING; the city then moves MOVING to B (230103) and runs again.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.test_webhooks import run
from tests.records import factory as f

CITY, A, B, C = "230100", "230102", "230103", "230104"
MOVING = f.unit_code(51, region=A)
HRUNIT = f.unit_code(52, region=A)
PERSON = f.id_number(51)
GHOST = f.id_number(59)  # no record anywhere
EXIT_DAY = "2026-01-05"
PERIOD = "2026-10"


def _push(client: TestClient, headers: dict[str, str], dataset: str, body: dict[str, Any]) -> None:
    answer = client.post(f"/api/v1/datasets/{dataset}/batches", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


def _moved(client: TestClient, headers_for: HeadersFor) -> None:
    office = headers_for("establishment", A)
    units = [f.unit(51, region=A), f.unit(52, region=A)]
    _push(client, office, "units", {"records": units})
    _push(client, office, "roster", {"records": [f.roster(51, unit_code=MOVING)]})
    retired = f.employment(51, unit_code=HRUNIT, status="retired", status_on=EXIT_DAY)
    _push(client, headers_for("hr", A), "employment", {"records": [retired]})
    scope = {"region": A, "period": PERIOD}
    for pay in ("8532.50", "9999.00"):  # the second batch changes the pay alone
        line = f.payroll(51, unit_code=MOVING, period=PERIOD, gross_pay=pay)
        _push(client, headers_for("finance", A), "payroll", {"scope": scope, "records": [line]})
    run(client, headers_for, CITY)
    move = {"records": [f.unit(51, region=A) | {"region": B}]}
    _push(client, headers_for("establishment", CITY), "units", move)
    run(client, headers_for, CITY)


def _view(client: TestClient, headers: dict[str, str], number: str = PERSON) -> Any:
    return client.get(f"/api/v1/persons/{number}", headers=headers)


def _records(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for rows in view["records"].values() for r in rows]


class TestThePersonViewOverAMove:
    def test_the_county_entered_reads_its_records_and_findings_alone(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _moved(client, headers_for)
        for department in ("hr", "audit", "establishment", "finance"):
            answer = _view(client, headers_for(department, B))
            assert answer.status_code == 200, answer.text
            view = answer.json()
            assert {r["region"] for r in _records(view)} == {B}
            assert {r["unit_code"] for r in _records(view)} == {MOVING}
            assert view["records"]["employment"] == []  # A's HR record stays A's
            assert HRUNIT not in answer.text and EXIT_DAY not in answer.text
            assert view["discrepancies"], "the findings followed the unit"
            assert {d["region"] for d in view["discrepancies"]} == {B}
        [line] = _view(client, headers_for("hr", B)).json()["records"]["payroll"]
        assert "gross_pay" not in line

    def test_the_county_left_reads_what_stays_there_alone(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _moved(client, headers_for)
        answer = _view(client, headers_for("audit", A))
        assert answer.status_code == 200, answer.text
        view = answer.json()
        assert [r["unit_code"] for r in _records(view)] == [HRUNIT]
        assert view["payroll_period"] is None
        assert view["discrepancies"] == []  # they went with the unit
        assert MOVING not in answer.text

    def test_the_city_reads_both(self, client: TestClient, headers_for: HeadersFor) -> None:
        _moved(client, headers_for)
        view = _view(client, headers_for("audit", CITY)).json()
        assert {(r["unit_code"], r["region"]) for r in _records(view)} == {
            (MOVING, B),
            (HRUNIT, A),
        }

    def test_a_sibling_is_answered_as_for_no_one(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _moved(client, headers_for)
        headers = headers_for("audit", C)
        person, ghost = _view(client, headers), _view(client, headers, GHOST)
        assert person.status_code == ghost.status_code == 404

        def same(body: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in body.items() if k != "request_id"}

        assert same(person.json()) == same(ghost.json())

    def test_each_read_is_filed_under_the_region_read(
        self, client: TestClient, headers_for: HeadersFor, app: Any
    ) -> None:
        _moved(client, headers_for)
        read = _view(client, headers_for("hr", B))
        request_id = read.headers["x-request-id"]
        app.state.auth.recorder.flush()

        def found(region: str) -> list[dict[str, Any]]:
            listed = client.get(
                "/api/v1/audit-log",
                params={"id_number": PERSON, "action": "read", "limit": 1000},
                headers=headers_for("audit", region),
            )
            assert listed.status_code == 200, listed.text
            return [e for e in listed.json()["items"] if e["request_id"] == request_id]

        [entry] = found(B)
        assert (entry["region"], entry["regions"], entry["persons"]) == (B, [], 1)
        assert entry["detail"]["person_records"] == 2  # the roster entry and the payroll line
        assert found(A) == []  # the person is A's too, but A's records were not read
        assert len(found(CITY)) == 1


class TestAKeyReplayedOverAMove:
    def test_the_county_entered_gets_its_own_answer_not_the_one_left(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment", A)
        _push(client, office, "units", {"records": [f.unit(51, region=A)]})
        _push(client, office, "roster", {"records": [f.roster(51, unit_code=MOVING)]})
        scope = {"region": A, "period": PERIOD}
        line = f.payroll(51, unit_code=MOVING, period=PERIOD, establishment_type="none")
        lines = [line, f.payroll(52, unit_code=MOVING, period=PERIOD)]
        _push(client, headers_for("finance", A), "payroll", {"scope": scope, "records": lines})
        run(client, headers_for, CITY)
        [finding] = client.get("/api/v1/discrepancies", headers=headers_for("finance", A)).json()[
            "items"
        ]
        path = f"/api/v1/discrepancies/{finding['id']}/comments"
        body = {"body": "县财政局：内部意见"}
        key = {"Idempotency-Key": "comment-1"}
        first = client.post(path, json=body, headers=headers_for("finance", A) | key)
        assert first.status_code == 201, first.text
        move = {"records": [f.unit(51, region=A) | {"region": B}]}
        _push(client, headers_for("establishment", CITY), "units", move)
        theirs = client.post(path, json=body, headers=headers_for("finance", B) | key)
        assert theirs.status_code == 201, theirs.text
        assert "Idempotent-Replayed" not in theirs.headers
        assert theirs.json()["id"] != first.json()["id"]
        assert theirs.json()["department"] == "finance"
        detail = client.get(
            f"/api/v1/discrepancies/{finding['id']}", headers=headers_for("finance", B)
        ).json()
        assert [c["id"] for c in detail["comments"]] == [theirs.json()["id"]]
