"""A run gathers the evidence of its findings finding by finding, through the version tables'
person-key and unit-code indexes, whatever statistics the database holds
(:func:`linkage_hub.reconciliation.merge.per_finding`).

A plan that reads a version table by region inside the per-finding join costs findings × the
region's records: SQLite, with no statistics on tables the hub pushed into, read the city's whole
payroll for each finding (46 s of a 50 s run, 2,500 findings, 200,000 persons; bench/RESULTS.md
"data shapes"). The plans are read here with filler records beside the findings, with no
statistics (as after pushes) and after ``ANALYZE``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from linkage_hub.db import Database
from linkage_hub.reconciliation import merge
from linkage_hub.reconciliation.rules import RuleCode
from linkage_hub.reconciliation.staging import sql
from linkage_hub.records.models import EmploymentRecord, PayrollRecord, RosterRecord
from tests.reconciliation.conftest import Reconcile, World
from tests.reconciliation.factory import NOW, citizen_id, unit_code

FILLER = 2_000
VERSION_TABLES = (
    "records_roster",
    "records_employment",
    "records_cadre",
    "records_payroll",
    "registry_unit",
    "registry_quota",
    "registry_leader_post",
)
SIZED = ("records_roster", "records_employment", "records_payroll")  # the filler's
Plans = list[tuple[str, Any]]


def _filler(world: World, database: Database) -> None:
    """Consistent persons at the world's organ, in bulk: enough rows that a region or period
    read costs what it would at size."""
    rows = []
    for n in range(FILLER):
        number = citizen_id(n, born=f"{1960 + n // 1000}0101")
        rows.append(
            {
                "record_key": uuid.uuid4().hex,
                "version": 1,
                "region": "230102",
                "batch_id": "filler",
                "client_id": "filler",
                "recorded_at": NOW,
                "person_key": world.key(number),
                "id_number": number,
                "unit_code": world.organ2,
                "name": "李四",
                "name_norm": "李四",
            }
        )
    with database.transaction() as session:
        session.execute(
            insert(RosterRecord),
            [{**r, "establishment_type": "administrative", "status": "active"} for r in rows],
        )
        session.execute(
            insert(EmploymentRecord),
            [{**r, "category": "civil_servant", "status": "active"} for r in rows],
        )
        session.execute(
            insert(PayrollRecord),
            [
                {
                    **r,
                    "record_key": uuid.uuid4().hex,
                    "period": "2026-10",
                    "establishment_type": "administrative",
                    "funding": "budget",
                    "gross_pay": Decimal("8000.00"),
                    "status": "paid",
                }
                for r in rows
            ],
        )


def _plant(world: World) -> None:
    """A finding of every rule whose evidence a version table holds."""
    f = world.f
    f.payroll(citizen_id(1), world.organ)  # paid without establishment (person, payroll)
    f.roster(citizen_id(2), world.organ)  # on the roster, not employed, not paid
    f.consistent(citizen_id(3), world.organ)
    f.payroll(citizen_id(3), world.organ2)  # paid by two units
    for n in range(4, 8):  # over the deputy posts
        f.consistent(citizen_id(n), world.organ)
        f.cadre(citizen_id(n), world.organ, leader_level="deputy")
    ghost = unit_code(77)  # no such unit in the registry
    f.consistent(citizen_id(8), ghost)
    f.quota(world.organ2, "administrative", 5)  # the filler puts the unit over its quota


def _explain(session: Session, dialect: str, statement: str, params: Mapping[str, Any]) -> Any:
    if dialect == "sqlite":
        rows = session.execute(sql("EXPLAIN QUERY PLAN " + statement), params).all()
        return [str(row[3]) for row in rows]
    plan = session.execute(sql("EXPLAIN (FORMAT JSON) " + statement), params).scalar()
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


@pytest.fixture
def plans(
    world: World, database: Database, reconcile: Reconcile, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Plans]:
    _filler(world, database)
    _plant(world)
    captured: Plans = []
    real = merge.evidence

    def explained(
        session: Session, dialect: str, params: Mapping[str, Any], ran: list[RuleCode]
    ) -> None:
        for statement in merge.evidence_statements(dialect, ran):
            if not statement.startswith("DELETE"):
                captured.append((statement, _explain(session, dialect, statement, params)))
            if statement.startswith("CREATE TEMP TABLE rc_unreg"):
                session.execute(sql(statement), params)  # the later statements read it
        session.execute(text("DROP TABLE rc_unreg"))
        real(session, dialect, params, ran)

    monkeypatch.setattr(merge, "evidence", explained)
    yield captured


def _run(reconcile: Reconcile, database: Database, analysed: bool) -> None:
    if analysed:
        with database.transaction() as session:
            for table in VERSION_TABLES:
                session.execute(text(f"ANALYZE {table}"))
    result = reconcile()
    for rule in (
        RuleCode.PAID_WITHOUT_ESTABLISHMENT,
        RuleCode.DUPLICATE_PAYROLL,
        RuleCode.OVER_LEADER_POSTS,
        RuleCode.OVER_QUOTA,
        RuleCode.UNREGISTERED_UNIT,
    ):
        assert result.live(rule), rule


def _pg_nodes(node: dict[str, Any], inner: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    yield node, inner
    children = node.get("Plans", [])
    for n, child in enumerate(children):
        loop = node["Node Type"] == "Nested Loop"
        yield from _pg_nodes(child, inner or (loop and n == 1))


@pytest.mark.parametrize("analysed", [False, True], ids=["no-statistics", "analysed"])
class TestEvidencePlans:
    def test_every_evidence_join_probes_a_version_table_by_person_or_unit(
        self, backend: str, database: Database, reconcile: Reconcile, plans: Plans, analysed: bool
    ) -> None:
        if backend == "postgres" and not analysed:
            # The hub analyses PostgreSQL's tables after a bulk load and autovacuum after
            # changes; unanalysed, it prices a scan of a table it takes for tiny per finding.
            pytest.skip("PostgreSQL plans by the statistics it keeps")
        _run(reconcile, database, analysed)
        assert len(plans) >= 10
        for statement, plan in plans:
            if backend == "sqlite":
                _assert_sqlite(statement, plan)
            else:
                _assert_postgres(statement, plan)


def _assert_sqlite(statement: str, plan: list[str]) -> None:
    """One scan, outermost, of the finding side (``rc_found``, ``rc_unreg``, or ``rc_pu`` once
    for the unregistered units); everything inside it is an index search, and each version
    table ``t`` is searched by the finding's person key or unit code."""
    scans = [n for n, line in enumerate(plan) if line.startswith("SCAN")]
    assert scans == [0], (statement, plan)
    for line in plan[1:]:
        assert line.startswith(("SEARCH", "BLOOM FILTER")), (statement, plan)
        if line.startswith("SEARCH t "):
            assert "person_key=?" in line or "unit_code=?" in line, (statement, plan)


