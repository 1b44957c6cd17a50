"""The tenure report: the establishment part of a leader's economic-responsibility audit
(离任审计) — how the unit used its quota while the leader was in office.

Month by month over the tenure, on each month's last day (the tenure's last day for its last
month), by business dates (:mod:`linkage_hub.validtime`): ``approved`` and
``leader_posts`` from the quota and leader-post versions in force, ``on_roster`` and
``leaders`` (cadres at level principal or deputy) in office that day, ``paid`` the unit's
payroll lines of that month with status ``paid``.

Every query is one statement over a VALUES list of months, whatever the tenure's length.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, bindparam, select, text
from sqlalchemy.orm import Session

from linkage_hub import validtime as vt
from linkage_hub.auth.access import PersonReads
from linkage_hub.clock import aware
from linkage_hub.keys import Keyring
from linkage_hub.privacy.state import refuse_while_rotating
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.service import id_number_of, located, name_of


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


def month_values(months: list[tuple[str, dt.date]], dialect: str) -> tuple[str, dict[str, object]]:
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
    session: Session, unit_code: str, start: dt.date, end: dt.date, zone: ZoneInfo
) -> list[TenureMonth]:
    months = months_between(start, end)
    if not months:
        return []
    values, params = month_values(months, session.get_bind().dialect.name)
    params["unit"] = unit_code
    params |= vt.zone_param(zone)
    unit = "v.unit_code = :unit"
    dialect = session.get_bind().dialect.name
    quotas = vt.effective_version("registry_quota", "m.month_end", dialect, months=True, where=unit)
    posts = vt.effective_version(
        "registry_leader_post", "m.month_end", dialect, months=True, where=unit
    )
    sql = text(f"""
