"""API1:2023 Broken Object Level Authorization — ``GET /api/v1/batches/{batch_id}``.

Suspected: any department of the region, or a county holding records that name a city batch,
reads the batch's counts. Not a bug: every department reads every dataset of its region
(API.md), so another department of the region may open the batch; a batch is opened only
where its scope lies in the caller's region (``records.visibility.batch_openable``, the one
rule the runs list and its ``batch_id`` filter use too), and every row it wrote lies in that
scope, so its counts are of the caller's region. A county is not shown the city's batch that
wrote its records: 404, the very answer of a batch that never existed.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.domain import Department
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

CITY, COUNTY, OTHER = "230100", "230102", "230103"


def _problem(response: Any) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("instance", None)
    body.pop("request_id", None)
    return body


def _push(push: Push, region: str) -> str:
    units = [f.unit(2, region=COUNTY), f.unit(3, region=OTHER)]
    assert push("units", units).status_code == 201
    rows = [
        f.roster(1) | {"unit_code": f.unit_code(2, region=COUNTY)},
        f.roster(2) | {"unit_code": f.unit_code(3, region=OTHER)},
    ]
    if region != CITY:
        rows = rows[:1]
    answer = push("roster", rows, as_="establishment", region=region)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["batch_id"])


class TestWhoOpensABatch:
    def test_every_department_of_the_region_opens_it(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        batch = _push(push, CITY)
        for department in Department:
            for region in (CITY, "230000"):
                headers = headers_for(department, region)
                got = client.get(f"/api/v1/batches/{batch}", headers=headers)
                assert got.status_code == 200, (department, region, got.text)
                assert got.json()["inserted"] == 2

    def test_a_county_is_not_shown_the_city_batch_that_wrote_its_records(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        batch = _push(push, CITY)
        headers = headers_for("audit", COUNTY)
        records = client.get("/api/v1/datasets/roster/records", headers=headers).json()["items"]
        assert [r["batch_id"] for r in records] == [batch]  # the county's record names it
        hidden = client.get(f"/api/v1/batches/{batch}", headers=headers)
        never = client.get(f"/api/v1/batches/{'0' * 32}", headers=headers)
        assert hidden.status_code == never.status_code == 404
        assert hidden.headers["content-type"] == never.headers["content-type"]
        assert _problem(hidden) == _problem(never)
        assert batch not in hidden.text

    def test_a_county_opens_its_own_batch_and_not_its_siblings(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        batch = _push(push, COUNTY)
        own = client.get(f"/api/v1/batches/{batch}", headers=headers_for("finance", COUNTY))
        assert own.status_code == 200 and own.json()["inserted"] == 1
        sibling = client.get(f"/api/v1/batches/{batch}", headers=headers_for("finance", OTHER))
        assert sibling.status_code == 404
