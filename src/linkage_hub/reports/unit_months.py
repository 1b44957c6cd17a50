"""A unit's months: its quota and head counts month by month, for the console's unit page and
the annual audit report (``GET /api/v1/reports/annual``, issue 21).

Each month is counted on its last day (the ``last`` day for the last month) with the staffing
report's definitions (:mod:`linkage_hub.reports.staffing`, by business dates through
:mod:`linkage_hub.validtime`), so the month of today shows exactly the staffing rows of
the unit as of today: per establishment type the quota version in force (``approved``) and the
roster entries of that day (``on_roster``); of those, whom HR lists as employed that day in the
unit (``employed``) and whom finance pays in the unit in the month's payroll period (``paid``:
the latest period not after the month for which the unit's region has payroll lines). Beside
them the leader posts in force and the cadres in office, by level.

One statement per kind of fact covers every month (a VALUES list of month ends joined with the
records' valid-time ranges): a year costs the same three queries as a month. The unit must lie
in the caller's region, else it does not exist (404) — a unit not in the registry counts as
existing where the caller holds current records of it, so a finding's unregistered unit still
has a page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, text
from sqlalchemy.orm import Session, aliased

from linkage_hub import validtime as vt
from linkage_hub.auth.principal import Principal
from linkage_hub.errors import NotFound
from linkage_hub.privacy.state import refuse_while_rotating
from linkage_hub.registry.models import RegistryUnit
from linkage_hub.reports.tenure import (
    month_values,  # the VALUES list of month ends
    months_between,
)

LEVELS = ("principal", "deputy")
PERSON_TABLES = ("records_roster", "records_cadre", "records_employment", "records_payroll")


class _Shape(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuotaCount(_Shape):
    """One establishment type of one month: the staffing report's row for that day."""

    establishment_type: str
    approved: int
    on_roster: int
    employed: int
    paid: int

    @property
    def difference(self) -> int:
        return self.on_roster - self.approved


class UnitMonth(_Shape):
    month: str  # YYYY-MM
    as_of: dt.date  # the day counted
    registered: bool  # registered in the registry that day (else no staffing rows that day)
    payroll_period: str | None
    quotas: list[QuotaCount]
    employed: int
    paid: int
    leader_posts: dict[str, int]  # level → approved posts
    leaders: dict[str, int]  # level → cadres in office

    @property
    def approved(self) -> int:
        return sum(q.approved for q in self.quotas)

    @property
    def on_roster(self) -> int:
        return sum(q.on_roster for q in self.quotas)


class UnitFacts(_Shape):
    unit_code: str
    region: str
    registered: bool  # a current registry record exists
    name: str | None = None
    kind: str | None = None
    funding: str | None = None
    parent_code: str | None = None
    parent_name: str | None = None  # only when the parent lies in the caller's region too
    status: str | None = None
    classified: bool = False
    internal_unit_limit: int | None = None
    established_on: dt.date | None = None
    abolished_on: dt.date | None = None


class UnitMonths(_Shape):
    unit: UnitFacts
    months: list[UnitMonth]


def unit_months(
    session: Session,
    principal: Principal,
    unit_code: str,
    first: dt.date,
    last: dt.date,
    zone: ZoneInfo,
) -> UnitMonths:
    """The unit's facts and every month touching [first, last], each counted on its last day
    (capped at ``last``: pass today to count the current month as of today; days are in the
    hub's time ``zone``)."""
    refuse_while_rotating(session, "a unit's monthly staffing")
    unit = unit_facts(session, principal, unit_code)
    months = months_between(first, last)
    if not months:
        return UnitMonths(unit=unit, months=[])
    dialect = session.get_bind().dialect.name
    values, params = month_values(months, dialect)
    lo, hi = principal.region_bounds
    params |= {"unit": unit.unit_code, "lo": lo, "hi": hi, "unit_region": unit.region}
    params |= vt.zone_param(zone)
    staffing = session.execute(text(_staffing_sql(values, dialect)), params).all()
    leaders = session.execute(text(_leaders_sql(values, dialect)), params).all()
    return UnitMonths(unit=unit, months=_assemble(months, staffing, leaders))


