"""The one pass over the departments' records that every rule reads from.

A run builds three temporary tables inside its transaction:

- ``rc_unit``: the registry as of the run (``registered`` = active and not abolished on or
  before the as-of date);
- ``rc_pu``: one row per person × unit over the union of the four person datasets (current
  rows in the run's region; payroll only for the run's period), with what each department
  says there. Natural keys make every dataset one record per person × unit, so ``MAX`` of a
  flag is "this department has such a record here" and ``SUM`` over a person counts units
  without ``count(DISTINCT)``;
- ``rc_person``: one row per person who breaks at least one running person rule, folded from
  ``rc_pu`` in a second ``GROUP BY``. Departments are compared in this single pass, never by
  pairwise joins of million-row tables; the rules then read a table of a few thousand rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Date, DateTime, TextClause, bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from linkage_hub import validtime as vt
from linkage_hub.db import NEW_ID
from linkage_hub.domain import ALLOWED_TYPES, EXIT_STATUSES

_TYPED: dict[str, TypeEngine[Any]] = {
    "as_of": Date(),
    "period_start": Date(),
    "period_end": Date(),
    "late_exit_before": Date(),
    "now": DateTime(timezone=True),
}


def sql(statement: str) -> TextClause:
    """``text()`` with dates and times bound as such on both dialects."""
    clause = text(statement)
    typed = [
        bindparam(name, type_=kind)
        for name, kind in _TYPED.items()
        if re.search(rf":{name}\b", statement)
    ]
    return clause.bindparams(*typed) if typed else clause


def temp_table(dialect: str, name: str, select: str) -> str:
    if dialect == "postgresql":
        return f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}"
    return f"CREATE TEMP TABLE {name} AS {select}"


def drop_temp_tables(session: Session, dialect: str, names: Iterable[str]) -> None:
    if dialect == "sqlite":
        for name in names:
            session.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))


def _in(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


EXITS = _in(EXIT_STATUSES)


def _unit_sql(dialect: str) -> str:
    # The unit facts the person pass compares with, as integers: string comparisons per
    # record cost more than the whole aggregation. ``allowed`` has bit n set for every
    # establishment type code n the unit's kind may use.
    allowed = " ".join(
        f"WHEN '{kind}' THEN {sum(1 << TYPE_CODES[t] for t in types)}"
        for kind, types in sorted(ALLOWED_TYPES.items())
    )
    return f"""
SELECT unit_code, region, kind, funding, parent_code, internal_unit_limit,
       CASE WHEN {vt.not_abolished("registry_unit", ":as_of", dialect)}
            THEN 1 ELSE 0 END AS registered,
       CASE WHEN funding = 'self' THEN 1 ELSE 0 END AS self_funded,
       CASE WHEN kind = 'civil_service_managed_institution' THEN 1 ELSE 0 END AS csm,
       CASE kind {allowed} ELSE 0 END AS allowed
