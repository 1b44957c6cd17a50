"""The staffing report: per unit × establishment type, the quota against the people on the
roster, employed and paid — the core invariant 编制数、实有人员数、财政供养人员数相对应.

One SQL statement, for the day ``as_of`` by the departments' business dates (see
:mod:`linkage_hub.validtime`): units registered that day; the quota version in force;
roster entries on the roster that day; ``employed`` and ``paid`` count the row's roster people
whom HR lists as employed that day in the same unit, and whom finance pays in the same unit in
the unit's payroll period: the latest period not after ``as_of``'s month for which the *unit's*
region has payroll lines — the rule of :mod:`linkage_hub.reports.unit_months` (the annual
report's ``year_end``, the console's unit page), so a county's people are not counted unpaid
because a sibling county's finance is a month ahead. A roster entry in a unit that is not
registered is an ``UNREGISTERED_UNIT`` finding, not a staffing row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from linkage_hub import validtime as vt
from linkage_hub.privacy.state import refuse_while_rotating
from linkage_hub.versioning import region_bounds

HEADER_ZH = [
    "单位代码", "单位名称", "编制类型", "核定编制", "实名在编", "在职(人社)", "统发工资",
    "工资期间", "差额", "状态",
]  # fmt: skip
WIDTHS = [22, 36, 16, 10, 10, 12, 10, 10, 8, 8]
LIGHTS = {"over": "超编", "full": "满编", "under": "缺编"}
TYPE_ZH = {
    "administrative": "行政编制",
    "political_legal": "政法专项编制",
    "institutional": "事业编制",
    "worker": "工勤编制",
}


@dataclass(frozen=True, slots=True)
class StaffingRow:
    unit_code: str
    unit_name: str
    region: str
    establishment_type: str
    approved: int
    on_roster: int
    employed: int
    paid: int
    payroll_period: str | None  # the unit's region's period that ``paid`` counts

    @property
    def difference(self) -> int:
        return self.on_roster - self.approved

    @property
    def light(self) -> str:
        return "over" if self.difference > 0 else "full" if self.difference == 0 else "under"


def payroll_period(session: Session, region: str, as_of: dt.date) -> str | None:
    """The latest period not after ``as_of``'s month with payroll lines anywhere in ``region``
    (the report's headline; each row counts its own unit's region's period)."""
    lo, hi = region_bounds(region)
    value = session.execute(
        text(
            "SELECT MAX(p.period) FROM records_payroll p WHERE p.closed_at IS NULL "
            "AND p.region BETWEEN :lo AND :hi AND p.period <= :month"
        ),
        {"lo": lo, "hi": hi, "month": as_of.strftime("%Y-%m")},
    ).scalar_one_or_none()
    return str(value) if value else None


def staffing_rows(
    session: Session, region: str, as_of: dt.date, zone: ZoneInfo
) -> list[StaffingRow]:
    """The rows of ``region`` on ``as_of`` (a day in the hub's time ``zone``).

    The payroll periods are found per region of the units (a few, not per unit): the hub's
    periods are walked from the latest not after the month down, one index step each
    (``hub_periods``: a few dozen values, never the lines), and each region takes the latest
    in which it has a line (one index seek on period and region) — the walk
    :mod:`linkage_hub.reports.unit_months` does for one unit."""
    refuse_while_rotating(session, "the staffing report")
    dialect = session.get_bind().dialect.name
    quotas = vt.effective_version("registry_quota", ":day", dialect)
    sql = text(f"""
WITH RECURSIVE units AS (
  SELECT u.unit_code, u.name, u.region FROM registry_unit u
  WHERE u.closed_at IS NULL AND u.region BETWEEN :lo AND :hi
    AND {vt.registered("u", ":day", dialect)}
), hub_periods(period) AS (
  SELECT MAX(p.period) FROM records_payroll p WHERE p.closed_at IS NULL AND p.period <= :month
  UNION ALL
  SELECT (SELECT MAX(p.period) FROM records_payroll p WHERE p.closed_at IS NULL
            AND p.period < h.period)
  FROM hub_periods h WHERE h.period IS NOT NULL
), periods AS (
  SELECT g.region, (
    SELECT MAX(h.period) FROM hub_periods h WHERE h.period IS NOT NULL AND EXISTS (
      SELECT 1 FROM records_payroll p WHERE p.closed_at IS NULL AND p.period = h.period
         AND p.region = g.region)
  ) AS period
  FROM (SELECT DISTINCT region FROM units) g
), quota AS (
  SELECT q.unit_code, q.establishment_type, q.approved FROM {quotas} q
  JOIN units ON units.unit_code = q.unit_code
), counts AS (
  SELECT r.unit_code, r.establishment_type, COUNT(*) AS on_roster,
         COUNT(e.person_key) AS employed, COUNT(p.person_key) AS paid
  FROM records_roster r
  JOIN units ON units.unit_code = r.unit_code
  JOIN periods ON periods.region = units.region
  LEFT JOIN records_employment e ON e.person_key = r.person_key AND e.unit_code = r.unit_code
       AND e.closed_at IS NULL AND {vt.employed("e", ":day", dialect)}
  LEFT JOIN records_payroll p ON p.person_key = r.person_key AND p.unit_code = r.unit_code
       AND p.closed_at IS NULL AND p.period = periods.period AND p.status = 'paid'
  WHERE r.closed_at IS NULL AND r.region BETWEEN :lo AND :hi
    AND {vt.on_roster("r", ":day", dialect)}
  GROUP BY r.unit_code, r.establishment_type
), cells AS (
  SELECT unit_code, establishment_type FROM quota
  UNION SELECT unit_code, establishment_type FROM counts
)
SELECT c.unit_code, units.name, units.region, c.establishment_type,
       COALESCE(quota.approved, 0), COALESCE(counts.on_roster, 0),
       COALESCE(counts.employed, 0), COALESCE(counts.paid, 0), periods.period
FROM cells c
JOIN units ON units.unit_code = c.unit_code
JOIN periods ON periods.region = units.region
LEFT JOIN quota ON quota.unit_code = c.unit_code
     AND quota.establishment_type = c.establishment_type
LEFT JOIN counts ON counts.unit_code = c.unit_code
     AND counts.establishment_type = c.establishment_type
ORDER BY c.unit_code, c.establishment_type
""").bindparams(bindparam("day", type_=Date))
    lo, hi = region_bounds(region)
    params = {"lo": lo, "hi": hi, "day": as_of, "month": as_of.strftime("%Y-%m")}
    params |= vt.zone_param(zone)
    return [StaffingRow(*row) for row in session.execute(sql, params)]
