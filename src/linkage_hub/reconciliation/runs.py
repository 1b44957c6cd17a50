"""Reconciliation runs: create (one per region at a time), execute, recover after a crash.

A run is three transactions: the request that creates it (``queued``), ``running``, and the
run itself, which merges the findings and marks the run ``succeeded`` in one commit. A crash
therefore leaves the previous findings as they were.

Exclusion: regions overlap when one contains the other (a province run and a city run in it
would merge the same findings). Creating a run takes a lock (PostgreSQL: a transaction advisory
lock; SQLite: the writer lock of ``BEGIN IMMEDIATE``), refuses an overlapping active run with
409, and a unique partial index on ``region`` of active runs backs it up.

Kinds: ``full`` (asked for by the API, the command line or the schedule) or ``incremental``
(started by the hub after writes, :mod:`linkage_hub.reconciliation.onwrite`); both are created
here. The kind says who started the run (API.md). An incremental run reconciles the change
feed's rows after its region's watermark (:mod:`linkage_hub.reconciliation.delta`) and lists
their ``batch_ids``; when it cannot be exact it reads the whole region and says so (the warning
``read_in_full``, with the reason). Every run that succeeds moves its region's watermark.

Mistakes are not silent: a run of a region the hub knows nothing of is refused (422, see
:func:`ensure_known_region`), and a run in which every rule was skipped succeeds with a
warning (``warnings``; the command line exits with :data:`EXIT_ALL_SKIPPED`).

Audit: every run is one audit-log entry ``reconciliation.run`` (who or what started it, region,
kind, period, as-of date, status, counts), written in the transaction that ends the run — for a
run that succeeds, the one that merges its findings; a run whose process died gets it when it
is marked failed.

Liveness: the process executing a run holds a lock for it from creation to the end (PostgreSQL:
a session advisory lock on a dedicated connection; SQLite: ``flock`` on a file beside the
database). A ``queued``/``running`` run whose lock is free belongs to a dead process and is
marked ``failed`` — at start-up, at ``linkage-hub reconcile`` and before refusing a new run.
The run's own transaction also holds its row (PostgreSQL, ``FOR NO KEY UPDATE``, which leaves
rows that refer to the run free to be written beside it): a run whose lock's
connection ended under it is skipped, not failed, while it goes, and a run failed before its
transaction began is not merged. A lock dropped unreleased in a live process (an accepted run
whose task never ran) is released when it is collected; a run whose thread could not start is
failed at once (:mod:`.executor`).

Time limit: a run may take ``LINKAGE_RUN_TIMEOUT_SECONDS`` (:class:`Deadline`). A live run that
hangs would otherwise hold its region for as long as its process lives (its lock is held: it is
not dead). The limit is kept by the database where it can be: on PostgreSQL the run's
transactions set ``statement_timeout``, ``lock_timeout`` and
``idle_in_transaction_session_timeout`` to the time left, and set the first and last again as
time passes (:func:`time_limited`), so a statement blocked or running on, or a transaction left
idle, ends with an error at the deadline (give or take :attr:`Deadline.slack`, a second at
most), however late in the run it began; on SQLite a progress handler interrupts the statement
running at the deadline. No statement starts after it. The run's transaction then rolls back
(no finding of it is kept) and the run is ``failed`` with ``error_code`` ``timeout``, its lock
freed. A run whose process is stuck outside a statement past its limit, with its row free
(PostgreSQL ended its idle transaction), is failed ``timeout`` by the next run of its region,
once the deadline the run stored when it started (``deadline_at``: its start plus its own
process's limit) has passed — processes with different settings agree on it. A run started
before that column existed (NULL) is judged by the judging process's setting.

A failed run says why in ``error_code``: ``error`` (an error in the run, the text in ``error``),
``timeout``, ``process_stopped`` (its process died), ``not_started`` (its thread could not
start).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import math
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from psycopg.pq import TransactionStatus
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from linkage_hub.audit import service as audit
from linkage_hub.auth.models import AuthClient
from linkage_hub.clock import aware, utcnow
from linkage_hub.db import Database
from linkage_hub.domain import Dataset
from linkage_hub.errors import Conflict, FieldError, InvalidInput
from linkage_hub.privacy.state import rotation_in_progress
from linkage_hub.reconciliation import announce, delta
from linkage_hub.reconciliation.engine import coverage, latest_period, reconcile
from linkage_hub.reconciliation.models import Finding, Run, RunBatch
from linkage_hub.reconciliation.rules import RULES, RuleCode, RunParameters
from linkage_hub.records import queries
from linkage_hub.records.fields import FieldInvalid, not_future
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x4C48  # "LH": the first key of every advisory lock of this module
CREATE_LOCK = 0
ACTIVE = ("queued", "running")
FULL, INCREMENTAL = "full", "incremental"
KINDS = (FULL, INCREMENTAL)
COUNTS = ("found", "new", "resolved", "reopened")
ALL_RULES_SKIPPED = "all_rules_skipped"  # the warning code of a run in which no rule ran
PERIOD_BEHIND = "period_behind"  # a run judged pay of a month older than its province's latest
PAY_RULES = frozenset(rule.code for rule in RULES if Dataset.payroll in rule.requires)
# Why a failed run failed (``Run.error_code``)
ERROR, TIMEOUT, PROCESS_STOPPED, NOT_STARTED = "error", "timeout", "process_stopped", "not_started"
STOPPED = "the process running it stopped before it finished (crash or restart)"


# psycopg's own placeholders: run on the driver's cursor, outside SQLAlchemy
REARM = (
    "SELECT set_config('statement_timeout', %s, true),"
    " set_config('idle_in_transaction_session_timeout', %s, true)"
)


class RunTimedOut(Exception):
    """A run's statement was about to start after its deadline."""


