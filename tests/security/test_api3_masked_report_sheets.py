"""API3: a masked download carries no full ID number on any of its sheets.

``mask=true`` (or ``LINKAGE_MASK_EXPORTS``) is for a report that circulates beyond the
departments: the discrepancy report's rows (JSON, CSV, the XLSX's first sheet) name a unit whose
name a department typed an ID number into masked (``2301**********1234``). The XLSX's count
sheet by unit (按单位统计) read the same name from the registry a second time, unmasked: the
number travelled with the masked workbook. Now every sheet of a masked workbook is masked.
"""

from __future__ import annotations

import io
import json

import openpyxl

from linkage_hub.identifiers import mask_citizen_id
from tests.records import factory as f
from tests.records.conftest import Push
from tests.security.regions import COUNTY, LEADER, Regions

REPORT = "/api/v1/reports/discrepancies"


def test_every_sheet_of_a_masked_discrepancy_workbook_is_masked(
    regions: Regions, push: Push
) -> None:
    name = f"单位2（联系人 {LEADER}）"
    renamed = f.unit(2, region=COUNTY, name=name)
    assert push("units", [renamed]).status_code == 201
    masked_name = f"单位2（联系人 {mask_citizen_id(LEADER)}）"

    for department in ("audit", "establishment"):
        asked = {"unit_code": regions.county, "mask": "true"}
        listed = regions.get(REPORT, department, COUNTY, **asked)
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert items, "the county's unit has findings"
        assert {i["unit_name"] for i in items} == {masked_name}
        assert LEADER not in json.dumps(items, ensure_ascii=False)

        workbook = regions.get(REPORT, department, COUNTY, format="xlsx", **asked)
        assert workbook.status_code == 200, workbook.text
        book = openpyxl.load_workbook(io.BytesIO(workbook.content))
        assert book.sheetnames == ["问题清单", "按规则统计", "按单位统计"]
        for sheet in book.worksheets:
            for row in sheet.iter_rows(values_only=True):
                for value in row:
                    assert LEADER not in str(value), (sheet.title, row)
        by_unit = list(book["按单位统计"].iter_rows(min_row=2, values_only=True))
        assert {(r[0], r[1]) for r in by_unit} == {(regions.county, masked_name)}

        # Unmasked, the workbook names the unit as the registry does (the reader's own unit).
        plain = regions.get(REPORT, department, COUNTY, format="xlsx", unit_code=regions.county)
        book = openpyxl.load_workbook(io.BytesIO(plain.content))
        rows = list(book["按单位统计"].iter_rows(min_row=2, values_only=True))
        assert {(r[0], r[1]) for r in rows} == {(regions.county, name)}