FROM registry_unit
WHERE closed_at IS NULL
"""


# --- rc_pu: what each department says about a person in a unit ---------------------------------
#
# Aggregates dominate the cost of the pass, so each record contributes one integer, ``bits``,
# instead of a column per fact. A department has at most one current record per person × unit
# (its natural key), so within a person × unit the bits of different records never overlap and
# SUM(bits) is their union. Codes (establishment type, leader level) take a few bits each.
# ``pu_flags`` decodes the columns again for the queries that read them.

FIELDS: dict[str, tuple[int, int]] = {}  # name → (shift, mask)
_shift = 0
for _name, _width in (
    ("r_any", 1), ("r_act", 1), ("h_any", 1), ("h_act", 1), ("h_career", 1), ("c_any", 1),
    ("c_act", 1), ("c_lead", 1), ("c_csr", 1), ("p_any", 1), ("p_paid", 1), ("p_budget", 1),
    ("r_type", 3), ("p_type", 3), ("c_level", 2), ("r_undated", 1), ("h_undated", 1),
    ("r_later", 1),
):  # fmt: skip
    FIELDS[_name] = (_shift, 2**_width - 1)
    _shift += _width

TYPE_CODES = {"administrative": 1, "political_legal": 2, "institutional": 3, "worker": 4}
LEVEL_CODES = {"principal": 1, "deputy": 2}


def field(name: str, bits: str = "pu.bits") -> str:
    shift, mask = FIELDS[name]
    return f"(({bits} >> {shift}) & {mask})" if shift else f"({bits} & {mask})"


def _set(name: str, value: str = "1") -> str:
    weight = 1 << FIELDS[name][0]
    return f"{weight} * {value}" if value != "1" else str(weight)


def _code(column: str, codes: dict[str, int], other: int) -> str:
    whens = " ".join(f"WHEN '{k}' THEN {v}" for k, v in codes.items())
    return f"CASE {column} {whens} ELSE {other} END"


def decode(codes: dict[str, int], expression: str) -> str:
    whens = " ".join(f"WHEN {v} THEN '{k}'" for k, v in codes.items())
    return f"CASE {expression} {whens} END"


_NO_DATE = "CAST(NULL AS DATE)"  # never CAST a real date: SQLite would make 2026-08-14 a 2026


def _branch(
    table: str, where: str, bits: str, r_exit: str = _NO_DATE, h_exit: str = _NO_DATE
) -> str:
    return (
        f"SELECT person_key, unit_code, name_norm, {bits} AS bits,\n"
        f"       {r_exit} AS r_exit_on, {h_exit} AS h_exit_on\n"
        f"FROM {table}\nWHERE closed_at IS NULL AND region BETWEEN :lo AND :hi{where}"
    )


ROSTER_BRANCH = _branch(
    "records_roster",
    "",
    f"{_set('r_any')} + CASE WHEN status = 'active' THEN {_set('r_act')} + "
    f"{_set('r_type', _code('establishment_type', TYPE_CODES, 7))} + "
    f"CASE WHEN entered_on > :period_end THEN {_set('r_later')} ELSE 0 END "
    f"WHEN exited_on IS NULL THEN {_set('r_undated')} ELSE 0 END",
    r_exit="CASE WHEN status = 'exited' THEN exited_on END",
)
EMPLOYMENT_BRANCH = _branch(
    "records_employment",
    "",
    f"{_set('h_any')} + CASE WHEN status = 'active' THEN {_set('h_act')} + "
    f"CASE WHEN category <> 'contract' THEN {_set('h_career')} ELSE 0 END "
    f"WHEN status_on IS NULL THEN {_set('h_undated')} ELSE 0 END",
    h_exit=f"CASE WHEN status IN ({EXITS}) THEN status_on END",
)


def serving(c: str, dialect: str) -> str:
    """SQL: the cadre record ``c`` is an "active cadre" of DOMAIN.md on the as-of date: in
    office by its end (:func:`linkage_hub.validtime.serving`, the end the staffing, tenure and
    unit reports read too): ``removed_on`` is the first day out of office whatever the status,
    so an ``active`` record removed on or before the as-of date is not one, and a record
    ``removed`` from a later day still is. The date makes this the full run's work on a new
    day, as LATE_EXIT's clock (:mod:`linkage_hub.reconciliation.delta`)."""
    return vt.serving(c, ":as_of", dialect)


def cadre_branch(dialect: str) -> str:
    return _branch(
        "records_cadre",
        "",
        f"{_set('c_any')} + CASE WHEN {serving('records_cadre', dialect)} THEN {_set('c_act')} + "
        f"CASE WHEN civil_servant_registered THEN {_set('c_csr')} ELSE 0 END + "
        f"CASE WHEN leader_level IN ('principal', 'deputy') THEN {_set('c_lead')} + "
        f"{_set('c_level', _code('leader_level', LEVEL_CODES, 0))} ELSE 0 END ELSE 0 END",
    )


