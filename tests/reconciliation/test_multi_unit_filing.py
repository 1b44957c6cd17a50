"""A person finding is filed under the unit whose record breaks the rule, on both databases.

A person with records in two units may break a person rule because of the record in one of
them only: on the roster of a self-funded unit and of a full-funded one, ESTABLISHED_NOT_PAID
holds because of the full-funded one. That unit names the finding — its ``unit_code``, its
``region`` and the registry evidence — never the unit whose code merely sorts first. Here that
first unit lies in county 230102 and the breaking one in 230103, so a finding filed under the
wrong unit is also filed in the wrong region.

Everything goes through the HTTP API as the city's departments. The city is settled by a full
run before the person's records arrive; an incremental run then files the finding, and a full
run after it must change nothing (the incremental run groups the same staging, restricted to
the persons it reconciles).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.reconciliation import runs
from linkage_hub.reconciliation.models import Evidence, Finding, Run
from linkage_hub.registry.models import RegistryUnit
from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, FIRST, BREAKING = "230100", "230102", "230103"  # the city; the counties of X and of Y
PERIOD, AS_OF = "2026-10", dt.date(2026, 11, 2)
OWNER = {"units": "establishment", "quotas": "establishment", "roster": "establishment"}
OWNER |= {"employment": "hr", "cadres": "organization", "payroll": "finance"}

X = f.unit_code(1, region=FIRST, kind="11")  # the unit whose code sorts first
Y = f.unit_code(2, region=BREAKING, kind="11")  # the unit whose record breaks the rule
ANCHOR = f.unit_code(3, region=BREAKING, kind="11")
PERSON, ANCHORED = f.id_number(1), f.id_number(9)


class API:
    """The city's departments writing through the API, the city's runs and its findings."""

    def __init__(self, client: TestClient, headers_for: HeadersFor, db: Database) -> None:
        self.client, self.headers_for, self.db = client, headers_for, db

    def push(self, dataset: str, records: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {"records": records}
        if dataset == "payroll":
            body["scope"] = {"period": PERIOD}
        answer = self.client.post(
            f"/api/v1/datasets/{dataset}/batches",
            content=json.dumps(body, ensure_ascii=False),
            headers={**self.headers_for(OWNER[dataset], CITY), "content-type": "application/json"},
        )
        assert answer.status_code == 201, answer.text

    def run(self, kind: str) -> Run:
        with self.db.transaction() as session:
            run, lock = runs.create_run(
                session,
                self.db,
                region=CITY,
                period=PERIOD,
                as_of=AS_OF,
                requested_by="test",
                kind=kind,
            )
            run_id = run.id
        assert runs.execute_run(self.db, run_id, lock) == "succeeded"
        with self.db.transaction() as session:
            done = session.get(Run, run_id)
            assert done is not None
            session.expunge(done)
            return done

    def live(self) -> dict[str, Finding]:
        with self.db.transaction() as session:
            rows = list(session.scalars(select(Finding).where(Finding.status != "resolved")))
            for row in rows:
                session.expunge(row)
        return {row.identity: row for row in rows}

    def filed(self, rule: str) -> Finding:
        [finding] = [v for k, v in self.live().items() if k.startswith(f"{rule}:")]
        return finding

    def unit_evidence(self, finding: Finding) -> set[str]:
        """The record keys of the registry entries in the finding's evidence."""
        with self.db.transaction() as session:
            return set(
                session.scalars(
                    select(Evidence.record_key).where(
                        Evidence.finding_id == finding.id, Evidence.dataset == "units"
                    )
                )
            )

    def unit_key(self, code: str) -> str:
        with self.db.transaction() as session:
            key = session.scalar(
                select(RegistryUnit.record_key).where(
                    RegistryUnit.unit_code == code, RegistryUnit.closed_at.is_(None)
                )
            )
        assert key is not None
        return key

    def settled(self, units: list[dict[str, Any]]) -> None:
        """The registry, and an anchor person consistent at ``ANCHOR`` in every dataset (so
        every rule runs), settled by a full run of the city."""
        assert X < Y and X[2:8] == FIRST and Y[2:8] == BREAKING
        self.push("units", units)
        self.push("quotas", [quota(ANCHOR)])
        self.push("roster", [roster_row(ANCHORED, ANCHOR)])
        self.push("employment", [employment_row(ANCHORED, ANCHOR)])
        self.push("cadres", [cadre_row(ANCHORED, ANCHOR)])
        self.push("payroll", [payroll_row(ANCHORED, ANCHOR)])
        self.run(runs.FULL)
        assert not self.live()

    def reconciled(self, rule: str) -> Finding:
        """The city's incremental run (really incremental), then a full run that must change
        nothing: the finding of ``rule`` as both file it."""
        incremental = self.run(runs.INCREMENTAL)
        assert not incremental.warnings, incremental.warnings
        after = self.filed(rule)
        seen = (after.unit_code, after.region, self.unit_evidence(after))
        self.run(runs.FULL)
        again = self.filed(rule)
        assert (again.id, again.unit_code, again.region, self.unit_evidence(again)) == (
            after.id,
            *seen,
        )
        return again


