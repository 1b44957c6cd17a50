"""Shared by the report tests: the records fixtures, and a unit with a year of staffing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.records import factory as f
from tests.records.conftest import Push, push, read

__all__ = ["U1", "push", "read", "registry_row", "unit"]

U1 = f.unit_code(1)


def registry_row(dataset: str, **fields: Any) -> dict[str, Any]:
    return {
        "unit_code": U1,
        "document_no": "哈编〔2026〕1号",
        "effective_on": "2026-01-01",
        **fields,
    }


@pytest.fixture
def unit(push: Push) -> None:
    """Unit 1: quota 2, one principal and one deputy post; persons 1 (principal from March),
    2 (deputy from May) and 3 on the roster (one over quota); paid in Sep and Oct."""
    assert push("units", [f.unit(1, kind="organ")]).status_code == 201
    quota = registry_row("quotas", establishment_type="administrative", approved=2)
    assert push("quotas", [quota]).status_code == 201
    posts = [
        registry_row("leader_posts", level="principal", approved=1),
        registry_row("leader_posts", level="deputy", approved=1),
    ]
    assert push("leader_posts", posts).status_code == 201
    roster = [f.roster(n, establishment_type="administrative") for n in (1, 2, 3)]
    assert push("roster", roster).status_code == 201
    cadres = [
        f.cadre(1, leader_level="principal", position="局长", appointed_on="2026-03-01"),
        f.cadre(2, leader_level="deputy", position="副局长", appointed_on="2026-05-10"),
    ]
    assert push("cadres", cadres).status_code == 201
    assert (
        push(
            "employment", [f.employment(n, category="civil_servant") for n in (1, 2, 3)]
        ).status_code
        == 201
    )
    for period, people in (("2026-09", (1, 2, 3)), ("2026-10", (1, 2))):
        lines = [f.payroll(n, period=period, establishment_type="administrative") for n in people]
        scope = {"region": "230100", "period": period}
        assert push("payroll", lines, scope=scope).status_code == 201
