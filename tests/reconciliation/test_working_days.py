"""The working-day grace and the rule catalogue (pure logic)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from linkage_hub.reconciliation import delta
from linkage_hub.reconciliation.rules import RULES, RuleCode, RunParameters, exit_deadline
from linkage_hub.reconciliation.runs import parameters_json
from linkage_hub.settings import Settings


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

    def test_the_same_holidays_in_another_order_are_the_same_run_parameters(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Two hub processes configured with the same holidays, listed in another order or one
        twice, settle under the same parameters: else each process's incremental run reads
        the region in full and drops the other's watermarks (a review, 2026-12-06)."""

        def parameters(holidays: str) -> str:
            monkeypatch.setenv("LINKAGE_HOLIDAYS", holidays)
            settings = Settings(data_dir=tmp_path)
            params = RunParameters(
                region="230100",
                period="2026-10",
                as_of=dt.date(2026, 10, 30),
                exit_grace_working_days=10,
                holidays=tuple(settings.holidays),
            )
            return delta.canonical(parameters_json(params))

        one = parameters('["2026-10-01", "2026-10-02"]')
        assert parameters('["2026-10-02", "2026-10-01", "2026-10-02"]') == one


def test_the_catalogue_has_the_seventeen_rules() -> None:
    assert [r.code for r in RULES] == list(RuleCode)
    assert len(RULES) == 17
