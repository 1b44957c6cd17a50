"""The annual audit of a unit: its months, its findings with their fate and meetings, its 12310
cases, and the year-end position against the staffing report; the downloads carry the JSON's
numbers."""

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
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push
from tests.reports.conftest import U1, registry_row

ANNUAL = "/api/v1/reports/annual"
YEAR = hub_today().year


def annual(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(ANNUAL, params={"unit_code": U1, "year": YEAR, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
def audited(unit: None, client: TestClient, headers_for: HeadersFor) -> dict[str, str]:
    """The unit reconciled today (three on a roster of two: OVER_QUOTA), that finding decided
    by a joint meeting, and a 12310 report naming the unit: the ids."""
    office = headers_for("establishment")
    run_and_wait(client, office, as_of=hub_today().isoformat())
    over = client.get(
        "/api/v1/discrepancies", params={"rule": "OVER_QUOTA", "unit_code": U1}, headers=office
    ).json()["items"]
    assert len(over) == 1
    meeting = client.post(
        "/api/v1/meetings",
        json={
            "region": "230100", "held_on": hub_today().isoformat(), "title": "年度联席会议",
            "minutes_no": "哈联席〔2026〕12号", "departments": ["organization"],
            "finding_ids": [over[0]["id"]],
        },
        headers=office,
    ).json()  # fmt: skip
    decided = client.post(
        f"/api/v1/meetings/{meeting['id']}/decisions",
        json={"decisions": [{"finding_id": over[0]["id"], "to": "acknowledged",
                             "responsible_department": "establishment"}]},
        headers=office,
    )  # fmt: skip
    assert decided.status_code == 200, decided.text
    published = client.post("/api/v1/disclosures", json={"region": "230100"}, headers=office)
    assert published.status_code == 201, published.text  # the public names published units
    filed = client.post(
        "/public/v1/reports",
        json={"category": "over_quota_hiring", "region": "230100", "unit_code": U1,
              "facts": "该单位超编进人三名"},
    )  # fmt: skip
    assert filed.status_code == 201, filed.text
    return {"finding": over[0]["id"], "meeting": meeting["id"]}


class TestTheYear:
    def test_months_findings_meetings_cases(
        self, audited: dict[str, str], client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = annual(client, headers_for("establishment")).json()
        assert body["unit"]["unit_code"] == U1 and body["year"] == YEAR
        months = {m["month"]: m for m in body["months"]}
        assert list(months) == [f"{YEAR}-{m:02d}" for m in range(1, hub_today().month + 1)]
        assert body["months"][-1]["as_of"] == hub_today().isoformat()  # counted to today
        for m in months.values():
            assert (m["approved"], m["on_roster"], m["employed"]) == (2, 3, 3)
            assert m["quotas"] == [
                {"establishment_type": "administrative", "approved": 2, "on_roster": 3,
                 "employed": 3, "paid": m["paid"]},
            ]  # fmt: skip
            assert m["leader_posts"] == {"principal": 1, "deputy": 1}
        assert [months[f"{YEAR}-{n:02d}"]["paid"] for n in (8, 9, 10)] == [0, 3, 2]
        assert [months[f"{YEAR}-{n:02d}"]["leaders"]["principal"] for n in (2, 3)] == [0, 1]
        assert [months[f"{YEAR}-{n:02d}"]["leaders"]["deputy"] for n in (4, 5)] == [0, 1]

        over = next(x for x in body["findings"] if x["id"] == audited["finding"])
        assert (over["rule"], over["status"], over["meeting_id"]) == (
            "OVER_QUOTA",
            "acknowledged",
            audited["meeting"],
        )
        assert over["closed_as"] is None and over["overdue"] is False
        assert [m["minutes_no"] for m in body["meetings"]] == ["哈联席〔2026〕12号"]
        (case,) = body["cases"]
        assert (case["category"], case["status"]) == ("over_quota_hiring", "received")
        assert "facts" not in case  # never the facts, which may name people

    def test_the_year_end_is_the_staffing_report_of_that_day(
        self, audited: dict[str, str], client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        body = annual(client, headers).json()
        staffing = client.get(
            "/api/v1/reports/staffing",
            params={"as_of": body["year_end_as_of"]},
            headers=headers,
        ).json()["items"]
        keys = ("establishment_type", "approved", "on_roster", "employed", "paid", "difference")
        expected = [{k: r[k] for k in keys} for r in staffing if r["unit_code"] == U1]
        assert expected  # the unit has staffing rows that day
        assert [{k: r[k] for k in keys} for r in body["year_end"]] == expected
        assert body["year_end"][0]["light"] == "over"

    def test_the_year_end_of_a_county_unit_while_a_sibling_county_is_ahead(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """``year_end`` promises the unit's rows of the staffing report on 31 December, but
        the two picked the payroll period by different regions: the staffing report by the
        region asked for (the city's latest, November, pushed by a sibling county), the
        annual report by the unit's own (October). The city's auditor read the county unit's
        person unpaid in one report and paid in the other. Now both take the unit's region."""
        county_a, county_b = "230102", "230103"
        ua, ub = f.unit_code(21, region=county_a), f.unit_code(22, region=county_b)
        units = [f.unit(21, region=county_a), f.unit(22, region=county_b)]
        assert push("units", units).status_code == 201
        quota = {"unit_code": ua, "establishment_type": "institutional", "approved": 2,
                 "document_no": "哈编〔2026〕1号", "effective_on": "2026-01-01"}  # fmt: skip
        assert push("quotas", [quota]).status_code == 201
        assert push("roster", [f.roster(31, 21, region=county_a)]).status_code == 201
        for n, unit, region, month in ((31, ua, county_a, 10), (32, ub, county_b, 11)):
            period = f"{YEAR}-{month}"
            line = f.payroll(n, period=period) | {"unit_code": unit}
            scope = {"region": region, "period": period}
            assert push("payroll", [line], scope=scope, region=region).status_code == 201

        city_audit = headers_for("audit", "230100")
        body = annual(client, city_audit, unit_code=ua).json()
        staffing = client.get(
            "/api/v1/reports/staffing", params={"as_of": body["year_end_as_of"]}, headers=city_audit
        ).json()["items"]
        keys = ("establishment_type", "approved", "on_roster", "employed", "paid", "difference",
                "payroll_period")  # fmt: skip
        expected = [{k: r[k] for k in keys} for r in staffing if r["unit_code"] == ua]
        assert [r["paid"] for r in expected] == [1]  # paid in October, its county's latest
        assert [{k: r[k] for k in keys} for r in body["year_end"]] == expected

    def test_cases_only_for_those_who_read_them(
        self, audited: dict[str, str], client: TestClient, headers_for: HeadersFor
    ) -> None:
        assert annual(client, headers_for("finance")).json()["cases"] is None
        assert len(annual(client, headers_for("audit")).json()["cases"]) == 1

    def test_a_past_year_and_bad_asks(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        past = annual(client, headers, year=YEAR - 1).json()
        assert [m["month"] for m in past["months"]][-1] == f"{YEAR - 1}-12"
        assert past["year_end_as_of"] == f"{YEAR - 1}-12-31"
        assert past["findings"] == [] and past["meetings"] == []
        for params, status, field in (
            ({"year": YEAR + 1}, 422, "year"),
            ({"year": 1999}, 422, "year"),
            ({"year": "abc"}, 422, "year"),
            ({"unit_code": "91230100MA0000000X"}, 404, None),
            ({"unit_code": "not-a-code"}, 404, None),
        ):
            response = client.get(
                ANNUAL, params={"unit_code": U1, "year": YEAR, **params}, headers=headers
            )
            assert response.status_code == status, (params, response.text)
            if field:
                assert [e["field"] for e in response.json()["errors"]] == [field]
        outside = client.get(
            ANNUAL, params={"unit_code": U1, "year": YEAR}, headers=headers_for("audit", "230200")
        )
        assert outside.status_code == 404


def backdate(
    database: Database, finding_id: str, first_seen: dt.datetime, **at: dt.datetime
) -> None:
    """Rewrite a finding's history as it would stand had the hub been running since then: first
    seen at ``first_seen`` (its ``open`` event too), each ``to_status=time`` event moved."""
    with database.engine.begin() as conn:
        conn.execute(
            text("UPDATE reconciliation_finding SET first_seen_at = :t WHERE id = :id"),
            {"t": first_seen, "id": finding_id},
        )
        for status, when in {"open": first_seen, **at}.items():
            conn.execute(
                text(
                    "UPDATE reconciliation_event SET at = :t "
                    "WHERE finding_id = :id AND to_status = :s"
                ),
                {"t": when, "id": finding_id, "s": status},
            )


def over_quota(client: TestClient, office: dict[str, str]) -> dict[str, Any]:
    (over,) = client.get(
        "/api/v1/discrepancies", params={"rule": "OVER_QUOTA", "unit_code": U1}, headers=office
    ).json()["items"]
    return dict(over)


def quota(approved: int, document_no: str) -> list[dict[str, Any]]:
    return [
        registry_row(
            "quotas", establishment_type="administrative", approved=approved,
            document_no=document_no,
        )
    ]  # fmt: skip


class TestFindingsByTheirHistory:
    """ "Open at any time in the year" is read from a finding's history, not from its current
    columns. The report took first seen → resolved_at, else the waiver, else now: a reopen
    clears resolved_at and a run's resolution of a waived finding overwrites its waiver, so a
    finding resolved (or waived) before a year and found again (or resolved) after it was
    listed in that year, as open, with the wrong fate. Now the open stretches between its
    events decide, and the fate and days open are those of the stretch in the year."""

    def test_resolved_before_the_year_and_reopened_after_it_is_not_in_that_year(
        self,
        unit: None,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        office, today = headers_for("establishment"), hub_today().isoformat()
        run_and_wait(client, office, as_of=today)  # three on a quota of two: OVER_QUOTA opens
        over = over_quota(client, office)
        assert push("quotas", quota(3, "哈编〔2026〕8号")).status_code == 201
        run_and_wait(client, office, as_of=today)  # resolved
        assert push("quotas", quota(2, "哈编〔2026〕9号")).status_code == 201
        run_and_wait(client, office, as_of=today)  # reopened
        now = client.get(f"/api/v1/discrepancies/{over['id']}", headers=office).json()
        assert now["status"] == "reopened"
        # First found in March two years ago, resolved that June, found again today.
        first = dt.datetime(YEAR - 2, 3, 1, 2, 0, tzinfo=dt.UTC)
        resolved = dt.datetime(YEAR - 2, 6, 1, 2, 0, tzinfo=dt.UTC)
        backdate(database, over["id"], first, resolved=resolved)
        audit = headers_for("audit")

        last_year = annual(client, audit, year=YEAR - 1).json()
        assert over["id"] not in [x["id"] for x in last_year["findings"]]
        tenure = client.get(
            "/api/v1/reports/tenure",
            params={"id_number": f.id_number(1), "unit_code": U1,
                    "from": f"{YEAR - 1}-01-01", "to": f"{YEAR - 1}-12-31"},
            headers=audit,
        )  # fmt: skip
        assert tenure.status_code == 200, tenure.text
        assert "OVER_QUOTA" not in [x["rule"] for x in tenure.json()["findings"]]
        # Two years ago it was open from March and resolved in June: 92 days.
        (then,) = [x for x in annual(client, audit, year=YEAR - 2).json()["findings"]
                   if x["id"] == over["id"]]  # fmt: skip
        assert (then["closed_as"], then["closed_at"][:10], then["days_open"]) == (
            "resolved", f"{YEAR - 2}-06-01", 92,
        )  # fmt: skip
        (this,) = [x for x in annual(client, audit).json()["findings"] if x["id"] == over["id"]]
        assert (this["status"], this["closed_as"], this["closed_at"]) == ("reopened", None, None)
        assert this["days_open"] == 92  # and the hours since it was found again today

    def test_waived_before_the_year_and_resolved_after_it_is_not_in_that_year(
        self,
        unit: None,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        """A waived finding that no longer holds is resolved by the next run: it was closed
        (an accepted exception) from its waiver on, not open until the run resolved it."""
        office, today = headers_for("establishment"), hub_today().isoformat()
        run_and_wait(client, office, as_of=today)
        over = over_quota(client, office)
        waived = client.post(
            f"/api/v1/discrepancies/{over['id']}/transitions",
            json={"to": "waived", "reason": "临时借调，经批准", "document_no": "哈编〔2024〕3号"},
            headers=office,
        )
        assert waived.status_code == 200, waived.text
        assert push("quotas", quota(3, "哈编〔2026〕8号")).status_code == 201
        run_and_wait(client, office, as_of=today)
        now = client.get(f"/api/v1/discrepancies/{over['id']}", headers=office).json()
        assert now["status"] == "resolved"
        # Found in March two years ago and waived that April; the run resolved it today.
        first = dt.datetime(YEAR - 2, 3, 1, 2, 0, tzinfo=dt.UTC)
        waived_at = dt.datetime(YEAR - 2, 4, 1, 2, 0, tzinfo=dt.UTC)
        backdate(database, over["id"], first, waived=waived_at)
        audit = headers_for("audit")

        last_year = annual(client, audit, year=YEAR - 1).json()
        assert over["id"] not in [x["id"] for x in last_year["findings"]]
        (then,) = [x for x in annual(client, audit, year=YEAR - 2).json()["findings"]
                   if x["id"] == over["id"]]  # fmt: skip
        assert (then["closed_as"], then["closed_at"][:10], then["days_open"]) == (
            "waived", f"{YEAR - 2}-04-01", 31,
        )  # fmt: skip


class TestDownloads:
    def test_xlsx_reads_back_as_the_json(
        self, audited: dict[str, str], client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        body = annual(client, headers).json()
        book = openpyxl.load_workbook(io.BytesIO(annual(client, headers, format="xlsx").content))
        assert book.sheetnames == [
            "月度编制", "按编制类型", "年内问题", "联席会议", "12310举报", "年末编制",
        ]  # fmt: skip
        sheet = book["月度编制"]
        assert "年度审计" in str(sheet["A1"].value) and U1 in str(sheet["A2"].value)
        rows = list(sheet.iter_rows(values_only=True))
        start = next(i for i, r in enumerate(rows) if r[0] == "月份") + 1
        read_back = [(r[0], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows[start:]]
        assert read_back == [
            (
                m["month"], m["approved"], m["on_roster"], m["employed"], m["paid"],
                m["leader_posts"]["principal"], m["leaders"]["principal"],
                m["leader_posts"]["deputy"], m["leaders"]["deputy"],
            )
            for m in body["months"]
        ]  # fmt: skip
        by_type = list(book["按编制类型"].iter_rows(min_row=2, values_only=True))
        assert [(r[0], r[2], r[3], r[4], r[5]) for r in by_type] == [
            (m["month"], q["approved"], q["on_roster"], q["employed"], q["paid"])
            for m in body["months"]
            for q in m["quotas"]
        ]
        found = list(book["年内问题"].iter_rows(min_row=2, values_only=True))
        assert [(r[0], r[1], r[13]) for r in found] == [
            (x["id"], x["rule"], x["meeting_id"]) for x in body["findings"]
        ]
        meetings = list(book["联席会议"].iter_rows(min_row=2, values_only=True))
        assert [r[2] for r in meetings] == [m["minutes_no"] for m in body["meetings"]]
        assert len(list(book["12310举报"].iter_rows(min_row=2))) == len(body["cases"])
        year_end = list(book["年末编制"].iter_rows(min_row=2, values_only=True))
        assert [r[1:6] for r in year_end] == [
            (y["approved"], y["on_roster"], y["employed"], y["paid"], y["difference"])
            for y in body["year_end"]
        ]

    def test_csv_holds_every_part(
        self, audited: dict[str, str], client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        body = annual(client, headers).json()
        text = annual(client, headers, format="csv").content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert "年度审计" in rows[0][0] and U1 in rows[1][0]
        for header in ("月份", "编制类型", "问题编号", "会议编号", "举报编号"):
            assert any(r and r[0] == header for r in rows), header
        october = next(r for r in rows if r and r[0] == f"{YEAR}-10" and len(r) == 11)
        m = next(x for x in body["months"] if x["month"] == f"{YEAR}-10")
        assert october[2:6] == [str(m[k]) for k in ("approved", "on_roster", "employed", "paid")]
        assert any(audited["finding"] in r for r in rows)


def test_the_downloads_say_which_months_the_unit_was_not_registered(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """A unit abolished in March of last year: its later months still count the roster it
    kept (people on an abolished unit's roster are worth an auditor's eye) but the JSON's
    ``registered: false`` was the only sign the unit no longer existed; the CSV and the
    workbook, which auditors circulate, had no column for it (found in the 2026-12-06 review
    of the reports). Now each month row ends with 登记状态."""
    abolished = f.unit(1, kind="organ", status="abolished", abolished_on=f"{YEAR - 1}-03-15")
    assert push("units", [abolished]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    audit = headers_for("audit")
    body = annual(client, audit, year=YEAR - 1).json()
    expected = [(m["month"], "已登记" if m["registered"] else "未登记") for m in body["months"]]
    assert expected[2:4] == [(f"{YEAR - 1}-03", "未登记"), (f"{YEAR - 1}-04", "未登记")]
    assert expected[1] == (f"{YEAR - 1}-02", "已登记")
    book = openpyxl.load_workbook(
        io.BytesIO(annual(client, audit, year=YEAR - 1, format="xlsx").content)
    )
    rows = list(book["月度编制"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "月份")
    assert rows[start][10] == "登记状态"
    assert [(r[0], r[10]) for r in rows[start + 1 :]] == expected
    text_ = annual(client, audit, year=YEAR - 1, format="csv").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text_)))
    header = next(i for i, r in enumerate(lines) if r and r[0] == "月份" and len(r) == 11)
    assert lines[header][10] == "登记状态"
    assert [(r[0], r[10]) for r in lines[header + 1 : header + 13]] == expected