class Deadline:
    """The end of a run's time (``LINKAGE_RUN_TIMEOUT_SECONDS`` from its start)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        # How far past it a statement may end on PostgreSQL (time_limited): 1 % of the limit,
        # at most a second (a second of the default 30 min).
        self.slack = min(1.0, seconds / 100)

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def left_ms(self) -> int:
        # Rounded up: a timeout set to it fires at the deadline, not a little before (the run
        # would then be failed as an ``error``, its deadline not yet passed).
        return max(1, math.ceil((self.at - time.monotonic()) * 1000))

    def message(self) -> str:
        return (
            f"the run took longer than its limit of {self.seconds:g} s "
            "(LINKAGE_RUN_TIMEOUT_SECONDS) and was stopped; its findings were left as they were"
        )


@contextlib.contextmanager
def time_limited(session: Session, db: Database, deadline: Deadline) -> Iterator[None]:
    """Hold the statements of ``session``'s transaction to ``deadline``: those that would start
    after it raise :class:`RunTimedOut`; one running at it ends with the database's error."""
    conn = session.connection()

    def check(*_args: object) -> None:
        if deadline.passed():
            raise RunTimedOut(deadline.message())

    if db.dialect == "postgresql":
        # Transaction-local: they end with it, the pooled connection keeps none of them.
        left = str(deadline.left_ms())
        armed = time.monotonic()
        conn.execute(
            text(
                "SELECT set_config('statement_timeout', :ms, true),"
                " set_config('lock_timeout', :ms, true),"
                " set_config('idle_in_transaction_session_timeout', :ms, true)"
            ),
            {"ms": left},
        )

        def rearm(cursor: Any) -> None:
            # A timeout counts from the time it starts: statement_timeout from its statement's
            # start, the idle one from the statement's end. Set to the time left when it was
            # set, it lets them run past the deadline by as long as has passed since — set
            # once per transaction, by up to the whole limit. So it is set again to the time
            # left now before a statement and after one (for the idle time that follows),
            # when more than SLACK has passed since it was last: every statement, and every
            # idle time, ends by the deadline give or take SLACK. Not at every statement: a
            # round trip more for each of a run's hundred-odd statements, most of them quick.
            # lock_timeout needs none: a lock wait is part of its statement's time.
            nonlocal armed
            now = time.monotonic()
            if now - armed <= deadline.slack:
                return
            raw = cursor.connection
            if raw.info.transaction_status == TransactionStatus.INERROR:
                return  # only a rollback runs now, and it is quick
            with raw.cursor() as own:  # the run's cursor keeps its rows (client-side)
                ms = str(deadline.left_ms())
                own.execute(REARM, (ms, ms))
            armed = now

        def before(_conn: object, cursor: Any, *_args: object) -> None:
            check()
            rearm(cursor)

        def after(_conn: object, cursor: Any, *_args: object) -> None:
            rearm(cursor)

        event.listen(conn, "before_cursor_execute", before)
        event.listen(conn, "after_cursor_execute", after)
        try:
            yield
        finally:
            event.remove(conn, "before_cursor_execute", before)
            event.remove(conn, "after_cursor_execute", after)
        return
    dbapi: Any = conn.connection.dbapi_connection
    # Called every 1,000 virtual machine steps: a non-zero answer interrupts the statement.
    dbapi.set_progress_handler(lambda: 1 if deadline.passed() else 0, 1_000)
    event.listen(conn, "before_cursor_execute", check)
    try:
        yield
    finally:
        event.remove(conn, "before_cursor_execute", check)
        dbapi.set_progress_handler(None, 0)


