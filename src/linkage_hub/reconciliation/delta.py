"""Incremental runs: what changed since a region's findings were last settled, as subjects.

Every run that succeeds leaves a watermark (:class:`~linkage_hub.reconciliation.models.Watermark`):
the change feed's ``seq`` it read up to, with its parameters and the rules it ran. An
incremental run reads the feed rows after the watermark (``seq`` is the primary key and is
drawn in commit order, so nothing committed below the newest seq it reads is missed) and turns
them into two small tables:

- ``rc_dirty_person``: every person a changed record belongs to (any version, any region: a
  record leaving the region takes the person out of the run's scope, and that must resolve),
  and every person with a current record at a unit whose registry entry changed (the person
  rules read the unit's registration, funding and kind);
- ``rc_dirty_unit``: every unit a changed record, quota, leader post or unit names, and the
  old and new parent of a changed unit (its internal units are counted), each with what it is
  dirty for: ``for_quota`` (its quota or registry entry changed, or a roster change there can
  move the count or is evidence of a live finding: OVER_QUOTA, see :func:`_counted`),
  ``for_posts`` (the same for leader posts and cadres: OVER_LEADER_POSTS), and
  ``unregistered`` (UNREGISTERED_UNIT counts every dataset there).

The run then builds the same staging as a full run from the dirty persons' rows and the rows
the unit rules count at dirty units (:func:`restrict_branch`), runs every rule, keeps the
findings whose subject is dirty (:func:`dirty`) and resolves only live findings of dirty
subjects. Each subject's findings are computed from all of its records, as a
full run computes them, so the result is exact — for the rules whose answer depends only on
records. What else moves an answer makes the run a full one (:meth:`Since.needs_full`):

- **no watermark** for the region (never settled), or a dropped one (see :func:`invalidate`);
- **other parameters**: a new as-of date (LATE_EXIT's working-day clock, a unit abolished as
  of a date, a quota or leader posts coming into force), another payroll period, exit grace
  or holidays. The date-driven work is therefore the full run's: the first run of a new day
  is full — normally the scheduled nightly run — and the day's incremental runs share its
  as-of date;
- **other rules**: coverage changed (a dataset's first records in the region, or its last
  ones gone), so gating would run or skip other rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from linkage_hub import validtime as vt
from linkage_hub.clock import utcnow
from linkage_hub.domain import Dataset
from linkage_hub.reconciliation import staging
from linkage_hub.reconciliation.merge import PERSON_TABLES
from linkage_hub.reconciliation.models import Watermark
from linkage_hub.reconciliation.rules import RuleCode
from linkage_hub.reconciliation.staging import sql, temp_table
from linkage_hub.versioning import region_bounds

DIRTY_TABLES = ("rc_dirty_person", "rc_dirty_unit", "rc_changed_unit")
_CHANGES = "records_change c"
_IN_RANGE = "c.seq > :after AND c.seq <= :high"


def high_water(session: Session) -> int:
    """The newest seq of the change feed (0 when empty): a run reflects every change to it."""
    return int(
        session.execute(text("SELECT COALESCE(MAX(seq), 0) FROM records_change")).scalar_one()
    )


def _version_of(table: str, dataset: str, columns: str, versions: str = "c.version") -> str:
    return (
        f"SELECT {columns} FROM {_CHANGES} JOIN {table} t ON t.record_key = c.record_key "
        f"AND t.version IN ({versions}) WHERE {_IN_RANGE} AND c.dataset = '{dataset}'"
    )


def build(session: Session, dialect: str, params: Mapping[str, Any]) -> None:
    """Create ``rc_dirty_person`` and ``rc_dirty_unit`` from the feed rows in
    ``(:after, :high]``. Each feed row finds its version by the unique (record key, version)
    index; the persons at changed units come from the current-unit index of each dataset."""
    changed_units = _version_of("registry_unit", Dataset.units, "t.unit_code")
    session.execute(text(temp_table(dialect, "rc_changed_unit", changed_units)), params)
    # (unit, for OVER_QUOTA, for OVER_LEADER_POSTS): what changed at the unit decides which
    # unit rules must be counted again there.
    units = [_counted(*counted) for counted in _COUNTED]
    units += [
        _version_of(table, dataset, f"t.unit_code, {_flags(flags)}")
        for dataset, table, flags in (
            (Dataset.employment, PERSON_TABLES[Dataset.employment], "0, 0"),
            (Dataset.payroll, PERSON_TABLES[Dataset.payroll], "0, 0"),
            (Dataset.quotas, "registry_quota", "1, 0"),
            (Dataset.leader_posts, "registry_leader_post", "0, 1"),
        )
    ]
    units += [
        f"SELECT unit_code, {_flags('1, 1')} FROM rc_changed_unit",
        # a unit's old and new parent: their count of internal units changed
        _version_of(
            "registry_unit",
            Dataset.units,
            f"t.parent_code AS unit_code, {_flags('0, 0')}",
            "c.version, c.version - 1",
        )
        + " AND t.parent_code IS NOT NULL",
    ]
    union = "\nUNION ALL\n".join(units)
    flagged = (
        "SELECT g.unit_code, MAX(g.for_quota) AS for_quota, MAX(g.for_posts) AS for_posts, "
        f"CASE WHEN EXISTS ({_registered(dialect)}) THEN 0 ELSE 1 END AS unregistered "
        f"FROM (\n{union}\n) g GROUP BY g.unit_code"
    )
    session.execute(sql(temp_table(dialect, "rc_dirty_unit", flagged)), params)
    persons = [
        _version_of(table, dataset, "t.person_key") for dataset, table in PERSON_TABLES.items()
    ] + [
        f"SELECT t.person_key FROM rc_changed_unit u JOIN {table} t "
        "ON t.unit_code = u.unit_code AND t.closed_at IS NULL"
        for table in PERSON_TABLES.values()
    ]
    session.execute(text(temp_table(dialect, "rc_dirty_person", "\nUNION\n".join(persons))), params)
    session.execute(text("CREATE UNIQUE INDEX rc_dirty_person_key ON rc_dirty_person (person_key)"))
    session.execute(text("CREATE UNIQUE INDEX rc_dirty_unit_code ON rc_dirty_unit (unit_code)"))
    if dialect == "postgresql":
        session.execute(text("ANALYZE rc_dirty_person"))
        session.execute(text("ANALYZE rc_dirty_unit"))


# The unit rules that count a person dataset: (dataset, the rule, the flag it sets, the
# finding's column that names what is counted, the record's column for it, the dates that
# decide whether the record counts on the as-of date). A unit is counted again for the rule
# only if a changed record there can move the count, or can be evidence of a live finding of
# the rule there.
_COUNTED = (
    (Dataset.roster, RuleCode.OVER_QUOTA, "for_quota", "establishment_type",
     "establishment_type", ()),
    (Dataset.cadres, RuleCode.OVER_LEADER_POSTS, "for_posts", "level", "leader_level",
     ("removed_on",)),
)  # fmt: skip


def _counted(
    dataset: Dataset, rule: RuleCode, flag: str, found_as: str, column: str, dates: tuple[str, ...]
) -> str:
    """The units of ``dataset``'s changed records, dirty for ``rule`` unless the change cannot
    move its count: a new version (``upsert``) whose previous version, closed by the same
    batch, had the same unit, region, status and counted value (``column``), at a unit with no
    live finding of the rule for that value, whose evidence (the counted records, by version)
    the run must renew. A name or date corrected is then not a recount of the unit; a close, a
    new record, a record pushed again after a delete or a status change is. Values equal as
    text (``COALESCE``: a leader level may be null)."""
    table = PERSON_TABLES[dataset]
    # the version before, closed by the batch that wrote this one (not by an earlier delete:
    # a record deleted and pushed again counts anew), with the same counted facts
    same = "o.closed_batch_id = t.batch_id AND " + " AND ".join(
        [
            f"COALESCE(o.{c}, '') = COALESCE(t.{c}, '')"
            for c in ("unit_code", "region", "status", column)
        ]
        + [f"(COALESCE(o.{c}, t.{c}) IS NULL OR o.{c} = t.{c})" for c in dates]
    )
    live = (
        f"SELECT 1 FROM reconciliation_finding f WHERE f.unit_code = t.unit_code "
        f"AND f.rule = '{rule}' AND f.{found_as} = t.{column} AND f.status <> 'resolved'"
    )
    dirty = f"CASE WHEN c.op = 'upsert' AND {same} AND NOT EXISTS ({live}) THEN 0 ELSE 1 END"
    quota, posts = (dirty, "0") if flag == "for_quota" else ("0", dirty)
    return (
        f"SELECT t.unit_code, {quota} AS for_quota, {posts} AS for_posts "
        f"FROM {_CHANGES} JOIN {table} t ON t.record_key = c.record_key AND t.version = c.version "
        f"LEFT JOIN {table} o ON o.record_key = c.record_key AND o.version = c.version - 1 "
        f"WHERE {_IN_RANGE} AND c.dataset = '{dataset}'"
    )


def _flags(pair: str) -> str:
    quota, posts = pair.split(", ")
    return f"{quota} AS for_quota, {posts} AS for_posts"


def _registered(dialect: str) -> str:
    """The unit ``g`` is registered on the as-of date, as ``rc_unit`` says (staging)."""
    return (
        "SELECT 1 FROM registry_unit r WHERE r.unit_code = g.unit_code AND r.closed_at IS NULL "
        f"AND {vt.not_abolished('r', ':as_of', dialect)}"
    )


def dirty(alias: str) -> str:
    """SQL over a finding row ``alias``: its subject is one the incremental run reconciles —
    a person finding of a dirty person; OVER_QUOTA (OVER_LEADER_POSTS) at a unit whose roster,
    quota or registry entry (cadres, leader posts or registry entry) changed; another unit
    finding at any dirty unit. Index probes into the dirty tables, per finding."""
    return (
        f"(({alias}.person_key IS NOT NULL AND EXISTS (SELECT 1 FROM rc_dirty_person dp "
        f"WHERE dp.person_key = {alias}.person_key)) OR ({alias}.person_key IS NULL AND EXISTS "
        f"(SELECT 1 FROM rc_dirty_unit du WHERE du.unit_code = {alias}.unit_code AND "
        f"CASE {alias}.rule WHEN '{RuleCode.OVER_QUOTA}' THEN du.for_quota "
        f"WHEN '{RuleCode.OVER_LEADER_POSTS}' THEN du.for_posts ELSE 1 END = 1)))"
    )


def restrict_branch(branch: str) -> list[str]:
    """A staging branch (one dataset's current rows in the region) cut to the dirty persons'
    rows and every row at a dirty unit that is not registered (UNREGISTERED_UNIT and its
    evidence read them all), each row once: two index-driven selects. Person rules group the
    dirty persons only (``person_select``'s filter); the registered units' counts come from
    :func:`unit_tally`."""
    return [
        f"{branch} AND person_key IN (SELECT person_key FROM rc_dirty_person)",
        f"{branch} AND unit_code IN (SELECT unit_code FROM rc_dirty_unit WHERE unregistered = 1) "
        "AND person_key NOT IN (SELECT person_key FROM rc_dirty_person)",
    ]


def unit_tally(covered: frozenset[Dataset], dialect: str) -> str:
    """``rc_unit_tally`` of an incremental run, in the columns of the full run's: the
    unregistered dirty units from ``rc_pu`` (which holds all their rows), and the head counts
    that the writes keep per unit (:mod:`linkage_hub.records.tally`) — the active roster by
    type of each registered unit dirty for OVER_QUOTA, the serving leaders by level of each
    one dirty for OVER_LEADER_POSTS — summed over the run's region. A 1 % push then reads the
    persons it changed and a few stored counts per unit it touched: never the roster or
    cadres of those units, their HR records or paid lines, nor whole rows into the person
    pass."""
    parts = [
        staging.unit_tally(
            " WHERE pu.unit_code IN (SELECT unit_code FROM rc_dirty_unit WHERE unregistered = 1)"
        )
    ]
    counted = (
        # dataset, dirty for, (r_type, c_level), (n_roster, n_leaders), which categories,
        # grouped by
        (Dataset.roster, "for_quota", f"{staging.STORED_TYPE}, 0", "SUM(s.n), 0", "",
         staging.STORED_TYPE),
        (Dataset.cadres, "for_posts", f"0, {staging.STORED_LEVEL}", "0, SUM(s.n)",
         " AND s.category IN ('principal', 'deputy')", staging.STORED_LEVEL),
    )  # fmt: skip
    for dataset, flag, codes, sums, rows, grouped in counted:
        if dataset not in covered:
            continue
        parts.append(
            f"SELECT s.unit_code, {codes}, {sums}, 1, 1, 0, 0 "
            f"FROM records_unit_count s WHERE s.dataset = '{dataset}' "
            f"AND s.region BETWEEN :lo AND :hi{rows} AND s.unit_code IN "
            f"(SELECT unit_code FROM rc_dirty_unit WHERE {flag} = 1 AND unregistered = 0) "
            f"GROUP BY s.unit_code, {grouped} HAVING SUM(s.n) > 0"
        )
    if Dataset.cadres in covered:
        # The stored counts are of the records with status active; an active cadre of the
        # rules is one serving on the as-of date (staging.serving). Only an active record
        # removed by then, or a removed one with a later or no removed_on, can differ: each
        # such record at a dirty unit adds what the day changes (-1, +1), read through the
        # current-unit index of the few units counted again.
        serving = staging.serving("t", dialect)
        level = staging.level_code("t.leader_level")
        change = (
            f"CASE WHEN {serving} THEN 1 ELSE 0 END "
            "- CASE WHEN t.status = 'active' THEN 1 ELSE 0 END"
        )
        parts.append(
            f"SELECT t.unit_code, 0, {level}, 0, SUM({change}), 1, 1, 0, 0 "
            "FROM records_cadre t WHERE t.closed_at IS NULL AND t.region BETWEEN :lo AND :hi "
            "AND t.leader_level IN ('principal', 'deputy') "
            "AND (CASE WHEN t.status = 'active' THEN CASE WHEN t.removed_on <= :as_of "
            "THEN 1 ELSE 0 END WHEN t.removed_on <= :as_of THEN 0 ELSE 1 END) = 1 "
            "AND t.unit_code IN "
            "(SELECT unit_code FROM rc_dirty_unit WHERE for_posts = 1 AND unregistered = 0) "
            f"GROUP BY t.unit_code, {level}"
        )
    return "\nUNION ALL\n".join(parts)


def batches(session: Session, params: Mapping[str, Any]) -> list[str]:
    """The batches whose changes the run covered."""
    rows = session.execute(
        text(f"SELECT DISTINCT c.batch_id FROM {_CHANGES} WHERE {_IN_RANGE}"), params
    )
    return sorted(str(r[0]) for r in rows)


# --- Watermarks ---------------------------------------------------------------------------------


def canonical(parameters: Mapping[str, Any]) -> str:
    """The parameters an answer depends on, as comparable text (the region is the key)."""
    kept = {k: v for k, v in parameters.items() if k != "region"}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"))


def rules_text(ran: list[RuleCode]) -> str:
    return ",".join(sorted(ran))


@dataclass(frozen=True, slots=True)
class Since:
    """Where an incremental run of a region starts: its watermark (``after`` is ``None`` when
    the region was never settled or its watermark was dropped) and the run's own parameters,
    canonical."""

    after: int | None
    settled_under: str | None  # the watermark's parameters
    settled_rules: str | None
    parameters: str

    def needs_full(self, ran: list[RuleCode]) -> str | None:
        """Why the run must read the whole region (``None``: it may run incrementally)."""
        if self.after is None:
            return "no_watermark" if self.settled_under is None else "watermark_dropped"
        if self.settled_under != self.parameters:
            return "parameters_changed"
        if self.settled_rules != rules_text(ran):
            return "coverage_changed"
        return None


def since(session: Session, region: str, parameters: str) -> Since:
    mark = session.get(Watermark, region)
    if mark is None:
        return Since(None, None, None, parameters)
    return Since(mark.seq, mark.parameters, mark.rules, parameters)


def advance(
    session: Session, region: str, *, seq: int, run_id: str, parameters: str, ran: list[RuleCode]
) -> None:
    """Record that ``region`` is settled to ``seq``; the run's transaction commits it."""
    mark = session.get(Watermark, region)
    if mark is None:
        mark = Watermark(region=region)
        session.add(mark)
    mark.seq, mark.run_id, mark.parameters = seq, run_id, parameters
    mark.rules, mark.updated_at = rules_text(ran), utcnow()


def invalidate(session: Session, region: str, parameters: str) -> None:
    """A full run of ``region`` under other parameters changed findings that a wider or
    narrower region's watermark counts as settled under its own: drop those watermarks (their
    next incremental run is a full one). A dropped watermark keeps its row, with no ``seq``:
    the on-write step takes its targets from these rows, and a city must stay one after a
    county inside it was run as of another day. Runs under the same parameters settle each
    subject as the other region would, and leave the watermarks be."""
    lo, hi = region_bounds(region)
    ancestors = {region[:2] + "0000", region[:4] + "00"} - {region}  # province, city
    overlapping = select(Watermark).where(
        Watermark.region != region,
        Watermark.region.between(lo, hi) | Watermark.region.in_(sorted(ancestors)),
    )
    for mark in session.scalars(overlapping):  # a handful of regions
        if mark.parameters != parameters:
            mark.seq = None