def unit_facts(session: Session, principal: Principal, unit_code: str) -> UnitFacts:
    """The unit's current registry record inside the caller's region; else, for a unit the
    registry lacks, the region of the caller's current records of it; else 404."""
    lo, hi = principal.region_bounds
    parent = aliased(RegistryUnit)
    parent_name = (
        select(parent.name)
        .where(
            parent.unit_code == RegistryUnit.parent_code,
            parent.closed_at.is_(None),
            parent.region.between(lo, hi),
        )
        .limit(1)
        .scalar_subquery()
    )
    row = session.execute(
        select(RegistryUnit, parent_name.label("parent_name")).where(
            RegistryUnit.unit_code == unit_code,
            RegistryUnit.closed_at.is_(None),
            RegistryUnit.region.between(lo, hi),
        )
    ).first()
    if row is not None:
        u: RegistryUnit = row[0]
        return UnitFacts(
            unit_code=u.unit_code,
            region=u.region,
            registered=True,
            name=u.name,
            kind=u.kind,
            funding=u.funding,
            parent_code=u.parent_code,
            parent_name=row[1],
            status=u.status,
            classified=bool(u.classified),
            internal_unit_limit=u.internal_unit_limit,
            established_on=_date(u.established_on),
            abolished_on=_date(u.abolished_on),
        )
    held = " UNION ALL ".join(
        f"SELECT region FROM {t} WHERE unit_code = :unit AND closed_at IS NULL "
        "AND region BETWEEN :lo AND :hi"
        for t in PERSON_TABLES
    )
    region = session.execute(
        text(f"SELECT MIN(region) FROM ({held}) held"), {"unit": unit_code, "lo": lo, "hi": hi}
    ).scalar_one_or_none()
    if region is None:
        raise NotFound("No such unit.")
    return UnitFacts(unit_code=unit_code, region=str(region), registered=False)


def _staffing_sql(values: str, dialect: str) -> str:
    """Per month × establishment type: the staffing report's cells for the unit, and per month
    its payroll period and whether the unit was registered (months without cells included).

    People are counted, one per roster entry (one per person and unit): ``employed`` and
    ``paid`` ask whether HR lists / finance pays that person at the unit (EXISTS, never a join
    that would count a person's lines). The payroll periods are walked from the latest down,
    one index step each (``hub_periods``: a few dozen values, never the lines), each kept when
    the unit's region has a line in it (one index seek); each month then takes the latest
    kept period not after it — the cost does not grow with the region's lines, with or
    without SQLite statistics. The quota versions are checked against the unit's current
    quotas only (its partial index), not every current quota."""
    quotas = vt.effective_version(
        "registry_quota",
        "m.month_end",
        dialect,
        months=True,
        where="v.unit_code = :unit",
        current="c.unit_code = :unit",
    )
    return f"""
WITH RECURSIVE {values},
hub_periods(period) AS (
  SELECT MAX(p.period) FROM records_payroll p WHERE p.closed_at IS NULL
  UNION ALL
  SELECT (SELECT MAX(p.period) FROM records_payroll p WHERE p.closed_at IS NULL
            AND p.period < h.period)
  FROM hub_periods h WHERE h.period IS NOT NULL
), region_periods AS MATERIALIZED (
  SELECT h.period FROM hub_periods h WHERE h.period IS NOT NULL AND EXISTS (
    SELECT 1 FROM records_payroll p WHERE p.closed_at IS NULL AND p.period = h.period
       AND p.region = :unit_region)
), periods AS (
  SELECT m.month, m.month_end,
         (SELECT MAX(rp.period) FROM region_periods rp WHERE rp.period <= m.month) AS period,
         (SELECT COUNT(*) FROM registry_unit u WHERE u.unit_code = :unit
            AND u.closed_at IS NULL AND {vt.registered("u", "m.month_end", dialect)}) AS registered
  FROM months m
), quota AS (
  SELECT q.month, q.establishment_type, q.approved FROM {quotas} q
), counts AS (
  SELECT m.month, r.establishment_type, COUNT(*) AS on_roster,
         COUNT(CASE WHEN EXISTS (
           SELECT 1 FROM records_employment e WHERE e.person_key = r.person_key
              AND e.unit_code = r.unit_code AND e.closed_at IS NULL
              AND {vt.employed("e", "m.month_end", dialect)}) THEN 1 END) AS employed,
         COUNT(CASE WHEN EXISTS (
           SELECT 1 FROM records_payroll p WHERE p.person_key = r.person_key
              AND p.unit_code = r.unit_code AND p.closed_at IS NULL
              AND p.period = m.period AND p.status = 'paid') THEN 1 END) AS paid
  FROM periods m
  JOIN records_roster r ON r.unit_code = :unit AND r.closed_at IS NULL
   AND r.region BETWEEN :lo AND :hi AND {vt.on_roster("r", "m.month_end", dialect)}
  GROUP BY m.month, r.establishment_type
), cells AS (
  SELECT month, establishment_type FROM quota
  UNION SELECT month, establishment_type FROM counts
)
SELECT m.month, m.period, m.registered, c.establishment_type,
       COALESCE(quota.approved, 0), COALESCE(counts.on_roster, 0),
       COALESCE(counts.employed, 0), COALESCE(counts.paid, 0)
FROM periods m
LEFT JOIN cells c ON c.month = m.month
LEFT JOIN quota ON quota.month = c.month AND quota.establishment_type = c.establishment_type
LEFT JOIN counts ON counts.month = c.month AND counts.establishment_type = c.establishment_type
ORDER BY m.month, c.establishment_type
"""


