"""Where a unit is, in SQL: the one definition every room uses.

A unit's region is the one the registry holds for it now; a unit the registry does not hold
(never registered, or gone) lies in the region its code names (digits 3–8 of the unit code,
DOMAIN.md). Records take their unit's region; a move, a deletion and a run's scope all ask the
same question, so they ask it through these fragments and cannot drift apart.
"""

from __future__ import annotations


def code_region(unit_code: str) -> str:
    """SQL: the region named by the unit code ``unit_code`` (an SQL expression)."""
    return f"substr({unit_code}, 3, 6)"


def unit_region_now(unit_code: str) -> str:
    """SQL: the unit's region now — the registry's current one, else its code's. One probe of
    the registry's current-unit index per row."""
    return (
        f"coalesce((SELECT u.region FROM registry_unit AS u WHERE u.unit_code = {unit_code} "
        f"AND u.closed_at IS NULL), {code_region(unit_code)})"
    )
