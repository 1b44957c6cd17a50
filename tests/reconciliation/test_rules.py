"""Every rule of DOMAIN.md, found and not found, with its edges, on both databases.

Each scenario adds one person (or unit) to a consistent county (see ``World``) and checks the
exact set of rules found for it: "report every rule that holds", and nothing more.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Evidence
from linkage_hub.registry.models import RegistryQuota
from tests.reconciliation.conftest import Reconcile, World
from tests.reconciliation.factory import Factory, citizen_id, unit_code

P = citizen_id(1)
Q = citizen_id(2)
D = dt.date


class TestPaidWithoutEstablishment:
    def test_paid_with_no_roster_entry(self, world: World, reconcile: Reconcile) -> None:
        world.f.payroll(P, world.organ)
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"PAID_WITHOUT_ESTABLISHMENT"}
        finding = result.one("PAID_WITHOUT_ESTABLISHMENT", world.key(P))
        assert finding.summary_zh == "2026-10 工资统发有此人，但实名制花名册无此人"
        assert finding.summary_en == "paid in 2026-10 but not on the roster"
        assert finding.departments == ",finance,establishment,"
        assert finding.unit_code == world.organ and finding.region == "230102"

    def test_staff_outside_any_quota_are_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.payroll(P, world.organ, establishment_type="none")
        assert reconcile().person_rules(world.key(P)) == set()

    def test_an_exited_roster_entry_is_an_entry(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ, status="exited", exited_on=D(2026, 10, 10))
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == set()

    def test_every_rule_that_holds_is_reported(self, world: World, reconcile: Reconcile) -> None:
        world.f.payroll(P, world.organ)
        world.f.employment(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == {
            "PAID_WITHOUT_ESTABLISHMENT",
            "EMPLOYED_WITHOUT_ESTABLISHMENT",
        }


class TestPaidAfterExit:
    def test_exited_before_the_period(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ, status="exited", exited_on=D(2026, 9, 30))
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == {"PAID_AFTER_EXIT"}

    def test_exit_inside_the_periods_month_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ, status="exited", exited_on=D(2026, 10, 1))
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == set()

    def test_latest_exit_counts(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ, status="exited", exited_on=D(2025, 1, 1))
        world.f.roster(P, world.organ2, status="exited", exited_on=D(2026, 10, 20))
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == set()

    def test_hr_exit_before_the_period(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ, status="retired", status_on=D(2026, 9, 30))
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == {"PAID_AFTER_EXIT", "LATE_EXIT"}

    def test_hr_exit_on_the_first_day_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ, status="resigned", status_on=D(2026, 10, 1))
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == {"LATE_EXIT"}

    def test_not_paid_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ, status="exited", exited_on=D(2026, 9, 30))
        world.f.payroll(P, world.organ, status="suspended")
        assert reconcile().person_rules(world.key(P)) == set()


class TestDuplicatePayroll:
    def test_paid_by_two_units(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.payroll(P, world.organ2)
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"DUPLICATE_PAYROLL"}
        assert "2 个单位" in result.one("DUPLICATE_PAYROLL", world.key(P)).summary_zh

    def test_a_suspended_line_is_not_pay(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.payroll(P, world.organ2, status="suspended")
        assert reconcile().person_rules(world.key(P)) == set()

    def test_another_period_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.payroll(P, world.organ2, period="2026-09")
        assert reconcile().person_rules(world.key(P)) == set()


class TestDuplicateEstablishment:
    def test_active_in_two_units(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.roster(P, world.organ2)
        assert reconcile().person_rules(world.key(P)) == {"DUPLICATE_ESTABLISHMENT"}

    def test_an_exited_entry_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.roster(P, world.organ2, status="exited", exited_on=D(2026, 9, 1))
        assert reconcile().person_rules(world.key(P)) == set()


class TestOverQuota:
    def test_more_on_the_roster_than_approved(self, world: World, reconcile: Reconcile) -> None:
        world.f.quota(world.organ2, "administrative", 1)
        world.f.consistent(P, world.organ2)
        world.f.consistent(Q, world.organ2)
        finding = reconcile().one("OVER_QUOTA", world.organ2)
        assert (finding.establishment_type, finding.person_key) == ("administrative", None)
        assert "实名在编 2 人，超过核定编制 1 名" in finding.summary_zh

    def test_at_the_quota_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.quota(world.organ2, "administrative", 2)
        world.f.consistent(P, world.organ2)
        world.f.consistent(Q, world.organ2)
        assert reconcile().rules_for(world.organ2) == set()

    def test_no_quota_row_counts_as_zero(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ, establishment_type="worker")
        finding = reconcile().one("OVER_QUOTA", world.organ)
        assert finding.establishment_type == "worker"

    def test_abolished_units_are_unregistered_not_over(
        self, world: World, reconcile: Reconcile
    ) -> None:
        gone = unit_code(7)
        world.f.unit(gone, status="abolished", abolished_on=D(2026, 6, 30))
        world.f.consistent(P, gone)
        assert reconcile().rules_for(gone) == {"UNREGISTERED_UNIT"}


class TestApprovalsInForce:
    """OVER_QUOTA and OVER_LEADER_POSTS count what is approved on the run's as-of date (AS_OF
    2026-10-31): a version whose effective_on is later is not in force yet; an undated one is."""

    def test_a_raise_from_next_month_leaves_the_unit_over_until_then(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        world.f.quota(world.organ2, "administrative", 1, effective_on=D(2026, 1, 1))
        key = world.f.quota(world.organ2, "administrative", 2, effective_on=D(2026, 11, 16))
        world.f.consistent(P, world.organ2)
        world.f.consistent(Q, world.organ2)
        finding = reconcile().one("OVER_QUOTA", world.organ2)
        assert "实名在编 2 人，超过核定编制 1 名" in finding.summary_zh
        with database.transaction() as session:
            first = session.scalars(
                select(RegistryQuota.version).where(
                    RegistryQuota.record_key == key, RegistryQuota.approved == 1
                )
            ).one()
            evidence = {
                (e.dataset, e.record_key, e.version)
                for e in session.scalars(select(Evidence).where(Evidence.finding_id == finding.id))
            }
        assert ("quotas", key, first) in evidence  # the version in force, not the current one
        assert reconcile(as_of=D(2026, 11, 16)).rules_for(world.organ2) == set()

    def test_a_quota_from_next_month_is_none_yet(self, world: World, reconcile: Reconcile) -> None:
        fresh = unit_code(8)
        world.f.unit(fresh, kind="organ")
        world.f.quota(fresh, "administrative", 5, effective_on=D(2026, 11, 2))
        world.f.consistent(P, fresh)
        finding = reconcile().one("OVER_QUOTA", fresh)
        assert "超过核定编制 0 名" in finding.summary_zh
        assert reconcile(as_of=D(2026, 11, 2)).rules_for(fresh) == set()

    def test_a_cut_counts_from_its_day(self, world: World, reconcile: Reconcile) -> None:
        world.f.quota(world.organ2, "administrative", 2, effective_on=D(2025, 1, 1))
        world.f.quota(world.organ2, "administrative", 1, effective_on=D(2026, 10, 31))
        world.f.consistent(P, world.organ2)
        world.f.consistent(Q, world.organ2)
        assert reconcile(as_of=D(2026, 10, 30)).rules_for(world.organ2) == set()
        assert reconcile().one("OVER_QUOTA", world.organ2)  # on its day exactly

    def test_an_undated_quota_is_in_force_before_it_was_recorded(
        self, world: World, reconcile: Reconcile
    ) -> None:
        # recorded 2026-11-01 (the factory's NOW), after a run as of 2026-10-30: the latest
        # undated version counts, not "no quota"
        world.f.quota(world.organ2, "administrative", 1)
        world.f.consistent(P, world.organ2)
        world.f.consistent(Q, world.organ2)
        finding = reconcile(as_of=D(2026, 10, 30)).one("OVER_QUOTA", world.organ2)
        assert "超过核定编制 1 名" in finding.summary_zh

    def test_a_deleted_quota_counts_as_zero_whatever_its_date(
        self, world: World, reconcile: Reconcile
    ) -> None:
        key = world.f.quota(world.organ2, "administrative", 2, effective_on=D(2025, 1, 1))
        world.f.consistent(P, world.organ2)
        world.f.close(RegistryQuota, key)
        assert reconcile().one("OVER_QUOTA", world.organ2)

    def test_leader_posts_cut_from_next_month_are_not_over_yet(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.leader_posts(world.organ, "principal", 2, effective_on=D(2025, 1, 1))
        world.f.leader_posts(world.organ, "principal", 1, effective_on=D(2026, 11, 2))
        for person in (P, Q):
            world.f.consistent(person, world.organ)
            world.f.cadre(person, world.organ, leader_level="principal")
        assert reconcile().rules_for(world.organ) == set()
        finding = reconcile(as_of=D(2026, 11, 2)).one("OVER_LEADER_POSTS", world.organ)
        assert "超过核定领导职数 1 名" in finding.summary_zh


class TestOverLeaderPosts:
    def test_two_principals_for_one_post(self, world: World, reconcile: Reconcile) -> None:
        for person in (P, Q):
            world.f.consistent(person, world.organ)
            world.f.cadre(person, world.organ, leader_level="principal")
        finding = reconcile().one("OVER_LEADER_POSTS", world.organ)
        assert finding.level == "principal"
        assert finding.departments == ",organization,establishment,"

    def test_a_removed_cadre_does_not_count(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.cadre(P, world.organ, leader_level="principal")
        world.f.consistent(Q, world.organ)
        world.f.cadre(
            Q, world.organ, leader_level="principal", status="removed", removed_on=D(2026, 9, 1)
        )
        assert reconcile().rules_for(world.organ) == set()

    def test_no_posts_row_counts_as_zero(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ2)
        world.f.cadre(P, world.organ2, leader_level="deputy")
        assert reconcile().one("OVER_LEADER_POSTS", world.organ2).level == "deputy"


class TestOverInternalUnits:
    def test_more_children_than_the_limit(self, world: World, reconcile: Reconcile) -> None:
        parent = unit_code(10)
        world.f.unit(parent, internal_unit_limit=1)
        world.f.unit(unit_code(11), parent=parent)
        world.f.unit(unit_code(12), parent=parent)
        assert reconcile().rules_for(parent) == {"OVER_INTERNAL_UNITS"}

    def test_abolished_children_do_not_count(self, world: World, reconcile: Reconcile) -> None:
        parent = unit_code(10)
        world.f.unit(parent, internal_unit_limit=1)
        world.f.unit(unit_code(11), parent=parent)
        world.f.unit(unit_code(12), parent=parent, status="abolished", abolished_on=D(2026, 1, 1))
        assert reconcile().rules_for(parent) == set()


class TestMixedEstablishment:
    def test_type_not_allowed_for_the_units_kind(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ, establishment_type="institutional")
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"MIXED_ESTABLISHMENT"}
        assert result.one("MIXED_ESTABLISHMENT", world.key(P)).unit_code == world.organ

    def test_paid_under_another_type(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ, establishment_type="worker")
        assert reconcile().person_rules(world.key(P)) == {"MIXED_ESTABLISHMENT"}

    def test_paid_outside_any_quota_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ, establishment_type="none")
        assert reconcile().person_rules(world.key(P)) == set()

    def test_institutional_civil_servant(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.institution, establishment_type="institutional")
        world.f.cadre(P, world.institution, civil_servant_registered=True)
        assert reconcile().person_rules(world.key(P)) == {"MIXED_ESTABLISHMENT"}

    def test_civil_servants_in_managed_institutions_are_not(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.consistent(P, world.managed, establishment_type="institutional")
        world.f.cadre(P, world.managed, civil_servant_registered=True)
        assert reconcile().person_rules(world.key(P)) == set()


class TestUnregisteredUnit:
    def test_a_unit_missing_from_the_registry(self, world: World, reconcile: Reconcile) -> None:
        ghost = unit_code(99)
        world.f.consistent(P, ghost)
        result = reconcile()
        finding = result.one("UNREGISTERED_UNIT", ghost)
        assert finding.departments == ",establishment,hr,finance,"
        assert finding.region == "230102"
        assert result.person_rules(world.key(P)) == set()

    def test_named_by_payroll_alone(self, world: World, reconcile: Reconcile) -> None:
        ghost = unit_code(99)
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ)
        world.f.payroll(Q, ghost, establishment_type="none")
        assert reconcile().one("UNREGISTERED_UNIT", ghost).departments == ",establishment,finance,"

    def test_abolished_on_the_as_of_date(self, world: World, reconcile: Reconcile) -> None:
        gone = unit_code(7)
        world.f.unit(gone, abolished_on=D(2026, 10, 31))
        world.f.consistent(P, gone)
        assert reconcile(as_of=D(2026, 10, 31)).rules_for(gone) == {"UNREGISTERED_UNIT"}

    def test_abolished_after_the_as_of_date_is_registered(
        self, world: World, reconcile: Reconcile
    ) -> None:
        later = unit_code(7)
        world.f.unit(later, abolished_on=D(2026, 11, 30))
        world.f.quota(later, "administrative", 5)
        world.f.consistent(P, later)
        assert reconcile(as_of=D(2026, 10, 31)).rules_for(later) == set()

    def test_only_active_records_name_a_unit(self, world: World, reconcile: Reconcile) -> None:
        ghost = unit_code(99)
        world.f.consistent(P, world.organ)
        world.f.employment(P, ghost, status="transferred_out", status_on=D(2025, 1, 1))
        assert reconcile().rules_for(ghost) == set()


class TestEmployedWithoutEstablishment:
    def test_hr_active_without_roster(self, world: World, reconcile: Reconcile) -> None:
        world.f.employment(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == {"EMPLOYED_WITHOUT_ESTABLISHMENT"}

    def test_contract_staff_are_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.employment(P, world.organ, category="contract")
        world.f.payroll(P, world.organ, establishment_type="none")
        assert reconcile().person_rules(world.key(P)) == set()


class TestLateExit:
    # as of Friday 2026-10-30 the 11th working day back is Friday 2026-10-16
    def test_eleven_working_days_is_late(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ, status="retired", status_on=D(2026, 10, 15))
        world.f.payroll(P, world.organ)
        result = reconcile(as_of=D(2026, 10, 30))
        assert result.person_rules(world.key(P)) == {"LATE_EXIT"}
        summary = result.one("LATE_EXIT", world.key(P)).summary_zh
        assert summary == "人社部门记录已于 2026-10-15 离职，超过 10 个工作日仍在实名制花名册在编"

    def test_a_roster_move_before_hr_is_filed_under_the_new_unit(
        self, world: World, reconcile: Reconcile
    ) -> None:
        """Not a bug: DOMAIN.md's LATE_EXIT is "the person is active on the roster" while HR
        has no active record and its latest exit is overdue, answerable by the establishment
        office: the record that breaks it is the active roster entry, so the finding is filed
        under that entry's unit (and region) -- the unit the roster moved the person to before
        HR recorded them there -- not the unit HR's exit names, whose entry is exited."""
        new = unit_code(20, region="230103")
        world.f.unit(new)
        world.f.quota(new, "administrative", 5)
        world.f.roster(P, world.organ, status="exited", exited_on=D(2026, 9, 1))
        world.f.roster(P, new)
        world.f.employment(P, world.organ, status="transferred_out", status_on=D(2026, 9, 1))
        world.f.payroll(P, new)
        finding = reconcile().one("LATE_EXIT", world.key(P))
        assert (finding.unit_code, finding.region) == (new, "230103")
        assert finding.departments == ",establishment,"
        assert "2026-09-01" not in finding.summary_zh  # HR's record lies in another county

    def test_ten_working_days_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ, status="retired", status_on=D(2026, 10, 16))
        world.f.payroll(P, world.organ)
        assert reconcile(as_of=D(2026, 10, 30)).person_rules(world.key(P)) == set()

    def test_an_active_hr_record_elsewhere_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ2, status="transferred_out", status_on=D(2026, 1, 5))
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == set()

    def test_a_transfer_exited_in_time_is_not(self, world: World, reconcile: Reconcile) -> None:
        # Moved from organ2 to organ: HR's transfer out of organ2 took effect 11 working days
        # before the as-of date, the roster entry there was exited on the 10th, and the
        # person is active on organ's roster, employed and paid there. Nothing is late.
        world.f.employment(P, world.organ2, status="transferred_out", status_on=D(2026, 10, 15))
        world.f.roster(P, world.organ2, status="exited", exited_on=D(2026, 10, 16))
        world.f.roster(P, world.organ, entered_on=D(2026, 10, 16))
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ)
        assert reconcile(as_of=D(2026, 10, 30)).person_rules(world.key(P)) == set()

    def test_a_transfer_with_the_old_entry_still_active_is_two_entries_not_late(
        self, world: World, reconcile: Reconcile
    ) -> None:
        # The same move with organ2's roster entry never exited: HR holds an active record
        # (organ), so the rule, which reads "HR has no active record", does not hold; the
        # entry left behind is DUPLICATE_ESTABLISHMENT, the establishment office's.
        world.f.employment(P, world.organ2, status="transferred_out", status_on=D(2026, 10, 15))
        world.f.roster(P, world.organ2)
        world.f.roster(P, world.organ, entered_on=D(2026, 10, 16))
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ)
        found = reconcile(as_of=D(2026, 10, 30)).person_rules(world.key(P))
        assert found == {"DUPLICATE_ESTABLISHMENT"}


