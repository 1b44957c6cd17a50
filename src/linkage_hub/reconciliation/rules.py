"""The discrepancy catalogue of DOMAIN.md: the 17 rules, what they compare and who answers.

The SQL of each rule lives in :mod:`linkage_hub.reconciliation.queries`; this module is the
catalogue the API lists and the gate that decides which rules a run may execute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from linkage_hub.domain import Dataset, Department


class RuleCode(StrEnum):
    PAID_WITHOUT_ESTABLISHMENT = "PAID_WITHOUT_ESTABLISHMENT"
    PAID_AFTER_EXIT = "PAID_AFTER_EXIT"
    DUPLICATE_PAYROLL = "DUPLICATE_PAYROLL"
    DUPLICATE_ESTABLISHMENT = "DUPLICATE_ESTABLISHMENT"
    OVER_QUOTA = "OVER_QUOTA"
    OVER_LEADER_POSTS = "OVER_LEADER_POSTS"
    OVER_INTERNAL_UNITS = "OVER_INTERNAL_UNITS"
    MIXED_ESTABLISHMENT = "MIXED_ESTABLISHMENT"
    UNREGISTERED_UNIT = "UNREGISTERED_UNIT"
    EMPLOYED_WITHOUT_ESTABLISHMENT = "EMPLOYED_WITHOUT_ESTABLISHMENT"
    LATE_EXIT = "LATE_EXIT"
    ESTABLISHED_NOT_EMPLOYED = "ESTABLISHED_NOT_EMPLOYED"
    ESTABLISHED_NOT_PAID = "ESTABLISHED_NOT_PAID"
    CADRE_WITHOUT_ESTABLISHMENT = "CADRE_WITHOUT_ESTABLISHMENT"
    UNIT_MISMATCH = "UNIT_MISMATCH"
    FUNDING_MISMATCH = "FUNDING_MISMATCH"
    NAME_MISMATCH = "NAME_MISMATCH"


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"


SEVERITY_RANK = {Severity.critical: 0, Severity.high: 1, Severity.medium: 2, Severity.low: 3}


class Subject(StrEnum):
    person = "person"
    unit_type = "unit_establishment_type"
    unit_level = "unit_level"
    unit = "unit"


E, ORG, H, F = Department.establishment, Department.organization, Department.hr, Department.finance
PERSON_SETS = (Dataset.roster, Dataset.employment, Dataset.cadres, Dataset.payroll)


@dataclass(frozen=True, slots=True)
class Rule:
    code: RuleCode
    title_zh: str
    title_en: str
    severity: Severity
    subject: Subject
    departments: tuple[Department, ...]  # answerable; "the departments involved" adds to these
    requires: tuple[Dataset, ...]  # every one must have current records in the run's region
    requires_any: tuple[tuple[Dataset, ...], int] = ((), 0)  # at least n of these
    involved: bool = False  # answerable = the departments whose records are involved
    grace: bool = False  # uses the exit grace in working days

    def gate(self, covered: frozenset[Dataset]) -> list[Dataset]:
        """The datasets missing for this rule to run (empty: it runs)."""
        missing = [d for d in self.requires if d not in covered]
        options, needed = self.requires_any
        if needed and sum(1 for d in options if d in covered) < needed:
            missing.extend(d for d in options if d not in covered and d not in missing)
        return missing


R, C, EM, P, U = Dataset.roster, Dataset.cadres, Dataset.employment, Dataset.payroll, Dataset.units
Q, LP = Dataset.quotas, Dataset.leader_posts

RULES: tuple[Rule, ...] = (
    Rule(RuleCode.PAID_WITHOUT_ESTABLISHMENT, "有薪无编（吃空饷）", "Paid without establishment",
         Severity.critical, Subject.person, (F, E), (P, R)),
    Rule(RuleCode.PAID_AFTER_EXIT, "出编后仍领薪", "Paid after exit", Severity.critical,
         Subject.person, (F,), (P,), ((R, EM), 1)),
    Rule(RuleCode.DUPLICATE_PAYROLL, "多头饷", "Paid by several units", Severity.critical,
         Subject.person, (F,), (P,)),
    Rule(RuleCode.DUPLICATE_ESTABLISHMENT, "一人多编", "On the roster of several units",
         Severity.high, Subject.person, (E,), (R,)),
    Rule(RuleCode.OVER_QUOTA, "超编", "Over quota", Severity.high, Subject.unit_type, (E,),
         (R, U, Q)),
    Rule(RuleCode.OVER_LEADER_POSTS, "超职数", "Over leader posts", Severity.high,
         Subject.unit_level, (ORG, E), (C, U, LP)),
    Rule(RuleCode.OVER_INTERNAL_UNITS, "超限额设置机构", "Over the internal-unit limit",
         Severity.high, Subject.unit, (E,), (U,)),
    Rule(RuleCode.MIXED_ESTABLISHMENT, "混用编制", "Mixed use of establishment types",
         Severity.high, Subject.person, (E, ORG, F), (R,)),
    Rule(RuleCode.UNREGISTERED_UNIT, "机构未批先设", "Unit not registered", Severity.high,
         Subject.unit, (E,), (U,), involved=True),
    Rule(RuleCode.EMPLOYED_WITHOUT_ESTABLISHMENT, "无编进人", "Employed without establishment",
         Severity.high, Subject.person, (H, E), (EM, R)),
    Rule(RuleCode.LATE_EXIT, "逾期未出编", "Exit from the roster overdue", Severity.medium,
         Subject.person, (E,), (R, EM), grace=True),
    Rule(RuleCode.ESTABLISHED_NOT_EMPLOYED, "有编无人", "On the roster, not employed",
         Severity.medium, Subject.person, (H, E), (R, EM)),
    Rule(RuleCode.ESTABLISHED_NOT_PAID, "有编无薪", "On the roster, not paid", Severity.medium,
         Subject.person, (F, E), (R, P, U)),
    Rule(RuleCode.CADRE_WITHOUT_ESTABLISHMENT, "无编任职", "Leader without establishment",
         Severity.medium, Subject.person, (ORG, E), (C, R)),
    Rule(RuleCode.UNIT_MISMATCH, "人编岗不一致", "Departments name different units",
         Severity.medium, Subject.person, (), (), (PERSON_SETS, 2), involved=True),
    Rule(RuleCode.FUNDING_MISMATCH, "经费形式不一致", "Budget pay in a self-funded unit",
         Severity.medium, Subject.person, (F, E), (P, U)),
    Rule(RuleCode.NAME_MISMATCH, "姓名不一致", "Names differ between departments",
         Severity.low, Subject.person, (), (), (PERSON_SETS, 2), involved=True),
)  # fmt: skip

RULES_BY_CODE = {rule.code: rule for rule in RULES}


@dataclass(frozen=True, slots=True)
class RunParameters:
    """What a run compares with, fixed once per run and stored with it."""

    region: str
    period: str | None
    as_of: dt.date
    exit_grace_working_days: int
    holidays: tuple[dt.date, ...]

    @property
    def period_start(self) -> dt.date | None:
        if self.period is None:
            return None
        year, month = self.period.split("-")
        return dt.date(int(year), int(month), 1)

    @property
    def period_end(self) -> dt.date | None:
        """The period's last day."""
        start = self.period_start
        if start is None:
            return None
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)

    @property
    def late_exit_before(self) -> dt.date:
        """An HR exit that took effect before this date is overdue on the as-of date."""
        return exit_deadline(self.as_of, self.exit_grace_working_days, self.holidays)


def is_working_day(day: dt.date, holidays: frozenset[dt.date] | tuple[dt.date, ...]) -> bool:
    return day.weekday() < 5 and day not in holidays


def exit_deadline(as_of: dt.date, grace: int, holidays: tuple[dt.date, ...] = ()) -> dt.date:
    """The (grace + 1)-th working day counting back from ``as_of`` (inclusive).

    An exit that took effect on ``s`` is overdue when more than ``grace`` working days lie in
    ``(s, as_of]``, which holds exactly when ``s`` is before that day.
    """
    days = frozenset(holidays)
    seen, day = 0, as_of
    while True:
        if is_working_day(day, days):
            seen += 1
            if seen == grace + 1:
                return day
        day -= dt.timedelta(days=1)
