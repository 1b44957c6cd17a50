"""A run's time limit (LINKAGE_RUN_TIMEOUT_SECONDS): a live run that hangs is stopped by the
database, failed with ``error_code`` ``timeout``, keeps none of its findings and frees its region.

The limit is set tiny and the run made to hang for good: the assertions are on the outcome."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from linkage_hub.clock import aware, utcnow
from linkage_hub.db import Database
from linkage_hub.reconciliation import cli as reconcile_cli
from linkage_hub.reconciliation import delta, runs
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.reconciliation.runs import (
    TIMEOUT,
    create_run,
    execute_run,
    fail_dead_runs,
    hold_run_lock,
    run_is_alive,
)
from linkage_hub.records.models import PayrollRecord
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.reconciliation.conftest import Reconcile, World
from tests.reconciliation.factory import citizen_id

P = citizen_id(1)
RUNS = "/api/v1/reconciliation/runs"
# A statement that never ends on either database (its one row is the count of an endless series)
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def _hang_after_the_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run hangs in a statement after it has merged its findings (the watermark's move)."""

    def endless(session: Any, *args: object, **kwargs: object) -> None:
        session.execute(text(ENDLESS))

    monkeypatch.setattr(delta, "advance", endless)


def _start(database: Database, region: str = "230100") -> tuple[str, Any]:
    with database.transaction() as session:
        run, lock = create_run(
            session, database, region=region, period=None, as_of=None, requested_by="t"
        )
        return run.id, lock


def _run(database: Database, run_id: str) -> Run:
    with database.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def _findings(database: Database) -> list[tuple[str, str]]:
    with database.transaction() as session:
        return [(f.id, f.status) for f in session.scalars(select(Finding).order_by(Finding.id))]