class RunLock(Protocol):
    def release(self) -> None: ...


class _PgLock:
    def __init__(self, conn: Connection, run_id: str) -> None:
        self.conn, self.run_id = conn, run_id
        self.released = False

    def release(self) -> None:
        # The connection goes back to the pool, and session locks outlive a returned
        # connection: unlock explicitly, and drop the connection if that fails.
        if self.released:
            return
        self.released = True
        try:
            self.conn.execute(
                text("SELECT pg_advisory_unlock(:ns, hashtext(:id))"),
                {"ns": LOCK_NAMESPACE, "id": self.run_id},
            )
            self.conn.commit()
        except Exception:
            self.conn.invalidate()
        finally:
            self.conn.close()

    def __del__(self) -> None:
        # Dropped unreleased (its run's task never ran, this process lives on): end the
        # connection, and the session lock with it, so the run is seen dead, not held forever.
        # No SQL here: the collector may run this on any thread.
        if not self.released:
            self.released = True
            with contextlib.suppress(Exception):
                self.conn.invalidate()


class _FileLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        self.released = False

    def release(self) -> None:
        if self.released:  # once: a second close could close another file's reused number
            return
        self.released = True
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)

    def __del__(self) -> None:
        # Dropped unreleased: an open descriptor keeps the flock, and the run would look alive
        # for as long as this process lives.
        with contextlib.suppress(OSError):
            self.release()


def _lock_path(settings: Settings, run_id: str) -> Path:
    return settings.secrets_dir / f"linkage-hub.run-{run_id}.lock"


def hold_run_lock(db: Database, run_id: str) -> RunLock:
    if db.dialect == "postgresql":
        conn = db.engine.connect()
        conn.execute(
            text("SELECT pg_advisory_lock(:ns, hashtext(:id))"),
            {"ns": LOCK_NAMESPACE, "id": run_id},
        )
        conn.commit()
        return _PgLock(conn, run_id)
    path = _lock_path(db.settings, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return _FileLock(path, fd)


def run_is_alive(db: Database, run_id: str) -> bool:
    if db.dialect == "postgresql":
        with db.engine.connect() as conn:
            key = {"ns": LOCK_NAMESPACE, "id": run_id}
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, hashtext(:id))"), key
            ).scalar()
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:ns, hashtext(:id))"), key)
            conn.commit()
            return not got
    path = _lock_path(db.settings, run_id)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()
    return False


