"""API3:2023 Broken Object Property Level Authorization — the fields of a finding's evidence.

A finding's evidence can span regions (多头饷: paid by a unit of 230102 and one of 230103). A
caller sees the fields of the evidence records of its own region; a record of a region it cannot
read is shown as what it is — dataset, region, record key, version — with ``withheld: true`` and
no fields (no name, ID number or pay). ``gross_pay`` is shown to finance and audit only.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.regions import CITY, COUNTY, OTHER, SPREAD, Regions

PERSON_FIELDS = {"id_number", "id_number_given", "name", "gross_pay"}


def _evidence(regions: Regions, department: str, region: str) -> list[dict[str, Any]] | None:
    """The payroll evidence of SPREAD's 多头饷 as ``department`` of ``region`` sees it;
    None when the finding is not the caller's to open."""
    finding = regions.finding("DUPLICATE_PAYROLL", SPREAD)
    response = regions.get(f"/api/v1/discrepancies/{finding['id']}", department, region)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return [e for e in response.json()["evidence"] if e["dataset"] == "payroll"]


class TestEvidenceOfAnotherRegion:
    @pytest.mark.parametrize("department", ["audit", "finance", "establishment", "hr"])
    def test_is_shown_as_what_it_is_without_its_fields(
        self, regions: Regions, department: str
    ) -> None:
        evidence = _evidence(regions, department, COUNTY)
        # The finding is filed under the first paying unit (the county's); were it filed under
        # the smallest region holding all its evidence (the city), the county could not open
        # it at all — and then it is in none of the county's lists either.
        if evidence is None:
            listed = regions.findings(department, COUNTY, id_number=SPREAD)
            assert [x for x in listed if x["rule"] == "DUPLICATE_PAYROLL"] == []
            return
        by_region = {e["region"]: e for e in evidence}
        assert set(by_region) == {COUNTY, OTHER}
        other = by_region[OTHER]
        assert other["withheld"] is True
        assert other["record"] == {}
        assert other["record_key"] and other["version"] >= 1
        own = by_region[COUNTY]
        assert own["withheld"] is False
        assert own["record"]["id_number"] == SPREAD and own["record"]["name"]
        assert ("gross_pay" in own["record"]) is (department in ("audit", "finance"))

    def test_the_other_county_sees_its_own_line_only(self, regions: Regions) -> None:
        evidence = _evidence(regions, "audit", OTHER)
        if evidence is None:  # filed in 230102 (or the city): not 230103's to open
            return
        assert {e["region"] for e in evidence if not e["withheld"]} == {OTHER}

    def test_the_city_sees_every_line_in_full(self, regions: Regions) -> None:
        evidence = _evidence(regions, "audit", CITY)
        assert evidence is not None
        assert {e["region"] for e in evidence} == {COUNTY, OTHER}
        for e in evidence:
            assert e["withheld"] is False
            assert PERSON_FIELDS - {"id_number_given"} <= set(e["record"])


class TestPay:
    @pytest.mark.parametrize(
        ("department", "sees"),
        [("audit", True), ("finance", True), ("establishment", False), ("hr", False)],
    )
    def test_gross_pay_is_for_finance_and_audit(
        self, regions: Regions, department: str, sees: bool
    ) -> None:
        evidence = _evidence(regions, department, CITY)
        assert evidence is not None and len(evidence) == 2
        assert all(("gross_pay" in e["record"]) is sees for e in evidence)
