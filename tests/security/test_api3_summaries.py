"""API3:2023 Broken Object Property Level Authorization — what a finding's summary says.

A finding's summary is stored once and shown to every caller who may open the finding: the
region it is filed under and the regions above. Its evidence may hold records of other regions,
which that region sees withheld — no fields (``test_api3_evidence_fields.py``). The summary must
not spell out what they say either: it quotes a value of a record (a date, a name, an amount)
only when the record lies in the finding's own region, and otherwise says the same without the
value (:mod:`linkage_hub.reconciliation.queries`).

The shape: a person on the roster of a unit of county 230102 whom HR lists as having left, at a
unit of the sibling county 230103, on 2025-03-17; the city's run files LATE_EXIT under the
county's unit, so in 230102.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f

CITY, COUNTY, SIBLING = "230100", "230102", "230103"
MINE, THEIRS = f.unit_code(1, region=COUNTY), f.unit_code(2, region=SIBLING)
LEFT = "2025-03-17"
WITHOUT_DATE = {
    "zh": "人社部门记录已离职，超过 10 个工作日仍在实名制花名册在编",
    "en": "left per HR, still on the roster after 10 working days",
}


def _late_exit(
    client: TestClient, headers_for: HeadersFor, exits: list[dict[str, Any]]
) -> dict[str, Any]:
    """Push the county unit's roster entry and the HR ``exits``, run the city, and return the
    LATE_EXIT finding's detail as the county's auditor reads it."""
    units = [f.unit(1, region=COUNTY), f.unit(2, region=SIBLING)]
    for dataset, rows, department in (
        ("units", units, "establishment"),
        ("roster", [f.roster(5) | {"unit_code": MINE}], "establishment"),
        ("employment", exits, "hr"),
    ):
        answer = client.post(
            f"/api/v1/datasets/{dataset}/batches",
            json={"records": rows},
            headers=headers_for(department, CITY),
        )
        assert answer.status_code == 201, answer.text
    city = headers_for("establishment", CITY)
    assert run_and_wait(client, city, region=CITY)["status"] == "succeeded"
    county = headers_for("audit", COUNTY)
    listed = client.get("/api/v1/discrepancies", params={"rule": "LATE_EXIT"}, headers=county)
    assert listed.status_code == 200, listed.text
    [found] = listed.json()["items"]
    assert found["region"] == COUNTY and found["unit_code"] == MINE
    detail = client.get(f"/api/v1/discrepancies/{found['id']}", headers=county)
    assert detail.status_code == 200, detail.text
    return dict(detail.json())


def _exit(unit: str, status: str, status_on: str) -> dict[str, Any]:
    return f.employment(5, status=status, status_on=status_on) | {"unit_code": unit}


class TestASummaryOfWithheldEvidence:
    @pytest.mark.parametrize(
        "exits",
        [
            [_exit(THEIRS, "retired", LEFT)],
            # the county's own, earlier record: the date the rule reads is still the sibling's
            [_exit(MINE, "resigned", "2024-05-06"), _exit(THEIRS, "retired", LEFT)],
        ],
        ids=["sibling-only", "sibling-latest"],
    )
    def test_names_no_field_of_a_sibling_countys_record(
        self, client: TestClient, headers_for: HeadersFor, exits: list[dict[str, Any]]
    ) -> None:
        detail = _late_exit(client, headers_for, exits)
        theirs = [e for e in detail["evidence"] if e["region"] == SIBLING]
        assert theirs and all(e["withheld"] for e in theirs)  # the record itself is withheld ...
        assert LEFT not in str(detail)  # ... and so is what it says
        assert detail["summary"] == WITHOUT_DATE
        assert "2024-05-06" not in str(detail["summary"])  # not the latest exit: not the rule's

    def test_quotes_a_record_of_the_findings_own_region(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        detail = _late_exit(client, headers_for, [_exit(MINE, "retired", LEFT)])
        assert detail["summary"] == {
            "zh": f"人社部门记录已于 {LEFT} 离职，超过 10 个工作日仍在实名制花名册在编",
            "en": f"left on {LEFT} per HR, still on the roster after 10 working days",
        }