PAYROLL_BRANCH = _branch(
    "records_payroll",
    " AND period = :period",
    f"{_set('p_any')} + CASE WHEN status = 'paid' THEN {_set('p_paid')} + "
    f"CASE WHEN funding = 'budget' THEN {_set('p_budget')} ELSE 0 END + "
    f"{_set('p_type', _code('establishment_type', TYPE_CODES, 0))} ELSE 0 END",
)


def pu_select(branches: Iterable[str]) -> str:
    union = "\n  UNION ALL\n".join(branches)
    return (
        "SELECT person_key, unit_code, CAST(SUM(bits) AS INTEGER) AS bits,\n"
        "       MAX(r_exit_on) AS r_exit_on, MAX(h_exit_on) AS h_exit_on,\n"
        "       MIN(name_norm) AS name_min, MAX(name_norm) AS name_max\n"
        f"FROM (\n{union}\n) x\nGROUP BY person_key, unit_code"
    )


def pu_flags(*names: str) -> str:
    """``rc_pu`` with the named fields decoded, as a derived table aliased ``pu``."""
    cols = ", ".join(f"{field(n, 'bits')} AS {n}" for n in names)
    return f"(SELECT person_key, unit_code, {cols} FROM rc_pu) pu"


# --- rc_person: one row per person who breaks a running person rule ---------------------------

R_TYPE, P_TYPE = field("r_type"), field("p_type")
_INSTITUTIONAL = TYPE_CODES["institutional"]


# One of the person's active roster entries breaks MIXED_ESTABLISHMENT in this unit: (a) a
# type the registered unit's kind may not use, (b) another type than the paid line here, (c)
# institutional in a registered unit that is not civil-service-managed, with an active cadre
# record here registered as a civil servant.
MIXED_HERE = (
    f"{field('r_act')} = 1 AND ("
    f"(u.registered = 1 AND ((u.allowed >> CAST({R_TYPE} AS INTEGER)) & 1) = 0)"
    f" OR ({P_TYPE} <> 0 AND {P_TYPE} <> {R_TYPE})"
    f" OR ({R_TYPE} = {_INSTITUTIONAL} AND u.registered = 1 AND u.csm = 0"
    f" AND {field('c_csr')} = 1))"
)
# An entry that began after the run's period owed no pay in it (ESTABLISHED_NOT_PAID).
FUNDED_HERE = (
    f"{field('r_act')} = 1 AND {field('r_later')} = 0 AND u.registered = 1 AND u.self_funded = 0"
)
BUDGET_IN_SELF = f"{field('p_budget')} = 1 AND u.self_funded = 1"
ACTIVE_HERE = f"{field('r_act')} + {field('h_act')} + {field('c_act')} + {field('p_paid')}"


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


# Per-person counts, packed eight bits a count, four counts to an integer sum (a person would
# need 256 units in one dataset to overflow a count). Each packed term stays a 32-bit integer,
# so PostgreSQL sums it as bigint rather than numeric.
_COUNTS: dict[str, str] = {
    "r_any": field("r_any"), "r_act_n": field("r_act"), "h_any": field("h_any"),
    "h_act_n": field("h_act"), "h_career": field("h_career"), "c_any": field("c_any"),
    "c_act": field("c_act"), "c_lead": field("c_lead"), "p_any": field("p_any"),
    "p_paid_n": field("p_paid"), "p_typed": f"CASE WHEN {P_TYPE} <> 0 THEN 1 ELSE 0 END",
    "p_budget_self": _flag(BUDGET_IN_SELF), "r_funded": _flag(FUNDED_HERE),
    "r_mixed": _flag(MIXED_HERE), "r_undated": field("r_undated"),
    "h_undated": field("h_undated"),
}  # fmt: skip
_PACKS = [list(_COUNTS)[i : i + 4] for i in range(0, len(_COUNTS), 4)]


def _packed_sum(names: list[str]) -> str:
    terms = " + ".join(
        f"({_COUNTS[name]} << {8 * i})" if i else _COUNTS[name] for i, name in enumerate(names)
    )
    return f"SUM({terms})"


