"""One reconciliation run inside one transaction: coverage, staging, the rules, the merge.

Everything runs in the database; Python only sequences the statements and times them.

Scope: a run reads the records of its region (and everything below it), and it may create,
update or resolve only findings whose evidence lies wholly inside that region. A finding whose
evidence spans regions belongs to the smallest region containing all of it and is left to runs
over that region or one above it: a county run neither resolves the city's finding about a
person on its roster whom HR lists in the city, nor files a finding of its own from the half it
sees. The rule lives in one place, :mod:`linkage_hub.reconciliation.scope`, applied between the
rules and the merge (``confine``) and inside the merge (what may be resolved).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from linkage_hub import validtime as vt
from linkage_hub.clock import next_month
from linkage_hub.domain import Dataset
from linkage_hub.reconciliation import delta, merge, staging
from linkage_hub.reconciliation.queries import PERSON_RULES, rule_sql
from linkage_hub.reconciliation.rules import RULES, RuleCode, RunParameters
from linkage_hub.reconciliation.scope import run_scope
from linkage_hub.versioning import region_bounds

log = logging.getLogger(__name__)

WORK_MEM = "512MB"  # PostgreSQL, for the run's transaction only
INDEX_PAGE_COST = 1.1  # PostgreSQL random_page_cost where a run reads by index (SSD, cached)
# PostgreSQL's statistics target for the temporary tables of an incremental run (default 100:
# ANALYZE samples 30,000 rows of each). They hold a few thousand rows; their ANALYZEs took
# 0.15 s of a 1 % run at 1 M persons (bench/RESULTS.md, "statement by statement").
DELTA_STATISTICS = 10

_COVERAGE = {
    Dataset.roster: "SELECT 1 FROM records_roster WHERE closed_at IS NULL "
    "AND region BETWEEN :lo AND :hi",
    Dataset.cadres: "SELECT 1 FROM records_cadre WHERE closed_at IS NULL "
    "AND region BETWEEN :lo AND :hi",
    Dataset.employment: "SELECT 1 FROM records_employment WHERE closed_at IS NULL "
    "AND region BETWEEN :lo AND :hi",
    Dataset.payroll: "SELECT 1 FROM records_payroll WHERE closed_at IS NULL "
    "AND period = :period AND region BETWEEN :lo AND :hi",
    Dataset.units: "SELECT 1 FROM registry_unit WHERE closed_at IS NULL "
    "AND region BETWEEN :lo AND :hi",
    Dataset.quotas: "SELECT 1 FROM registry_quota WHERE closed_at IS NULL "
    "AND region BETWEEN :lo AND :hi",
    Dataset.leader_posts: "SELECT 1 FROM registry_leader_post WHERE closed_at IS NULL "
    "AND region BETWEEN :lo AND :hi",
}

_BRANCHES = {
    Dataset.roster: staging.ROSTER_BRANCH,
    Dataset.employment: staging.EMPLOYMENT_BRANCH,
    Dataset.cadres: "",  # staging.cadre_branch(dialect): it reads the as-of date
    Dataset.payroll: staging.PAYROLL_BRANCH,
}


def coverage(session: Session, lo: str, hi: str, period: str | None) -> frozenset[Dataset]:
    """The datasets with current records in the region (payroll: lines of the period)."""
    covered = set()
    for dataset, query in _COVERAGE.items():
        if dataset is Dataset.payroll and period is None:
            continue
        row = session.execute(
            text(query + " LIMIT 1"), {"lo": lo, "hi": hi, "period": period}
        ).first()
        if row is not None:
            covered.add(dataset)
    return frozenset(covered)


def latest_period(session: Session, region: str, today: dt.date | None) -> str | None:
    """The latest period with current payroll lines in ``region``, not after ``today``'s next
    month: a line of a far month (pushed before the hub refused them) does not become every
    default run's period. ``today`` None: of any month (whether the region holds pay)."""
    lo, hi = region_bounds(region)
    value = session.execute(
        text(
            "SELECT MAX(period) FROM records_payroll "
            "WHERE closed_at IS NULL AND region BETWEEN :lo AND :hi AND period <= :latest"
        ),
        {"lo": lo, "hi": hi, "latest": next_month(today) if today else "9999-12"},
    ).scalar()
    return str(value) if value is not None else None


