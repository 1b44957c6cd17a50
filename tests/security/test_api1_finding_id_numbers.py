"""API1: a person finding's ID number, to a reader who never held a record of the person.

A person finding carries no ID number: it is looked up through the finding's ``person_key``
in the person's records when the finding is shown. The lookup read the person's current
records in any region. County A holds a payroll line of the person at its unit U and a
finding about them (DUPLICATE_PAYROLL: county B pays them too); A deletes its line; before
any run the city moves U to county C, and the live finding follows its unit (records.publish).
C then listed the finding — and, in the API list, the detail, the discrepancy report and the
console — read the ID number of a person it never held a record of, taken from B's record,
while all the evidence (A's closed line, B's line) was withheld from it. The run after the
move resolves the finding but leaves it in C (a resolved finding stays where it is): the ID
number stayed readable to C, so reconciliation on write does not close it.

Now the number is shown only to a reader whose region holds, or held, a version of a record
of the person (reconciliation.service.id_number_of): A reads it (its own past line, which its
evidence shows), the city reads it, C does not.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as
from tests.notifications.test_webhooks import PERIOD, ghost_pay, push, run
from tests.records import factory as f

CITY, A, B, C = "230100", "230102", "230103", "230104"
PERSON = f.id_number(81)
U, V = f.unit_code(81, region=A), f.unit_code(82, region=B)

__all__ = ["console_as"]  # the fixture


def _list(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/discrepancies", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _paid_twice(client: TestClient, headers_for: HeadersFor) -> str:
    """The person paid at U (county A) and at V (county B): a DUPLICATE_PAYROLL filed in A."""
    push(client, headers_for, "units", [f.unit(81, region=A)], A)
    push(client, headers_for, "units", [f.unit(82, region=B)], B)
    push(client, headers_for, "payroll", [f.payroll(81, unit_code=U, period=PERIOD)], A)
    push(client, headers_for, "payroll", [f.payroll(81, unit_code=V, period=PERIOD)], B)
    run(client, headers_for, CITY)
    [found] = _list(client, headers_for("audit", CITY), rule="DUPLICATE_PAYROLL", id_number=PERSON)
    assert (found["region"], found["id_number"]) == (A, PERSON)
    return str(found["id"])


def _deleted_in_a(client: TestClient, headers_for: HeadersFor) -> None:
    gone = client.post(
        "/api/v1/datasets/payroll/batches",
        json={
            "records": [],
            "deletes": [{"id_number": PERSON, "unit_code": U, "period": PERIOD}],
            "scope": {"period": PERIOD},
        },
        headers=headers_for("finance", A),
    )
    assert gone.status_code == 201, gone.text


def _moved_to_c(client: TestClient, headers_for: HeadersFor) -> str:
    """A's line deleted, then U moved to C by the city, no run: the finding's id."""
    fid = _paid_twice(client, headers_for)
    _deleted_in_a(client, headers_for)
    moved = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(81, region=A) | {"region": C}]},
        headers=headers_for("establishment", CITY),
    )
    assert moved.status_code == 201, moved.text
    return fid


def _nowhere_in(body: str) -> None:
    assert PERSON not in body and mask_citizen_id(PERSON) not in body


class TestAFindingMovedToAStranger:
    def test_the_county_it_entered_does_not_read_the_id_number(
        self, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        fid = _moved_to_c(client, headers_for)
        c = headers_for("audit", C)
        [listed] = _list(client, c)
        assert (listed["id"], listed["region"], listed["status"]) == (fid, C, "open")
        assert listed["id_number"] is None
        assert _list(client, c, id_number=PERSON) == []  # nor whom it is about, if it asks
        detail = client.get(f"/api/v1/discrepancies/{fid}", headers=c)
        assert detail.status_code == 200, detail.text
        assert detail.json()["id_number"] is None
        assert {e["region"] for e in detail.json()["evidence"]} == {A, B}
        assert all(e["withheld"] for e in detail.json()["evidence"])
        _nowhere_in(detail.text)
        report = client.get("/api/v1/reports/discrepancies", params={"format": "json"}, headers=c)
        assert report.status_code == 200, report.text
        [row] = report.json()["items"]
        assert (row["id"], row["id_number"], row["name"]) == (fid, None, None)
        asked = {"format": "json", "id_number": PERSON}
        report = client.get("/api/v1/reports/discrepancies", params=asked, headers=c)
        assert report.status_code == 200 and report.json()["items"] == [], report.text
        csv = client.get("/api/v1/reports/discrepancies", params={"format": "csv"}, headers=c)
        assert csv.status_code == 200, csv.text
        _nowhere_in(csv.text)
        page = console_as("audit", C).get(f"/console/findings/{fid}")
        assert page.status_code == 200, page.text
        _nowhere_in(page.text)
        listing = console_as("finance", C).get("/console/findings")
        assert listing.status_code == 200 and fid in listing.text
        _nowhere_in(listing.text)

    def test_nor_after_the_run_that_resolves_it_there(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """What reconciliation on write would do next: the run resolves the finding (one
        unit pays now) and leaves it in C, which went on reading the number."""
        fid = _moved_to_c(client, headers_for)
        run(client, headers_for, CITY)
        [listed] = _list(client, headers_for("audit", C))
        assert (listed["id"], listed["region"], listed["status"]) == (fid, C, "resolved")
        assert listed["id_number"] is None

    def test_the_city_reads_it_and_the_county_it_left_no_longer_opens_it(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _moved_to_c(client, headers_for)
        for who, region in (("audit", CITY), ("establishment", CITY), ("audit", "230000")):
            [listed] = _list(client, headers_for(who, region), id_number=PERSON)
            assert (listed["id"], listed["id_number"]) == (fid, PERSON), (who, region)
        assert _list(client, headers_for("audit", A)) == []


class TestWhoHeldARecordOfThePerson:
    def test_the_county_that_deleted_its_line_still_reads_the_number_its_evidence_shows(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _paid_twice(client, headers_for)
        _deleted_in_a(client, headers_for)
        a = headers_for("finance", A)
        [listed] = _list(client, a)
        assert (listed["id"], listed["id_number"]) == (fid, PERSON)
        detail = client.get(f"/api/v1/discrepancies/{fid}", headers=a).json()
        [own] = [e for e in detail["evidence"] if e["region"] == A]
        assert (own["current"], own["withheld"]) == (False, False)
        assert own["record"]["id_number"] == PERSON == detail["id_number"]

    def test_a_resolved_finding_left_behind_shows_the_person_it_held(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Person 90 paid at A's unit without a roster entry; put on the roster, the finding
        resolves; then the city moves the unit (the person's records with it) to C. The
        resolved finding stays A's past, with the number of A's own (now closed) records."""
        ghost_pay(client, headers_for, A, 90)
        code = f.unit_code(90, region=A)
        run(client, headers_for, CITY)
        [found] = _list(client, headers_for("audit", A), rule="PAID_WITHOUT_ESTABLISHMENT")
        roster = [f.roster(n, unit_code=code) for n in (90, 91)]
        push(client, headers_for, "roster", roster, A)
        run(client, headers_for, CITY)
        moved = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [f.unit(90, region=A) | {"region": C}]},
            headers=headers_for("establishment", CITY),
        )
        assert moved.status_code == 201, moved.text
        [left] = _list(client, headers_for("audit", A), rule="PAID_WITHOUT_ESTABLISHMENT")
        assert (left["id"], left["status"], left["region"]) == (found["id"], "resolved", A)
        assert left["id_number"] == f.id_number(90)
        gone = client.get(f"/api/v1/discrepancies/{found['id']}", headers=headers_for("audit", C))
        assert gone.status_code == 404
