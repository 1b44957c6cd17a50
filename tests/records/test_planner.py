"""PostgreSQL plans a batch's merge by its size against the version table: a small batch
probes the current-key index, a large one hash-joins (records.queries.index_stage)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from linkage_hub.db import Database
from linkage_hub.domain import Dataset
from linkage_hub.records import queries
from linkage_hub.records.datasets import spec_for
from tests.records import factory as f
from tests.records.conftest import Push


@pytest.mark.parametrize(("staged", "expected"), [(5, "1.1"), (60, "4")])
def test_index_probes_are_priced_low_only_for_a_small_batch(
    backend: str, database: Database, push: Push, staged: int, expected: str
) -> None:
    if backend != "postgres":
        pytest.skip("a PostgreSQL planner setting")
    assert push("roster", [f.roster(n) for n in range(200)]).status_code == 201
    spec = spec_for(Dataset.roster)
    with database.transaction() as session:
        session.execute(text(f"ANALYZE {spec.table.name}"))  # what autovacuum keeps current
    with database.transaction() as session:
        queries.create_stage(session, spec)
        queries.index_stage(session, spec, staged)
        assert session.execute(text("SHOW random_page_cost")).scalar() == expected
    with database.transaction() as session:  # SET LOCAL: gone with the transaction
        assert session.execute(text("SHOW random_page_cost")).scalar() == "4"