class TestEstablishedNotEmployed:
    def test_on_the_roster_unknown_to_hr(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.payroll(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == {"ESTABLISHED_NOT_EMPLOYED"}

    def test_known_to_hr_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        assert reconcile().person_rules(world.key(P)) == set()


class TestEstablishedNotPaid:
    def test_on_the_roster_of_a_funded_unit_not_paid(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ)
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"ESTABLISHED_NOT_PAID"}

    def test_a_suspended_line_is_not_paid(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ)
        world.f.payroll(P, world.organ, status="suspended")
        assert reconcile().person_rules(world.key(P)) == {"ESTABLISHED_NOT_PAID"}

    def test_self_funded_units_are_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.self_funded, establishment_type="institutional")
        world.f.employment(P, world.self_funded, category="institution_staff")
        assert reconcile().person_rules(world.key(P)) == set()

    def test_an_entry_after_the_period_is_not(self, world: World, reconcile: Reconcile) -> None:
        """Entered on 2026-11-16, judged against pay of 2026-10 (the latest finance pushed):
        they were owed none. PAID_AFTER_EXIT compares the roster's dates with the period too."""
        world.f.roster(P, world.organ, entered_on=D(2026, 11, 16))
        world.f.employment(P, world.organ)
        world.f.roster(Q, world.organ, entered_on=D(2026, 10, 31))  # the period's last day
        world.f.employment(Q, world.organ)
        result = reconcile(period="2026-10", as_of=D(2026, 11, 20))
        assert result.person_rules(world.key(P)) == set()
        assert result.person_rules(world.key(Q)) == {"ESTABLISHED_NOT_PAID"}


