"""The staffing report: per unit × establishment type, the quota against the people on the
roster, employed and paid — the core invariant 编制数、实有人员数、财政供养人员数相对应.

Computed in one SQL statement from the state the hub held at the end of the ``as_of`` day
(China Standard Time): versions recorded by then and not yet closed. Only units registered on
``as_of`` appear (a unit that is not registered is an ``UNREGISTERED_UNIT`` finding, not a
staffing row). ``employed`` and ``paid`` count the roster people of that row whom HR lists as
active in the same unit, and whom finance pays in the same unit in the payroll period: the
latest period not after ``as_of``'s month for which the region has payroll lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Date, DateTime, bindparam, text
from sqlalchemy.orm import Session

from linkage_hub.versioning import region_bounds, utc, visible_sql

HEADER_ZH = [
    "单位代码",
    "单位名称",
    "编制类型",
    "核定编制",
    "实名在编",
    "在职(人社)",
    "统发工资",
    "差额",
    "状态",
]
WIDTHS = [22, 36, 16, 10, 10, 12, 10, 8, 8]
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

    @property
    def difference(self) -> int:
        return self.on_roster - self.approved

    @property
    def light(self) -> str:
        return "over" if self.difference > 0 else "full" if self.difference == 0 else "under"


def _state(at: dt.datetime | None) -> dict[str, str]:
    param = None if at is None else "at"
    return {a: visible_sql(a, param) for a in ("u", "q", "r", "e", "p")}


def payroll_period(
    session: Session, region: str, as_of: dt.date, at: dt.datetime | None
) -> str | None:
    lo, hi = region_bounds(region)
    visible = visible_sql("p", None if at is None else "at")
    sql = text(
        f"SELECT MAX(p.period) FROM records_payroll p WHERE {visible} "
        "AND p.region BETWEEN :lo AND :hi AND p.period <= :month"
    )
    params: dict[str, object] = {"lo": lo, "hi": hi, "month": as_of.strftime("%Y-%m")}
    if at is not None:
        sql = sql.bindparams(bindparam("at", type_=DateTime(timezone=True)))
        params["at"] = utc(at)
    value = session.execute(sql, params).scalar_one_or_none()
    return str(value) if value else None


def staffing_rows(
    session: Session, region: str, as_of: dt.date, at: dt.datetime | None, period: str | None
) -> list[StaffingRow]:
    """``at`` is the moment whose state is read (``None``: the current state)."""
    s = _state(at)
    sql = text(f"""
WITH units AS (
  SELECT u.unit_code, u.name, u.region FROM registry_unit u
  WHERE {s["u"]} AND u.region BETWEEN :lo AND :hi AND u.status = 'active'
    AND (u.abolished_on IS NULL OR u.abolished_on > :as_of)
), quota AS (
  SELECT q.unit_code, q.establishment_type, q.approved FROM registry_quota q
  JOIN units ON units.unit_code = q.unit_code WHERE {s["q"]}
), roster AS (
  SELECT r.person_key, r.unit_code, r.establishment_type FROM records_roster r
  WHERE {s["r"]} AND r.status = 'active' AND r.region BETWEEN :lo AND :hi
), counts AS (
  SELECT r.unit_code, r.establishment_type, COUNT(*) AS on_roster,
         COUNT(e.person_key) AS employed, COUNT(p.person_key) AS paid
  FROM roster r
  LEFT JOIN records_employment e ON e.person_key = r.person_key AND e.unit_code = r.unit_code
       AND {s["e"]} AND e.status = 'active'
  LEFT JOIN records_payroll p ON p.person_key = r.person_key AND p.unit_code = r.unit_code
       AND {s["p"]} AND p.period = :period AND p.status = 'paid'
  GROUP BY r.unit_code, r.establishment_type
), cells AS (
  SELECT unit_code, establishment_type FROM quota
  UNION SELECT unit_code, establishment_type FROM counts
)
SELECT c.unit_code, units.name, units.region, c.establishment_type,
       COALESCE(quota.approved, 0), COALESCE(counts.on_roster, 0),
       COALESCE(counts.employed, 0), COALESCE(counts.paid, 0)
FROM cells c
JOIN units ON units.unit_code = c.unit_code
LEFT JOIN quota ON quota.unit_code = c.unit_code
     AND quota.establishment_type = c.establishment_type
LEFT JOIN counts ON counts.unit_code = c.unit_code
     AND counts.establishment_type = c.establishment_type
ORDER BY c.unit_code, c.establishment_type
""")
    lo, hi = region_bounds(region)
    params: dict[str, object] = {"lo": lo, "hi": hi, "as_of": as_of, "period": period or ""}
    sql = sql.bindparams(bindparam("as_of", type_=Date))
    if at is not None:
        sql = sql.bindparams(bindparam("at", type_=DateTime(timezone=True)))
        params["at"] = utc(at)
    return [StaffingRow(*row) for row in session.execute(sql, params)]
