"""Whose findings a unit's audit reports list: the unit's own, and those about the people it
had in the days audited (on its roster, employed, in office or paid in them), whatever unit
those findings name."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor, hub_today
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push

U1, U2 = f.unit_code(1), f.unit_code(2)
YEAR = hub_today().year


def moved(push: Push, exited_on: str) -> None:
    """Person 5 leaves unit 1 (exited on ``exited_on``, transfer out) for unit 2's roster that
    day, where HR has no record of them: an ESTABLISHED_NOT_EMPLOYED finding naming unit 2,
    the only finding of today's run."""
    assert push("units", [f.unit(1), f.unit(2)]).status_code == 201
    quotas = [
        {"unit_code": u, "establishment_type": "institutional", "approved": 5,
         "effective_on": "2010-01-01"}
        for u in (U1, U2)
    ]  # fmt: skip
    assert push("quotas", quotas).status_code == 201
    roster = [
        f.roster(1),
        f.roster(5, status="exited", entered_on="2005-01-01", exited_on=exited_on,
                 exit_reason="transfer_out"),
        f.roster(5, 2, entered_on=exited_on),
    ]  # fmt: skip
    assert push("roster", roster).status_code == 201
    assert push("employment", [f.employment(1)]).status_code == 201
    scope = {"region": "230100", "period": "2026-11"}
    assert push("payroll", [f.payroll(1, period="2026-11")], scope=scope).status_code == 201


def findings_of_the_year(
    client: TestClient, headers_for: HeadersFor
) -> list[tuple[str, str | None]]:
    run = run_and_wait(client, headers_for("establishment"), as_of=hub_today().isoformat())
    assert run["status"] == "succeeded", run
    listed = client.get("/api/v1/discrepancies", headers=headers_for("audit")).json()["items"]
    assert [(i["rule"], i["unit_code"]) for i in listed] == [("ESTABLISHED_NOT_EMPLOYED", U2)]
    response = client.get(
        "/api/v1/reports/annual",
        params={"unit_code": U1, "year": YEAR},
        headers=headers_for("audit"),
    )
    assert response.status_code == 200, response.text
    return [(x["rule"], x["unit_code"]) for x in response.json()["findings"]]


def test_annual_report_lists_another_units_finding_about_someone_who_left_years_ago(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """Person 5 left unit 1 in 2015 (roster entry exited 2015-06-30, transfer out) and has
    been on unit 2's roster since 2015-07-01, where HR has no record of them: an
    ESTABLISHED_NOT_EMPLOYED finding whose unit is unit 2. The 2026 annual audit of unit 1
    (and the tenure report of unit 1's leader, same query) tells the auditor that this is one
    of unit 1's problems of 2026 — a person who was not unit 1's in any day of the year,
    about a finding that names unit 2. Only the person's stale exited entry links them."""
    moved(push, "2015-06-30")
    shown = findings_of_the_year(client, headers_for)
    assert shown == [], f"unit 1's annual audit lists unit 2's finding: {shown}"


@pytest.mark.parametrize(
    ("exited_on", "listed"),
    [
        # On the roster on 1 January (exited_on is the first day off it): one of the year's.
        (dt.date(YEAR, 1, 2), True),
        (max(hub_today(), dt.date(YEAR, 1, 2)), True),  # left lately (today)
        # Left on the year's first day: the last day on the roster was the year before.
        (dt.date(YEAR, 1, 1), False),
        (dt.date(YEAR - 1, 12, 31), False),
    ],
    ids=["second-day", "today", "first-day", "day-before-the-year"],
)
def test_a_person_who_left_during_the_year_brings_their_findings(
    push: Push, client: TestClient, headers_for: HeadersFor, exited_on: dt.date, listed: bool
) -> None:
    """Someone on unit 1's roster on some day of the audited year was one of its people that
    year: their findings are in its annual audit whichever unit they name; someone who left
    before the year's first day is not."""
    moved(push, exited_on.isoformat())
    shown = findings_of_the_year(client, headers_for)
    assert shown == ([("ESTABLISHED_NOT_EMPLOYED", U2)] if listed else [])
