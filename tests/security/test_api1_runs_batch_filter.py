"""API1: ``GET /reconciliation/runs?batch_id=`` answers a county only about batches it may open.

A county's incremental run covers every change of the feed since its watermark, the city's
batches among them. The county reads its run, and the run names only the batches the county
may open (``GET /batches/{id}`` is 404 to it for the city's batch: reconciliation.history).
The filter went around that: ``?batch_id=<the city's batch>`` listed the county's run, telling
the county that a batch it cannot see changed its region (and, asked of every run, when). Now a
batch the caller cannot open filters as a batch no run covered: an empty page; the city, which
pushed it, still finds the county's run by it.
"""

from __future__ import annotations

from linkage_hub.db import Database
from tests.reconciliation.test_run_history import incremental_run
from tests.security.regions import CITY, OTHER, Regions
from tests.security.test_api1_runs_list import run_ids

CITY_BATCH, COUNTY_BATCH = "c" * 32, "d" * 32


def test_a_county_learns_nothing_by_the_citys_batch_id(
    regions: Regions, database: Database
) -> None:
    _, incremental = incremental_run(
        database, OTHER, [CITY_BATCH, COUNTY_BATCH], scopes={CITY_BATCH: CITY}
    )
    assert regions.get(f"/api/v1/batches/{CITY_BATCH}", "audit", OTHER).status_code == 404
    assert regions.get(f"/api/v1/batches/{COUNTY_BATCH}", "audit", OTHER).status_code == 200
    # the county reads its run, which names only the batch it may open
    [item] = [
        i
        for i in regions.client.get(
            "/api/v1/reconciliation/runs",
            params={"kind": "incremental"},
            headers=regions.headers_for("audit", OTHER),
        ).json()["items"]
    ]
    assert (item["run_id"], item["batch_ids"]) == (incremental, [COUNTY_BATCH])
    # ... and the filter by the city's batch answers as if no run covered it
    assert run_ids(regions, "audit", OTHER, batch_id=CITY_BATCH) == []
    assert run_ids(regions, "establishment", OTHER, batch_id=CITY_BATCH) == []
    assert run_ids(regions, "audit", OTHER, batch_id=COUNTY_BATCH) == [incremental]
    # the city, whose batch it is, finds the run that settled it
    assert run_ids(regions, "audit", CITY, batch_id=CITY_BATCH) == [incremental]
    assert run_ids(regions, "audit", CITY, batch_id=COUNTY_BATCH) == [incremental]