@dataclass
class Outcome:
    counts: dict[str, dict[str, int]]
    skipped: dict[str, list[str]]
    timings: dict[str, float] = field(default_factory=dict)
    ran: list[RuleCode] = field(default_factory=list)
    high: int = 0  # the change feed's seq the findings now reflect
    incremental: bool = False  # False: the run read the whole region
    full_because: str | None = None  # why an incremental run ran in full
    batch_ids: list[str] = field(default_factory=list)  # an incremental run's batches


def bind_parameters(
    params: RunParameters, run_id: str, now: dt.datetime, zone: str
) -> dict[str, Any]:
    lo, hi = region_bounds(params.region)
    return {
        vt.ZONE: zone,  # the day a version without effective_on was recorded (rc_approved)
        "lo": lo,
        "hi": hi,
        "period": params.period,
        "period_start": params.period_start,
        "period_end": params.period_end,
        "as_of": params.as_of,
        "late_exit_before": params.late_exit_before,
        "grace": str(params.exit_grace_working_days),
        "run_id": run_id,
        "now": now,
    }


def reconcile(
    session: Session,
    params: RunParameters,
    run_id: str,
    now: dt.datetime,
    since: delta.Since | None = None,
    feed_seq: int | None = None,
    *,
    zone: str,
) -> Outcome:
    """Run every rule the coverage allows and merge the findings; the caller commits.
    ``since``: an incremental run from that watermark, in full when it cannot be exact
    (:mod:`linkage_hub.reconciliation.delta`). ``feed_seq``: the change feed's position when
    the run's parameters were fixed (``Run.feed_seq``); the run settles the feed up to it.
    ``zone``: the hub's time zone, in which ``params.as_of`` is a day."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # One GROUP BY over a million persons: keep its hash table in memory. Parallel workers
        # would each build partial groups of nearly every person and merge them again.
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        # psycopg prepares a statement a connection has run five times, and PostgreSQL may
        # then plan it once for any parameters. A run's statements are few and costly, and a
        # generic plan cannot see the region: the coverage probes ("any current row above the
        # region? LIMIT 1") became sequential scans of every dataset, 1.7 s of a 2 s
        # single-record run at 1 M persons (bench/settle.py). Plan every statement for its values.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        return _reconcile(session, dialect, params, run_id, now, since, feed_seq, zone)
    # Staging tables live in memory. SQLite would rather build a throw-away index over a
    # million records than use the partial indexes the evidence joins are written for.
    _temp_store_in_memory(session)
    session.execute(text("PRAGMA automatic_index = OFF"))
    try:
        return _reconcile(session, dialect, params, run_id, now, since, feed_seq, zone)
    finally:
        session.execute(text("PRAGMA automatic_index = ON"))  # the connection goes back to the pool


def _temp_store_in_memory(session: Session) -> None:
    # SQLite refuses the change on a pooled connection whose temporary database is already
    # open (e.g. after a batch merge used temp tables); the run then stages in temp files.
    if session.execute(text("PRAGMA temp_store")).scalar() == 2:
        return
    try:
        with session.begin_nested():
            session.execute(text("PRAGMA temp_store = MEMORY"))
    except OperationalError:
        log.info("SQLite temp_store stays as it is on this connection")


def _reconcile(
    session: Session,
    dialect: str,
    params: RunParameters,
    run_id: str,
    now: dt.datetime,
    since: delta.Since | None,
    feed_seq: int | None,
    zone: str,
) -> Outcome:
    bound = bind_parameters(params, run_id, now, zone)
    # Read before the records: later changes come again. A run created earlier settles only
    # to where the feed stood when its period was chosen (never below its watermark).
    high = delta.high_water(session) if feed_seq is None else feed_seq
    if since is not None and since.after is not None:
        high = max(high, since.after)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now_ = time.perf_counter()
        timings[name] = round(now_ - clock, 4)
        clock = now_

    covered = coverage(session, bound["lo"], bound["hi"], params.period)
    scope = run_scope(session, bound)
    ran: list[RuleCode] = []
    skipped: dict[str, list[str]] = {}
    for rule in RULES:
        missing = rule.gate(covered)
        if missing:
            skipped[rule.code] = [str(d) for d in missing]
        else:
            ran.append(rule.code)
    lap("coverage")

    full_because = since.needs_full(ran) if since is not None else None
    incremental = since is not None and full_because is None
    branches = [
        sql or staging.cadre_branch(dialect)
        for dataset, sql in _BRANCHES.items()
        if dataset in covered
    ]
    persons, only, tally = "", "1 = 1", None
    if since is not None and since.after is not None:
        bound.update(after=since.after, high=high)
    if incremental:
        if dialect == "postgresql":
            # A few thousand persons and units, read by index: with the default cost of a
            # random page (4, for spinning disks) PostgreSQL hash-joined whole datasets instead
            # (0.47 s against 0.04 s for 12,000 persons of a million, bench/settle.py).
            session.execute(text(f"SET LOCAL random_page_cost = {INDEX_PAGE_COST}"))
            session.execute(text(f"SET LOCAL default_statistics_target = {DELTA_STATISTICS}"))
            # A statement over a few thousand persons can still cost more than jit_above_cost
            # (nested loops of index probes add up), and compiling it took 20-50 ms of a
            # 300 ms statement. A full run keeps JIT: its GROUP BYs over a million persons
            # were 4 % faster with it (bench/RESULTS.md, "JIT off for incremental runs").
            session.execute(text("SET LOCAL jit = off"))
        staging.drop_temp_tables(session, dialect, delta.DIRTY_TABLES)
        delta.build(session, dialect, bound)
        branches = [part for branch in branches for part in delta.restrict_branch(branch)]
        tally = delta.unit_tally(covered, dialect)
        persons, only = (
            "pu.person_key IN (SELECT person_key FROM rc_dirty_person)",
            delta.dirty("f"),
        )
        lap("delta")
    predicates = [PERSON_RULES[code].predicate for code in ran if code in PERSON_RULES]
    staging.build(
        session,
        dialect,
        bound,
        branches=branches,
        person_predicates=predicates,
        persons=persons,
        tally=tally,
        new_ids=incremental,
        lap=lap,
    )
    for code in ran:
        session.execute(staging.sql(rule_sql(code)), bound)
        lap(f"rule:{code}")
    if incremental:  # the unit rules also counted units nothing changed at: not this run's
        session.execute(text(f"DELETE FROM rc_found WHERE NOT {delta.dirty('rc_found')}"))
    scope.confine(session, bound)
    lap("scope")
    counts = merge.merge(session, dialect, bound, ran, out_of_scope=scope.excludes("f"), only=only)
    lap("merge")
    if dialect == "postgresql" and not incremental:
        # The evidence is looked up per finding, by index (see merge.per_finding): priced
        # for spinning disks, a full run's 12,000 person findings hashed the whole current
        # roster (a scan of a million rows) instead of probing it 12,000 times.
        session.execute(text(f"SET LOCAL random_page_cost = {INDEX_PAGE_COST}"))
    merge.evidence(session, dialect, bound, ran)
    lap("evidence")
    batch_ids = delta.batches(session, bound) if "after" in bound else []
    staging.drop_temp_tables(session, dialect, staging.TEMP_TABLES + delta.DIRTY_TABLES)
    return Outcome(
        counts=counts,
        skipped=skipped,
        timings=timings,
        ran=ran,
        high=high,
        incremental=incremental,
        full_because=full_because,
        batch_ids=batch_ids,
    )