def _unpacked(names: list[str], column: str) -> list[str]:
    # Every column is a count of the person's units (exact up to 255). The predicates read
    # them as DOMAIN.md words them: "any" is > 0, "none" = 0, "at least two" >= 2, and "all"
    # is "none that is not" (no active roster entry: r_act_n = 0) -- never "= 1", which would
    # miss a person with records in two units of one department.
    return [f"(({column} >> {8 * i}) & 255) AS {name}" for i, name in enumerate(names)]


def _first_unit(condition: str) -> str:
    return f"MIN(CASE WHEN {condition} THEN pu.unit_code END)"


def _grouped(where: str) -> str:
    return f"""
SELECT pu.person_key,
       {", ".join(f"{_packed_sum(names)} AS counts_{n}" for n, names in enumerate(_PACKS))},
       MAX({ACTIVE_HERE}) AS best_common,
       MAX(pu.r_exit_on) AS r_exit_max, MAX(pu.h_exit_on) AS h_exit_max,
       MIN(pu.name_min) AS name_min, MAX(pu.name_max) AS name_max
FROM rc_pu pu
LEFT JOIN rc_unit u ON u.unit_code = pu.unit_code{where}
GROUP BY pu.person_key
"""


def person_columns(where: str = "") -> str:
    """One row per person of ``rc_pu`` (``where``: an extra condition on ``pu``'s rows)."""
    return (
        "SELECT g.person_key, "
        + ", ".join(
            part for n, names in enumerate(_PACKS) for part in _unpacked(names, f"g.counts_{n}")
        )
        + ", g.best_common, g.r_exit_max, g.h_exit_max, g.name_min, g.name_max\n"
        f"FROM ({_grouped(where)}) g"
    )


def person_select(predicates: Iterable[str], persons: str = "") -> str:
    """The persons who break at least one of ``predicates`` (each over :func:`person_columns`);
    ``persons``: a condition on ``pu`` that keeps only some persons (an incremental run's)."""
    where = "\n   OR ".join(f"({p})" for p in predicates)
    rows = f"\nWHERE {persons}" if persons else ""
    return f"SELECT * FROM ({person_columns(rows)}) p\nWHERE {where}"


def region_of(unit: str) -> str:
    """SQL: the region of ``unit`` (``rc_unit`` joined on it as ``u``): the registry's, else the
    one in its code. A finding filed under a unit lies in this region, and so do the records
    at the unit."""
    return f"COALESCE(u.region, SUBSTR({unit}, 3, 6))"


_LATEST_EXIT_REGION = f"CASE WHEN pu.h_exit_on = k.h_exit_max THEN {region_of('pu.unit_code')} END"

# The unit each person finding is filed under, worked out for the few persons in
# rc_person_core only: string aggregates over every person would cost more than this
# second, filtered look at rc_pu. A rule's unit is the first (by code) of the units where the
# person has a record that breaks it (funded_unit: an active roster entry of a registered
# unit not self-funded; lead_unit: an active leader post; career_unit: an active HR record not
# of a contract; typed_unit: a line paid under an establishment type), never merely the first
# unit the dataset names. h_exit_lo/h_exit_hi: the lowest and highest region of the HR records
# holding the latest exit date (h_exit_max), so that a summary quotes that date only when it is
# a record of the finding's own region (see linkage_hub.reconciliation.queries).
PERSON_UNITS = f"""
SELECT c.*, x.r_unit, x.p_unit, x.act_unit, x.mixed_unit, x.budget_self_unit, x.any_unit,
       x.funded_unit, x.lead_unit, x.career_unit, x.typed_unit, x.h_exit_lo, x.h_exit_hi
FROM rc_person_core c
JOIN (
  SELECT pu.person_key,
         {_first_unit(field("r_act") + " = 1")} AS r_unit,
         {_first_unit(field("p_paid") + " = 1")} AS p_unit,
         {_first_unit("(" + ACTIVE_HERE + ") > 0")} AS act_unit,
         {_first_unit(MIXED_HERE)} AS mixed_unit,
         {_first_unit(BUDGET_IN_SELF)} AS budget_self_unit,
         MIN(pu.unit_code) AS any_unit,
         {_first_unit(FUNDED_HERE)} AS funded_unit,
         {_first_unit(field("c_lead") + " = 1")} AS lead_unit,
         {_first_unit(field("h_career") + " = 1")} AS career_unit,
         {_first_unit(P_TYPE + " <> 0")} AS typed_unit,
         MIN({_LATEST_EXIT_REGION}) AS h_exit_lo,
         MAX({_LATEST_EXIT_REGION}) AS h_exit_hi
  FROM rc_pu pu
  JOIN rc_person_core k ON k.person_key = pu.person_key
  LEFT JOIN rc_unit u ON u.unit_code = pu.unit_code
  GROUP BY pu.person_key
) x ON x.person_key = c.person_key
"""


