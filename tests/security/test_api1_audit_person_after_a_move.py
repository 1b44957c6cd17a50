"""API1:2023 Broken Object Level Authorization — a person who left the auditor's region.

County A's auditor finds, with ``GET /api/v1/audit-log?id_number=``, the entries that name a
person for a record of A, and the batches that wrote or closed one of the person's versions in
A. Once the person moved to sibling county B, a city read that sent A's people along with the
mover's B record (so the entry is in A's view) named the mover too, and A found it by the
mover's number ("had a record here" counted forever), and its ``persons`` counted the mover:
A learnt that its former employee was read, or written, after leaving. Now a person is matched,
and counted, only where the entry named them for a record of A (``audit_log_person_region``);
what happened before the move A still finds, and B finds what happened after.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

LOG = "/api/v1/audit-log"
CITY, A, B = "230100", "230102", "230103"
MOVER, STAY, TWO = f.id_number(8), f.id_number(9), f.id_number(10)
UNIT_A, UNIT_B = f.unit_code(2, region=A), f.unit_code(3, region=B)
ROSTER = "GET /api/v1/datasets/{dataset}/records"


def _log(client: TestClient, headers_for: HeadersFor, auditor: str, **params: Any) -> list[Any]:
    client.app.state.auth.recorder.flush()  # type: ignore[attr-defined]
    response = client.get(
        LOG, params={"limit": 1000, **params}, headers=headers_for("audit", auditor)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _city_read(client: TestClient, headers_for: HeadersFor, dataset: str) -> int:
    """City HR lists a dataset of the whole city; the seq of its read entry."""
    response = client.get(
        f"/api/v1/datasets/{dataset}/records",
        params={"limit": 1000},
        headers=headers_for("hr", CITY),
    )
    assert response.status_code == 200, response.text
    (entry,) = [
        e
        for e in _log(client, headers_for, CITY, action="read")
        if e["target_id"] == ROSTER and e["department"] == "hr"
    ][-1:]
    return int(entry["seq"])


def _seqs(entries: list[dict[str, Any]]) -> set[int]:
    return {int(e["seq"]) for e in entries}


@pytest.fixture
def moved(push: Push, client: TestClient, headers_for: HeadersFor) -> dict[str, int]:
    """MOVER and STAY on A's roster, TWO paid in A and in B; a city read of each; MOVER moved
    to B by one city batch (closing A's version, writing B's); then a city read and a city
    batch, each of A's STAY and B's MOVER. The seqs of those entries."""
    assert push("units", [f.unit(2, region=A), f.unit(3, region=B)]).status_code == 201
    rows = [f.roster(n) | {"unit_code": UNIT_A} for n in (8, 9)]
    assert push("roster", rows).status_code == 201
    lines = [f.payroll(10) | {"unit_code": u} for u in (UNIT_A, UNIT_B)]
    assert push("payroll", lines, scope={"region": CITY, "period": "2026-10"}).status_code == 201
    seqs = {"payroll_read": _city_read(client, headers_for, "payroll")}
    seqs["before"] = _city_read(client, headers_for, "roster")
    move = push(
        "roster",
        [f.roster(8) | {"unit_code": UNIT_B}],
        deletes=[{"id_number": MOVER, "unit_code": UNIT_A}],
    )
    assert move.status_code == 201, move.text
    seqs["after"] = _city_read(client, headers_for, "roster")
    later = push(
        "roster",
        [f.roster(n, name=f"李{n}") | {"unit_code": u} for n, u in ((8, UNIT_B), (9, UNIT_A))],
    )
    assert later.status_code == 201, later.text
    batches = {
        e["target_id"]: int(e["seq"]) for e in _log(client, headers_for, CITY, action="batch.push")
    }
    seqs["move"] = batches[move.json()["batch_id"]]
    seqs["later"] = batches[later.json()["batch_id"]]
    return seqs


class TestAPersonWhoLeft:
    def test_the_region_left_finds_what_came_before_the_move_only(
        self, moved: dict[str, int], client: TestClient, headers_for: HeadersFor
    ) -> None:
        found = _seqs(_log(client, headers_for, A, id_number=MOVER))
        assert {moved["before"], moved["move"]} <= found
        # The later read and batch are in A's view (they concern STAY)...
        seen = _seqs(_log(client, headers_for, A))
        assert {moved["after"], moved["later"]} <= seen
        # ...but not by the number of the one who left.
        assert moved["after"] not in found and moved["later"] not in found

    def test_the_region_entered_finds_what_came_after(
        self, moved: dict[str, int], client: TestClient, headers_for: HeadersFor
    ) -> None:
        found = _seqs(_log(client, headers_for, B, id_number=MOVER))
        assert {moved["move"], moved["after"], moved["later"]} <= found
        assert moved["before"] not in found  # it sent nothing of B
        assert _seqs(_log(client, headers_for, CITY, id_number=MOVER)) >= {
            moved["before"],
            moved["after"],
        }

    def test_a_foreign_entry_counts_only_the_people_named_for_the_region(
        self, moved: dict[str, int], client: TestClient, headers_for: HeadersFor
    ) -> None:
        def persons(auditor: str, seq: int) -> int:
            (entry,) = [e for e in _log(client, headers_for, auditor) if e["seq"] == seq]
            return int(entry["persons"])

        assert persons(A, moved["before"]) == 2  # MOVER and STAY, both of A then
        assert persons(A, moved["after"]) == 1  # STAY alone: MOVER was read in B
        assert persons(B, moved["after"]) == 1  # MOVER
        assert persons(CITY, moved["after"]) == 2

    def test_a_person_of_two_counties_is_found_by_each(
        self, moved: dict[str, int], client: TestClient, headers_for: HeadersFor
    ) -> None:
        for auditor in (A, B):
            found = [
                e
                for e in _log(client, headers_for, auditor, id_number=TWO)
                if e["seq"] == moved["payroll_read"]
            ]
            assert [e["persons"] for e in found] == [1]
        # STAY was never in B: B finds nothing by it, as by a number the hub never saw.
        assert _log(client, headers_for, B, id_number=STAY) == []