class TestCadreWithoutEstablishment:
    def test_leader_not_on_the_roster(self, world: World, reconcile: Reconcile) -> None:
        world.f.cadre(P, world.organ2, leader_level="deputy")
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"CADRE_WITHOUT_ESTABLISHMENT"}

    def test_a_cadre_without_leader_level_is_not(self, world: World, reconcile: Reconcile) -> None:
        world.f.cadre(P, world.organ2, leader_level="none")
        assert reconcile().person_rules(world.key(P)) == set()


class TestUnitMismatch:
    def test_no_unit_common_to_all(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ2)
        world.f.payroll(P, world.organ)
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"UNIT_MISMATCH"}
        finding = result.one("UNIT_MISMATCH", world.key(P))
        assert finding.departments == ",establishment,hr,finance,"

    def test_one_common_unit_is_enough(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.roster(P, world.organ2)
        assert reconcile().person_rules(world.key(P)) == {"DUPLICATE_ESTABLISHMENT"}

    def test_the_cadre_record_counts(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.organ)
        world.f.cadre(P, world.organ2)
        assert reconcile().person_rules(world.key(P)) == {"UNIT_MISMATCH"}


class TestFundingMismatch:
    def test_budget_pay_in_a_self_funded_unit(self, world: World, reconcile: Reconcile) -> None:
        world.f.consistent(P, world.self_funded, establishment_type="institutional")
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"FUNDING_MISMATCH"}
        assert world.self_funded in result.one("FUNDING_MISMATCH", world.key(P)).summary_en

    def test_self_funded_pay_is_not(self, world: World, reconcile: Reconcile) -> None:
        unit = world.self_funded
        world.f.roster(P, unit, establishment_type="institutional")
        world.f.employment(P, unit, category="institution_staff")
        world.f.payroll(P, unit, establishment_type="institutional", funding="self_funded")
        assert reconcile().person_rules(world.key(P)) == set()