def _leaders_sql(values: str, dialect: str) -> str:
    """Per month × level: leader posts in force and leaders (cadres) in office.

    The post versions are checked against the unit's current posts only (a unit's posts, not
    every current post of the province, for each month); the unit's cadres are the outer loop
    of ``serving`` (CROSS JOIN keeps SQLite's order: no Bloom filter over the months)."""
    posts = vt.effective_version(
        "registry_leader_post",
        "m.month_end",
        dialect,
        months=True,
        where="v.unit_code = :unit",
        current="c.unit_code = :unit",
    )
    return f"""
WITH {values},
posts AS (SELECT p.month, p.level, p.approved FROM {posts} p),
serving AS (
  SELECT m.month, c.leader_level AS level, COUNT(*) AS n
  FROM records_cadre c CROSS JOIN months m
  WHERE c.unit_code = :unit AND c.closed_at IS NULL
   AND c.region BETWEEN :lo AND :hi AND c.leader_level IN ('principal', 'deputy')
   AND {vt.in_office("c", "m.month_end", dialect)}
  GROUP BY m.month, c.leader_level
), cells AS (
  SELECT month, level FROM posts UNION SELECT month, level FROM serving
)
SELECT c.month, c.level, COALESCE(posts.approved, 0), COALESCE(serving.n, 0)
FROM cells c
LEFT JOIN posts ON posts.month = c.month AND posts.level = c.level
LEFT JOIN serving ON serving.month = c.month AND serving.level = c.level
ORDER BY c.month, c.level
"""


def _assemble(
    months: list[tuple[str, dt.date]], staffing: Iterable[Any], leaders: Iterable[Any]
) -> list[UnitMonth]:
    """The rows of the two statements (a few per month) shaped month by month."""
    periods: dict[str, str | None] = {}
    registered: dict[str, bool] = {}
    quotas: dict[str, list[QuotaCount]] = {m: [] for m, _ in months}
    for month, period, is_registered, kind, approved, on_roster, employed, paid in staffing:
        periods[month] = str(period) if period else None
        registered[month] = bool(is_registered)
        if kind is not None:
            quotas[month].append(
                QuotaCount(
                    establishment_type=kind,
                    approved=approved,
                    on_roster=on_roster,
                    employed=employed,
                    paid=paid,
                )
            )
    posts: dict[str, dict[str, int]] = {m: dict.fromkeys(LEVELS, 0) for m, _ in months}
    serving: dict[str, dict[str, int]] = {m: dict.fromkeys(LEVELS, 0) for m, _ in months}
    for month, level, approved, n in leaders:
        posts[month][level] = approved
        serving[month][level] = n
    return [
        UnitMonth(
            month=month,
            as_of=end,
            registered=registered.get(month, False),
            payroll_period=periods.get(month),
            quotas=quotas[month],
            employed=sum(q.employed for q in quotas[month]),
            paid=sum(q.paid for q in quotas[month]),
            leader_posts=posts[month],
            leaders=serving[month],
        )
        for month, end in months
    ]


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
