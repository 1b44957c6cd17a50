"""The tenure report: months of quota and head counts, and findings open during the tenure."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor, hub_today
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push
from tests.reports.conftest import U1, registry_row

TENURE = "/api/v1/reports/tenure"


def tenure(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    response = client.get(
        TENURE, params={"id_number": f.id_number(1), "unit_code": U1, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response


class TestMonths:
    def test_month_by_month_from_the_appointment(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = tenure(client, headers_for("audit"), to="2026-10-31").json()
        assert (body["from"], body["to"], body["name"], body["position"]) == (
            "2026-03-01",
            "2026-10-31",
            "张1",
            "局长",
        )
        months = {m["month"]: m for m in body["months"]}
        assert list(months) == [f"2026-{m:02d}" for m in range(3, 11)]
        assert {(m["approved"], m["on_roster"], m["leader_posts"]) for m in months.values()} == {
            (2, 3, 2)
        }
        assert [months[m]["leaders"] for m in ("2026-04", "2026-05", "2026-06")] == [1, 2, 2]
        assert [months[m]["paid"] for m in ("2026-08", "2026-09", "2026-10")] == [0, 3, 2]

    def test_defaults_to_today_while_in_office(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = tenure(client, headers_for("audit")).json()
        assert body["to"] == hub_today().isoformat()

    def test_defaults_to_the_last_day_in_office(
        self, unit: None, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Removed on 2026-06-15, the first day out of office (as leaders in office count
        it): the tenure ends on 2026-06-14, and June counts the leader audited."""
        removed = f.cadre(
            1,
            leader_level="principal",
            position="局长",
            appointed_on="2026-03-01",
            removed_on="2026-06-15",
            status="removed",
        )
        assert push("cadres", [removed]).status_code == 201
        body = tenure(client, headers_for("audit")).json()
        assert (body["from"], body["to"]) == ("2026-03-01", "2026-06-14")
        months = {m["month"]: m["leaders"] for m in body["months"]}
        assert (months["2026-05"], months["2026-06"]) == (2, 2)

    def test_unknown_outside_or_invalid(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        params = {"id_number": f.id_number(3), "unit_code": U1}
        assert client.get(TENURE, params=params, headers=headers_for("audit")).status_code == 404
        params["id_number"] = f.id_number(1)
        outside = client.get(TENURE, params=params, headers=headers_for("audit", "230200"))
        assert outside.status_code == 404
        wrong = "1230456078"  # too long to turn up in the random request id by chance
        bad = client.get(
            TENURE, params={"id_number": wrong, "unit_code": U1}, headers=headers_for("audit")
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "id_number"
        assert wrong not in bad.text
        order = client.get(
            TENURE,
            params={**params, "from": "2026-05-01", "to": "2026-04-01"},
            headers=headers_for("audit"),
        )
        assert order.status_code == 422


class TestOrder:
    """A tenure that starts after it ends is refused (422 ``order``). It was only when both
    ends were given: with one defaulted from the cadre record (``from`` = appointed_on, ``to``
    = removed_on or today) the order was checked before the default was filled, and an
    inverted tenure came back 200 saying ``"from": "2026-03-01", "to": "2026-02-01"`` with no
    months. The order is now checked after the defaults, naming the end that was given."""

    def test_a_to_before_the_appointment_or_a_from_after_today(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        # Person 1 was appointed principal on 2026-03-01 (tests/reports/conftest.py).
        for params, field in (
            ({"to": "2026-02-01"}, "to"),
            ({"from": "2999-01-01"}, "from"),
            ({"from": "2999-01-01", "to": "2999-12-31"}, "from"),  # to is capped at today
        ):
            response = client.get(
                TENURE,
                params={"id_number": f.id_number(1), "unit_code": U1, **params},
                headers=headers_for("audit"),
            )
            assert response.status_code == 422, (params, response.text[:300])
            assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
                (field, "order")
            ]


class TestFindings:
    def test_findings_open_during_the_tenure_with_their_fate(
        self, unit: None, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment")
        run_and_wait(client, office, as_of=hub_today().isoformat())
        body = tenure(client, headers_for("audit")).json()
        rules = {x["rule"]: x for x in body["findings"]}
        assert "OVER_QUOTA" in rules and rules["OVER_QUOTA"]["closed_as"] is None
        assert rules["OVER_QUOTA"]["days_open"] >= 0
        quota = registry_row("quotas", establishment_type="administrative", approved=3)
        assert push("quotas", [quota]).status_code == 201
        run_and_wait(client, office, as_of=hub_today().isoformat())
        again = {x["rule"]: x for x in tenure(client, headers_for("audit")).json()["findings"]}
        assert again["OVER_QUOTA"]["closed_as"] == "resolved"
        assert again["OVER_QUOTA"]["closed_at"] is not None
        before = tenure(
            client, headers_for("audit"), **{"from": "2026-03-01", "to": "2026-04-01"}
        ).json()
        assert before["findings"] == []  # found today: not open during that tenure

    def test_xlsx_has_the_title_block_and_both_tables(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        run_and_wait(client, headers_for("establishment"), as_of=hub_today().isoformat())
        headers = headers_for("audit")
        body = tenure(client, headers, to="2026-10-31").json()
        response = tenure(client, headers, to="2026-10-31", format="xlsx")
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == ["任期编制情况", "任期内问题"]
        sheet = book["任期编制情况"]
        assert "离任审计" in str(sheet["A1"].value) and U1 in str(sheet["A2"].value)
        header_row = len([c for c in sheet["A"] if c.value and "月份" not in str(c.value)][:4]) + 2
        assert sheet.cell(header_row, 1).value == "月份"
        months = [r for r in sheet.iter_rows(min_row=header_row + 1, values_only=True)]
        assert [r[0] for r in months] == [m["month"] for m in body["months"]]
        issues = list(book["任期内问题"].iter_rows(min_row=2, values_only=True))
        assert sorted(str(r[0]) for r in issues) == sorted(x["rule"] for x in body["findings"])

    def test_csv_holds_the_sections(
        self, unit: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = tenure(client, headers_for("audit"), to="2026-10-31", format="csv")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert "任期编制使用情况" in rows[0][0] and U1 in rows[1][0]
        assert ["月份", "核定编制", "实名在编", "统发工资", "核定领导职数", "在任领导"] in rows
        assert ["2026-10", "2", "3", "2", "2", "2"] in rows
