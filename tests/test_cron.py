"""The schedules' cron expressions (pure logic)."""

from __future__ import annotations

import datetime as dt

import pytest

from linkage_hub.cron import CronError, CronSchedule

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
            # a field starting with * is unrestricted, as in Vixie cron: odd days that are
            # Mondays (2026-11-02 is an even Monday), not every odd day and every Monday
            ("0 0 */2 * 1", T(2026, 10, 30, 0, 1), T(2026, 11, 9, 0, 0)),
            ("0 0 13 * */2", T(2026, 10, 30, 0, 1), T(2026, 12, 13, 0, 0)),  # a Sunday 13th
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
