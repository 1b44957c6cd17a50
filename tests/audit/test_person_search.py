"""The audit log's person search (``GET /api/v1/audit-log?id_number=``) over every version of
a person: the batches that wrote and closed them are found, and the search reads the person's
versions through the person-key indexes (current and closed), not the whole person tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, text

from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.records.models import CadreRecord, EmploymentRecord, PayrollRecord, RosterRecord
from linkage_hub.records.service import batches_of_persons, persons_in_region
from linkage_hub.versioning import region_bounds
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

LOG = "/api/v1/audit-log"
UNIT = f.unit_code(1)
FILLER = 3_000  # persons per table, each with a current and a closed version
PERSON_TABLES = (RosterRecord, EmploymentRecord, CadreRecord, PayrollRecord)
EXTRA: dict[type, dict[str, Any]] = {
    RosterRecord: {"establishment_type": "administrative", "status": "active"},
    EmploymentRecord: {"category": "civil_servant", "status": "active"},
    CadreRecord: {"leader_level": "none", "status": "active"},
    PayrollRecord: {
        "period": "2026-10",
        "establishment_type": "administrative",
        "funding": "full",
        "gross_pay": 5000,
        "status": "paid",
    },
}


class TestEveryVersion:
    def test_a_person_with_only_closed_versions_is_found_with_every_batch(
        self, push: Push, app: FastAPI, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Written, changed, then deleted: no current version is left, and the search still
        lists the three pushes (the one that wrote the closed first version, the one that
        closed it, the one that deleted the second) and no other person's."""
        pushed = [
            push("roster", [f.roster(1)]),
            push("roster", [f.roster(1, name="张一")]),
            push("roster", [], deletes=[{"id_number": f.id_number(1), "unit_code": UNIT}]),
            push("roster", [f.roster(2)]),
        ]
        assert [r.status_code for r in pushed] == [201] * 4, [r.text for r in pushed]
        batches = [r.json()["batch_id"] for r in pushed]
        app.state.auth.recorder.flush()

        found = client.get(
            LOG, params={"id_number": f.id_number(1)}, headers=headers_for("audit", "230000")
        )
        assert found.status_code == 200, found.text
        items = found.json()["items"]
        assert [(e["action"], e["target_id"]) for e in items] == [
            ("batch.push", b) for b in batches[:3]
        ]


def _fill(database: Database) -> None:
    """Persons of 230102, each with a closed first version and a current second one."""
    now = utcnow()
    for model in PERSON_TABLES:
        rows = []
        for n in range(FILLER):
            record_key = uuid.uuid4().hex
            base = {
                "record_key": record_key,
                "region": "230102",
                "client_id": "filler",
                "recorded_at": now,
                "person_key": f"filler{n:026d}",
                "id_number": "v1:filler",
                "unit_code": f.unit_code(n % 50),
                "name": "李四",
                "name_norm": "李四",
                **EXTRA[model],
            }
            rows.append(
                base | {"version": 1, "batch_id": "b1", "closed_at": now, "closed_batch_id": "b2"}
            )
            rows.append(base | {"version": 2, "batch_id": "b2"})
        with database.transaction() as session:
            session.execute(insert(model), rows)
    with database.transaction() as session:
        for model in PERSON_TABLES:
            session.execute(text(f"ANALYZE {model.__tablename__}"))


def _plan(database: Database, statement: Any) -> list[str]:
    """The person tables' scans and searches in the plan, one line each."""
    dialect = database.engine.dialect
    compiled = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    with database.transaction() as session:
        if database.dialect == "sqlite":
            rows = session.execute(text("EXPLAIN QUERY PLAN " + compiled)).all()
            return [str(r[3]) for r in rows if "records_" in str(r[3])]
        raw = session.execute(text("EXPLAIN (FORMAT JSON) " + compiled)).scalar()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    lines: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name", "").startswith("records_"):
            lines.append(f"{node['Node Type']} {node['Relation Name']} {node.get('Index Name')}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return lines


KEYS = [f"filler{7:026d}", f"filler{8:026d}"]


@pytest.mark.parametrize(
    ("subquery", "expected"),
    [
        (lambda: batches_of_persons(KEYS, region_bounds("230102")), {"b1", "b2"}),
        (lambda: persons_in_region(KEYS, region_bounds("230102")), set(KEYS)),
    ],
    ids=["batches_of_persons", "persons_in_region"],
)
def test_the_search_reads_a_persons_versions_by_index(
    database: Database, subquery: Callable[[], Any], expected: set[str]
) -> None:
    """Every read of a person table goes through a person-key index, current or closed: before
    the closed versions had one, each search read all four tables whole, twice."""
    _fill(database)
    statement = select(subquery().subquery())
    plan = _plan(database, statement)
    assert plan, "no person table read"
    for line in plan:
        if database.dialect == "sqlite":
            assert line.startswith("SEARCH") and "person_key" in line, plan
        else:
            assert "Seq Scan" not in line and "person_key" in line, plan
    tables = {model.__tablename__ for model in PERSON_TABLES}
    assert {t for t in tables if any(t in line for line in plan)} == tables, plan
    assert any("_closed_person_key" in line for line in plan), plan
    with database.transaction() as session:
        assert set(session.scalars(statement)) == expected


def test_a_read_as_of_a_moment_reaches_a_persons_versions_by_index(database: Database) -> None:
    """``GET /datasets/{d}/records?id_number=&as_of=`` (the record of a person at a moment)
    reads the person's versions through the same two indexes, not every version of the
    region: any version, current or closed, may be the one of the moment."""
    from linkage_hub.domain import Dataset
    from linkage_hub.records.datasets import spec_for
    from linkage_hub.records.service import _page_statement

    _fill(database)
    spec = spec_for(Dataset.roster)
    statement = _page_statement(
        spec, historical=True, unit=False, persons=True, period=False
    ).params(lo="230100", hi="230199", after="", moment=utcnow(), limit=101, person_keys=KEYS)
    plan = _plan(database, statement)
    reads = [line for line in plan if "records_roster" in line]
    assert any("_closed_person_key" in line for line in reads), plan
    assert any("_current_person_key" in line for line in reads), plan
    if database.dialect == "sqlite":
        assert not any(line.startswith("SCAN records_roster") for line in reads), plan
    else:
        assert not any(line.startswith("Seq Scan") for line in reads), plan
    with database.transaction() as session:
        rows = session.execute(statement).all()
    # The moment is now: the current second versions of the two persons, once each.
    assert sorted((r.person_key, r.version) for r in rows) == [(k, 2) for k in KEYS]
