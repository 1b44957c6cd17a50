"""mask=true now means "no full ID number anywhere in it ... a unit's name" (privacy/masking.py,
this session), and the tenure report masks its unit name and summaries (tenure_report.py). The
annual audit report of a unit (GET /api/v1/reports/annual, annual/router.py:reports_annual)
still masks only the findings' id_number fields: a number typed into the unit's name (its
parent's name too) comes whole in a masked annual report, in JSON and in the downloads."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today, make_settings
from tests.records import factory as f
from tests.records.conftest import Push, push  # noqa: F401

OTHER = f.id_number(77)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_masked_annual_report_masks_a_number_in_the_units_name(
    fmt: str,
    push: Push,  # noqa: F811
    client: TestClient,
    headers_for: HeadersFor,
) -> None:
    """Should: with mask=true the unit's name reads "...2301**********0779..." as the masked
    records list and the masked tenure report show it. Does: the full number."""
    unit = {**f.unit(1, kind="organ"), "name": f"临时专班（负责人 {OTHER}）"}
    assert push("units", [unit]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    listed = client.get(
        "/api/v1/datasets/units/records",
        params={"mask": "true"},
        headers=headers_for("audit", "230100"),
    )
    assert OTHER not in listed.text  # the masked list masks it
    report = client.get(
        "/api/v1/reports/annual",
        params={
            "unit_code": f.unit_code(1),
            "year": hub_today().year,
            "mask": "true",
            "format": fmt,
        },
        headers=headers_for("audit", "230100"),
    )
    assert report.status_code == 200, report.text
    text = report.content.decode("utf-8-sig")
    assert OTHER not in text, text[:400]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_staffing_report_masks_a_number_in_a_units_name_when_exports_are_masked(
    fmt: str,
    push: Push,  # noqa: F811
    settings: Settings,
    database: Database,
    headers_for: HeadersFor,
) -> None:
    """LINKAGE_MASK_EXPORTS masks "every report download": the staffing report has no person
    in it, but a unit's name is typed text, and it came whole (found by the review of
    2026-12-06's changes); without the setting it is shown as sent."""
    unit = {**f.unit(1, kind="organ"), "name": f"临时专班（负责人 {OTHER}）"}
    assert push("units", [unit]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201  # the unit has a row
    masked = make_settings(settings.database_url or "", settings.data_dir, mask_exports=True)
    for app_settings, shown in ((masked, False), (settings, True)):
        with TestClient(create_app(app_settings, database=database)) as client:
            report = client.get(
                "/api/v1/reports/staffing",
                params={"region": "230100", "format": fmt},
                headers=headers_for("audit", "230100"),
            )
        assert report.status_code == 200, report.text
        text = report.content.decode("utf-8-sig")
        assert (OTHER in text) is shown and "临时专班" in text
