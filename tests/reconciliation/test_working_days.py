"""The working-day grace and the rule catalogue (pure logic)."""

from __future__ import annotations

import datetime as dt

from linkage_hub.reconciliation.rules import RULES, RuleCode, exit_deadline


class TestWorkingDays:
    def test_ten_working_days_back_over_weekends(self) -> None:
        # as of Friday 2026-10-30: the 11th working day back (inclusive) is Friday 10-16
        assert exit_deadline(dt.date(2026, 10, 30), 10) == dt.date(2026, 10, 16)

    def test_a_weekend_as_of_date(self) -> None:
        assert exit_deadline(dt.date(2026, 10, 31), 10) == dt.date(2026, 10, 16)

    def test_holidays_are_not_working_days(self) -> None:
        national_day = tuple(dt.date(2026, 10, d) for d in range(1, 8))
        assert exit_deadline(dt.date(2026, 10, 16), 10, national_day) == dt.date(2026, 9, 25)

    def test_zero_grace(self) -> None:
        assert exit_deadline(dt.date(2026, 10, 30), 0) == dt.date(2026, 10, 30)


def test_the_catalogue_has_the_seventeen_rules() -> None:
    assert [r.code for r in RULES] == list(RuleCode)
    assert len(RULES) == 17