# --- rc_unit_tally: what the records say about each unit, for the unit rules -------------------
#
# One pass over rc_pu by unit × active roster type × active leader level: head counts for
# OVER_QUOTA and OVER_LEADER_POSTS, and which departments name the unit for UNREGISTERED_UNIT.
def unit_tally(where: str = "") -> str:
    """``where``: a condition on ``pu``'s rows (an incremental run's unregistered units)."""
    return f"""
SELECT pu.unit_code, {field("r_type")} AS r_type, {field("c_level")} AS c_level,
       SUM({field("r_act")}) AS n_roster, SUM({field("c_lead")}) AS n_leaders,
       MAX({field("r_act")}) AS r, MAX({field("c_act")}) AS c, MAX({field("h_act")}) AS h,
       MAX({field("p_paid")}) AS p
FROM rc_pu pu{where}
GROUP BY pu.unit_code, {field("r_type")}, {field("c_level")}
"""


# --- rc_approved: the quotas and leader posts in force on the run's as-of date ----------------
#
# OVER_QUOTA and OVER_LEADER_POSTS compare a unit's head count with what was approved for it on
# the as-of date: of each quota's (leader post's) versions in force then, the one recorded
# last (:func:`linkage_hub.validtime.effective_version`), as the
# staffing, tenure and unit reports show that day (a version without ``effective_on`` counts
# from the day it was recorded, in the hub's zone). One difference: when no version is in
# force but some are undated (recorded after the as-of date), the run takes the latest of
# those, so a run as of a day before undated quotas were pushed does not find every unit over
# a quota of 0; for today's runs the two agree. A raise approved from next month leaves a
# unit over its quota until then; a cut takes effect on its day. Only the units the tally
# counts are looked up (an incremental run's dirty units, by the current-unit index). The
# as-of date is the same for every incremental run of a day (a new day's first run is full,
# :mod:`linkage_hub.reconciliation.delta`), so the day a version comes into force is the full
# run's work, as LATE_EXIT's clock is.
APPROVALS = (
    ("quotas", "registry_quota", "establishment_type"),
    ("leader_posts", "registry_leader_post", "level"),
)


def approved_sql(dialect: str) -> str:
    """``rc_approved (unit_code, dataset, category, record_key, version, approved)``."""
    counted = "c.unit_code IN (SELECT unit_code FROM rc_unit_tally)"
    return " UNION ALL ".join(
        f"SELECT a.unit_code, '{dataset}' AS dataset, a.{column} AS category, a.record_key, "
        f"a.version, a.approved FROM "
        + vt.effective_version(table, ":as_of", dialect, current=counted, undated_in_force=True)
        + " a"
        for dataset, table, column in APPROVALS
    )


# the same codes over the stored head counts' category (see linkage_hub.records.tally)
STORED_TYPE = _code("s.category", TYPE_CODES, 7)
STORED_LEVEL = _code("s.category", LEVEL_CODES, 0)


