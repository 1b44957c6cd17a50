"""A person's name as another region's record writes it (API3 through the reports).

Departments write one person's name differently (that is NAME_MISMATCH); each spelling is a
field of its department's record. A person paid by a unit of county A and by one of the
sibling county B, and on B's roster under a name only B's record holds: the DUPLICATE_PAYROLL
finding is filed under A's unit, so A reads it — with B's records withheld. The name A's
reports and pages give must come from A's records (the payroll line: 张6), never from B's
roster (王秘密): the discrepancy report in each format, the console's list, and the tenure
report of A's leader.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f

__all__ = ["console_as"]

CITY, COUNTY, SIBLING = "230100", "230102", "230103"
SECRET = "王秘密"


@pytest.fixture
def paid_in_both(client: TestClient, headers_for: HeadersFor) -> str:
    """The city's run over the shape above; returns A's unit code."""
    mine, theirs = f.unit_code(1, region=COUNTY), f.unit_code(2, region=SIBLING)
    units = [f.unit(1, region=COUNTY), f.unit(2, region=SIBLING)]
    lines = [f.payroll(6) | {"unit_code": u} for u in (mine, theirs)]
    leader = f.cadre(1, leader_level="principal", position="局长", appointed_on="2026-03-01")
    for dataset, rows, who, scope in (
        ("units", units, "establishment", None),
        ("roster", [f.roster(6, name=SECRET) | {"unit_code": theirs}], "establishment", None),
        ("cadres", [leader | {"unit_code": mine}], "organization", None),
        ("payroll", lines, "finance", {"region": CITY, "period": "2026-10"}),
    ):
        body: dict[str, Any] = {"records": rows} | ({"scope": scope} if scope else {})
        answer = client.post(
            f"/api/v1/datasets/{dataset}/batches", json=body, headers=headers_for(who, CITY)
        )
        assert answer.status_code == 201, answer.text
    city = headers_for("establishment", CITY)
    assert run_and_wait(client, city, region=CITY)["status"] == "succeeded"
    return mine


def _duplicate(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    items = client.get("/api/v1/discrepancies", headers=headers).json()["items"]
    (found,) = [i for i in items if i["rule"] == "DUPLICATE_PAYROLL"]
    return dict(found)


class TestANameFromAnotherRegion:
    def test_the_discrepancy_report_names_the_person_as_the_readers_records_do(
        self, paid_in_both: str, client: TestClient, headers_for: HeadersFor
    ) -> None:
        audit_a = headers_for("audit", COUNTY)
        assert _duplicate(client, audit_a)["unit_code"] == paid_in_both
        report = client.get("/api/v1/reports/discrepancies", headers=audit_a)
        assert report.status_code == 200, report.text
        [row] = [r for r in report.json()["items"] if r["rule"] == "DUPLICATE_PAYROLL"]
        assert row["name"] == "张6"
        assert SECRET not in report.text
        download = client.get(
            "/api/v1/reports/discrepancies", params={"format": "csv"}, headers=audit_a
        )
        assert download.status_code == 200
        assert "张6" in download.text and SECRET not in download.text

    def test_the_city_reads_a_name_from_any_of_its_records(
        self, paid_in_both: str, client: TestClient, headers_for: HeadersFor
    ) -> None:
        report = client.get("/api/v1/reports/discrepancies", headers=headers_for("audit", CITY))
        [row] = [r for r in report.json()["items"] if r["rule"] == "DUPLICATE_PAYROLL"]
        assert row["name"] in ("张6", SECRET)  # both records are the city's to read

    def test_the_console_list_names_the_person_as_the_readers_records_do(
        self, paid_in_both: str, console_as: ConsoleAs
    ) -> None:
        page = console_as("audit", COUNTY).get("/console/findings")
        assert page.status_code == 200
        assert "张6" in page.text and SECRET not in page.text

    def test_the_tenure_report_names_the_person_as_the_readers_records_do(
        self, paid_in_both: str, client: TestClient, headers_for: HeadersFor
    ) -> None:
        params = {"id_number": f.id_number(1), "unit_code": paid_in_both}
        for fmt in ("json", "csv"):
            report = client.get(
                "/api/v1/reports/tenure",
                params={**params, "format": fmt},
                headers=headers_for("audit", COUNTY),
            )
            assert report.status_code == 200, report.text
            assert "张6" in report.text and SECRET not in report.text  # 张1 is the leader
