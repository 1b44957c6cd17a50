"""The tenure report: the establishment part of a leader's economic-responsibility audit
(离任审计) — how the unit used its quota while the leader was in office.

Month by month over the tenure, on each month's last day (the tenure's last day for its last
month), by business dates (:mod:`linkage_hub.reports.validtime`): ``approved`` and
``leader_posts`` from the quota and leader-post versions in force, ``on_roster`` and
``leaders`` (cadres at level principal or deputy) in office that day, ``paid`` the unit's
payroll lines of that month with status ``paid``.

Every query is one statement over a VALUES list of months, whatever the tenure's length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from linkage_hub.reports import validtime as vt


@dataclass(frozen=True, slots=True)
class TenureMonth:
    month: str
    approved: int
    on_roster: int
    paid: int
    leader_posts: int
    leaders: int


def months_between(start: dt.date, end: dt.date) -> list[tuple[str, dt.date]]:
    """Each month touching [start, end] with the day it ends (capped at ``end``)."""
    months: list[tuple[str, dt.date]] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        months.append((f"{year:04d}-{month:02d}", min(nxt - dt.timedelta(days=1), end)))
        year, month = nxt.year, nxt.month
    return months


def _values(months: list[tuple[str, dt.date]], dialect: str) -> tuple[str, dict[str, object]]:
    # PostgreSQL must know the VALUES columns' types to compare them with dates; SQLite keeps
    # dates as ISO text (and its CAST AS DATE would turn them into numbers).
    day = "CAST(:e{i} AS DATE)" if dialect == "postgresql" else ":e{i}"
    rows = ", ".join(f"(:m{i}, {day.format(i=i)})" for i in range(len(months)))
    params: dict[str, object] = {}
    for i, (month, end) in enumerate(months):
        params[f"m{i}"] = month
        params[f"e{i}"] = end.isoformat()
    return f"months(month, month_end) AS (VALUES {rows})", params


def tenure_months(
    session: Session, unit_code: str, start: dt.date, end: dt.date
) -> list[TenureMonth]:
    months = months_between(start, end)
    if not months:
        return []
    values, params = _values(months, session.get_bind().dialect.name)
    params["unit"] = unit_code
    unit = "v.unit_code = :unit"
    quotas = vt.effective_version("registry_quota", "m.month_end", months=True, where=unit)
    posts = vt.effective_version("registry_leader_post", "m.month_end", months=True, where=unit)
    sql = text(f"""
WITH {values},
quota_m AS (SELECT q.month, SUM(q.approved) AS n FROM {quotas} q GROUP BY q.month),
posts_m AS (SELECT p.month, SUM(p.approved) AS n FROM {posts} p GROUP BY p.month),
roster_m AS (
  SELECT m.month, COUNT(r.id) AS n FROM months m
  JOIN records_roster r ON r.unit_code = :unit AND r.closed_at IS NULL
   AND {vt.on_roster("r", "m.month_end")}
  GROUP BY m.month
), paid_m AS (
  SELECT m.month, COUNT(p.id) AS n FROM months m
  JOIN records_payroll p ON p.unit_code = :unit AND p.closed_at IS NULL
   AND p.period = m.month AND p.status = 'paid'
  GROUP BY m.month
), leaders_m AS (
  SELECT m.month, COUNT(c.id) AS n FROM months m
  JOIN records_cadre c ON c.unit_code = :unit AND c.closed_at IS NULL
   AND c.leader_level IN ('principal', 'deputy') AND {vt.in_office("c", "m.month_end")}
  GROUP BY m.month
)
SELECT m.month, COALESCE(quota_m.n, 0), COALESCE(roster_m.n, 0), COALESCE(paid_m.n, 0),
       COALESCE(posts_m.n, 0), COALESCE(leaders_m.n, 0)
FROM months m
LEFT JOIN quota_m ON quota_m.month = m.month
LEFT JOIN posts_m ON posts_m.month = m.month
LEFT JOIN roster_m ON roster_m.month = m.month
LEFT JOIN paid_m ON paid_m.month = m.month
LEFT JOIN leaders_m ON leaders_m.month = m.month
ORDER BY m.month
""")
    return [TenureMonth(*row) for row in session.execute(sql, params)]
