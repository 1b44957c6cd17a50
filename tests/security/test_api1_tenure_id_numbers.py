"""API1: the tenure report's findings naming a person the reader never held a record of.

The tenure report lists the findings about the audited leader's unit, each person finding with
the person's ID number and name. The number was looked up in the person's current records in
any region. The shape of ``test_api1_finding_id_numbers``: county A pays a person at its unit U
and county B pays them too (DUPLICATE_PAYROLL, filed in A); A deletes its line; the city moves
U, with its leader's cadre record, to county C before any run, and the live finding follows U.
C's auditor asking the tenure report of U's leader, or U's annual report, read the person's ID
number (JSON, CSV, the console's posted form) taken from B's payroll line, though the finding's
list, detail and discrepancy report show C no number (``reconciliation.service.id_number_of``).
Now both reports read the number by the same rule: from a version (current or closed) of a
record of the person inside the reader's region, else none; the city reads it.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import ConsoleAs, console_as
from tests.records import factory as f
from tests.security.test_api1_finding_id_numbers import (
    CITY,
    PERSON,
    C,
    U,
    _moved_to_c,
    _nowhere_in,
)

__all__ = ["console_as"]

A = "230102"
LEADER = f.id_number(83)
TENURE = "/api/v1/reports/tenure"


def _moved_with_its_leader(client: TestClient, headers_for: HeadersFor) -> str:
    """U's leader in office since January; the finding filed in A; A's line deleted; U moved
    to C by the city, no run. The finding's id."""
    unit = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(81, region=A)]},
        headers=headers_for("establishment", A),
    )
    assert unit.status_code == 201, unit.text
    leader = f.cadre(83, leader_level="principal", appointed_on="2026-01-01") | {"unit_code": U}
    cadre = client.post(
        "/api/v1/datasets/cadres/batches",
        json={"records": [leader]},
        headers=headers_for("organization", A),
    )
    assert cadre.status_code == 201, cadre.text
    return _moved_to_c(client, headers_for)


class TestTheTenureReportOfAMovedUnit:
    def test_the_county_it_entered_reads_the_finding_not_whom_it_is_about(
        self, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        fid = _moved_with_its_leader(client, headers_for)
        c = headers_for("audit", C)
        asked = {"id_number": LEADER, "unit_code": U}
        report = client.get(TENURE, params=asked, headers=c)
        assert report.status_code == 200, report.text
        [finding] = report.json()["findings"]
        assert (finding["id"], finding["rule"]) == (fid, "DUPLICATE_PAYROLL")
        assert (finding["id_number"], finding["name"]) == (None, None)
        _nowhere_in(report.text)
        csv = client.get(TENURE, params=asked | {"format": "csv"}, headers=c)
        assert csv.status_code == 200, csv.text
        assert "DUPLICATE_PAYROLL" in csv.text
        _nowhere_in(csv.text)
        posted = console_as("audit", C).post(
            "/console/reports/tenure", data=asked | {"format": "csv"}
        )
        assert posted.status_code == 200, posted.text
        assert "DUPLICATE_PAYROLL" in posted.text
        _nowhere_in(posted.text)

    def test_nor_does_the_annual_report_of_the_unit(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """The annual report lists the unit's findings of the year through the same lookup."""
        fid = _moved_with_its_leader(client, headers_for)
        asked = {"unit_code": U, "year": hub_today().year}
        c = headers_for("audit", C)
        report = client.get("/api/v1/reports/annual", params=asked, headers=c)
        assert report.status_code == 200, report.text
        [finding] = report.json()["findings"]
        assert (finding["id"], finding["id_number"], finding["name"]) == (fid, None, None)
        _nowhere_in(report.text)
        csv = client.get("/api/v1/reports/annual", params=asked | {"format": "csv"}, headers=c)
        assert csv.status_code == 200 and "DUPLICATE_PAYROLL" in csv.text, csv.text
        _nowhere_in(csv.text)

    def test_the_city_reads_the_number(self, client: TestClient, headers_for: HeadersFor) -> None:
        fid = _moved_with_its_leader(client, headers_for)
        asked = {"id_number": LEADER, "unit_code": U}
        report = client.get(TENURE, params=asked, headers=headers_for("audit", CITY))
        assert report.status_code == 200, report.text
        [finding] = report.json()["findings"]
        assert (finding["id"], finding["id_number"]) == (fid, PERSON)
