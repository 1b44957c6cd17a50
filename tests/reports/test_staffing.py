"""The staffing report through the API: counts, lights, history, CSV and XLSX, regions."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.db import Database
from tests.conftest import HeadersFor, hub_today
from tests.records import factory as f
from tests.records.conftest import Push

U1, U2, U9 = f.unit_code(1), f.unit_code(2, region="230102"), f.unit_code(9)


def quota(unit_code: str, approved: int, kind: str = "institutional") -> dict[str, Any]:
    return {
        "unit_code": unit_code,
        "establishment_type": kind,
        "approved": approved,
        "document_no": "哈编〔2026〕1号",
        "effective_on": "2026-01-01",
    }


@pytest.fixture
def city(push: Push) -> None:
    """Unit 1 (230100): quota 2, three active + one exited on the roster; HR has 1 and 2
    active, finance pays 1 and suspends 2. Unit 2 (230102): quota 5, nobody. Unit 9 is not
    registered but has a roster entry."""
    assert push("units", [f.unit(1), f.unit(2, region="230102")]).status_code == 201
    assert push("quotas", [quota(U1, 2), quota(U2, 5)]).status_code == 201
    roster = [
        f.roster(1),
        f.roster(2),
        f.roster(3),
        f.roster(4, status="exited", exited_on="2026-03-01", exit_reason="retirement"),
        f.roster(5, 9),
    ]
    assert push("roster", roster).status_code == 201
    assert push("employment", [f.employment(1), f.employment(2)]).status_code == 201
    october = [f.payroll(1), f.payroll(2, status="suspended")]
    october_scope = {"region": "230100", "period": "2026-10"}
    assert push("payroll", october, scope=october_scope).status_code == 201
    september_scope = {"region": "230100", "period": "2026-09"}
    september = [f.payroll(3, period="2026-09")]
    assert push("payroll", september, scope=september_scope).status_code == 201


def staffing(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    response = client.get("/api/v1/reports/staffing", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


class TestCounts:
    def test_rows_per_unit_and_type(
        self, city: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = staffing(client, headers_for("audit"), as_of="2026-10-31").json()
        assert body["payroll_period"] == "2026-10"
        rows = {(r["unit_code"], r["establishment_type"]): r for r in body["items"]}
        assert set(rows) == {(U1, "institutional"), (U2, "institutional")}
        one = rows[(U1, "institutional")]
        assert (one["approved"], one["on_roster"], one["employed"], one["paid"]) == (2, 3, 2, 1)
        assert (one["difference"], one["light"], one["light_zh"]) == (1, "over", "超编")
        two = rows[(U2, "institutional")]
        assert (two["approved"], two["on_roster"], two["difference"], two["light"]) == (
            5,
            0,
            -5,
            "under",
        )

    def test_payroll_period_is_the_latest_not_after_as_of(
        self, city: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = staffing(client, headers_for("audit"), as_of="2026-09-30").json()
        assert body["payroll_period"] == "2026-09"
        (one,) = [r for r in body["items"] if r["unit_code"] == U1]
        assert one["paid"] == 1  # person 3, paid in September

    def test_each_unit_counts_its_own_regions_payroll_period(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """``paid`` used the latest period of the region asked for: when one county's finance
        had pushed November and its sibling only October, the city's report counted the
        sibling's people unpaid (no November lines for them yet), while the annual report and
        the console's unit page, which take the unit's own region, counted them paid. Now
        every row counts the period of its unit's region and says which (``payroll_period``)."""
        ua, ub = f.unit_code(21, region="230102"), f.unit_code(22, region="230103")
        units = [f.unit(21, region="230102"), f.unit(22, region="230103")]
        assert push("units", units).status_code == 201
        roster = [f.roster(31, 21, region="230102"), f.roster(32, 22, region="230103")]
        assert push("roster", roster).status_code == 201
        for n, unit, region, period in (
            (31, ua, "230102", "2026-10"),
            (32, ub, "230103", "2026-11"),
        ):
            line = f.payroll(n, period=period) | {"unit_code": unit}
            scope = {"region": region, "period": period}
            assert push("payroll", [line], scope=scope, region=region).status_code == 201

        body = staffing(client, headers_for("audit"), as_of="2026-11-30").json()
        rows = {r["unit_code"]: (r["paid"], r["payroll_period"]) for r in body["items"]}
        assert rows == {ua: (1, "2026-10"), ub: (1, "2026-11")}
        assert body["payroll_period"] == "2026-11"  # the latest of the region asked for

    def test_a_city_unit_counts_the_city_units_period_not_its_counties(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """A city-level unit's period was looked for in every line of 230100–230199, its
        counties' too: a county a month ahead made the city's own units count their people
        unpaid (a review of the fix above found it). Now the lines of units registered in
        that very region."""
        city_unit, county_unit = f.unit_code(41), f.unit_code(42, region="230102")
        assert push("units", [f.unit(41), f.unit(42, region="230102")]).status_code == 201
        roster = [f.roster(51, 41), f.roster(52, 42, region="230102")]
        assert push("roster", roster).status_code == 201
        for n, unit, region, period in (
            (51, city_unit, "230100", "2026-10"),  # the city's finance: October
            (52, county_unit, "230102", "2026-11"),  # a county's finance: already November
        ):
            line = f.payroll(n, period=period) | {"unit_code": unit}
            scope = {"region": region, "period": period}
            assert push("payroll", [line], scope=scope, region=region).status_code == 201

        body = staffing(client, headers_for("audit"), as_of="2026-11-30").json()
        rows = {r["unit_code"]: (r["paid"], r["payroll_period"]) for r in body["items"]}
        assert rows == {city_unit: (1, "2026-10"), county_unit: (1, "2026-11")}

    def test_a_district_sees_only_its_units(
        self, city: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = staffing(client, headers_for("hr", "230102")).json()
        assert [r["unit_code"] for r in body["items"]] == [U2]
        assert body["region"] == "230102"

    def test_a_region_outside_the_callers_does_not_exist(
        self, city: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/reports/staffing",
            params={"region": "230100"},
            headers=headers_for("hr", "230102"),
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"region": "23x100"}, "region"),
            ({"as_of": "2026-02-30"}, "as_of"),
            ({"as_of": "2999-01-01"}, "as_of"),
            ({"format": "pdf"}, "format"),
        ],
    )
    def test_bad_parameters_name_the_field(
        self, client: TestClient, headers_for: HeadersFor, params: dict[str, str], field: str
    ) -> None:
        response = client.get(
            "/api/v1/reports/staffing", params=params, headers=headers_for("audit")
        )
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]