WITH {values},
quota_m AS (SELECT q.month, SUM(q.approved) AS n FROM {quotas} q GROUP BY q.month),
posts_m AS (SELECT p.month, SUM(p.approved) AS n FROM {posts} p GROUP BY p.month),
roster_m AS (
  SELECT m.month, COUNT(r.id) AS n FROM months m
  JOIN records_roster r ON r.unit_code = :unit AND r.closed_at IS NULL
   AND {vt.on_roster("r", "m.month_end", dialect)}
  GROUP BY m.month
), paid_m AS (
  SELECT m.month, COUNT(p.id) AS n FROM months m
  JOIN records_payroll p ON p.unit_code = :unit AND p.closed_at IS NULL
   AND p.period = m.month AND p.status = 'paid'
  GROUP BY m.month
), leaders_m AS (
  SELECT m.month, COUNT(c.id) AS n FROM months m
  JOIN records_cadre c ON c.unit_code = :unit AND c.closed_at IS NULL
   AND c.leader_level IN ('principal', 'deputy') AND {vt.in_office("c", "m.month_end", dialect)}
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


@dataclass(frozen=True, slots=True)
class Tenure:
    unit_code: str
    unit_name: str | None
    person_key: str
    id_number: str
    name: str
    position: str | None
    start: dt.date
    end: dt.date
    region: str  # the cadre record's, for the audit entry of the read


@dataclass(frozen=True, slots=True)
class TenureFinding:
    id: str
    rule: str
    severity: str
    status: str
    unit_code: str | None
    id_number: str | None
    name: str | None
    summary_zh: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None  # resolved or waived
    closed_as: str | None  # "resolved" | "waived"
    days_open: int
    person_key: str | None = None  # for the audit entry of the read, never shown
    region: str = ""  # the finding's, for the audit entry of the read
    read_in: tuple[str, ...] = ()  # the regions of the records its person was read from, too

    def persons_read(self) -> list[tuple[str, str]]:
        """The read entry's persons when its row is sent: the person in the finding's region
        and in those of the records their ID number and name were read from (a city reads a
        county's finding through a sibling county's record of the person)."""
        if not (self.person_key and self.id_number):
            return []
        return [(self.person_key, r) for r in sorted({self.region, *self.read_in})]


def note_read(reads: PersonReads, findings: Iterable[TenureFinding]) -> None:
    """Each finding's person (:meth:`TenureFinding.persons_read`) added to ``reads``, one
    person record a finding that shows one."""
    for f in findings:
        pairs = f.persons_read()
        if pairs:
            reads.add_all(pairs, records=1)


def find_tenure(
    session: Session,
    keyring: Keyring,
    id_number: str,
    unit_code: str,
    bounds: tuple[str, str],
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
    zone: ZoneInfo,
) -> Tenure | None:
    """The leader's cadre record in the unit (inside ``bounds``), dates defaulted from it. A
    removal pushed without ``removed_on`` ends the tenure the day before the hub recorded it
    (:func:`linkage_hub.validtime.in_office`)."""
    row = session.execute(
        text("""
SELECT c.person_key, c.name, c.position, c.appointed_on, c.removed_on, c.region, c.status,
       c.recorded_at,
       (SELECT u.name FROM registry_unit u WHERE u.unit_code = c.unit_code
          AND u.closed_at IS NULL) AS unit_name
FROM records_cadre c
WHERE c.person_key IN :persons AND c.unit_code = :unit AND c.closed_at IS NULL
  AND c.region BETWEEN :lo AND :hi
""")
        .bindparams(bindparam("persons", expanding=True))
        .columns(recorded_at=DateTime(timezone=True)),
        {
            "persons": keyring.person_keys(id_number),
            "unit": unit_code,
            "lo": bounds[0],
            "hi": bounds[1],
        },
    ).first()
    if row is None:
        return None
    person_key, name, position, appointed_on, removed_on, region, status, recorded, unit_name = row
    first = start or _as_date(appointed_on) or today
    # removed_on is the first day out of office (validtime.in_office): the tenure's last day
    # is the day before, so the last month counts the leader audited.
    removed = _as_date(removed_on)
    if removed is None and status == "removed":
        removed = aware(recorded).astimezone(zone).date()
    last = end or (removed - dt.timedelta(days=1) if removed else today)
    return Tenure(
        unit_code,
        unit_name,
        person_key,
        id_number,
        name,
        position,
        first,
        min(last, today),
        region,
    )


def _as_date(value: object) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def tenure_findings(
    session: Session,
    keyring: Keyring,
    tenure: Tenure,
    bounds: tuple[str, str],
    zone: Any,
    now: dt.datetime,
) -> list[TenureFinding]:
    """:func:`unit_findings` over the tenure."""
    return unit_findings(
        session, keyring, tenure.unit_code, tenure.start, tenure.end, bounds, zone, now
    )


def unit_findings(
    session: Session,
    keyring: Keyring,
    unit_code: str,
    first: dt.date,
    last: dt.date,
    bounds: tuple[str, str],
    zone: Any,
    now: dt.datetime,
) -> list[TenureFinding]:
    """Every finding inside ``bounds`` (the caller's region: a finding the caller cannot open
    is in no report) about the unit or one of its people in the days [first, last] that was
    open at some time in those days. The unit's people then are those with a current record
    of it that overlaps the days (:func:`_unit_people`): on its roster, employed or in office (a
    cadre) on at least one of them, by the business dates of :mod:`linkage_hub.validtime`, or
    paid by it for a month touching them. A finding about such a person is in whatever unit it
    names; someone who left the unit before the first day brings none.

    When a finding was open is read from its history (``reconciliation_event``: every run and
    transition writes one), not from its current columns: a reopen clears ``resolved_at`` and
    a run's resolution of a waived finding overwrites its waiver, so first seen → resolved or
    waived → now would count a finding resolved before the days and reopened after them, or
    waived before them and resolved after them, as open throughout. Each event starts a
    stretch that lasts until the next (the last until now); a stretch is open when its status
    is ``open``, ``reopened`` or ``acknowledged``. Of the last open stretch that overlaps the
    days, the event that ended it gives ``closed_at`` and ``closed_as`` (none while it lasts);
    ``days_open`` counts the open stretches from first found to then."""
    refuse_while_rotating(session, "the tenure report")
    start = dt.datetime.combine(first, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    dialect = session.get_bind().dialect.name
    seconds = _SECONDS[dialect].format(a="s.seg_start", b="COALESCE(s.seg_end, :now)")
    sql = text(f"""
WITH people AS (
  {_unit_people(dialect)}
), candidate AS (
  SELECT f.id FROM reconciliation_finding f
  WHERE (f.unit_code = :unit OR f.person_key IN (SELECT person_key FROM people))
    AND f.region BETWEEN :lo AND :hi
    AND f.first_seen_at < :end
), seg AS (
  SELECT e.finding_id, e.to_status, e.at AS seg_start,
         LEAD(e.at) OVER (PARTITION BY e.finding_id ORDER BY e.at, e.id) AS seg_end,
         ROW_NUMBER() OVER (PARTITION BY e.finding_id ORDER BY e.at, e.id) AS rn,
         CASE WHEN e.to_status IN ({_LIVE}) THEN 1 ELSE 0 END AS live
  FROM reconciliation_event e JOIN candidate c ON c.id = e.finding_id
), hit AS (
  SELECT s.finding_id, MAX(s.rn) AS rn FROM seg s
  WHERE s.live = 1 AND s.seg_start < :end AND COALESCE(s.seg_end, :now) >= :start
  GROUP BY s.finding_id
), fate AS (
  SELECT h.finding_id,
         (SELECT MIN(s.rn) FROM seg s
          WHERE s.finding_id = h.finding_id AND s.live = 0 AND s.rn > h.rn) AS rn
  FROM hit h
), spell AS (
  SELECT s.finding_id,
         MAX(CASE WHEN s.rn = t.rn THEN s.seg_start END) AS closed_at,
         MAX(CASE WHEN s.rn = t.rn THEN s.to_status END) AS closed_as,
         SUM(CASE WHEN s.live = 1 AND (t.rn IS NULL OR s.rn < t.rn) THEN {seconds} END)
           AS open_seconds
  FROM seg s JOIN fate t ON t.finding_id = s.finding_id
  GROUP BY s.finding_id
)
SELECT f.id, f.rule, f.severity, f.status, f.unit_code, f.person_key, f.summary_zh,
       f.first_seen_at, sp.closed_at, sp.closed_as, sp.open_seconds, f.region
FROM reconciliation_finding f
JOIN spell sp ON sp.finding_id = f.id
ORDER BY f.first_seen_at, f.id
""").bindparams(
        bindparam("first", type_=Date),
        bindparam("last", type_=Date),
        bindparam("end", type_=DateTime(timezone=True)),
        bindparam("start", type_=DateTime(timezone=True)),
        bindparam("now", type_=DateTime(timezone=True)),
    )
    stamp = DateTime(timezone=True)
    sql = sql.columns(first_seen_at=stamp, closed_at=stamp)  # type: ignore[assignment]
    rows = session.execute(
        sql,
        {
            "unit": unit_code,
            "first": first,
            "last": last,
            "first_month": f"{first:%Y-%m}",
            "last_month": f"{last:%Y-%m}",
            "lo": bounds[0],
            "hi": bounds[1],
            "start": start,
            "end": end.astimezone(dt.UTC),
            "now": now,
        }
        | vt.zone_param(zone),
    ).all()
    people = _people(session, keyring, [r[5] for r in rows if r[5]], bounds)
    out: list[TenureFinding] = []
    for row in rows:
        fid, rule, severity, status, unit, person, summary, seen, closed, how, secs, region = row
        number, name, read_in = people.get(person, (None, None, ())) if person else (None, None, ())
        out.append(
            TenureFinding(
                fid,
                rule,
                severity,
                status,
                unit,
                number,
                name,
                summary,
                aware(seen),
                aware(closed) if closed else None,
                how,
                int((secs or 0) // 86400),
                person if number else None,
                region,
                read_in,
            )
        )
    return out


def _unit_people(dialect: str) -> str:
    """The people of the unit :unit in the days [:first, :last] (payroll periods :first_month
    to :last_month). Each branch keeps ``unit_code = :unit AND closed_at IS NULL`` as it
    stands, so the partial current_unit_code indexes serve it."""
    roster = vt.on_roster("r", ":first", dialect, until=":last", probe=True)
    hr = vt.employed("e", ":first", dialect, until=":last", probe=True)
    office = vt.in_office("c", ":first", dialect, until=":last", probe=True)
    return "\n  UNION ".join(
        (
            "SELECT r.person_key FROM records_roster r WHERE r.unit_code = :unit"
            f" AND r.closed_at IS NULL AND {roster}",
            "SELECT e.person_key FROM records_employment e WHERE e.unit_code = :unit"
            f" AND e.closed_at IS NULL AND {hr}",
            "SELECT c.person_key FROM records_cadre c WHERE c.unit_code = :unit"
            f" AND c.closed_at IS NULL AND {office}",
            "SELECT p.person_key FROM records_payroll p WHERE p.unit_code = :unit"
            " AND p.closed_at IS NULL AND p.status = 'paid'"
            " AND p.period BETWEEN :first_month AND :last_month",
        )
    )


# The statuses of an open finding; ``resolved`` and ``waived`` close it.
_LIVE = "'open', 'reopened', 'acknowledged'"
# Seconds from {a} to {b}, two timestamps (SQLite keeps them as text).
_SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM ({b} - {a}))",
    "sqlite": "(julianday({b}) - julianday({a})) * 86400.0",
}


def _people(
    session: Session, keyring: Keyring, keys: list[str], bounds: tuple[str, str]
) -> dict[str, tuple[str | None, str | None, tuple[str, ...]]]:
    """ID number (revealed) and name of each person key as a reader of ``bounds`` reads them
    (:func:`linkage_hub.reconciliation.service.id_number_of` and ``name_of``, the rule the
    findings follow): a finding follows its unit to the region the city moves it to, though its
    person may have no record there; its reader reads the finding, not whom it is about. With
    them the regions of the records they were read from, for the read entry."""
    if not keys:
        return {}
    # The keys are the findings' own (SQLite has no VALUES with named columns to select from).
    named = select(Finding.person_key).where(Finding.person_key.in_(set(keys))).distinct()
    key = named.subquery().c.person_key
    rows = session.execute(
        select(key, id_number_of(key, bounds, located=True), name_of(key, bounds, located=True))
    )
    people: dict[str, tuple[str | None, str | None, tuple[str, ...]]] = {}
    for k, stored, named_as in rows:
        number_in, number = located(stored)
        name_in, name = located(named_as)
        if number:
            read_in = tuple(r for r in (number_in, name_in) if r)
            people[k] = (keyring.reveal_id(number), name, read_in)
    return people
