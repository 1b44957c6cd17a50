"""The unit page: this month's numbers are the staffing report's, every earlier month is the
staffing report as of that month's end (also after a change dated back), and a unit outside
the caller's region does not exist."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import Console, ConsoleAs
from tests.records import factory as f
from tests.records.conftest import Push, push

__all__ = ["push"]

ROW = re.compile(r'<tr id="m-(\d{4}-\d{2})">(.*?)</tr>', re.S)
CELL = re.compile(r'data-k="([^"]+)">(?:<[^>]+>)*(\d+)')
U1, U2 = f.unit_code(1), f.unit_code(2)
U3, U4 = f.unit_code(3, region="230102"), f.unit_code(4, region="230103")


def page_months(console: Console, unit_code: str) -> dict[str, dict[str, int]]:
    """The unit page's month table: month → {cell key: number}."""
    response = console.get(f"/console/units/{unit_code}")
    assert response.status_code == 200, response.text
    return {
        month: {key: int(n) for key, n in CELL.findall(cells)}
        for month, cells in ROW.findall(response.text)
    }


def month_day(month: str) -> dt.date:
    """The day a month is counted on: its last day, or today for the current month."""
    year, number = map(int, month.split("-"))
    end = dt.date(year, number, calendar.monthrange(year, number)[1])
    return min(end, hub_today())


def staffing(
    client: TestClient, headers: dict[str, str], region: str, as_of: dt.date
) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/reports/staffing",
        params={"region": region, "as_of": as_of.isoformat()},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_agrees(
    cells: dict[str, int], rows: list[dict[str, Any]], unit_code: str, month: str
) -> None:
    """A month row of the page against the staffing report's rows of the unit that day."""
    mine = [r for r in rows if r["unit_code"] == unit_code]
    types = {key.split(":")[1] for key in cells if key.startswith("approved:")}
    for row in mine:
        t = row["establishment_type"]
        got = (cells[f"approved:{t}"], cells[f"on_roster:{t}"])
        assert got == (row["approved"], row["on_roster"]), (month, t)
    for t in types - {r["establishment_type"] for r in mine}:
        assert (cells[f"approved:{t}"], cells[f"on_roster:{t}"]) == (0, 0), (month, t)
    assert cells["employed"] == sum(r["employed"] for r in mine), month
    assert cells["paid"] == sum(r["paid"] for r in mine), month


