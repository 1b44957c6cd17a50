"""The built-in schedule's cron expressions and the working-day grace (pure logic)."""

from __future__ import annotations

import datetime as dt

import pytest

from linkage_hub.reconciliation.cron import CronError, CronSchedule
from linkage_hub.reconciliation.rules import RULES, RuleCode, exit_deadline

T = dt.datetime


class TestCron:
    @pytest.mark.parametrize(
        ("expression", "after", "expected"),
        [
            ("0 2 * * *", T(2026, 10, 30, 1, 59), T(2026, 10, 30, 2, 0)),
            ("0 2 * * *", T(2026, 10, 30, 2, 0), T(2026, 10, 31, 2, 0)),
            ("*/15 * * * *", T(2026, 10, 30, 10, 7), T(2026, 10, 30, 10, 15)),
            ("30 1 * * 1-5", T(2026, 10, 30, 23, 0), T(2026, 11, 2, 1, 30)),  # Fri → Mon
            ("0 0 1 * *", T(2026, 10, 30, 0, 0), T(2026, 11, 1, 0, 0)),
            ("0 0 31 * *", T(2026, 11, 1, 0, 0), T(2026, 12, 31, 0, 0)),
            ("0 3 * * 0", T(2026, 10, 30, 0, 0), T(2026, 11, 1, 3, 0)),  # Sunday
            ("0 3 * * 7", T(2026, 10, 30, 0, 0), T(2026, 11, 1, 3, 0)),
            ("0 0 13 * 5", T(2026, 10, 30, 0, 1), T(2026, 11, 6, 0, 0)),  # 13th or a Friday
            ("5,35 8-9 * 2 *", T(2026, 10, 30, 0, 0), T(2027, 2, 1, 8, 5)),
        ],
    )
    def test_next_after(self, expression: str, after: T, expected: T) -> None:
        assert CronSchedule.parse(expression).next_after(after) == expected

    @pytest.mark.parametrize(
        "expression",
        ["", "0 2 * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"],
    )
    def test_bad_expressions(self, expression: str) -> None:
        with pytest.raises(CronError):
            CronSchedule.parse(expression)

    def test_never(self) -> None:
        with pytest.raises(CronError):
            CronSchedule.parse("0 0 31 2 *").next_after(T(2026, 1, 1))


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
