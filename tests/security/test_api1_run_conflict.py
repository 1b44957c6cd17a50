"""A county asking for a run while its city's run is going gets a 409 — fair, one run per
region at a time (API.md) — but the 409 names the city's run (``run_id`` in the problem and in
its ``detail``), a run the county may not see: ``GET /reconciliation/runs/{id}`` is 404 for it
(reconciliation.history: "a run over a larger region ... is not shown"). API.md: anything
outside the caller's region behaves as if it did not exist, never a leak. The county should
be told a run covering its region is in progress, not which one; the city is told which.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.reconciliation.runs import create_run
from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, COUNTY = "230100", "230102"


def test_a_countys_409_does_not_name_the_citys_run(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    answer = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(1, region=COUNTY)]},
        headers=headers_for("establishment", CITY),
    )
    assert answer.status_code == 201, answer.text
    # The city's run is queued and its process alive (it holds the run's lock).
    with database.transaction() as session:
        run, lock = create_run(
            session, database, region=CITY, period=None, as_of=None, requested_by="city"
        )
        city_run = run.id
    try:
        county = headers_for("establishment", COUNTY)
        seen = client.get(f"/api/v1/reconciliation/runs/{city_run}", headers=county)
        assert seen.status_code == 404
        refused = client.post(
            "/api/v1/reconciliation/runs", json={"region": COUNTY}, headers=county
        )
        assert refused.status_code == 409, refused.text
        assert city_run not in refused.text, refused.json()
        assert "run_id" not in refused.json()
        city = headers_for("establishment", CITY)  # the city asking again is told which run
        again = client.post("/api/v1/reconciliation/runs", json={"region": CITY}, headers=city)
        assert (again.status_code, again.json()["run_id"]) == (409, city_run)
    finally:
        lock.release()
