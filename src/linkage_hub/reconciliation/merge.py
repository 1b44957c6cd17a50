"""Merging a run's ``rc_found`` into the findings, set-based, and gathering the evidence.

Lifecycle (DOMAIN.md): a subject found for the first time is ``open``; found again while
``open``, ``reopened``, ``acknowledged`` or ``waived`` it keeps its status (a waived finding
stays waived while it holds); a ``resolved`` finding found again becomes ``reopened`` — the same
row, the same id. A live finding of a rule that ran, inside the run's scope (see :mod:`scope`:
its evidence lies wholly inside the run's region), that the run no longer finds is
``resolved``. Rules gated off by coverage are not in ``ran`` and resolve nothing. A finding
found again is filed where the run found it (its unit's region, which may have changed): the
live ones filed in another region are kept in ``rc_refiled`` for the run's end to announce.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from linkage_hub.db import NEW_ID
from linkage_hub.domain import Dataset
from linkage_hub.reconciliation.rules import RULES, RuleCode, Subject
from linkage_hub.reconciliation.staging import (
    _in,
    drop_temp_tables,
    pu_flags,
    sql,
    temp_table,
)
from linkage_hub.reconciliation.staging import serving as cadre_serving

Counts = dict[str, dict[str, int]]
# The live findings the run files under another region (:func:`merge`): a temporary table
# that outlives the run's staging, read and dropped by announce.run_ended.
REFILED = "rc_refiled"


def merge(
    session: Session,
    dialect: str,
    params: Mapping[str, Any],
    ran: list[RuleCode],
    *,
    out_of_scope: str,
    only: str = "1 = 1",
) -> Counts:
    """Apply the lifecycle; returns per rule ``found``, ``new``, ``reopened``, ``resolved``.
    ``out_of_scope`` is the run's scope predicate over the finding ``f`` (see :mod:`scope`):
    such a finding is not the run's to resolve, however little of it the run saw. ``only``
    (over ``f``) narrows what the run may resolve to the subjects it reconciled (an
    incremental run's, :func:`linkage_hub.reconciliation.delta.dirty`)."""
    counts: Counts = {code: {"found": 0, "new": 0, "resolved": 0, "reopened": 0} for code in ran}
    session.execute(text("CREATE INDEX rc_found_identity ON rc_found (identity)"))
    session.execute(
        text(
            "UPDATE rc_found SET finding_id = f.id, prior_status = f.status, "
            "prior_region = f.region "
            "FROM reconciliation_finding f WHERE f.identity = rc_found.identity"
        )
    )
    session.execute(
        text(f"UPDATE rc_found SET finding_id = {NEW_ID[dialect]} WHERE finding_id IS NULL")
    )
    session.execute(text("CREATE UNIQUE INDEX rc_found_finding_id ON rc_found (finding_id)"))
    session.execute(text("CREATE INDEX rc_found_unit_code ON rc_found (unit_code, rule)"))
    if dialect == "postgresql":
        session.execute(text("ANALYZE rc_found"))
    found = session.execute(
        text(
            "SELECT rule, COUNT(*), "
            "SUM(CASE WHEN prior_status IS NULL THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN prior_status = 'resolved' THEN 1 ELSE 0 END) "
            "FROM rc_found GROUP BY rule"
        )
    )
    for rule, n, new, reopened in found:
        counts[rule].update(found=int(n), new=int(new or 0), reopened=int(reopened or 0))

    if ran:
        gone = (
            "SELECT f.id, f.rule, f.status, f.region FROM reconciliation_finding f "
            f"WHERE f.rule IN ({_in(ran)}) AND f.region BETWEEN :lo AND :hi "
            "AND f.status <> 'resolved' "
            "AND NOT EXISTS (SELECT 1 FROM rc_found r WHERE r.identity = f.identity) "
            f"AND NOT {out_of_scope} AND {only}"
        )
        session.execute(sql(temp_table(dialect, "rc_gone", gone)), params)
        for rule, n in session.execute(text("SELECT rule, COUNT(*) FROM rc_gone GROUP BY rule")):
            counts[rule]["resolved"] = int(n)
        session.execute(
            sql(
                "INSERT INTO reconciliation_event "
                "(finding_id, from_status, to_status, at, run_id, filed_region) "
                "SELECT id, status, 'resolved', :now, :run_id, region FROM rc_gone"
            ),
            params,
        )
        session.execute(
            sql(
                "UPDATE reconciliation_finding SET status = 'resolved', resolved_at = :now, "
                "resolved_run_id = :run_id WHERE id IN (SELECT id FROM rc_gone)"
            ),
            params,
        )

    session.execute(
        sql(
            "INSERT INTO reconciliation_event "
            "(finding_id, from_status, to_status, at, run_id, filed_region) "
            "SELECT finding_id, prior_status, "
            "CASE WHEN prior_status IS NULL THEN 'open' ELSE 'reopened' END, :now, :run_id, "
            "region FROM rc_found WHERE prior_status IS NULL OR prior_status = 'resolved'"
        ),
        params,
    )
    # A live finding found again under a unit of another region is filed there (the UPDATE
    # below), as a unit move files it (records.publish.propagate_unit_regions); the run's end
    # announces each to the region it entered (announce.run_ended, from this table).
    drop_temp_tables(session, dialect, [REFILED])
    session.execute(
        text(
            temp_table(
                dialect,
                REFILED,
                "SELECT finding_id AS id FROM rc_found "
                "WHERE prior_status <> 'resolved' AND prior_region <> region",
            )
        )
    )
    session.execute(
        sql(
            "UPDATE reconciliation_finding SET "
            "status = CASE WHEN status = 'resolved' THEN 'reopened' ELSE status END, "
            "resolved_at = NULL, resolved_run_id = NULL, "
            "last_seen_at = :now, last_run_id = :run_id, region = r.region, "
            "unit_code = r.unit_code, departments = r.departments, "
            "summary_zh = r.summary_zh, summary_en = r.summary_en "
            "FROM rc_found r WHERE r.finding_id = reconciliation_finding.id "
            "AND r.prior_status IS NOT NULL"
        ),
        params,
    )
    session.execute(
        sql(
            "INSERT INTO reconciliation_finding (id, identity, rule, severity, severity_rank, "
            "status, region, unit_code, person_key, establishment_type, level, departments, "
            "summary_zh, summary_en, first_seen_at, last_seen_at, first_run_id, last_run_id) "
            "SELECT finding_id, identity, rule, severity, severity_rank, 'open', region, "
            "unit_code, person_key, establishment_type, level, departments, summary_zh, "
            "summary_en, :now, :now, :run_id, :run_id FROM rc_found WHERE prior_status IS NULL"
        ),
        params,
    )
    return counts


# --- Evidence ---------------------------------------------------------------------------------

PERSON_TABLES = {
    Dataset.roster: "records_roster",
    Dataset.employment: "records_employment",
    Dataset.cadres: "records_cadre",
    Dataset.payroll: "records_payroll",
}
EXTRA_EVIDENCE = {RuleCode.MIXED_ESTABLISHMENT: (Dataset.payroll, Dataset.cadres)}


def evidence_datasets(code: RuleCode) -> set[Dataset]:
    rule = next(r for r in RULES if r.code == code)
    return {*rule.requires, *rule.requires_any[0], *EXTRA_EVIDENCE.get(code, ())}


def _insert(select: str) -> str:
    return (
        "INSERT INTO reconciliation_evidence (finding_id, dataset, record_key, version)\n" + select
    )


def per_finding(driver: str, table: str, where: str) -> str:
    """``FROM driver CROSS JOIN table t WHERE where``: the evidence of the few findings in
    ``driver``, looked up in the version table ``t`` through its person-key or unit-code index.

    SQLite keeps the left table of a ``CROSS JOIN`` as the outer loop (its documented way of
    fixing a join order); PostgreSQL reads it as the inner join it is and plans it by its
    statistics. Without the fixed order SQLite, with no statistics on a table the hub pushed
    into (nobody runs ``ANALYZE`` after a push), took ``period = ? AND region BETWEEN ? AND ?``
    on the payroll's period-region index for a few rows and scanned every finding for each of
    them: 46 s for 2,500 findings in a 200,000-person city (bench/RESULTS.md, "data shapes").
    tests/reconciliation/test_planner.py holds every statement here to the order."""
    return f"FROM {driver} CROSS JOIN {table} t WHERE {where}"


def in_region(dialect: str) -> str:
    """The region filter of an evidence look-up. On SQLite it is kept out of the index choice
    (no index matches ``region || ''``), so the look-up goes by person key or unit code:
    without statistics a region range (after an equality on ``period``) looks narrower than a
    person key, and each finding would read the region's records from the region index.
    PostgreSQL plans by its statistics, which know how much of a table a region range holds;
    an expression it has none for it takes for 0.5 % of the rows, and then hashed the whole
    current roster (a scan of it, 0.4 s at 1 M persons) instead of probing it per finding."""
    if dialect == "sqlite":
        return "(t.region || '') BETWEEN :lo AND :hi"
    return "t.region BETWEEN :lo AND :hi"


def evidence(
    session: Session, dialect: str, params: Mapping[str, Any], ran: Iterable[RuleCode]
) -> None:
    """Replace the evidence of every finding this run found with the records behind it now."""
    for statement in evidence_statements(dialect, ran):
        session.execute(sql(statement), params)


def evidence_statements(dialect: str, ran: Iterable[RuleCode]) -> list[str]:
    """The statements of :func:`evidence`, in order (also read by the planner tests)."""
    ran = list(ran)
    statements = [
        "DELETE FROM reconciliation_evidence WHERE finding_id IN (SELECT finding_id FROM rc_found)"
    ]
    person_rules = [r for r in RULES if r.code in ran and r.subject is Subject.person]
    for dataset, table in PERSON_TABLES.items():
        codes = [r.code for r in person_rules if dataset in evidence_datasets(r.code)]
        if not codes:
            continue
        period = " AND t.period = :period" if dataset is Dataset.payroll else ""
        statements.append(
            _insert(
                f"SELECT f.finding_id, '{dataset}', t.record_key, t.version "
                + per_finding(
                    "rc_found f",
                    table,
                    f"t.person_key = f.person_key AND t.closed_at IS NULL "
                    f"AND {in_region(dialect)}{period} AND f.rule IN ({_in(codes)})",
                )
            )
        )
    unit_rules = [
        r.code
        for r in RULES
        if r.code in ran and (Dataset.units in r.requires or r.subject is not Subject.person)
    ]
    if unit_rules:
        statements.append(
            _insert(
                "SELECT f.finding_id, 'units', t.record_key, t.version "
                + per_finding(
                    "rc_found f",
                    "registry_unit",
                    "t.unit_code = f.unit_code AND t.closed_at IS NULL "
                    f"AND f.rule IN ({_in(unit_rules)})",
                )
            )
        )
    # The persons × units of rc_pu at the units found unregistered: one pass over rc_pu, each
    # row probing rc_found by unit code (an index), never a pass over rc_pu per such unit.
    statements.append(
        temp_table(
            dialect,
            "rc_unreg",
            "SELECT f.finding_id, pu.person_key, pu.unit_code, pu.r_act, pu.c_act, pu.h_act, "
            f"pu.p_paid FROM {pu_flags('r_act', 'c_act', 'h_act', 'p_paid')} "
            "CROSS JOIN rc_found f WHERE f.unit_code = pu.unit_code "
            "AND f.rule = 'UNREGISTERED_UNIT'",
        )
    )
    statements += [_insert(statement) for statement in _unit_evidence(dialect)]
    return statements


def _unit_evidence(dialect: str) -> tuple[str, ...]:
    current_in_region = f"t.closed_at IS NULL AND {in_region(dialect)}"
    serving = cadre_serving("t", dialect)  # an active cadre on the as-of date
    return (
        # OVER_QUOTA: the quota version in force (rc_approved) and the active roster entries
        "SELECT f.finding_id, 'quotas', t.record_key, t.version "
        + per_finding(
            "rc_found f",
            "rc_approved",
            "t.unit_code = f.unit_code AND t.category = f.establishment_type "
            "AND t.dataset = 'quotas' AND f.rule = 'OVER_QUOTA'",
        ),
        "SELECT f.finding_id, 'roster', t.record_key, t.version "
        + per_finding(
            "rc_found f",
            "records_roster",
            f"t.unit_code = f.unit_code AND {current_in_region} AND t.status = 'active' "
            "AND t.establishment_type = f.establishment_type AND f.rule = 'OVER_QUOTA'",
        ),
        # OVER_LEADER_POSTS: the posts in force (rc_approved) and the serving cadres at that level
        "SELECT f.finding_id, 'leader_posts', t.record_key, t.version "
        + per_finding(
            "rc_found f",
            "rc_approved",
            "t.unit_code = f.unit_code AND t.category = f.level AND t.dataset = 'leader_posts' "
            "AND f.rule = 'OVER_LEADER_POSTS'",
        ),
        "SELECT f.finding_id, 'cadres', t.record_key, t.version "
        + per_finding(
            "rc_found f",
            "records_cadre",
            f"t.unit_code = f.unit_code AND {current_in_region} AND {serving} "
            "AND t.leader_level = f.level AND f.rule = 'OVER_LEADER_POSTS'",
        ),
        # OVER_INTERNAL_UNITS: the registered child units
        "SELECT f.finding_id, 'units', t.record_key, t.version "
        + per_finding(
            "rc_found f CROSS JOIN rc_unit c",
            "registry_unit",
            "c.parent_code = f.unit_code AND c.registered = 1 AND t.unit_code = c.unit_code "
            "AND t.closed_at IS NULL AND f.rule = 'OVER_INTERNAL_UNITS'",
        ),
        # UNREGISTERED_UNIT: the active records and paid lines naming the unit, found through
        # rc_unreg (rc_pu's rows at those units) and the person-key indexes of the datasets
        *(
            f"SELECT u.finding_id, '{dataset}', t.record_key, t.version "
            + per_finding(
                "rc_unreg u",
                table,
                f"t.person_key = u.person_key AND t.unit_code = u.unit_code "
                f"AND t.closed_at IS NULL AND {active} AND u.{flag} = 1",
            )
            for dataset, table, active, flag in (
                ("roster", "records_roster", "t.status = 'active'", "r_act"),
                ("cadres", "records_cadre", serving, "c_act"),
                ("employment", "records_employment", "t.status = 'active'", "h_act"),
                (
                    "payroll",
                    "records_payroll",
                    "t.period = :period AND t.status = 'paid'",
                    "p_paid",
                ),
            )
        ),
    )
