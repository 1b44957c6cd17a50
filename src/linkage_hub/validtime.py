"""Business-date ("valid time") predicates shared by the reports, the public face and the rules.

Reports answer "how did things stand on day D" from the hub's current knowledge of the
departments' business dates (entered_on, exited_on, hired_on, status_on, appointed_on,
removed_on, effective_on). What the hub itself held at a past moment (transaction time) is
what the dataset pulls' ``as_of`` answer. Each function returns an SQL fragment over the alias
it is given and a bound parameter name holding the day (bind it with the ``Date`` type, or as
ISO text in a VALUES list: both databases compare ISO dates correctly either way).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

ZONE = "hub_zone"  # the bound parameter :hub_zone of effective_version: the hub's time zone


def zone_param(zone: ZoneInfo) -> dict[str, str]:
    """Bind this beside a statement holding :func:`effective_version`."""
    return {ZONE: zone.key}


def recorded_day(v: str, dialect: str) -> str:
    """SQL for the date (ISO text) on which version ``v`` was recorded, in the hub's time zone
    (``:hub_zone``), the zone every ``as_of`` is in: the UTC date would put a version recorded
    before 08:00 in Harbin on the day before."""
    if dialect == "postgresql":
        return f"CAST(CAST({v}.recorded_at AT TIME ZONE :{ZONE} AS DATE) AS TEXT)"
    return f"hub_day({v}.recorded_at, :{ZONE})"  # linkage_hub.clock.local_day


def _until_recorded(a: str, day: str, dialect: str) -> str:
    """SQL: the version ``a`` was recorded after ``day``. An exit, removal or abolition pushed
    without its date ends on the day the hub recorded the version that says so: before it the
    record counts as it did, as a quota without ``effective_on`` counts from its recorded day
    (:func:`effective_version`). A later correction of such a record (its name, say) moves
    the day to the correction's; the department fixes it by sending the date."""
    return f"{recorded_day(a, dialect)} > CAST({day} AS TEXT)"


def _deleted_since(v: str, table: str) -> str:
    """SQL: a delete closed version ``v`` of ``table`` or one after it: a version a batch
    closed without writing its successor (an update's batch writes it). Versions before a
    record's last delete belong to an earlier life of the key, not to the record as it is."""
    return f"""EXISTS (
      SELECT 1 FROM {table} d WHERE d.record_key = {v}.record_key AND d.version >= {v}.version
         AND d.closed_batch_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM {table} s WHERE s.record_key = d.record_key
              AND s.version = d.version + 1 AND s.batch_id = d.closed_batch_id))"""


def _ends_after(a: str, end: str, day: str, dialect: str) -> str:
    """SQL: version ``a``'s end (``end``) is after ``day``; an undated end is the day the hub
    recorded ``a`` (:func:`_until_recorded`)."""
    return f"({a}.{end} > {day} OR ({a}.{end} IS NULL AND {_until_recorded(a, day, dialect)}))"


def _held(a: str, first: str, last: str, dialect: str, start: str, end: str) -> str:
    """SQL: the current version ``a`` holds on some day of [``first``, ``last``]: started by
    ``last`` (or undated), and active or ended after ``first``."""
    return (
        f"({a}.{start} IS NULL OR {a}.{start} <= {last}) AND "
        f"({a}.status = 'active' OR {_ends_after(a, end, first, dialect)})"
    )


