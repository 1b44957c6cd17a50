"""A large first batch into an empty version table loads it without its indexes and builds them
afterwards (records.queries.defer_indexes). Here the threshold is lowered to one row, so small
batches take that path; what they store must be what the usual merge stores."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from linkage_hub.db import Database
from linkage_hub.records import ingest, queries
from linkage_hub.records.models import RosterRecord
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Lower the bulk-load threshold to one row; record what each defer_indexes answered."""
    monkeypatch.setattr(ingest, "BULK_LOAD_ROWS", 1)
    answers: list[bool] = []
    original = queries.defer_indexes

    def spy(*args: Any) -> bool:
        answers.append(original(*args))
        return answers[-1]

    monkeypatch.setattr(queries, "defer_indexes", spy)
    return answers


def indexes(database: Database) -> dict[str, tuple[tuple[str, ...], bool]]:
    found = inspect(database.engine).get_indexes(RosterRecord.__tablename__)
    return {i["name"]: (tuple(c for c in i["column_names"] if c), bool(i["unique"])) for i in found}


def model_indexes() -> dict[str, tuple[tuple[str, ...], bool]]:
    table = RosterRecord.__table__
    return {
        str(i.name): (tuple(c.name for c in i.columns), bool(i.unique))
        for i in table.indexes  # type: ignore[attr-defined]
    }


class TestBulkLoad:
    def test_stores_what_the_merge_stores_and_rebuilds_every_index(
        self,
        deferred: list[bool],
        push: Push,
        read: Read,
        database: Database,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        before = indexes(database)
        assert before == model_indexes()
        rows = [f.roster(n, unit=1 + n % 2) for n in range(1, 6)]
        rows.append(f.roster(6, id_number=f.legacy_id(6)))
        answer = push("roster", rows)
        assert answer.status_code == 201, answer.text
        assert deferred == [True]
        body = answer.json()
        assert (body["inserted"], body["updated"], body["unchanged"]) == (6, 0, 0)
        assert indexes(database) == before
        records = read("roster")
        assert len(records) == 6 and {r["version"] for r in records} == {1}
        changes = client.get("/api/v1/changes", headers=headers_for("hr")).json()["items"]
        assert sorted(c["record_key"] for c in changes) == sorted(r["record_key"] for r in records)
        assert {c["op"] for c in changes} == {"upsert"}

        # The table is no longer empty: the next batch merges into it as usual.
        again = push("roster", [{**rows[0], "name": "张改"}, *rows[1:5]], mode="snapshot")
        assert again.status_code == 201, again.text
        assert deferred == [True]  # not even asked: the table holds versions
        body = again.json()
        assert (body["inserted"], body["updated"], body["unchanged"], body["closed"]) == (
            0,
            1,
            4,
            1,
        )
        current = {r["id_number"]: r for r in read("roster")}
        assert len(current) == 5 and f.id_number(6) not in current
        assert (current[f.id_number(1)]["name"], current[f.id_number(1)]["version"]) == ("张改", 2)

    def test_the_rebuilt_unique_index_holds(
        self, deferred: list[bool], push: Push, database: Database
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        assert deferred == [True]
        unique = {name for name, (_, is_unique) in indexes(database).items() if is_unique}
        assert unique == {
            "uq_records_roster_record_key_version",
            "ix_records_roster_current_record_key",
        }

    def test_a_bad_batch_leaves_the_table_and_its_indexes(
        self, deferred: list[bool], push: Push, read: Read, database: Database
    ) -> None:
        answer = push("roster", [f.roster(1), f.roster(2), f.roster(1)])
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "duplicate_key"
        assert deferred == []  # rejected before the merge
        assert read("roster") == []
        assert indexes(database) == model_indexes()

    def test_a_dry_run_does_not_drop_indexes(
        self, deferred: list[bool], push: Push, read: Read, database: Database
    ) -> None:
        answer = push("roster", [f.roster(1)], params={"dry_run": "true"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["inserted"] == 1
        assert deferred == []
        assert read("roster") == [] and indexes(database) == model_indexes()
