"""The rules and the reports agree on which unit is registered on a day, on both databases.

DOMAIN.md's "registered unit" is read on the run's as-of date, by the departments' business
dates, as the reports count it that day (:mod:`linkage_hub.validtime`): ``abolished_on`` is a
unit's first day abolished whatever its status. Each case sets the date to the day before the
as-of date, the as-of date itself and the day after, and checks the rule and the report (the
staffing report) on the same day.
"""

from __future__ import annotations

import datetime as dt

import pytest

from linkage_hub.db import Database
from linkage_hub.reports.staffing import staffing_rows
from linkage_hub.settings import Settings
from tests.reconciliation.conftest import AS_OF, Reconcile, World
from tests.reconciliation.factory import citizen_id, unit_code

P = citizen_id(1)
DAY = dt.timedelta(days=1)
# (offset of the date from the as-of date, counted on the as-of date)
BOUNDARIES = [(-1, False), (0, False), (1, True)]


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