def fail_dead_runs(session: Session, db: Database, region: str | None = None) -> list[str]:
    """Mark ``failed`` the active runs (overlapping ``region``) whose process is gone."""
    # SKIP LOCKED (PostgreSQL): a run whose transaction holds its row is going, whatever its
    # lock says (the lock's connection may have ended under a live run); SQLite ignores it.
    query = (
        select(Run).where(Run.status.in_(ACTIVE)).with_for_update(skip_locked=True, key_share=True)
    )
    if region is not None:
        lo, hi = region_bounds(region)
        query = query.where(
            Run.region.between(lo, hi) | ((Run.region_lo <= region) & (Run.region_hi >= region))
        )
    failed = []
    now = utcnow()
    for run in session.scalars(query):  # a handful of active runs, not records
        started = aware(run.started_at)
        limit = run_limit(run, db.settings.run_timeout_seconds)
        if not run_is_alive(db, run.id):
            run.error, run.error_code = STOPPED, PROCESS_STOPPED
        elif run.status == "running" and started is not None and started + limit < now:
            # Alive past its own limit with its row free: stuck outside its transaction.
            run.error, run.error_code = Deadline(limit.total_seconds()).message(), TIMEOUT
        else:
            continue
        run.status = "failed"
        run.finished_at = now
        audit_run(session, run)
        failed.append(run.id)
    session.flush()
    return failed


def run_limit(run: Run, setting: float) -> dt.timedelta:
    """A started run's time limit: the one it stored when it started (``deadline_at``, from the
    setting of the process running it, which may differ from this one's), else, for a run
    started before migration 0031, ``setting`` (this process's)."""
    started, ends = aware(run.started_at), aware(run.deadline_at)
    if started is not None and ends is not None:
        return ends - started
    return dt.timedelta(seconds=setting)


def recover(db: Database) -> list[str]:
    with db.transaction() as session:
        failed = fail_dead_runs(session, db)
    for run_id in failed:
        log.warning("reconciliation run %s was cut off; marked failed", run_id)
    return failed


def region_is_known(session: Session, region: str) -> bool:
    """Whether the hub holds anything in ``region`` or below it: current units or records of
    any dataset (payroll: of its latest period), or findings a run could settle (a region whose
    records were all closed still has findings to resolve). Every test is an indexed probe."""
    lo, hi = region_bounds(region)
    if coverage(session, lo, hi, latest_period(session, region, None)):
        return True
    finding = select(Finding.id).where(Finding.region.between(lo, hi)).limit(1)
    return session.scalar(finding) is not None


def ensure_known_region(session: Session, region: str) -> None:
    """422 for a division code the hub knows nothing of (a typo in a scheduled job must not
    "succeed" with every rule skipped). The caller has checked it lies in its region."""
    if not region_is_known(session, region):
        raise InvalidInput(
            "The hub holds no units, records or findings in this region.",
            errors=[
                FieldError(
                    field="region",
                    code="unknown_region",
                    message=f"no units, records or findings in {region} or below it",
                )
            ],
            total_errors=1,
        )


