"""The discrepancy report on the demo city: JSON, CSV and XLSX agree with the API's list and
the database's counts."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.db import Database
from linkage_hub.records import demo, demo_data
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.reconciliation.test_api import run_and_wait

REPORT = "/api/v1/reports/discrepancies"


@pytest.fixture
def reconciled(
    settings: Settings, database: Database, client: TestClient, headers_for: HeadersFor
) -> None:
    demo.load_city(settings, database, demo_data.generate_city(2026, 1500))
    run = run_and_wait(
        client,
        headers_for("establishment", "230000"),
        region="230000",
        period=demo_data.PERIOD,
        as_of=hub_today().isoformat(),
    )
    assert run["status"] == "succeeded", run


def listed(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": "50", **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/discrepancies", params=query, headers=headers).json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def key(rule: str, unit_code: str | None, id_number: str | None) -> tuple[str, str, str]:
    return rule, unit_code or "", id_number or ""


class TestDiscrepancyReport:
    def test_json_is_the_list(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit", "230000")
        report = client.get(REPORT, headers=headers)
        assert report.status_code == 200
        items = report.json()["items"]
        assert [i["id"] for i in items] == [i["id"] for i in listed(client, headers)]
        assert len(items) > 17
        assert {i["rule_title_zh"] for i in items if i["rule"] == "OVER_QUOTA"} == {"超编"}
        person = next(i for i in items if i["id_number"])
        assert person["name"] and person["unit_name"] is not None

    def test_filters_and_region_apply(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit", "230000")
        rule = client.get(REPORT, params={"rule": "LATE_EXIT"}, headers=headers).json()["items"]
        assert rule and {i["rule"] for i in rule} == {"LATE_EXIT"}
        district = headers_for("audit", "230102")
        items = client.get(REPORT, headers=district).json()["items"]
        assert items and all(i["region"].startswith("230102") for i in items)
        assert [i["id"] for i in items] == [i["id"] for i in listed(client, district)]
        bad = client.get(REPORT, params={"rule": "NOPE"}, headers=headers)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rule"

    def test_csv_rows_are_the_findings(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit", "230000")
        expected = [key(i["rule"], i["unit_code"], i["id_number"]) for i in listed(client, headers)]
        response = client.get(REPORT, params={"format": "csv"}, headers=headers)
        assert response.content.startswith(b"\xef\xbb\xbf")
        assert "filename*=UTF-8''" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["规则代码", "规则", "严重程度"]
        assert [key(r[0], r[5], r[7]) for r in rows[1:]] == expected

    def test_xlsx_sheets_match_the_list_and_the_database(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        headers = headers_for("audit", "230000")
        expected = [key(i["rule"], i["unit_code"], i["id_number"]) for i in listed(client, headers)]
        response = client.get(REPORT, params={"format": "xlsx"}, headers=headers)
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        assert book.sheetnames == ["问题清单", "按规则统计", "按单位统计"]
        main = book["问题清单"]
        assert main.freeze_panes == "A2" and main.auto_filter.ref
        values = [[c.value for c in row] for row in main.iter_rows(min_row=2)]
        assert [key(v[0], v[5], v[7]) for v in values] == expected
        assert all(isinstance(v[11], dt.datetime) for v in values)
        with database.transaction() as session:
            by_rule = dict(
                session.execute(
                    text("SELECT rule, COUNT(*) FROM reconciliation_finding GROUP BY rule")
                ).all()
            )
        counted: collections.Counter[str] = collections.Counter()
        for row in book["按规则统计"].iter_rows(min_row=2, values_only=True):
            counted[str(row[0])] += int(str(row[3]))
        assert dict(counted) == by_rule
        units = sum(
            int(str(r[3])) for r in book["按单位统计"].iter_rows(min_row=2, values_only=True)
        )
        assert units == sum(by_rule.values())
