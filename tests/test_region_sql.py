"""The SQL twin of the region rule agrees with the Python one, on both databases."""

from __future__ import annotations

import itertools

from sqlalchemy import literal, null, select

from linkage_hub.db import Database
from linkage_hub.identifiers import region_contains
from linkage_hub.versioning import region_contains_sql

# Provinces, cities and counties on either side of every boundary the prefixes draw: a
# county whose code shares the city's digits (230199), a city whose number sorts inside a
# sibling's range as text (230110 vs 231000), another province.
REGIONS = ("230000", "230100", "230102", "230110", "230199", "230200", "231000", "220100")


def test_the_sql_rule_is_the_python_rule(database: Database) -> None:
    pairs = list(itertools.product(REGIONS, repeat=2))
    with database.transaction() as session:
        answers = [
            session.scalar(select(region_contains_sql(literal(outer), literal(inner))))
            for outer, inner in pairs
        ]
        unknown = session.scalar(select(region_contains_sql(literal("230100"), null())))
    expected = [region_contains(outer, inner) for outer, inner in pairs]
    assert [bool(a) for a in answers] == expected
    # 230000 holds seven of them, 230100 four, every other region itself.
    assert sum(expected) == 7 + 4 + 6
    assert not unknown  # a unit whose region is unknown lies in no region
