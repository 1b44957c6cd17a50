"""A roster batch checked against the registry, then merged after a unit move committed."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.records import ingest
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read


def test_roster_batch_racing_a_unit_move_lands_in_the_unit_region(
    backend: str,
    push: Push,
    read: Read,
    client: TestClient,
    headers_for: HeadersFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """County 230102 pushes a roster change for a person of its unit U while the city moves U
    to county 230103. The roster batch checks its rows' regions against the registry
    (``fix_stage_regions``, ``rows_outside``) before it takes the roster merge lock, and the
    units batch moves U's records under the units lock and the feed lock only: no lock orders
    the one after the other. When the move commits between the check and the merge, the
    roster batch closes the version the move put in 230103 and writes a new one in 230102:
    the county U left keeps (and writes) a person of a unit now in its sibling, and 230103
    no longer reads them. Either the batch is refused or its record lands in U's region."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time")
    unit = f.unit(1, region="230102")
    person = f.roster(1, region="230102")
    assert push("units", [unit], region="230102").status_code == 201
    assert push("roster", [person], region="230102").status_code == 201

    checked, go = threading.Event(), threading.Event()
    original = ingest.Pusher.raise_if_bad

    def paused(self: Any) -> None:
        original(self)
        if self.spec.name == "roster":
            checked.set()
            assert go.wait(30)

    monkeypatch.setattr(ingest.Pusher, "raise_if_bad", paused)
    county = headers_for("establishment", "230102")
    result: dict[str, Any] = {}

    def county_push() -> None:
        import json

        result["answer"] = client.post(
            "/api/v1/datasets/roster/batches",
            content=json.dumps({"records": [person | {"name": "张一"}]}, ensure_ascii=False),
            headers={**county, "content-type": "application/json"},
        )

    thread = threading.Thread(target=county_push)
    thread.start()
    assert checked.wait(30)
    moved = push("units", [unit | {"region": "230103"}], region="230100")
    assert moved.status_code == 201, moved.text
    go.set()
    thread.join(60)
    answer = result["answer"]
    assert answer.status_code in (201, 409, 422), answer.text
    assert read("roster", department="hr", region="230102") == []
    assert [r["region"] for r in read("roster", department="hr", region="230103")] == ["230103"]
