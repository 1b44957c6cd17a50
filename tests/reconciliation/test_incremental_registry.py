"""Registry changes reconciled incrementally: the live findings after the incremental run equal
what a full run then finds, for each kind of change a unit can go through (its funding, kind,
parent, abolition, quota, internal-unit limit), in a city whose units sit in two counties
with child units on both sides. Each change moves some finding, so a run that ignored it
would fail the comparison with the findings before."""

from __future__ import annotations

from typing import Any

import pytest

from linkage_hub.reconciliation import runs
from tests.reconciliation.test_multi_unit_filing import (
    ANCHOR,
    API,
    X,
    Y,
    api,
    employment_row,
    payroll_row,
    quota,
    roster_row,
    unit_row,
)
from tests.records import factory as f

__all__ = ["api"]  # the fixture

P = [f.id_number(n) for n in range(20, 23)]
C1 = f.unit_code(11, region="230102", kind="11")  # X's child in X's county
C2 = f.unit_code(12, region="230103", kind="11")  # X's child in the sibling county
C3 = f.unit_code(13, region="230102", kind="11")  # Y's child, in the other county than Y

# Each change, and the rules then live (before it: ESTABLISHED_NOT_PAID of person 2, on X's
# roster and unpaid). An abolished child does not count against X's limit of two: nothing moves.
NOT_PAID = "ESTABLISHED_NOT_PAID"
CHANGES: dict[str, tuple[str, list[dict[str, Any]], set[str]]] = {
    "funding": (
        "units",
        [unit_row(X, internal_unit_limit=2, funding="self")],
        {"FUNDING_MISMATCH"},
    ),
    "kind": ("units", [unit_row(Y, kind="organ")], {NOT_PAID, "MIXED_ESTABLISHMENT"}),
    "reparent": ("units", [unit_row(C3, parent_code=X)], {NOT_PAID, "OVER_INTERNAL_UNITS"}),
    "abolish_child": (
        "units",
        [unit_row(C3, parent_code=X, status="abolished", abolished_on="2026-10-01")],
        {NOT_PAID},
    ),
    "quota_cut": ("quotas", [dict(quota(X), approved=1)], {NOT_PAID, "OVER_QUOTA"}),
    "abolish_unit": (
        "units",
        [unit_row(X, internal_unit_limit=2, status="abolished", abolished_on="2026-10-01")],
        {"UNREGISTERED_UNIT"},
    ),
    "limit": ("units", [unit_row(X, internal_unit_limit=1)], {NOT_PAID, "OVER_INTERNAL_UNITS"}),
}


def live(api: API) -> list[tuple[str, str, str, str | None]]:
    return sorted((k, v.status, v.region, v.unit_code) for k, v in api.live().items())


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_incremental_run_files_what_a_full_run_would(api: API, change: str) -> None:
    api.settled(
        [
            unit_row(X, internal_unit_limit=2),
            unit_row(Y, kind="institution"),
            unit_row(ANCHOR),
            unit_row(C1, parent_code=X),
            unit_row(C2, parent_code=X),
            unit_row(C3, parent_code=Y),
        ]
    )
    api.push("quotas", [quota(X), quota(Y, "institutional")])
    institutional = {"establishment_type": "institutional"}
    api.push(
        "roster",
        [roster_row(P[0], X), roster_row(P[1], Y, **institutional), roster_row(P[2], X)],
    )
    api.push(
        "employment",
        [
            employment_row(P[0], X),
            employment_row(P[1], Y, category="institution_staff"),
            employment_row(P[2], X),
        ],
    )
    api.push("payroll", [payroll_row(P[0], X), payroll_row(P[1], Y, **institutional)])
    api.run(runs.FULL)
    assert {k.split(":")[0] for k, *_ in live(api)} == {NOT_PAID}
    dataset, rows, rules = CHANGES[change]
    api.push(dataset, rows)
    incremental = api.run(runs.INCREMENTAL)
    assert not incremental.warnings, incremental.warnings  # really incremental
    after = live(api)
    assert {k.split(":")[0] for k, *_ in after} == rules
    api.run(runs.FULL)
    assert live(api) == after
