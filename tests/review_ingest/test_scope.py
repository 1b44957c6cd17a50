"""The batch's scope given twice: in the query and in the JSON body."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read


def test_body_units_differing_from_query_units_is_refused(
    push: Push, read: Read, client: TestClient, headers_for: HeadersFor
) -> None:
    """`?units=U1` with a body whose `scope.units` is [U2]: as for mode, region and period,
    two different answers are a 422; the body must not silently win (here: a snapshot that
    closes U2's people, whom the query never named)."""
    assert push("roster", [f.roster(1, 1), f.roster(2, 2)]).status_code == 201
    answer = push(
        "roster",
        [],
        mode="snapshot",
        scope={"units": [f.unit_code(2)]},
        params={"units": [f.unit_code(1)], "mode": "snapshot"},
    )
    assert answer.status_code == 422, answer.text
    assert len(read("roster")) == 2


def test_snapshot_of_no_units_closes_nothing_outside_them(push: Push, read: Read) -> None:
    """`scope.units: []` names no unit: a snapshot narrowed to no units must not become a
    snapshot of the whole region (every roster record of the city closed). Either refused
    (422) or a snapshot of nothing."""
    assert push("roster", [f.roster(1, 1), f.roster(2, 2)]).status_code == 201
    answer = push("roster", [], mode="snapshot", scope={"units": []})
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 201:
        assert answer.json()["closed"] == 0
    assert len(read("roster")) == 2


def quota(unit: int, approved: int = 10) -> dict[str, object]:
    return {
        "unit_code": f.unit_code(unit),
        "establishment_type": "institutional",
        "approved": approved,
    }


def test_registry_row_outside_scope_units_is_a_bad_row(push: Push, read: Read) -> None:
    """push_batch's contract: "A row naming a unit outside your region (or the scope) is a bad
    row". A roster row for a unit the batch's `scope.units` does not name is refused
    (`outside_scope`); a quotas (or units, leader_posts) row is written. A snapshot "of unit 1"
    changes unit 2's approved quota."""
    assert push("quotas", [quota(1), quota(2)]).status_code == 201
    answer = push(
        "quotas", [quota(1), quota(2, approved=99)], mode="snapshot",
        scope={"units": [f.unit_code(1)]},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["row"] == 2
    assert {r["approved"] for r in read("quotas")} == {10}


def test_person_row_outside_scope_units_is_refused(push: Push) -> None:
    """The boundary the test above compares with (passes today)."""
    answer = push(
        "roster", [f.roster(1, 1), f.roster(2, 2)], scope={"units": [f.unit_code(1)]}
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "outside_scope"
