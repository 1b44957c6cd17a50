"""Findings across runs: stable identity, open → resolved → reopened, people's statuses kept."""

from __future__ import annotations

from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Event, Evidence, Finding
from linkage_hub.records.models import EmploymentRecord, PayrollRecord
from tests.reconciliation.conftest import Reconcile, World
from tests.reconciliation.factory import citizen_id, unit_code

P = citizen_id(1)


def _set_status(database: Database, finding_id: str, status: str) -> None:
    with database.transaction() as session:
        finding = session.get(Finding, finding_id)
        assert finding is not None
        finding.status = status


def _events(database: Database, finding_id: str) -> list[tuple[str | None, str]]:
    with database.transaction() as session:
        return [
            (e.from_status, e.to_status)
            for e in session.scalars(
                select(Event).where(Event.finding_id == finding_id).order_by(Event.id)
            )
        ]


class TestLifecycle:
    def test_found_again_keeps_identity_and_status(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.payroll(P, world.organ)
        first = reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        second = reconcile()
        again = second.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        assert (again.id, again.status) == (first.id, "open")
        assert again.first_seen_at == first.first_seen_at
        assert again.last_seen_at >= first.last_seen_at
        assert again.last_run_id == second.run.id
        counts = second.run.counts
        assert counts is not None
        assert counts["PAID_WITHOUT_ESTABLISHMENT"] == {
            "found": 1,
            "new": 0,
            "resolved": 0,
            "reopened": 0,
        }

    def test_resolved_then_reopened_as_the_same_finding(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        line = world.f.payroll(P, world.organ)
        first = reconcile()
        finding = first.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        assert first.run.counts and first.run.counts["PAID_WITHOUT_ESTABLISHMENT"]["new"] == 1

        world.f.close(PayrollRecord, line)
        second = reconcile()
        resolved = second.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        assert (resolved.id, resolved.status) == (finding.id, "resolved")
        assert resolved.resolved_at is not None and resolved.resolved_run_id == second.run.id
        assert second.run.counts and second.run.counts["PAID_WITHOUT_ESTABLISHMENT"] == {
            "found": 0,
            "new": 0,
            "resolved": 1,
            "reopened": 0,
        }

        world.f.payroll(P, world.organ)
        third = reconcile()
        back = third.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        assert (back.id, back.status, back.resolved_at) == (finding.id, "reopened", None)
        assert third.run.counts and third.run.counts["PAID_WITHOUT_ESTABLISHMENT"]["reopened"] == 1
        assert _events(database, finding.id) == [
            (None, "open"),
            ("open", "resolved"),
            ("resolved", "reopened"),
        ]

    def test_acknowledged_stays_acknowledged_until_resolved(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        line = world.f.payroll(P, world.organ)
        finding = reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        _set_status(database, finding.id, "acknowledged")
        assert reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "acknowledged"
        world.f.close(PayrollRecord, line)
        assert reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "resolved"

    def test_waived_stays_waived_while_it_holds(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        line = world.f.payroll(P, world.organ)
        finding = reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        _set_status(database, finding.id, "waived")
        assert reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "waived"
        world.f.close(PayrollRecord, line)
        assert reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "resolved"
        world.f.payroll(P, world.organ)
        assert reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "reopened"

    def test_a_gated_rule_leaves_its_findings_alone(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.roster(P, world.organ)
        world.f.payroll(P, world.organ)
        finding = reconcile().one("ESTABLISHED_NOT_EMPLOYED", world.key(P))
        world.f.close(
            EmploymentRecord, world.f.keys.record_key("employment", world.anchor, world.organ)
        )
        later = reconcile()
        assert later.run.skipped and "ESTABLISHED_NOT_EMPLOYED" in later.run.skipped
        kept = later.one("ESTABLISHED_NOT_EMPLOYED", world.key(P))
        assert (kept.id, kept.status) == (finding.id, "open")

    def test_a_run_of_another_region_resolves_nothing_here(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.payroll(P, world.organ)
        reconcile(region="230102")
        other = unit_code(50, region="230103")
        world.f.unit(other)
        world.f.quota(other, "administrative", 3)
        world.f.consistent(citizen_id(3, region="230103"), other)
        world.f.cadre(citizen_id(3, region="230103"), other)
        elsewhere = reconcile(region="230103")
        assert elsewhere.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "open"

    def test_a_city_run_covers_its_counties(self, world: World, reconcile: Reconcile) -> None:
        line = world.f.payroll(P, world.organ)
        reconcile(region="230102")
        world.f.close(PayrollRecord, line)
        city = reconcile(region="230100")
        assert city.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P)).status == "resolved"


class TestEvidence:
    def test_the_records_behind_a_finding_with_versions(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        roster = world.f.roster(P, world.organ)
        payroll = world.f.payroll(P, world.organ)
        finding = reconcile().one("ESTABLISHED_NOT_EMPLOYED", world.key(P))
        with database.transaction() as session:
            rows = {
                (e.dataset, e.record_key)
                for e in session.scalars(select(Evidence).where(Evidence.finding_id == finding.id))
            }
        assert rows == {("roster", roster)}  # the rule compares roster with HR; HR has none
        assert payroll  # the payroll line is not behind this rule

    def test_evidence_follows_the_latest_run(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        world.f.payroll(P, world.organ)
        first = reconcile().one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        world.f.payroll(P, world.organ, gross_pay="9000.00")  # a new version of the line
        reconcile()
        with database.transaction() as session:
            versions = [
                (e.dataset, e.version)
                for e in session.scalars(select(Evidence).where(Evidence.finding_id == first.id))
            ]
            current = session.scalars(
                select(PayrollRecord.version).where(
                    PayrollRecord.person_key == world.key(P), PayrollRecord.closed_at.is_(None)
                )
            ).one()
        assert versions == [("payroll", current)]

    def test_unit_findings_carry_the_registry_and_the_roster(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        quota = world.f.quota(world.organ2, "administrative", 1)
        entries = {world.f.roster(citizen_id(n), world.organ2) for n in (1, 2)}
        finding = reconcile().one("OVER_QUOTA", world.organ2)
        with database.transaction() as session:
            rows = {
                (e.dataset, e.record_key)
                for e in session.scalars(select(Evidence).where(Evidence.finding_id == finding.id))
            }
        assert ("quotas", quota) in rows
        assert {k for d, k in rows if d == "roster"} == entries
        assert any(d == "units" for d, _ in rows)
