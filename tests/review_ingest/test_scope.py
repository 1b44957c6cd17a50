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