@pytest.fixture
def api(client: TestClient, headers_for: HeadersFor, database: Database) -> API:
    return API(client, headers_for, database)


def unit_row(code: str, **extra: Any) -> dict[str, Any]:
    region = code[2:8]
    return {
        "unit_code": code,
        "name": "单位",
        "region": region,
        "kind": "organ",
        "funding": "full",
        "status": "active",
    } | extra


def quota(code: str, establishment_type: str = "administrative") -> dict[str, Any]:
    return {"unit_code": code, "establishment_type": establishment_type, "approved": 5}


def roster_row(id_number: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "unit_code": code,
        "name": "张三",
        "establishment_type": "administrative",
        "status": "active",
    } | extra


def employment_row(id_number: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "unit_code": code,
        "name": "张三",
        "category": "civil_servant",
        "status": "active",
    } | extra


def cadre_row(id_number: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "id_number": id_number,
        "unit_code": code,
        "name": "张三",
        "position": "局长",
        "leader_level": "none",
        "civil_servant_registered": False,
        "status": "active",
    } | extra


def payroll_row(id_number: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "period": PERIOD,
        "id_number": id_number,
        "unit_code": code,
        "name": "张三",
        "establishment_type": "administrative",
        "funding": "budget",
        "gross_pay": "100.00",
        "status": "paid",
    } | extra


class TestEstablishedNotPaid:
    def test_is_filed_under_the_budget_funded_unit(self, api: API) -> None:
        """On the rosters of a self-funded unit (X) and of a full-funded one (Y), paid by no
        one: the finding names Y — its summary says "on the roster of a budget-funded unit" —
        and its registry evidence is Y's entry, not X's."""
        api.settled(
            [
                unit_row(X, kind="institution", funding="self"),
                unit_row(Y, kind="institution"),
                unit_row(ANCHOR),
            ]
        )
        institutional = {"establishment_type": "institutional"}
        api.push(
            "roster",
            [roster_row(PERSON, X, **institutional), roster_row(PERSON, Y, **institutional)],
        )
        finding = api.reconciled("ESTABLISHED_NOT_PAID")
        assert (finding.unit_code, finding.region) == (Y, BREAKING)
        assert api.unit_evidence(finding) == {api.unit_key(Y)}


# The person's harmless active record at X and the record at Y that breaks the rule.
BREAKS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "CADRE_WITHOUT_ESTABLISHMENT": [
        ("employment", employment_row(PERSON, X, category="contract")),
        ("cadres", cadre_row(PERSON, Y, leader_level="principal")),
    ],
    "EMPLOYED_WITHOUT_ESTABLISHMENT": [
        ("cadres", cadre_row(PERSON, X)),
        ("employment", employment_row(PERSON, Y)),
    ],
    "PAID_WITHOUT_ESTABLISHMENT": [
        ("payroll", payroll_row(PERSON, X, establishment_type="none")),
        ("payroll", payroll_row(PERSON, Y)),
    ],
}


class TestAPersonFinding:
    @pytest.mark.parametrize("rule", sorted(BREAKS))
    def test_is_filed_under_the_unit_whose_record_breaks_the_rule(
        self, api: API, rule: str
    ) -> None:
        """An active record at X that breaks nothing (a contract post, a cadre below leader
        level, a line paid outside any quota) and the one at Y that breaks ``rule`` (a leader
        post, a career HR record, a line paid under an establishment type): the finding names
        Y and Y's county."""
        api.settled([unit_row(X), unit_row(Y), unit_row(ANCHOR)])
        by_dataset: dict[str, list[dict[str, Any]]] = {}
        for dataset, row in BREAKS[rule]:
            by_dataset.setdefault(dataset, []).append(row)
        for dataset, rows in by_dataset.items():
            api.push(dataset, rows)
        finding = api.reconciled(rule)
        assert (finding.unit_code, finding.region) == (Y, BREAKING)
