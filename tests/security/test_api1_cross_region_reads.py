"""API1:2023 Broken Object Level Authorization — reads of one region's people by another.

A city department reads the records of its counties' people (the person view, record lists,
findings and their evidence, reports). Each such read is an entry of the audit log in the
reader's region *and* in the view of every region whose records it sent (`regions`), so the
auditor of the people's own region finds it with ``GET /api/v1/audit-log?id_number=`` and by
region — and the chain still verifies. A read that sent nothing of a region (evidence withheld)
is not shown to that region.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.audit.test_audit_log import tamper
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push
from tests.security.regions import CITY, COUNTY, LEADER, OTHER, SPREAD, Regions

LOG = "/api/v1/audit-log"


def _log(regions: Regions, auditor_region: str, **params: Any) -> list[dict[str, Any]]:
    regions.app.state.auth.recorder.flush()
    response = regions.client.get(
        LOG,
        params={"action": "read", "limit": 1000, **params},
        headers=regions.headers_for("audit", auditor_region),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _reads_of(regions: Regions, auditor_region: str, id_number: str, route: str) -> list[Any]:
    return [
        e
        for e in _log(regions, auditor_region, id_number=id_number)
        if e["target_id"] == route and e["region"] == CITY and e["department"] == "finance"
    ]


def _spread_finding(regions: Regions) -> str:
    found = regions.finding("DUPLICATE_PAYROLL", SPREAD)
    assert found["region"] == COUNTY
    return str(found["id"])


class TestTheRegionOfThePeopleSeesTheRead:
    """City finance (230100) reads ``spread``, whose records lie in 230102 and 230103."""

    @pytest.mark.parametrize(
        ("route", "path"),
        [
            ("GET /api/v1/persons/{id_number}", f"/api/v1/persons/{SPREAD}"),
            (
                "GET /api/v1/datasets/{dataset}/records",
                f"/api/v1/datasets/payroll/records?id_number={SPREAD}",
            ),
            ("GET /api/v1/discrepancies/{finding_id}", None),
        ],
    )
    def test_each_region_read_finds_the_entry(
        self, regions: Regions, route: str, path: str | None
    ) -> None:
        path = path or f"/api/v1/discrepancies/{_spread_finding(regions)}"
        response = regions.client.get(path, headers=regions.headers_for("finance", CITY))
        assert response.status_code == 200, response.text
        assert OTHER in response.text  # a record of 230103 was sent
        for auditor in (OTHER, COUNTY, CITY):
            (entry,) = _reads_of(regions, auditor, SPREAD, route)
            # each county is named to its own auditor only (test_api1_audit_log_foreign_entries)
            shown = {COUNTY, OTHER} if auditor == CITY else {auditor}
            assert set(entry["regions"]) == shown
            assert entry["persons"] == 1
        # ...and by region: the city's auditor narrowing to 230103 sees it too
        narrowed = _log(regions, CITY, region=OTHER)
        assert [e for e in narrowed if e["target_id"] == route and e["department"] == "finance"]

    def test_the_finding_list_and_report_reach_the_findings_region(self, regions: Regions) -> None:
        headers = regions.headers_for("finance", CITY)
        listed = regions.client.get("/api/v1/discrepancies", headers=headers)
        assert listed.status_code == 200
        report = regions.client.get("/api/v1/reports/discrepancies?format=csv", headers=headers)
        assert report.status_code == 200
        for route in ("GET /api/v1/discrepancies", "GET /api/v1/reports/discrepancies"):
            (entry,) = _reads_of(regions, COUNTY, SPREAD, route)
            assert COUNTY in entry["regions"]

    def test_the_tenure_report_reaches_the_leaders_region(self, regions: Regions) -> None:
        from tests.records import factory as f

        unit = f.unit_code(2, region=COUNTY)
        response = regions.get(
            "/api/v1/reports/tenure", "finance", CITY, id_number=LEADER, unit_code=unit
        )
        assert response.status_code == 200, response.text
        (entry,) = _reads_of(regions, COUNTY, LEADER, "GET /api/v1/reports/tenure")
        assert entry["regions"] == [COUNTY]

    def test_a_read_within_the_own_region_names_no_other(self, regions: Regions) -> None:
        response = regions.get(f"/api/v1/persons/{SPREAD}", "hr", COUNTY)
        assert response.status_code == 200
        (entry,) = [e for e in _log(regions, COUNTY, id_number=SPREAD) if e["department"] == "hr"]
        assert entry["region"] == COUNTY and entry["regions"] == []
        assert not [e for e in _log(regions, OTHER, id_number=SPREAD) if e["department"] == "hr"]

    def test_withheld_evidence_is_no_read_of_its_region(self, regions: Regions) -> None:
        finding = _spread_finding(regions)
        response = regions.get(f"/api/v1/discrepancies/{finding}", "finance", COUNTY)
        assert response.status_code == 200
        withheld = [e for e in response.json()["evidence"] if e["region"] == OTHER]
        assert withheld and all(e["withheld"] for e in withheld)
        route = "GET /api/v1/discrepancies/{finding_id}"
        own = [e for e in _log(regions, COUNTY, id_number=SPREAD) if e["target_id"] == route]
        assert own and OTHER not in own[0]["regions"]
        assert not [e for e in _log(regions, OTHER, id_number=SPREAD) if e["target_id"] == route]

    def test_another_region_sees_nothing_of_it(self, regions: Regions) -> None:
        # 230103's auditor sees the city's reads of its people, never the county's own reads
        regions.get(f"/api/v1/persons/{SPREAD}", "hr", COUNTY)
        assert not [e for e in _log(regions, OTHER) if e["region"] == COUNTY]


class TestAPersonOfAnotherRegionDoesNotExist:
    def test_a_county_auditor_cannot_probe_a_sibling_countys_people(
        self, regions: Regions, push: Push
    ) -> None:
        """City finance reads a payroll list holding 230102's and 230103's people: 230102's
        auditor finds the read by its own people, and by a person only of 230103 finds nothing,
        exactly as by a number the hub never saw (else it learns who is paid in its sibling)."""
        elsewhere = f.id_number(7)
        line = f.payroll(7) | {"unit_code": f.unit_code(3, region=OTHER)}
        scope = {"region": CITY, "period": "2026-10"}
        assert push("payroll", [line], scope=scope).status_code == 201
        listed = regions.get("/api/v1/datasets/payroll/records", "finance", CITY, limit=1000)
        assert listed.status_code == 200
        assert elsewhere in listed.text and LEADER in listed.text
        route = "GET /api/v1/datasets/{dataset}/records"
        assert [e["target_id"] for e in _log(regions, COUNTY, id_number=LEADER)] == [route]
        assert _log(regions, COUNTY, id_number=elsewhere) == []
        every = regions.get(LOG, "audit", COUNTY, id_number=elsewhere)  # any action
        assert every.status_code == 200 and every.json()["items"] == []
        assert _log(regions, COUNTY, id_number=f.id_number(99)) == []
        # The sibling's own auditor and the city's still find it.
        for auditor in (OTHER, CITY):
            assert [e["target_id"] for e in _log(regions, auditor, id_number=elsewhere)] == [route]


class TestTheChainCoversTheRegions:
    def test_it_verifies_and_a_changed_region_breaks_it(
        self, regions: Regions, client: TestClient, headers_for: HeadersFor
    ) -> None:
        regions.get(f"/api/v1/persons/{SPREAD}", "finance", CITY)
        (entry,) = _reads_of(regions, OTHER, SPREAD, "GET /api/v1/persons/{id_number}")
        verify = f"{LOG}/verify"
        assert client.get(verify, headers=headers_for("audit", "230000")).json()["ok"]
        database = regions.app.state.db
        tamper(
            database,
            f"UPDATE audit_log_region SET region = '230199' WHERE seq = {entry['seq']} "
            f"AND region = '{OTHER}'",
        )
        broken = client.get(verify, headers=headers_for("audit", "230000")).json()
        assert not broken["ok"] and broken["first_broken_seq"] == entry["seq"]
