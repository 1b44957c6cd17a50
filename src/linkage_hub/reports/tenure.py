"""The tenure report: the establishment part of a leader's economic-responsibility audit
(离任审计) — how the unit used its quota while the leader was in office.

Month by month over the tenure, from the hub's current knowledge of business dates:

- ``approved`` / ``leader_posts``: of all recorded versions of each quota (leader-post) record,
  the one with the latest ``effective_on`` on or before the month's end (a version without an
  ``effective_on`` counts from the day it was recorded);
- ``on_roster``: roster entries with ``entered_on`` on or before the month's end (or unknown)
  that had not exited by then;
- ``paid``: the unit's payroll lines of that month with status ``paid``;
- ``leaders``: cadres at level principal or deputy appointed by the month's end and not removed
  by then.

Every query is one statement over a VALUES list of months, whatever the tenure's length.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


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


def _values(months: list[tuple[str, dt.date]]) -> tuple[str, dict[str, object]]:
    rows = ", ".join(f"(:m{i}, :e{i})" for i in range(len(months)))
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
    values, params = _values(months)
    params["unit"] = unit_code
    # Dates are compared as ISO text so that one statement serves SQLite (which stores
    # them as text) and PostgreSQL (CAST to text gives the same ISO form).
    sql = text(f"""
WITH {values},
approvals AS (
  SELECT m.month, q.record_key, q.approved,
         ROW_NUMBER() OVER (PARTITION BY m.month, q.record_key
                            ORDER BY COALESCE(CAST(q.effective_on AS TEXT),
                                              SUBSTR(CAST(q.recorded_at AS TEXT), 1, 10)) DESC,
                                     q.version DESC) AS pick
  FROM months m JOIN registry_quota q ON q.unit_code = :unit
   AND COALESCE(CAST(q.effective_on AS TEXT), SUBSTR(CAST(q.recorded_at AS TEXT), 1, 10))
       <= m.month_end
), posts AS (
  SELECT m.month, lp.record_key, lp.approved,
         ROW_NUMBER() OVER (PARTITION BY m.month, lp.record_key
                            ORDER BY COALESCE(CAST(lp.effective_on AS TEXT),
                                              SUBSTR(CAST(lp.recorded_at AS TEXT), 1, 10)) DESC,
                                     lp.version DESC) AS pick
  FROM months m JOIN registry_leader_post lp ON lp.unit_code = :unit
   AND COALESCE(CAST(lp.effective_on AS TEXT), SUBSTR(CAST(lp.recorded_at AS TEXT), 1, 10))
       <= m.month_end
)
SELECT m.month,
  (SELECT COALESCE(SUM(a.approved), 0) FROM approvals a WHERE a.month = m.month AND a.pick = 1),
  (SELECT COUNT(*) FROM records_roster r WHERE r.unit_code = :unit AND r.closed_at IS NULL
     AND (r.entered_on IS NULL OR CAST(r.entered_on AS TEXT) <= m.month_end)
     AND (r.status = 'active' OR (r.exited_on IS NOT NULL
                                  AND CAST(r.exited_on AS TEXT) > m.month_end))),
  (SELECT COUNT(*) FROM records_payroll p WHERE p.unit_code = :unit AND p.closed_at IS NULL
     AND p.period = m.month AND p.status = 'paid'),
  (SELECT COALESCE(SUM(b.approved), 0) FROM posts b WHERE b.month = m.month AND b.pick = 1),
  (SELECT COUNT(*) FROM records_cadre c WHERE c.unit_code = :unit AND c.closed_at IS NULL
     AND c.leader_level IN ('principal', 'deputy')
     AND (c.appointed_on IS NULL OR CAST(c.appointed_on AS TEXT) <= m.month_end)
     AND (c.removed_on IS NULL OR CAST(c.removed_on AS TEXT) > m.month_end)
     AND (c.status = 'active' OR c.removed_on IS NOT NULL))
FROM months m ORDER BY m.month
""")
    return [TenureMonth(*row) for row in session.execute(sql, params)]
