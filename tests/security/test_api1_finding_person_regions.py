"""API1 across regions: a finding's person, read from a record of another region than the
finding's, and which auditors learn that it was read.

A person finding carries no ID number nor name: both are looked up, when it is shown, in the
person's records inside the reader's region (``reconciliation.service.id_number_of`` and
``name_of``). For a city reader that record may lie in a county other than the finding's:

- the name: a person paid by county A and by sibling county B, on B's roster under a name only
  B's record holds (王秘密); the ``DUPLICATE_PAYROLL`` finding is filed under A's unit, and the
  city's discrepancy report, console findings list, tenure report of A's leader and A's unit's
  annual report named the person from B's roster;
- the ID number: county A deleted its payroll line of a person also paid by county B, then the
  city moved A's unit to county C before any run; the live finding followed its unit to C, and
  the city's findings list, discrepancy report, console list and unit page read the person's
  ID number from B's line (C never held a record of the person).

Each read entry was filed under the finding's region alone (A; C), so B's auditor, asking
``GET /api/v1/audit-log?id_number=`` about its own person, found nothing of the city reading
B's record (and in the second case no county auditor could find it by the person: C holds no
record of them, A's deleted line named no one to A's). Now a finding's read is filed under the
regions of the records its ID number and name were read from as well as the finding's.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as
from tests.records import factory as f
from tests.security.test_api1_finding_id_numbers import PERSON, U, _moved_to_c
from tests.security.test_api3_names_across_regions import SECRET, paid_in_both

__all__ = ["console_as", "paid_in_both"]  # the fixtures

CITY, A, B, C = "230100", "230102", "230103", "230104"
NAMED = f.id_number(6)  # the person of paid_in_both


def _entries(
    client: TestClient,
    app: FastAPI,
    headers_for: HeadersFor,
    auditor: str,
    person: str,
    route: str,
) -> list[dict[str, Any]]:
    """The city's read entries of ``route`` naming ``person`` that ``auditor`` finds."""
    app.state.auth.recorder.flush()
    listed = client.get(
        "/api/v1/audit-log",
        params={"id_number": person, "action": "read", "limit": 1000},
        headers=headers_for("audit", auditor),
    )
    assert listed.status_code == 200, listed.text
    return [
        e
        for e in listed.json()["items"]
        if e["target_id"] == route and e["region"] == CITY and e["department"] == "finance"
    ]


class TestANameReadFromASiblingsRecord:
    def test_the_reports_and_the_console_list_reach_the_siblings_auditor(
        self,
        paid_in_both: str,
        client: TestClient,
        app: FastAPI,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
    ) -> None:
        city = headers_for("finance", CITY)
        report = client.get("/api/v1/reports/discrepancies", params={"rule": "DUPLICATE_PAYROLL"},
                            headers=city)  # fmt: skip
        assert report.status_code == 200, report.text
        [row] = report.json()["items"]
        assert (row["region"], row["name"]) == (A, SECRET)  # A's finding, B's roster name
        leader = {"id_number": f.id_number(1), "unit_code": paid_in_both}
        tenure = client.get("/api/v1/reports/tenure", params=leader, headers=city)
        assert tenure.status_code == 200 and SECRET in tenure.text, tenure.text
        annual = client.get(
            "/api/v1/reports/annual", params={"unit_code": paid_in_both, "year": 2026},
            headers=city,
        )  # fmt: skip
        assert annual.status_code == 200 and SECRET in annual.text, annual.text
        page = console_as("finance", CITY).get("/console/findings")
        assert page.status_code == 200 and SECRET in page.text
        for route in (
            "GET /api/v1/reports/discrepancies",
            "GET /api/v1/reports/tenure",
            "GET /api/v1/reports/annual",
            "GET /console/findings",
        ):
            (entry,) = _entries(client, app, headers_for, B, NAMED, route)
            assert entry["regions"] == [B] and entry["persons"] == 1, route
            assert len(_entries(client, app, headers_for, A, NAMED, route)) == 1, route

    def test_the_county_of_the_finding_names_no_sibling(
        self, paid_in_both: str, client: TestClient, app: FastAPI, headers_for: HeadersFor
    ) -> None:
        """A's reader reads the name from A's own line: its read stays A's."""
        audit_a = headers_for("finance", A)
        report = client.get("/api/v1/reports/discrepancies", headers=audit_a)
        assert report.status_code == 200 and SECRET not in report.text
        app.state.auth.recorder.flush()
        listed = client.get(
            "/api/v1/audit-log",
            params={"id_number": NAMED, "action": "read"},
            headers=headers_for("audit", B),
        )
        assert [e for e in listed.json()["items"] if e["region"] == A] == []


class TestAnIdNumberReadFromASiblingsRecord:
    def test_the_city_reading_a_moved_finding_reaches_the_auditor_of_the_record(
        self,
        client: TestClient,
        app: FastAPI,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
    ) -> None:
        fid = _moved_to_c(client, headers_for)
        city = headers_for("finance", CITY)
        listed = client.get("/api/v1/discrepancies", params={"rule": "DUPLICATE_PAYROLL"},
                            headers=city)  # fmt: skip
        [item] = listed.json()["items"]
        assert (item["id"], item["region"], item["id_number"]) == (fid, C, PERSON)
        report = client.get("/api/v1/reports/discrepancies", params={"rule": "DUPLICATE_PAYROLL"},
                            headers=city)  # fmt: skip
        assert report.json()["items"][0]["id_number"] == PERSON
        officer = console_as("finance", CITY)
        assert fid in officer.get("/console/findings").text
        assert fid in officer.get(f"/console/units/{U}").text
        for route in (
            "GET /api/v1/discrepancies",
            "GET /api/v1/reports/discrepancies",
            "GET /console/findings",
            "GET /console/units/{unit_code}",
        ):
            (entry,) = _entries(client, app, headers_for, B, PERSON, route)
            assert entry["regions"] == [B] and entry["persons"] == 1, route
