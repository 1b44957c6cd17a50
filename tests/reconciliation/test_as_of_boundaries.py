"""The rules and the reports agree on who is in post and which unit is registered on a day,
on both databases.

DOMAIN.md's "active cadre" and "registered unit" are read on the run's as-of date, by the
departments' business dates, as the reports count them that day (:mod:`linkage_hub.validtime`):
``removed_on`` is a cadre's first day out of office whatever the record's status, and
``abolished_on`` a unit's first day abolished whatever its status. Each case sets the date to
the day before the as-of date, the as-of date itself and the day after, and checks the rule
and the report (the unit's month, the staffing report) on the same day.
"""

from __future__ import annotations

import datetime as dt

import pytest

from linkage_hub.auth.principal import Principal
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.reports.staffing import staffing_rows
from linkage_hub.reports.unit_months import unit_months
from linkage_hub.settings import Settings
from tests.reconciliation.conftest import AS_OF, Reconcile, World
from tests.reconciliation.factory import citizen_id, unit_code

P, Q = citizen_id(1), citizen_id(2)
DAY = dt.timedelta(days=1)
# (offset of the date from the as-of date, counted on the as-of date)
BOUNDARIES = [(-1, False), (0, False), (1, True)]
OFFICE = Principal("office", "office", Department.establishment, "230100")


def _leaders(database: Database, settings: Settings, unit: str, level: str) -> int:
    with database.transaction() as session:
        months = unit_months(session, OFFICE, unit, AS_OF, AS_OF, settings.zone).months
    assert [m.as_of for m in months] == [AS_OF]
    return months[0].leaders.get(level, 0)


class TestCadreInPost:
    @pytest.mark.parametrize("status", ["active", "removed"])
    @pytest.mark.parametrize(("offset", "serving"), BOUNDARIES)
    def test_removed_on_against_the_as_of_date(
        self,
        world: World,
        reconcile: Reconcile,
        database: Database,
        settings: Settings,
        status: str,
        offset: int,
        serving: bool,
    ) -> None:
        # organ has one principal post: P holds it, Q's record decides whether it is over
        for person in (P, Q):
            world.f.consistent(person, world.organ)
        world.f.cadre(P, world.organ, leader_level="principal")
        removed_on = AS_OF + offset * DAY
        world.f.cadre(
            Q, world.organ, leader_level="principal", status=status, removed_on=removed_on
        )
        found = reconcile().rules_for(world.organ)
        assert found == ({"OVER_LEADER_POSTS"} if serving else set())
        assert _leaders(database, settings, world.organ, "principal") == (2 if serving else 1)

    @pytest.mark.parametrize(("offset", "serving"), BOUNDARIES)
    def test_a_leader_without_establishment(
        self, world: World, reconcile: Reconcile, offset: int, serving: bool
    ) -> None:
        world.f.cadre(P, world.organ, leader_level="deputy", removed_on=AS_OF + offset * DAY)
        found = reconcile().person_rules(world.key(P))
        assert found == ({"CADRE_WITHOUT_ESTABLISHMENT"} if serving else set())

    def test_an_undated_removal_ends_on_the_day_it_was_recorded(
        self, world: World, reconcile: Reconcile, database: Database, settings: Settings
    ) -> None:
        # the factory records every version on 2026-11-01, the day after AS_OF: on AS_OF the
        # hub cannot place the removal yet, and the reports count the leader in office
        for person in (P, Q):
            world.f.consistent(person, world.organ)
        world.f.cadre(P, world.organ, leader_level="principal")
        world.f.cadre(Q, world.organ, leader_level="principal", status="removed")
        assert reconcile().rules_for(world.organ) == {"OVER_LEADER_POSTS"}
        assert _leaders(database, settings, world.organ, "principal") == 2
        assert reconcile(as_of=dt.date(2026, 11, 2)).rules_for(world.organ) == set()


class TestUnitRegistered:
    @pytest.mark.parametrize("status", ["active", "abolished"])
    @pytest.mark.parametrize(("offset", "registered"), BOUNDARIES)
    def test_abolished_on_against_the_as_of_date(
        self,
        world: World,
        reconcile: Reconcile,
        database: Database,
        settings: Settings,
        status: str,
        offset: int,
        registered: bool,
    ) -> None:
        unit = unit_code(7)
        world.f.unit(unit, status=status, abolished_on=AS_OF + offset * DAY)
        world.f.quota(unit, "administrative", 5)
        world.f.consistent(P, unit)
        assert reconcile().rules_for(unit) == (set() if registered else {"UNREGISTERED_UNIT"})
        with database.transaction() as session:
            rows = staffing_rows(session, "230100", AS_OF, settings.zone)
        assert (unit in {r.unit_code for r in rows}) is registered

    @pytest.mark.parametrize(("offset", "registered"), BOUNDARIES)
    def test_a_child_abolished_from_a_later_day_still_counts(
        self, world: World, reconcile: Reconcile, offset: int, registered: bool
    ) -> None:
        parent = unit_code(10)
        world.f.unit(parent, internal_unit_limit=1)
        world.f.unit(unit_code(11), parent=parent)
        world.f.unit(
            unit_code(12), parent=parent, status="abolished", abolished_on=AS_OF + offset * DAY
        )
        found = reconcile().rules_for(parent)
        assert found == ({"OVER_INTERNAL_UNITS"} if registered else set())


class TestByStatusOnPurpose:
    """Where the rules read a record's status and the reports its dates, by decision (README,
    *On the as-of date*): a department records a future change by pushing it on its day."""

    def test_a_roster_exit_dated_later_is_off_the_roster_for_the_rules(
        self, world: World, reconcile: Reconcile, database: Database, settings: Settings
    ) -> None:
        unit = unit_code(7)
        world.f.unit(unit)
        world.f.quota(unit, "administrative", 5)
        world.f.consistent(Q, unit)  # a colleague, so the unit's row is there either way
        world.f.roster(P, unit, status="exited", exited_on=AS_OF + 5 * DAY)
        world.f.employment(P, unit)
        world.f.payroll(P, unit)
        found = reconcile().person_rules(world.key(P))
        assert "EMPLOYED_WITHOUT_ESTABLISHMENT" in found, found
        with database.transaction() as session:
            rows = staffing_rows(session, "230100", AS_OF, settings.zone)
        [row] = [r for r in rows if r.unit_code == unit]
        assert (row.on_roster, row.employed, row.paid) == (2, 2, 2)