class TestAHungRun:
    def test_is_failed_with_timeout_keeps_no_finding_and_frees_its_region(
        self,
        world: World,
        reconcile: Reconcile,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        line = world.f.payroll(P, world.organ)
        reconcile()
        before = _findings(database)
        world.f.close(PayrollRecord, line)  # the hung run resolves the finding before it hangs
        world.f.payroll(citizen_id(2), world.organ)  # and opens one
        monkeypatch.setattr(database.settings, "run_timeout_seconds", 0.2)
        with monkeypatch.context() as patch:
            _hang_after_the_merge(patch)
            run_id, lock = _start(database)
            assert execute_run(database, run_id, lock) == "failed"
        run = _run(database, run_id)
        assert run.error_code == TIMEOUT
        assert run.error is not None and "LINKAGE_RUN_TIMEOUT_SECONDS" in run.error
        assert _findings(database) == before  # its transaction rolled back
        assert not run_is_alive(database, run_id)
        monkeypatch.setattr(database.settings, "run_timeout_seconds", 1800.0)
        after = reconcile()  # the region is free
        assert after.run.error_code is None
        assert len(after.live("PAID_WITHOUT_ESTABLISHMENT")) == 1
        assert after.live("PAID_WITHOUT_ESTABLISHMENT")[0].person_key == world.key(citizen_id(2))

    def test_blocked_on_a_lock_is_failed_with_timeout(
        self,
        backend: str,
        world: World,
        reconcile: Reconcile,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Another connection holds the findings table against writes (PostgreSQL; SQLite's
        writers queue on the busy timeout at BEGIN, before the run's transaction starts)."""
        if backend != "postgres":
            pytest.skip("a table lock held by another connection: PostgreSQL")
        line = world.f.payroll(P, world.organ)
        reconcile()
        before = _findings(database)
        world.f.close(PayrollRecord, line)
        monkeypatch.setattr(database.settings, "run_timeout_seconds", 0.2)
        run_id, lock = _start(database)
        with database.engine.connect() as holder:
            holder.execute(text("LOCK TABLE reconciliation_finding IN SHARE MODE"))
            try:
                assert execute_run(database, run_id, lock) == "failed"
            finally:
                holder.rollback()
        run = _run(database, run_id)
        assert run.error_code == TIMEOUT
        assert _findings(database) == before
        monkeypatch.setattr(database.settings, "run_timeout_seconds", 1800.0)
        assert reconcile().live("PAID_WITHOUT_ESTABLISHMENT") == []

    def test_stuck_outside_its_transaction_is_failed_by_the_next_run(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        """A live run (its lock held) running past its limit with its row free — its process
        stuck between statements, its idle transaction ended by the server — no longer holds
        its region: the next run fails it ``timeout`` and goes."""
        world.f.payroll(P, world.organ)
        run_id, lock = _start(database)
        try:
            started = utcnow() - dt.timedelta(seconds=database.settings.run_timeout_seconds + 60)
            with database.transaction() as session:
                session.execute(
                    update(Run).where(Run.id == run_id).values(status="running", started_at=started)
                )
            assert run_is_alive(database, run_id)
            after = reconcile()
            assert len(after.live("PAID_WITHOUT_ESTABLISHMENT")) == 1
            stuck = _run(database, run_id)
            assert (stuck.status, stuck.error_code) == ("failed", TIMEOUT)
        finally:
            lock.release()

    def test_a_live_run_within_its_limit_is_left_alone(
        self, world: World, database: Database
    ) -> None:
        run_id, lock = _start(database)
        try:
            with database.transaction() as session:
                session.execute(
                    update(Run)
                    .where(Run.id == run_id)
                    .values(status="running", started_at=utcnow())
                )
            from linkage_hub.errors import Conflict

            with pytest.raises(Conflict):
                _start(database)
            assert _run(database, run_id).status == "running"
        finally:
            lock.release()


class TestAStatementStartedNearTheDeadline:
    def test_is_stopped_at_the_deadline_not_a_limit_later(
        self,
        backend: str,
        world: World,
        reconcile: Reconcile,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A run's last step waits until a second before its deadline (PostgreSQL: in SQL,
        ``pg_sleep``), then starts a statement that never ends. The run is stopped at its
        deadline: a timeout armed once, at its transaction's start, would have let that
        statement run for (nearly) the whole limit again. The bound on the time taken is
        generous: the deadline plus half the limit, against the deadline plus the limit less
        a second."""
        limit = 4.0
        line = world.f.payroll(P, world.organ)
        reconcile()
        before = _findings(database)
        world.f.close(PayrollRecord, line)
        monkeypatch.setattr(database.settings, "run_timeout_seconds", limit)
        began = time.monotonic()

        def near_the_deadline(session: Any, *args: object, **kwargs: object) -> None:
            wait = max(0.0, began + limit - 1 - time.monotonic())
            if backend == "postgres":
                session.execute(text("SELECT pg_sleep(:s)"), {"s": wait})
            else:
                time.sleep(wait)
            session.execute(text(ENDLESS))

        monkeypatch.setattr(delta, "advance", near_the_deadline)
        run_id, lock = _start(database)
        began = time.monotonic()
        assert execute_run(database, run_id, lock) == "failed"
        took = time.monotonic() - began
        run = _run(database, run_id)
        assert run.error_code == TIMEOUT
        assert _findings(database) == before
        assert took < limit + limit / 2, f"stopped {took - limit:.1f} s after its deadline"

    def test_an_idle_transaction_ends_at_the_deadline(
        self,
        backend: str,
        world: World,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The run's process stops sending statements a second before its deadline (stuck
        between two): PostgreSQL ends its idle transaction at the deadline, freeing its row
        for the next run to fail it, not up to a limit later. Watched from another connection;
        the bound is as generous as above."""
        if backend != "postgres":
            pytest.skip("idle_in_transaction_session_timeout: PostgreSQL")
        limit = 4.0
        world.f.payroll(P, world.organ)
        monkeypatch.setattr(database.settings, "run_timeout_seconds", limit)
        began = time.monotonic()
        ended: list[float] = []

        def idle_near_the_deadline(session: Any, *args: object, **kwargs: object) -> None:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            wait = max(0.0, began + limit - 1 - time.monotonic())
            session.execute(text("SELECT pg_sleep(:s)"), {"s": wait})
            alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            with database.engine.connect() as watcher:
                while time.monotonic() < began + 3 * limit:
                    gone = watcher.execute(alive, {"pid": pid}).scalar() == 0
                    watcher.rollback()  # a fresh snapshot of pg_stat_activity each time
                    if gone:
                        ended.append(time.monotonic() - began)
                        return
                    time.sleep(0.05)

        monkeypatch.setattr(delta, "advance", idle_near_the_deadline)
        run_id, lock = _start(database)
        began = time.monotonic()
        assert execute_run(database, run_id, lock) == "failed"
        assert _run(database, run_id).error_code == TIMEOUT
        assert ended, "the idle transaction was not ended"
        assert ended[0] < limit + limit / 2, f"ended {ended[0] - limit:.1f} s after its deadline"


class TestJudgedByItsOwnLimit:
    """A run stores its deadline when it starts (its process's limit): another process with
    another ``LINKAGE_RUN_TIMEOUT_SECONDS`` judges it stuck by that, not by its own setting.
    The judging process's clock is set (``runs.utcnow``): nothing here waits."""

    def _stuck_run(
        self, database: Database, monkeypatch: pytest.MonkeyPatch, limit: float
    ) -> tuple[str, dt.datetime, Any]:
        """A run started by a process whose limit is ``limit`` and stuck outside its
        transaction: its row ``running``, its lock held, its row free."""
        monkeypatch.setattr(database.settings, "run_timeout_seconds", limit)
        run_id, lock = _start(database)
        assert execute_run(database, run_id, lock) == "succeeded"
        with database.transaction() as session:
            session.execute(
                update(Run).where(Run.id == run_id).values(status="running", finished_at=None)
            )
        run = _run(database, run_id)
        assert run.started_at is not None and run.deadline_at is not None
        started = aware(run.started_at)
        assert aware(run.deadline_at) - started == dt.timedelta(seconds=limit)
        return run_id, started, hold_run_lock(database, run_id)

    def _judge_at(
        self,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
        setting: float,
        at: dt.datetime,
    ) -> list[str]:
        """The next run's check, by a process whose limit is ``setting``, at ``at``."""
        monkeypatch.setattr(database.settings, "run_timeout_seconds", setting)
        monkeypatch.setattr(runs, "utcnow", lambda: at)
        with database.transaction() as session:
            return fail_dead_runs(session, database, "230100")

    def test_a_short_limit_is_kept_by_a_process_with_a_long_one(
        self, world: World, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        world.f.payroll(P, world.organ)
        run_id, started, lock = self._stuck_run(database, monkeypatch, 60)
        try:
            late = dt.timedelta(seconds=59)
            assert self._judge_at(database, monkeypatch, 1800, started + late) == []
            assert _run(database, run_id).status == "running"  # not before its deadline
            late = dt.timedelta(seconds=61)
            assert self._judge_at(database, monkeypatch, 1800, started + late) == [run_id]
            stuck = _run(database, run_id)
            assert (stuck.status, stuck.error_code) == ("failed", TIMEOUT)
            assert stuck.error is not None and "limit of 60 s" in stuck.error  # its own
        finally:
            lock.release()

    def test_a_long_limit_is_kept_by_a_process_with_a_short_one(
        self, world: World, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        world.f.payroll(P, world.organ)
        run_id, started, lock = self._stuck_run(database, monkeypatch, 3600)
        try:
            late = dt.timedelta(seconds=600)  # past the judge's 60 s, within its own hour
            assert self._judge_at(database, monkeypatch, 60, started + late) == []
            assert _run(database, run_id).status == "running"
            late = dt.timedelta(seconds=3601)
            assert self._judge_at(database, monkeypatch, 60, started + late) == [run_id]
            assert _run(database, run_id).error_code == TIMEOUT
        finally:
            lock.release()

    def test_a_run_started_before_the_deadline_was_stored_is_judged_by_the_setting(
        self, world: World, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``deadline_at`` NULL (a run started before migration 0031): as before."""
        world.f.payroll(P, world.organ)
        run_id, started, lock = self._stuck_run(database, monkeypatch, 3600)
        try:
            with database.transaction() as session:
                session.execute(update(Run).where(Run.id == run_id).values(deadline_at=None))
            late = dt.timedelta(seconds=59)
            assert self._judge_at(database, monkeypatch, 60, started + late) == []
            late = dt.timedelta(seconds=61)
            assert self._judge_at(database, monkeypatch, 60, started + late) == [run_id]
            assert "limit of 60 s" in (_run(database, run_id).error or "")
        finally:
            lock.release()

    def test_the_api_shows_when_a_running_run_will_be_stopped(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world.f.payroll(P, world.organ)
        run_id, started, lock = self._stuck_run(database, monkeypatch, 60)
        lock.release()
        run = client.get(f"{RUNS}/{run_id}", headers=headers_for("establishment")).json()
        assert dt.datetime.fromisoformat(run["deadline_at"]) == started + dt.timedelta(seconds=60)


class TestShown:
    def test_the_api_shows_the_code(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world.f.payroll(P, world.organ)
        monkeypatch.setattr(database.settings, "run_timeout_seconds", 0.2)
        _hang_after_the_merge(monkeypatch)
        run_id, lock = _start(database)
        assert execute_run(database, run_id, lock) == "failed"
        run = client.get(f"{RUNS}/{run_id}", headers=headers_for("establishment")).json()
        assert (run["status"], run["error_code"]) == ("failed", "timeout")

    def test_the_command_line_exits_4(
        self,
        world: World,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        world.f.payroll(P, world.organ)
        monkeypatch.setattr(settings, "run_timeout_seconds", 0.2)
        _hang_after_the_merge(monkeypatch)
        args = argparse.Namespace(region="230100", period="2026-10", as_of="2026-10-31")
        assert reconcile_cli._reconcile(args, settings) == reconcile_cli.EXIT_TIMEOUT == 4
        out = capsys.readouterr()
        assert json.loads(out.out)["error_code"] == "timeout"
        assert "timed out" in out.err