def create_run(
    session: Session,
    db: Database,
    *,
    region: str,
    period: str | None,
    as_of: dt.date | None,
    requested_by: str,
    scheduled_for: dt.datetime | None = None,
    kind: str = FULL,
) -> tuple[Run, RunLock]:
    """Queue a run, or raise 409 while an overlapping run is active, 422 for a region the hub
    knows nothing of. The batches an incremental run covers are known when it has run (the
    change feed's rows after the watermark). The caller commits."""
    if kind not in KINDS:
        raise ValueError(f"a run of kind {kind}")
    settings = db.settings
    if as_of is not None and as_of > settings.today():
        # A run as of a later day would file LATE_EXIT findings before they are late, and the
        # next run would resolve them: a history of findings that never were.
        raise InvalidInput(
            "as_of lies in the future.",
            errors=[FieldError(field="as_of", code="future", message="as_of lies in the future")],
        )
    if period is not None:
        # The month payroll batches refuse: a run of it finds no pay, skips the pay rules and
        # resolves the findings paid lines made, for the next ordinary run to reopen.
        try:
            not_future(period, settings.today())
        except FieldInvalid as exc:
            raise InvalidInput(
                f"period {exc.message}.",
                errors=[FieldError(field="period", code=exc.code, message=exc.message)],
            ) from None
    if db.dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :key)"),
            {"ns": LOCK_NAMESPACE, "key": CREATE_LOCK},
        )
    fail_dead_runs(session, db, region)
    if rotation_in_progress(session):
        # Mid-rotation a person has two keys across tables: joins would invent findings.
        raise Conflict("An ID key rotation is in progress; run reconciliation after it ends.")
    ensure_known_region(session, region)
    lo, hi = region_bounds(region)
    active = session.execute(
        select(Run.id, Run.region).where(
            Run.status.in_(ACTIVE),
            Run.region.between(lo, hi) | ((Run.region_lo <= region) & (Run.region_hi >= region)),
        )
    ).first()
    if active is not None:
        if lo <= active.region <= hi:  # inside the region asked for: the caller may read it
            raise Conflict(
                f"Reconciliation run {active.id} covering this region is still in progress.",
                run_id=active.id,
            )
        # A run of a wider region (a county asking while its city's run goes) is not shown to
        # a caller of the narrower one (reconciliation.history): not named here either.
        raise Conflict("A reconciliation run of a region holding this one is still in progress.")
    # Before the period is chosen: a batch committed after this point (a new month's first
    # payroll lines) must come again in the next run, not count as settled by this one.
    feed_seq = delta.high_water(session)
    if period is None:
        period = latest_period(session, region, settings.today())
    as_of = as_of or settings.today()
    params = RunParameters(
        region=region,
        period=period,
        as_of=as_of,
        exit_grace_working_days=settings.exit_grace_working_days,
        holidays=tuple(settings.holidays),
    )
    # Under the creation lock (advisory lock / SQLite's writer lock): max + 1 is unique.
    seq = (session.scalar(select(func.max(Run.seq))) or 0) + 1
    run = Run(
        id=uuid.uuid4().hex,
        seq=seq,
        kind=kind,
        region=region,
        region_lo=lo,
        region_hi=hi,
        period=period,
        as_of=as_of,
        parameters=parameters_json(params),
        status="queued",
        requested_by=requested_by,
        scheduled_for=scheduled_for,
        created_at=utcnow(),
        feed_seq=feed_seq,
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("A reconciliation run for this region is already queued.") from None
    return run, hold_run_lock(db, run.id)


def parameters_json(params: RunParameters) -> dict[str, Any]:
    return {
        "region": params.region,
        "period": params.period,
        "period_start": params.period_start.isoformat() if params.period_start else None,
        "as_of": params.as_of.isoformat(),
        "exit_grace_working_days": params.exit_grace_working_days,
        "late_exit_before": params.late_exit_before.isoformat(),
        "holidays": [d.isoformat() for d in params.holidays],
    }


def execute_run(db: Database, run_id: str, lock: RunLock) -> str:
    """Run a queued run to the end; returns its final status. Never raises for a rule error.
    Past ``LINKAGE_RUN_TIMEOUT_SECONDS`` it is stopped: ``failed``, ``error_code`` ``timeout``.

    The first transaction (``queued`` to ``running``) is inside the try that fails the run: a
    database error there (until 2026-12-07 it escaped, the run left ``queued`` with its lock
    free until the region's next run or a restart failed it as dead) ends the run ``failed``
    at once, with its error and ``error_code`` ``not_started``. Only when the database cannot
    take that either is the row left to :func:`fail_dead_runs`."""
    deadline = Deadline(db.settings.run_timeout_seconds)
    code = NOT_STARTED  # ERROR once the run is running
    try:
        try:
            with db.transaction() as session, time_limited(session, db, deadline):
                run = session.get(Run, run_id, with_for_update={"key_share": True})
                if run is None or run.status != "queued":
                    return run.status if run else "failed"
                run.status, run.started_at = "running", utcnow()
                # Others judge the run stuck by its own limit, not by theirs (fail_dead_runs)
                run.deadline_at = run.started_at + dt.timedelta(seconds=deadline.seconds)
            code = ERROR
            with db.transaction() as session, time_limited(session, db, deadline):
                # Held to the commit (PostgreSQL): another process that finds this run's lock
                # free (its connection ended) skips the row instead of failing the run and
                # starting an overlapping one; a run failed before this point is not merged.
                run = session.get(Run, run_id, with_for_update={"key_share": True})
                if run is None or run.status != "running":
                    return run.status if run else "failed"
                # The registry, the records and the findings hold still until the merge
                # commits (PostgreSQL): a units batch moving a unit, committing between the
                # run's read of the registry and of the records, had the run file the unit's
                # person (now in the region it entered) under the region it left, out of
                # scope, and resolve the finding the move had carried into the run's region.
                # A move in flight commits first; a later one waits for the run.
                queries.lock_regions(session, None)
                params = RunParameters(
                    region=run.region,
                    period=run.period,
                    as_of=run.as_of,
                    exit_grace_working_days=int(run.parameters["exit_grace_working_days"]),
                    holidays=tuple(dt.date.fromisoformat(d) for d in run.parameters["holidays"]),
                )
                parameters = delta.canonical(run.parameters)
                since = None
                if run.kind == INCREMENTAL:
                    since = delta.since(session, run.region, parameters)
                outcome = reconcile(
                    session,
                    params,
                    run_id,
                    utcnow(),
                    since,
                    run.feed_seq,
                    zone=db.settings.timezone,
                )
                if not outcome.incremental:
                    delta.invalidate(session, run.region, parameters)
                run.batches = [RunBatch(batch_id=b) for b in outcome.batch_ids]
                delta.advance(
                    session,
                    run.region,
                    seq=outcome.high,
                    run_id=run_id,
                    parameters=parameters,
                    ran=outcome.ran,
                )
                run.status, run.finished_at = "succeeded", utcnow()
                run.counts, run.skipped, run.timings = (
                    outcome.counts,
                    outcome.skipped,
                    outcome.timings,
                )
                warnings = run_warnings(outcome.counts, outcome.skipped)
                if outcome.full_because:
                    warnings.append(read_in_full(outcome.full_because))
                # a query: flushes the run
                behind = period_behind(session, run, outcome.ran, db.settings.today())
                run.warnings = [*warnings, *([behind] if behind else [])]  # one assignment
                for warning in run.warnings:
                    log.log(
                        _log_level(run, warning),
                        "reconciliation run %s of %s: %s",
                        run_id,
                        run.region,
                        warning,
                    )
                announce.run_ended(session, run, run.finished_at)
                audit_run(session, run)
            return "succeeded"
        except (RunTimedOut, DBAPIError) as exc:
            # Past the deadline, any error of the database is the limit's: a statement
            # cancelled (OperationalError) or, when the deadline fell between two statements,
            # the idle session ended (IdleInTransactionSessionTimeout, an InternalError).
            if not deadline.passed():
                log.exception("reconciliation run %s failed", run_id)
                fail_run(db, run_id, f"{type(exc).__name__}: {_one_line(exc)}", code=code)
                return "failed"
            log.error("reconciliation run %s stopped at its time limit: %s", run_id, exc)
            fail_run(db, run_id, deadline.message(), code=TIMEOUT)
            return "failed"
        except Exception as exc:
            log.exception("reconciliation run %s failed", run_id)
            fail_run(db, run_id, f"{type(exc).__name__}: {_one_line(exc)}", code=code)
            return "failed"
    finally:
        lock.release()


def fail_run(
    db: Database, run_id: str, error: str, *, unstarted: bool = False, code: str = ERROR
) -> None:
    """Mark a run ``failed`` with ``error`` (and ``code``), announced and audited, in its own
    transaction; ``unstarted``: only if it is still ``queued`` (a run whose thread could not
    start, ``not_started``)."""
    with db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None or (unstarted and run.status != "queued"):
            return
        run.status, run.finished_at = "failed", utcnow()
        run.error, run.error_code = error[:500], NOT_STARTED if unstarted else code
        announce.run_ended(session, run, run.finished_at)
        audit_run(session, run)


def _log_level(run: Run, warning: dict[str, str]) -> int:
    """``period_behind`` of an on-write run is logged at INFO: while a new month reaches the
    province region by region, every write of a region still on the old month would log it.
    The run keeps the warning (API, console); the scheduled full run logs it at WARNING."""
    if warning["code"] == PERIOD_BEHIND and run.kind == INCREMENTAL:
        return logging.INFO
    return logging.WARNING


def run_warnings(
    counts: dict[str, dict[str, int]], skipped: dict[str, list[str]]
) -> list[dict[str, str]]:
    """What a run that succeeded should tell whoever asked for it."""
    if skipped and not counts:
        missing = sorted({d for datasets in skipped.values() for d in datasets})
        return [
            {
                "code": ALL_RULES_SKIPPED,
                "message": "every rule was skipped: no records of "
                + ", ".join(missing)
                + " in the region (and period); no finding was opened or resolved",
            }
        ]
    return []


def period_behind(
    session: Session, run: Run, ran: list[RuleCode], today: dt.date
) -> dict[str, str] | None:
    """A warning when the run judged pay (a rule that needs payroll ran) of a month older
    than the latest its province holds. A run's period defaults to its own region's latest
    (DOMAIN.md), so while finance's lines of a new month have reached one region and not
    another, runs of nested regions judge different months: a county run would resolve the
    pay findings a city run opened and the next city run reopen them. The hub cannot choose
    for the operator (a month may have been pushed by mistake); it says so, and the operator
    passes ``period``. One index probe (the current payroll's period/region index).

    What it tells a county that can read the run: that a newer month exists somewhere in
    its province — a month, not a record, a count or a region below the province (decided:
    a payroll month is no secret; the public pages publish far more per region)."""
    province = run.region[:2] + "0000"
    if run.period is None or province == run.region or PAY_RULES.isdisjoint(ran):
        return None
    latest = latest_period(session, province, today)
    if latest is None or latest <= run.period:
        return None
    return {
        "code": PERIOD_BEHIND,
        "message": f"this run judged pay of {run.period}, but {province} holds payroll lines "
        f"of {latest}: runs of regions whose latest lines are of {latest} judge that month and "
        f"may resolve or reopen this run's pay findings; give the period {latest} to agree",
    }


READ_IN_FULL = "read_in_full"  # an incremental run that read the whole region
_WHY_FULL = {
    "no_watermark": "no earlier run had settled this region",
    "watermark_dropped": "a full run under other parameters over an overlapping region changed "
    "findings this region had settled",
    "parameters_changed": "the as-of date, payroll period, exit grace or holidays differ from "
    "the run that last settled this region (the first run of a day is a full one)",
    "coverage_changed": "a dataset's first records arrived in the region or its last ones "
    "left, so other rules run",
}


def read_in_full(reason: str) -> dict[str, str]:
    return {
        "code": READ_IN_FULL,
        "message": f"this incremental run read the whole region: {_WHY_FULL[reason]}",
    }


def run_to_end(
    db: Database,
    *,
    region: str,
    period: str | None,
    as_of: dt.date | None,
    requested_by: str,
) -> str:
    """Create and execute a full run in this thread, as the API does in the background;
    returns the run id (its status is the run's). Raises a HubError when it cannot start."""
    with db.transaction() as session:
        run, lock = create_run(
            session, db, region=region, period=period, as_of=as_of, requested_by=requested_by
        )
        run_id = run.id
    execute_run(db, run_id, lock)
    return run_id


def audit_run(session: Session, run: Run) -> int:
    """The run's one audit-log entry, appended in the transaction that ends it."""
    department = session.scalar(
        select(AuthClient.department).where(AuthClient.client_id == run.requested_by)
    )  # None for the command line and the schedule
    counts = run.counts or {}
    detail = {
        "kind": run.kind,
        "status": run.status,
        "period": run.period,
        "as_of": run.as_of.isoformat(),
        "counts": {k: sum(int(c.get(k, 0)) for c in counts.values()) for k in COUNTS},
    }
    return audit.record_run(
        session,
        run_id=run.id,
        actor=run.requested_by,
        department=department,
        region=run.region,
        detail=detail,
    )


def _one_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "failed"