class TestHistory:
    def test_as_of_reads_business_dates(
        self, city: None, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        left = f.roster(3, status="exited", exited_on="2026-10-15", exit_reason="resignation")
        assert push("roster", [left]).status_code == 201
        newer = quota(U1, 3) | {"effective_on": "2026-10-01", "document_no": "哈编〔2026〕9号"}
        assert push("quotas", [newer]).status_code == 201

        def unit_one(as_of: str) -> tuple[int, int]:
            body = staffing(client, headers_for("audit"), as_of=as_of).json()
            row = next(r for r in body["items"] if r["unit_code"] == U1)
            return row["approved"], row["on_roster"]

        assert unit_one("2026-09-30") == (2, 3)  # the old quota; person 3 still there
        assert unit_one("2026-10-14") == (3, 3)  # the new quota in force
        assert unit_one("2026-10-15") == (3, 2)  # person 3 left that day
        assert staffing(client, headers_for("audit"), as_of="2019-12-31").json()["items"] == []

    def test_a_quota_without_effective_on_counts_from_the_hub_day_it_was_recorded(
        self, push: Push, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        """A quota version pushed without ``effective_on`` counts from the day it was recorded.
        That day was the UTC date of ``recorded_at``, not the date in the hub's zone that every
        ``as_of`` is in: a quota recorded at 07:00 in Harbin (23:00 UTC the day before) was in
        force the day before anyone approved it. Now the day is taken in the hub's zone."""
        u = f.unit_code(41)
        assert push("units", [f.unit(41, kind="institution")]).status_code == 201
        undated = {k: v for k, v in quota(u, 5).items() if k != "effective_on"}
        assert push("quotas", [undated]).status_code == 201
        assert push("roster", [f.roster(51, 41)]).status_code == 201
        local = hub_today() - dt.timedelta(days=10)
        harbin = dt.timezone(dt.timedelta(hours=8))
        recorded = dt.datetime.combine(local, dt.time(7, 0), tzinfo=harbin)
        with database.engine.begin() as conn:
            conn.execute(
                text("UPDATE registry_quota SET recorded_at = :t WHERE unit_code = :u"),
                {"t": recorded.astimezone(dt.UTC), "u": u},
            )

        def approved(day: dt.date) -> list[int]:
            body = staffing(client, headers_for("audit"), as_of=day.isoformat()).json()
            return [r["approved"] for r in body["items"] if r["unit_code"] == u]

        assert approved(local - dt.timedelta(days=1)) == [0]  # not yet approved
        assert approved(local) == [5]


class TestDownloads:
    def test_csv_matches_json(
        self, city: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        items = staffing(client, headers, as_of="2026-10-31").json()["items"]
        response = staffing(client, headers, as_of="2026-10-31", format="csv")
        assert response.headers["content-type"].startswith("text/csv")
        assert "filename*=UTF-8''" in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:4] == ["单位代码", "单位名称", "编制类型", "核定编制"]
        assert rows[0][6:8] == ["统发工资", "工资期间"]
        assert [
            [r[0], int(r[3]), int(r[4]), int(r[5]), int(r[6]), r[7], int(r[8]), r[9]]
            for r in rows[1:]
        ] == [
            [
                i["unit_code"],
                i["approved"],
                i["on_roster"],
                i["employed"],
                i["paid"],
                i["payroll_period"] or "",  # the period each row's `paid` counts
                i["difference"],
                i["light_zh"],
            ]
            for i in items
        ]
        assert any(i["payroll_period"] for i in items)

    def test_xlsx_matches_json(
        self, city: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        items = staffing(client, headers, as_of="2026-10-31").json()["items"]
        response = staffing(client, headers, as_of="2026-10-31", format="xlsx")
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        sheet = book.active
        assert sheet is not None and sheet.freeze_panes == "A2"
        values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
        assert [[v[0], v[3], v[4], v[5], v[6], v[7] or None, v[8]] for v in values] == [
            [
                i["unit_code"],
                i["approved"],
                i["on_roster"],
                i["employed"],
                i["paid"],
                i["payroll_period"],
                i["difference"],
            ]
            for i in items
        ]
