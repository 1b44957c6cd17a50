"""API1:2023 Broken Object Level Authorization — the run history (``GET /reconciliation/runs``).

A run is listed to a caller when its region lies inside the caller's: a county sees its own
runs, never a sibling county's, and not the city's either (a city run's counts add up findings
of every county). The filters narrow inside the caller's region and never widen it: asking for
a sibling's region or a sibling's batch answers an empty page, as if those runs did not exist.
Bad parameters are 422 problems naming the parameter, never a 500.
"""

from __future__ import annotations

import base64
from typing import Any

from httpx import Response

from linkage_hub.db import Database
from tests.reconciliation.test_api import run_and_wait
from tests.reconciliation.test_run_history import incremental_run
from tests.security.regions import CITY, COUNTY, OTHER, Regions

RUNS = "/api/v1/reconciliation/runs"
BATCH = "f" * 32


def runs_get(regions: Regions, department: str, caller: str, **params: Any) -> Response:
    """``GET /runs`` as ``department`` of region ``caller`` (``params`` may name a region)."""
    return regions.client.get(RUNS, params=params, headers=regions.headers_for(department, caller))


def run_ids(regions: Regions, department: str, caller: str, **params: Any) -> list[str]:
    response = runs_get(regions, department, caller, **params)
    assert response.status_code == 200, response.text
    return [i["run_id"] for i in response.json()["items"]]


def _runs(regions: Regions, database: Database) -> dict[str, str]:
    """One run per region: the city's (made by the fixture), each county's, and in the other
    county a full run that settles it and the incremental run covering ``BATCH``."""
    city = run_ids(regions, "audit", CITY)[0]
    county = run_and_wait(
        regions.client, regions.headers_for("establishment", COUNTY), region=COUNTY
    )
    other = run_and_wait(regions.client, regions.headers_for("establishment", OTHER), region=OTHER)
    settled, incremental = incremental_run(database, OTHER, [BATCH])
    return {
        "city": city,
        "county": county["run_id"],
        "other": other["run_id"],
        "settled": settled,
        "incremental": incremental,
    }


class TestACountySeesItsOwnRunsOnly:
    def test_not_a_sibling_countys_nor_the_citys(
        self, regions: Regions, database: Database
    ) -> None:
        runs = _runs(regions, database)
        for department in ("establishment", "hr", "audit"):
            assert run_ids(regions, department, COUNTY) == [runs["county"]]
        mine = [runs["incremental"], runs["settled"], runs["other"]]
        assert run_ids(regions, "audit", OTHER) == mine
        everything = [*mine, runs["county"], runs["city"]]
        assert run_ids(regions, "audit", CITY) == everything
        assert run_ids(regions, "audit", "230000") == everything
        assert run_ids(regions, "audit", "230200") == []
        sibling = regions.get(f"{RUNS}/{runs['other']}", "audit", COUNTY)
        assert sibling.status_code == 404

    def test_filters_do_not_widen_the_region(self, regions: Regions, database: Database) -> None:
        runs = _runs(regions, database)
        assert run_ids(regions, "audit", COUNTY, region=COUNTY) == [runs["county"]]
        for outside in (OTHER, CITY, "230000"):  # a sibling's, or one above: 404, no widening
            refused = runs_get(regions, "audit", COUNTY, region=outside)
            assert refused.status_code == 404, refused.text
            assert "run_id" not in refused.text
        assert run_ids(regions, "audit", COUNTY, batch_id=BATCH) == []
        assert run_ids(regions, "audit", OTHER, batch_id=BATCH) == [runs["incremental"]]
        assert run_ids(regions, "audit", COUNTY, kind="incremental") == []

    def test_a_cursor_does_not_reach_past_the_region(
        self, regions: Regions, database: Database
    ) -> None:
        runs = _runs(regions, database)
        first = runs_get(regions, "audit", COUNTY, limit=1).json()
        assert [i["run_id"] for i in first["items"]] == [runs["county"]]
        assert first["next_cursor"] is None
        page = runs_get(regions, "audit", CITY, limit=1).json()
        rest = runs_get(regions, "audit", COUNTY, cursor=page["next_cursor"]).json()
        assert [i["run_id"] for i in rest["items"]] == [runs["county"]]


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class TestBadParameters:
    def test_are_422_problems_naming_the_parameter(self, regions: Regions) -> None:
        bad: list[dict[str, Any]] = [
            {"kind": "bogus"},
            {"status": "finished"},
            {"region": "23010"},
            {"region": "990099"},  # a county without a city
            {"limit": 0},
            {"limit": 1001},
            {"batch_id": "x" * 37},
            {"cursor": _cursor("run:" + "9" * 40)},  # past any BIGINT
            {"cursor": _cursor("run:-1")},
            {"cursor": _cursor("v1:5")},  # another list's cursor
            {"cursor": "%%%"},
            {"cursor": "A" * 5000},
        ]
        for params in bad:
            response = runs_get(regions, "audit", CITY, **params)
            assert response.status_code == 422, (params, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in response.json()["errors"]] == list(params)