class TestNameMismatch:
    def test_different_names(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster(P, world.organ, name="张三")
        world.f.employment(P, world.organ, name="张三")
        world.f.payroll(P, world.organ, name="张叁")
        result = reconcile()
        assert result.person_rules(world.key(P)) == {"NAME_MISMATCH"}
        assert result.one("NAME_MISMATCH", world.key(P)).departments == (
            ",establishment,hr,finance,"
        )

    def test_spacing_width_and_middle_dots_are_the_same_name(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.roster(P, world.organ, name="阿依古丽·买买提")
        world.f.employment(P, world.organ, name="阿依古丽•买买提")
        world.f.payroll(P, world.organ, name="阿依古丽　．买买提")
        assert reconcile().person_rules(world.key(P)) == set()


class TestIdentifiers:
    def test_fifteen_digit_numbers_join_their_eighteen_digit_form(
        self, world: World, reconcile: Reconcile
    ) -> None:
        number = "612127197604031231"
        world.f.roster(number, world.organ)
        world.f.employment("612127760403123", world.organ)
        world.f.payroll("612127760403123", world.organ)
        assert world.key("612127760403123") == world.key(number)
        assert reconcile().person_rules(world.key(number)) == set()

    def test_lower_case_x_joins_upper_case(self, world: World, reconcile: Reconcile) -> None:
        world.f.roster("11010519491231002X", world.organ)
        world.f.employment("11010519491231002x", world.organ)
        world.f.payroll("11010519491231002x", world.organ)
        assert reconcile().person_rules(world.key("11010519491231002X")) == set()


class TestCoverage:
    def test_a_department_that_has_not_pushed_is_not_compared(
        self, factory: Factory, reconcile: Reconcile
    ) -> None:
        organ = unit_code(1)
        factory.unit(organ)
        factory.quota(organ, "administrative", 10)
        factory.roster(P, organ)
        factory.payroll(P, organ)
        result = reconcile()
        assert result.findings == []
        assert result.run.skipped is not None
        assert result.run.skipped["ESTABLISHED_NOT_EMPLOYED"] == ["employment"]
        assert "ESTABLISHED_NOT_EMPLOYED" not in (result.run.counts or {})
        assert result.run.skipped["CADRE_WITHOUT_ESTABLISHMENT"] == ["cadres"]

    def test_payroll_counts_only_in_the_runs_period(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.roster(P, world.organ)
        world.f.employment(P, world.organ)
        result = reconcile(period="2026-11")
        assert result.person_rules(world.key(P)) == set()
        assert result.run.skipped is not None
        assert result.run.skipped["ESTABLISHED_NOT_PAID"] == ["payroll"]

    def test_the_default_period_is_the_latest_pushed(
        self, world: World, reconcile: Reconcile
    ) -> None:
        world.f.payroll(P, world.organ, period="2026-09")
        result = reconcile(period=None)
        assert result.run.period == "2026-10"

    def test_the_default_period_is_never_after_next_month(
        self, world: World, reconcile: Reconcile
    ) -> None:
        """A line of a mistyped far month (kept from before the hub refused them) does not
        become every default run's period."""
        world.f.payroll(P, world.organ, period="2062-11")
        result = reconcile(period=None)
        assert result.run.period == "2026-10"