def _assert_postgres(statement: str, plan: dict[str, Any]) -> None:
    """No version table the filler made large is read whole — on the inner side of a nested
    loop, or into a hash join's table (the region filter written so that no SQLite index
    matches it, ``(t.region || '')``, once made PostgreSQL take the region's current rows for
    0.5 % of them and hash all of them: a scan of the whole roster per run) — or by region
    only inside the per-finding loop: it is probed by an index on the person key or unit code.
    (PostgreSQL rightly scans a five-row registry table; the statistics of the large ones are
    what it plans by.)"""
    for node, inner in _pg_nodes(plan):
        relation = node.get("Relation Name", "")
        if relation not in SIZED:
            continue
        assert node["Node Type"] != "Seq Scan", (statement, plan)
        if not inner:
            continue
        condition = node.get("Index Cond", "") + node.get("Recheck Cond", "")
        assert "person_key" in condition or "unit_code" in condition, (statement, plan)
    for node, _inner in _pg_nodes(plan):
        if node["Node Type"] == "Bitmap Heap Scan" and node.get("Relation Name") in SIZED:
            # the bitmap's index scan is its child: hold it to the same condition
            index = node["Plans"][0]
            assert "person_key" in index.get("Index Cond", "") or "unit_code" in index.get(
                "Index Cond", ""
            ), (statement, plan)


def test_a_run_without_statistics_still_finds_the_same_evidence(
    world: World, database: Database, reconcile: Reconcile
) -> None:
    """The evidence rows themselves: the paid-without-establishment person's payroll line."""
    _plant(world)
    result = reconcile()
    finding = result.one(RuleCode.PAID_WITHOUT_ESTABLISHMENT, world.key(citizen_id(1)))
    with database.transaction() as session:
        rows = session.execute(
            text("SELECT dataset FROM reconciliation_evidence WHERE finding_id = :id"),
            {"id": finding.id},
        ).all()
    assert [r[0] for r in rows] == ["payroll"]