def level_code(column: str) -> str:
    """A leader level column as ``c_level``'s code."""
    return _code(column, LEVEL_CODES, 0)


FOUND_DDL = """
CREATE TEMP TABLE rc_found (
    identity VARCHAR(120) NOT NULL,
    rule VARCHAR(40) NOT NULL,
    severity VARCHAR(10) NOT NULL,
    severity_rank INTEGER NOT NULL,
    region VARCHAR(6) NOT NULL,
    unit_code VARCHAR(18),
    person_key VARCHAR(32),
    establishment_type VARCHAR(20),
    level VARCHAR(10),
    departments VARCHAR(80) NOT NULL,
    summary_zh TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    finding_id VARCHAR(32){new_id},
    prior_status VARCHAR(12),
    prior_region VARCHAR(6)
)"""

TEMP_TABLES = (
    "rc_found",
    "rc_person",
    "rc_person_core",
    "rc_unit_tally",
    "rc_approved",
    "rc_pu",
    "rc_unit",
    "rc_gone",
    "rc_unreg",
)


def build(
    session: Session,
    dialect: str,
    params: Mapping[str, Any],
    *,
    branches: list[str],
    person_predicates: list[str],
    persons: str = "",
    tally: str | None = None,
    new_ids: bool = False,
    lap: Callable[[str], None] = lambda _step: None,
) -> None:
    """Create ``rc_unit``, ``rc_pu``, ``rc_unit_tally``, ``rc_person`` and an empty
    ``rc_found``; ``lap`` is called after each step with its name (for the run's timings).
    ``persons`` keeps ``rc_person`` to some persons (see :func:`person_select`); ``tally``
    replaces ``rc_unit_tally``'s query (an incremental run counts units its own way);
    ``new_ids`` gives every found subject a new finding id up front."""
    drop_temp_tables(session, dialect, TEMP_TABLES)
    session.execute(sql(temp_table(dialect, "rc_unit", _unit_sql(dialect))), params)
    session.execute(text("CREATE UNIQUE INDEX rc_unit_code ON rc_unit (unit_code)"))
    session.execute(text("CREATE INDEX rc_unit_parent ON rc_unit (parent_code)"))
    if dialect == "postgresql":
        session.execute(text("ANALYZE rc_unit"))
    lap("staging:units")
    if branches:
        session.execute(sql(temp_table(dialect, "rc_pu", pu_select(branches))), params)
    else:
        empty = pu_select([ROSTER_BRANCH]) + " HAVING 1 = 0"
        session.execute(sql(temp_table(dialect, "rc_pu", empty)), params)
    lap("staging:person_unit")
    tally_sql = tally if tally is not None else unit_tally()
    session.execute(sql(temp_table(dialect, "rc_unit_tally", tally_sql)), params)
    session.execute(sql(temp_table(dialect, "rc_approved", approved_sql(dialect))), params)
    session.execute(text("CREATE INDEX rc_approved_unit ON rc_approved (unit_code, category)"))
    lap("staging:unit_tally")
    predicates = person_predicates or ["1 = 0"]
    session.execute(
        sql(temp_table(dialect, "rc_person_core", person_select(predicates, persons))), params
    )
    session.execute(text("CREATE UNIQUE INDEX rc_person_core_key ON rc_person_core (person_key)"))
    session.execute(sql(temp_table(dialect, "rc_person", PERSON_UNITS)), params)
    # new_ids: most subjects an incremental run finds are new findings; they take an id as they
    # are found (the merge gives the rest the id of their finding), a pass fewer than the merge
    # giving ids to those still without one. A full run finds mostly standing findings.
    found = FOUND_DDL.format(new_id=f" DEFAULT ({NEW_ID[dialect]})" if new_ids else "")
    session.execute(text(found + (" ON COMMIT DROP" if dialect == "postgresql" else "")))
    if dialect == "postgresql":
        session.execute(text("ANALYZE rc_person"))
    lap("staging:person")
