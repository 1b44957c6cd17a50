from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.reconciliation.runs import create_run, execute_run
from linkage_hub.settings import Settings
from tests.reconciliation.factory import Factory, citizen_id, unit_code

AS_OF = dt.date(2026, 10, 31)


@pytest.fixture
def factory(database: Database, settings: Settings) -> Factory:
    return Factory(database, settings)


@dataclass
class World:
    """A county (230102) whose registry and four datasets all have records.

    ``organ`` and ``organ2`` are full-funded organs with 10 administrative places; ``organ``
    has one principal and two deputy leader posts. ``institution`` is a public institution,
    ``managed`` a civil-service-managed one, ``self_funded`` a self-funded institution. The
    anchor person is consistent everywhere, so every dataset is covered and nothing is found
    about them.
    """

    f: Factory
    organ: str
    organ2: str
    institution: str
    managed: str
    self_funded: str
    anchor: str

    def key(self, id_number: str) -> str:
        return self.f.person_key(id_number)


@pytest.fixture
def world(factory: Factory) -> World:
    organ, organ2 = unit_code(1), unit_code(2)
    institution, managed = unit_code(3, kind="12"), unit_code(4, kind="12")
    self_funded = unit_code(5, kind="12")
    factory.unit(organ, kind="organ")
    factory.unit(organ2, kind="organ")
    factory.unit(institution, kind="institution")
    factory.unit(managed, kind="civil_service_managed_institution")
    factory.unit(self_funded, kind="institution", funding="self")
    factory.quota(organ, "administrative", 10)
    factory.quota(organ2, "administrative", 10)
    for unit in (institution, managed, self_funded):
        factory.quota(unit, "institutional", 10)
    factory.leader_posts(organ, "principal", 1)
    factory.leader_posts(organ, "deputy", 2)
    anchor = citizen_id(900)
    factory.consistent(anchor, organ)
    factory.cadre(anchor, organ, civil_servant_registered=True)
    return World(factory, organ, organ2, institution, managed, self_funded, anchor)


@dataclass
class RunResult:
    run: Run
    findings: list[Finding]

    def rules_for(self, subject: str) -> set[str]:
        """The live rules found for a person key or unit code."""
        return {
            f.rule
            for f in self.findings
            if f.status != "resolved" and subject in (f.person_key, f.unit_code)
        }

    def person_rules(self, person_key: str) -> set[str]:
        return {
            f.rule for f in self.findings if f.status != "resolved" and f.person_key == person_key
        }

    def live(self, rule: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == rule and f.status != "resolved"]

    def one(self, rule: str, subject: str) -> Finding:
        matches = [
            f for f in self.findings if f.rule == rule and subject in (f.person_key, f.unit_code)
        ]
        assert len(matches) == 1, matches
        return matches[0]


Reconcile = Callable[..., RunResult]


@pytest.fixture
def reconcile(database: Database) -> Reconcile:
    def run(
        region: str = "230100",
        period: str | None = "2026-10",
        as_of: dt.date = AS_OF,
        db: Database | None = None,
    ) -> RunResult:
        db = db or database
        with db.transaction() as session:
            created, lock = create_run(
                session, db, region=region, period=period, as_of=as_of, requested_by="test"
            )
            run_id = created.id
        status = execute_run(db, run_id, lock)
        with db.transaction() as session:
            result = session.get(Run, run_id)
            assert result is not None
            assert status == "succeeded", result.error
            findings = list(session.scalars(select(Finding)))
        return RunResult(result, findings)

    return run
