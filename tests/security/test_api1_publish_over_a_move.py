"""API1:2023 — a publication made while the city moves one of its units to a sibling county.

A publication is a snapshot the public reads for a year, and nothing takes it back. It is
computed in a few statements: the region's public units first, then their figures (the staffing
report's quotas and roster), their leader posts and document numbers. On PostgreSQL each
statement of a transaction sees what had committed when it began, so a units batch of the city
moving a unit from county A to county B that committed between the first statement and the next
left A's publication naming the unit (its name, kind, functions: a unit B now answers for) with
none of its figures: no quota, nobody on the roster, no leader post, as if A had an unstaffed
unit without an approved establishment. Now a publication computes its units under the regions
lock, shared (:func:`linkage_hub.records.queries.lock_regions`, which every units batch takes
exclusive before it moves anything): a move in flight commits first and the unit is B's, a move
that comes later waits for the publication. SQLite has one writer at a time: nothing to race.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.reports import staffing
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.security.test_api1_as_of_settled import waiting_or_done
from tests.security.test_api1_unit_move import Hub, person, unit_row

CITY, MINE, SIBLING = "230100", "230102", "230103"
UNIT = f.unit_code(1, region=MINE)  # county A's unit, staffed, with a quota


@pytest.fixture
def hub(client: TestClient, headers_for: HeadersFor) -> Hub:
    h = Hub(client, headers_for)
    assert (
        h.push("units", [unit_row(UNIT, MINE, functions="负责全区卫生工作。")], MINE).status_code
        == 201
    )
    quota = {"unit_code": UNIT, "establishment_type": "institutional", "approved": 5,
             "document_no": "南编〔2024〕7号", "effective_on": "2024-01-01"}  # fmt: skip
    assert h.push("quotas", [quota], MINE).status_code == 201
    roster = [person("roster", n, UNIT) for n in (1, 2)]
    assert h.push("roster", roster, MINE).status_code == 201
    for department, region in (("establishment", CITY), ("establishment", MINE)):
        headers_for(department, region)  # its client made now, not under a writer in flight
    return h


def test_a_unit_moved_while_its_county_publishes_is_published_whole_or_not_at_all(
    hub: Hub,
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    original = staffing.staffing_rows
    moved = threading.Event()

    def move() -> Any:
        return hub.push("units", [unit_row(UNIT, SIBLING, functions="负责全区卫生工作。")], CITY)

    with ThreadPoolExecutor(1) as pool:
        mover: list[Any] = []

        def figures(*args: Any, **kwargs: Any) -> Any:
            """The publication has its units; the city's move starts now, before the figures."""
            if not moved.is_set():
                moved.set()
                mover.append(pool.submit(move))
                waiting_or_done(mover[0], database, backend)
            return original(*args, **kwargs)

        monkeypatch.setattr(staffing, "staffing_rows", figures)
        published = client.post(
            "/api/v1/disclosures",
            json={"region": MINE},
            headers=headers_for("establishment", MINE),
        )
        assert published.status_code == 201, published.text
        assert mover and mover[0].result(60).status_code == 201  # the move went through after
    units = client.get(f"/public/v1/disclosures/{MINE}").json()["units"]
    for unit in units:  # the unit, if published, with its figures as they were in A
        assert unit["unit_code"] == UNIT
        assert [(q["approved"], q["on_roster"], q["document_no"]) for q in unit["quotas"]] == [
            (5, 2, "南编〔2024〕7号")
        ], unit
    # the move happened after the publication: the unit is B's now, in B's preview
    monkeypatch.setattr(staffing, "staffing_rows", original)
    preview = client.get(
        "/api/v1/disclosures/preview",
        params={"region": SIBLING},
        headers=headers_for("establishment", CITY),
    )
    assert [u["unit_code"] for u in preview.json()["units"]] == [UNIT]
    [figures] = preview.json()["units"][0]["quotas"]
    assert (figures["approved"], figures["on_roster"]) == (5, 2)