def _earlier_spell(
    a: str, first: str, last: str, dialect: str, table: str, start: str, end: str, probe: bool
) -> str:
    """SQL: the record of the current version ``a`` held on some day of [``first``, ``last``]
    in an earlier spell.

    Someone who left a unit and came back has one record there (the natural key is the
    person and the unit) whose current version starts on the return: read alone, it took
    them out of every day before it. A spell ends where the record, ended (not active),
    became active again in the next version, written by the same batch (an update, not a
    delete and a new push: versions before a record's last delete are an earlier life of the
    key). That ended version, the last recorded before the return, says when the spell began
    and ended (an undated end: the day it was recorded); earlier versions of the spell are its
    corrections. Only a record whose current spell starts after ``first`` and that has more
    than one version is looked for.

    Over a region (bound days, ``:day``) the spells are one set, read once from the closed
    versions (the partial closed_batch_id index) and hashed: a probe per record made
    PostgreSQL cost every row of a report with a subplan, and plan (and JIT-compile) for it.
    Over one unit's records (``probe``), or with a day taken from a row (``m.month_end``),
    each record is probed by ``record_key``, version: a few probes, not the province's
    closed versions."""
    spell = f"""SELECT ended.record_key FROM {table} ended JOIN {table} back
     ON back.record_key = ended.record_key AND back.version = ended.version + 1
    AND back.batch_id = ended.closed_batch_id
  WHERE ended.closed_batch_id IS NOT NULL AND ended.status <> 'active'
    AND back.status = 'active' AND (ended.{start} IS NULL OR ended.{start} <= {last})
    AND {_ends_after("ended", end, first, dialect)} AND NOT {_deleted_since("ended", table)}"""
    if not probe and first.startswith(":") and last.startswith(":"):
        found = f"{a}.record_key IN ({spell})"
    else:
        found = f"EXISTS ({spell} AND ended.record_key = {a}.record_key)"
    return f"({a}.{start} > {first} AND {a}.version > 1 AND {found})"


# Each dataset whose records hold over days: its table, and the columns its spells begin and
# end with.
_SPELLS = {
    "roster": ("records_roster", "entered_on", "exited_on"),
    "employment": ("records_employment", "hired_on", "status_on"),
    "cadres": ("records_cadre", "appointed_on", "removed_on"),
}


def serving(c: str, day: str, dialect: str) -> str:
    """SQL: the cadre version ``c`` is not out of office on ``day`` by its end: ``removed_on``
    is the first day out of office, whatever the status (an active record with a past
    ``removed_on`` is out, a removed one with a later ``removed_on`` still in), and a removal
    without its date ends on the day the hub recorded it. A ``CASE``, so that the recorded day
    is worked out only for undated removals. The reports' :func:`in_office` and the
    reconciliation rules' "active cadre" on the as-of date both read this for the end of a
    spell; the reports also ask that it began by the day (``appointed_on``) and read earlier
    spells, the rules read the current version only (a cadre appointed from a later day is
    active to them)."""
    return (
        f"(CASE WHEN {c}.removed_on IS NOT NULL THEN "
        f"CASE WHEN {c}.removed_on > {day} THEN 1 ELSE 0 END "
        f"WHEN {c}.status = 'active' THEN 1 "
        f"WHEN {_until_recorded(c, day, dialect)} THEN 1 ELSE 0 END = 1)"
    )


def _holds(dataset: str, a: str, day: str, dialect: str, until: str | None, probe: bool) -> str:
    table, start, end = _SPELLS[dataset]
    last = until or day
    here = _held(a, day, last, dialect, start, end)
    if dataset == "cadres":  # removed_on is the first day out of office, whatever the status
        here = f"{here} AND ({a}.removed_on IS NULL OR {a}.removed_on > {day})"
    return f"(({here}) OR {_earlier_spell(a, day, last, dialect, table, start, end, probe)})"


def on_roster(
    r: str, day: str, dialect: str, *, until: str | None = None, probe: bool = False
) -> str:
    """The roster record whose current version is ``r`` holds a place on ``day`` (with
    ``until``: on some day of [``day``, ``until``]): entered by then and not exited by then
    (an undated exit: not recorded by then), in its current spell or an earlier one
    (``probe``: ``r`` is one unit's records, see :func:`_earlier_spell`). These predicates
    need :func:`zone_param`."""
    return _holds("roster", r, day, dialect, until, probe)


def employed(
    e: str, day: str, dialect: str, *, until: str | None = None, probe: bool = False
) -> str:
    """As :func:`on_roster`, for an HR record: hired by then, its status not yet ended."""
    return _holds("employment", e, day, dialect, until, probe)


def in_office(
    c: str, day: str, dialect: str, *, until: str | None = None, probe: bool = False
) -> str:
    """As :func:`on_roster`, for a cadre record: and an active record with a past
    ``removed_on`` is not in office (removed_on is the first day out of office)."""
    return _holds("cadres", c, day, dialect, until, probe)