class TestTheCurrentMonthIsTheStaffingReport:
    def test_demo_units_agree_with_the_staffing_report(
        self,
        demo_city: Any,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        console = console_as("establishment", "230100")
        audit = headers_for("audit", "230100")
        today = hub_today()
        month = today.strftime("%Y-%m")
        units = [u for u in demo_city.units if u.registry == "active"]
        sample = [
            u for region in ("230100", "230102", "230103") for u in units if u.region == region
        ]
        sample = sample[::7][:9]
        assert len({u.region for u in sample}) >= 2
        counted = 0
        for unit in sample:
            rows = staffing(client, audit, unit.region, today)
            cells = page_months(console, unit.code)[month]
            assert_agrees(cells, rows, unit.code, month)
            counted += sum(r["on_roster"] for r in rows if r["unit_code"] == unit.code)
        assert counted > 0

    def test_the_page_lists_the_units_live_findings_masked(
        self,
        demo_city: Any,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        audit = headers_for("audit", "230100")
        listed = client.get("/api/v1/discrepancies", params={"limit": 1000}, headers=audit).json()[
            "items"
        ]
        live = [i for i in listed if i["unit_code"] and i["status"] != "resolved"]
        person = next(i for i in live if i["id_number"])
        unit = person["unit_code"]
        html = console_as("audit", "230100").get(f"/console/units/{unit}").text
        for item in (i for i in live if i["unit_code"] == unit):
            assert f'href="/console/findings/{item["id"]}"' in html
        assert mask_citizen_id(person["id_number"]) in html
        assert person["id_number"] not in html


@pytest.fixture
def moves(push: Push) -> None:
    """Units 1 and 2 (city), 3 (county 230102), 4 (county 230103). Person 1 sits on both
    city units; person 2 moves from unit 1 to unit 2 mid-June 2026; person 3 is unit 1's
    principal from March; payroll for May and July."""
    units = [f.unit(1), f.unit(2), f.unit(3, region="230102"), f.unit(4, region="230103")]
    assert push("units", units).status_code == 201
    quotas = [
        {"unit_code": code, "establishment_type": "institutional", "approved": 2,
         "document_no": "哈编〔2026〕1号", "effective_on": "2026-01-01"}
        for code in (U1, U2, U3, U4)
    ]  # fmt: skip
    assert push("quotas", quotas).status_code == 201
    posts = [{"unit_code": U1, "level": "principal", "approved": 1,
              "document_no": "哈编〔2026〕1号", "effective_on": "2026-01-01"}]  # fmt: skip
    assert push("leader_posts", posts).status_code == 201
    moved = {"status": "exited", "exited_on": "2026-06-15", "exit_reason": "transfer_out"}
    roster = [
        f.roster(1),
        f.roster(1, 2),
        f.roster(2) | moved,
        f.roster(2, 2, entered_on="2026-06-16"),
        f.roster(3),
        f.roster(4, 3, region="230102"),
        f.roster(5, 4, region="230103"),
    ]
    assert push("roster", roster).status_code == 201
    left = {"status": "transferred_out", "status_on": "2026-06-15"}
    employment = [
        f.employment(1),
        f.employment(2) | left,
        f.employment(2, 2, hired_on="2026-06-16"),
        f.employment(3),
    ]
    assert push("employment", employment).status_code == 201
    cadre = f.cadre(3, leader_level="principal", appointed_on="2026-03-01")
    assert push("cadres", [cadre]).status_code == 201
    for period, lines in {
        "2026-05": [f.payroll(1, period="2026-05"), f.payroll(2, period="2026-05")],
        "2026-07": [f.payroll(1, 2, period="2026-07"), f.payroll(2, 2, period="2026-07")],
    }.items():
        scope = {"region": "230100", "period": period}
        assert push("payroll", lines, scope=scope).status_code == 201


def agrees_every_month(
    console: Console, client: TestClient, headers: dict[str, str], unit: str, region: str
) -> dict[str, dict[str, int]]:
    months = page_months(console, unit)
    assert len(months) == 12
    for month, cells in months.items():
        assert_agrees(cells, staffing(client, headers, region, month_day(month)), unit, month)
    return months


class TestEveryMonthIsTheStaffingReportOfItsDay:
    def test_a_person_in_two_units_and_a_move(
        self,
        moves: None,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        console, audit = console_as("hr", "230100"), headers_for("audit", "230100")
        one = agrees_every_month(console, client, audit, U1, "230100")
        two = agrees_every_month(console, client, audit, U2, "230100")
        if "2026-05" in one:
            assert one["2026-05"]["on_roster:institutional"] == 3  # persons 1, 2 and 3
            assert one["2026-05"]["paid"] == 2
            assert two["2026-05"]["on_roster:institutional"] == 1  # person 1 only
        if "2026-07" in one:
            assert one["2026-07"]["on_roster:institutional"] == 2  # person 2 has moved
            assert two["2026-07"]["on_roster:institutional"] == 2
            # person 1 is employed by unit 1 only, and paid by unit 2 in July
            assert (two["2026-07"]["employed"], two["2026-07"]["paid"]) == (1, 2)
            assert (one["2026-07"]["posts:principal"], one["2026-07"]["leaders:principal"]) == (
                1,
                1,
            )

    def test_a_change_dated_back_rewrites_the_earlier_months(
        self,
        moves: None,
        push: Push,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        console, audit = console_as("audit", "230100"), headers_for("audit", "230100")
        before = page_months(console, U1)
        newer = {"unit_code": U1, "establishment_type": "institutional", "approved": 5,
                 "document_no": "哈编〔2026〕9号", "effective_on": "2026-08-01"}  # fmt: skip
        assert push("quotas", [newer]).status_code == 201
        gone = {"status": "exited", "exited_on": "2026-09-30", "exit_reason": "retirement"}
        assert push("roster", [f.roster(3) | gone]).status_code == 201
        after = agrees_every_month(console, client, audit, U1, "230100")
        for month, cells in after.items():
            if month < "2026-08":
                assert cells == before[month], month
                continue
            assert cells["approved:institutional"] == 5, month
            on_roster = before[month]["on_roster:institutional"]
            if month >= "2026-09":  # person 3 left on 30 September
                assert cells["on_roster:institutional"] == on_roster - 1, month


class TestRegions:
    def test_a_county_officer_sees_its_units_only(self, moves: None, console_as: ConsoleAs) -> None:
        county = console_as("hr", "230102")
        own = county.get(f"/console/units/{U3}")
        assert own.status_code == 200 and "单位3" in own.text
        for unit in (U4, U1):  # the sibling county's, and the city's own
            refused = county.get(f"/console/units/{unit}")
            assert refused.status_code == 404
            assert refused.headers["content-type"].startswith("text/html")
            assert unit not in refused.text
        assert county.get("/console/units/not-a-code").status_code == 404

    def test_the_city_sees_its_counties_units(self, moves: None, console_as: ConsoleAs) -> None:
        city = console_as("finance", "230100")
        assert city.get(f"/console/units/{U4}").status_code == 200
