"""The incremental-vs-full invariant of ``test_incremental.py`` over shapes its strategies never
draw, on both databases, through the HTTP API.

``test_incremental.OPS`` keeps the other city's unit off the payroll (its lines go to unit 0),
always dates an exit (``exited_on``, ``status_on``), never sets ``entered_on`` and moves units
only between the two counties or, for the other city's unit, into the city. Added here, mixed
with every operation of ``OPS``: a payroll line at any unit (the other city's included, before
or after it moves into the city, in one burst with the move); a roster entry that begins after
the period (ESTABLISHED_NOT_PAID's boundary); exits without a date (PAID_AFTER_EXIT and
LATE_EXIT's unknown latest date); a cadre record removed (``removed_on``, whatever its status)
the day before, on or the day after the as-of date; and a unit moved to any county of either
city, to another parent (a tree deeper than two levels, a parent no registry holds), with
another internal-unit limit, or abolished (from a past day, or from a later one: still
registered). After each sequence the on-write step settles the hub and full runs of
every settled region change nothing (``test_incremental.assert_settled``).

``LINKAGE_INVARIANT_EXAMPLES`` sets how many sequences are drawn (default 40 per database).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.reconciliation import test_incremental as ti
from tests.reconciliation.test_incremental import EXAMPLES, OPS, Hub, apply, assert_settled, hub
from tests.records.test_unit_counts import assert_kept

__all__ = ["hub"]

REGIONS = ("230102", "230103", "230200", "230202")  # both counties, the other city, its county


def person_row(dataset: str, p: int, u: int, v: int, today: Any) -> dict[str, Any]:
    """``test_incremental.person_row`` at unit ``u`` whatever the dataset, with the shapes above."""
    row = ti.person_row(dataset, p, u, v, today)
    row["unit_code"] = ti.unit_code(u)
    if dataset == "roster" and row["status"] == "active" and v % 4 == 0:
        row["entered_on"] = "2026-11-03"  # after the period 2026-10: owed no pay in it
    if dataset == "roster" and row["status"] == "exited" and v % 4 == 1:
        del row["exited_on"]
    if dataset == "employment" and row["status"] != "active" and v % 4 == 2:
        del row["status_on"]
    if dataset == "cadres" and v % 7 < 3:  # in office on the as-of date only the day after
        row["removed_on"] = (today + dt.timedelta(days=v % 7 - 1)).isoformat()
    return row


SHAPES = st.one_of(
    OPS,
    st.tuples(
        st.just("shaped"),
        st.sampled_from(ti.PERSON_SETS),
        st.lists(st.tuples(ti.persons, ti.person_units, ti.variants), min_size=1, max_size=5),
    ),
    st.tuples(
        st.just("unit_to"),
        st.integers(0, len(ti.UNITS) - 1),
        st.sampled_from(REGIONS),
        st.one_of(st.none(), st.integers(0, len(ti.UNITS))),  # len(UNITS): a unit not registered
        st.integers(0, 4),  # internal-unit limit (0: none), or 3: abolished, 4: from tomorrow
    ),
)


def act(hub: Hub, op: tuple[Any, ...]) -> None:
    if op[0] == "shaped":
        _, dataset, rows = op
        unique = {(p, u): v for p, u, v in rows}  # one row per natural key in a batch
        hub.push(dataset, [person_row(dataset, p, u, v, hub.today) for (p, u), v in unique.items()])
    elif op[0] == "unit_to":
        _, u, region, parent, limit = op
        row = ti.unit_row(u, 0) | {"region": region, "internal_unit_limit": limit % 3 or None}
        row["parent_code"] = ti.unit_code(parent) if parent not in (None, u) else None
        if limit == 3:
            row |= {"status": "abolished", "abolished_on": "2026-01-31"}
        if limit == 4:
            tomorrow = hub.today + dt.timedelta(days=1)
            row |= {"status": "abolished", "abolished_on": tomorrow.isoformat()}
        hub.push("units", [row])
    else:
        apply(hub, op)


@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(SHAPES, min_size=1, max_size=12))
# Always: the other city settled by default, then a unit moved there whose only pay is a line of
# the period before (its latest, so the on-write step settles the other city over it).
@example(
    ops=[
        ("run", "230200", "incremental"),
        ("delete", "payroll", 3, 3),
        ("unit_to", 3, "230200", None, 3),
        ("earlier", 2, 3, 24, False),
    ]
)
def test_live_findings_are_what_a_full_run_finds_over_more_shapes(
    hub: Hub, ops: list[tuple[Any, ...]]
) -> None:
    for op in ops:
        act(hub, op)
    assert_settled(hub)
    assert_kept(hub.db)