def not_abolished(u: str, day: str, dialect: str) -> str:
    """SQL: the unit version ``u`` is not abolished on ``day``: ``abolished_on`` is the first
    day abolished, whatever the status (a unit pushed ``abolished`` from a later day is
    registered until then), and an abolition without its date takes effect on the day the hub
    recorded it. The reports' :func:`registered` and the reconciliation rules' "registered"
    (DOMAIN.md) both read this."""
    return (
        f"(CASE WHEN {u}.abolished_on IS NOT NULL THEN "
        f"CASE WHEN {u}.abolished_on > {day} THEN 1 ELSE 0 END "
        f"WHEN {u}.status = 'active' THEN 1 "
        f"WHEN {_until_recorded(u, day, dialect)} THEN 1 ELSE 0 END = 1)"
    )


def registered(u: str, day: str, dialect: str) -> str:
    return (
        f"({u}.established_on IS NULL OR {u}.established_on <= {day}) AND "
        f"{not_abolished(u, day, dialect)}"
    )


def effective_version(
    table: str,
    day: str,
    dialect: str,
    *,
    months: bool = False,
    where: str = "1=1",
    current: str | None = None,
    undated_in_force: bool = False,
) -> str:
    """The version of each record of ``table`` in force on ``day``: of the recorded versions
    whose ``effective_on`` is not after the day (a version without one counts from the day it
    was recorded, in the hub's zone: bind :func:`zone_param`), the one recorded last. A later
    version corrects an earlier one: a quota pushed as 8 from June and corrected to 5 from
    February is 5 from February on, not 8 again from June (the version with the latest
    ``effective_on`` won until 2026-12-06). Records deleted since (no current version) are
    left out, and so are the versions of a record before it was last deleted: a quota pushed
    by mistake and deleted is not in force again for its old days when the same unit and type
    are pushed anew from a later day (a delete closes a version that no successor of the same
    batch follows; an update's batch writes the successor).

    With ``months=True`` it is computed for every row of a ``months(month, month_end)`` CTE
    (``day`` is then ``m.month_end``) and carries a ``month`` column. ``current`` narrows the
    current versions looked up (alias ``c``) to those that can match, e.g.
    ``c.unit_code = :unit`` when ``where`` holds the versions to one unit of a table whose
    natural key holds the unit: the current versions' partial index then serves a list of the
    unit's records, not of every current record. Keep it uncorrelated (no ``v.``): PostgreSQL
    then builds the list once instead of costing a lookup per version.
    ``undated_in_force``: for a reconciliation run, when no version is in force on the day
    but some have no ``effective_on`` (recorded after the day), the latest of those is taken:
    a run as of a day before undated quotas were pushed would otherwise find every unit over a
    quota of 0. Whenever a version is in force the answer is the reports'. Returns a subquery.
    """
    effective = f"COALESCE(CAST(v.effective_on AS TEXT), {recorded_day('v', dialect)})"
    source = f"months m JOIN {table} v ON {where}" if months else f"{table} v"
    in_force = f"{effective} <= CAST({day} AS TEXT)"
    order = "v.version DESC"
    if undated_in_force:  # the versions in force first, then the latest undated one
        order = f"CASE WHEN {in_force} THEN 1 ELSE 0 END DESC, {order}"
        in_force = (
            f"(v.effective_on IS NULL OR CAST(v.effective_on AS TEXT) <= CAST({day} AS TEXT))"
        )
    narrowed = f" AND {current}" if current else ""
    # The record's current life: its versions after the last one a delete closed.
    deleted_before = f"NOT {_deleted_since('v', table)}"
    month = "m.month AS month, " if months else ""
    partition = "m.month, v.record_key" if months else "v.record_key"
    return f"""(SELECT * FROM (
  SELECT {month}v.*, ROW_NUMBER() OVER (PARTITION BY {partition}
                                 ORDER BY {order}) AS pick
  FROM {source}
  WHERE {where} AND {in_force} AND {deleted_before}
    AND v.record_key IN (SELECT c.record_key FROM {table} c WHERE c.closed_at IS NULL{narrowed})
) ranked WHERE pick = 1)"""
