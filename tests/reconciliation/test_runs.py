"""Runs: one per region at a time (also from two connections at once), crash recovery,
failures that leave the previous findings intact, the command line and the schedule."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from linkage_hub.cli import CommandError
from linkage_hub.db import Database
from linkage_hub.errors import Conflict
from linkage_hub.reconciliation import cli as reconcile_cli
from linkage_hub.reconciliation import merge
from linkage_hub.reconciliation.executor import Scheduler
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.reconciliation.runs import (
    create_run,
    execute_run,
    hold_run_lock,
    recover,
    run_is_alive,
)
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.reconciliation.conftest import Reconcile, World
from tests.reconciliation.factory import citizen_id

P = citizen_id(1)


def _status(database: Database, run_id: str) -> str:
    with database.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.status


class TestOneRunPerRegion:
    @pytest.mark.parametrize("regions", [("230102", "230102"), ("230000", "230102")])
    def test_two_at_once_one_wins(
        self, world: World, database: Database, settings: Settings, regions: tuple[str, str]
    ) -> None:
        other = Database(settings)  # a second hub process, as far as the database can tell
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        locks = []

        def start(db: Database, region: str) -> None:
            barrier.wait()
            try:
                with db.transaction() as session:
                    _, lock = create_run(
                        session, db, region=region, period=None, as_of=None, requested_by="t"
                    )
                locks.append(lock)
                outcomes.append("queued")
            except Conflict:
                outcomes.append("409")

        threads = [
            threading.Thread(target=start, args=(db, region))
            for db, region in zip((database, other), regions, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for lock in locks:
            lock.release()
        other.dispose()
        assert sorted(outcomes) == ["409", "queued"]

    def test_after_the_first_finishes_the_next_may_start(
        self, world: World, reconcile: Reconcile
    ) -> None:
        reconcile()
        assert reconcile().run.status == "succeeded"


class TestCrashRecovery:
    def test_a_run_whose_process_died_is_failed_and_findings_stay(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        world.f.payroll(P, world.organ)
        before = reconcile()
        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
            run.status = "running"
        lock.release()  # the process holding it is gone
        assert not run_is_alive(database, run.id)
        assert recover(database) == [run.id]
        with database.transaction() as session:
            crashed = session.get(Run, run.id)
            assert crashed is not None and crashed.status == "failed"
            assert crashed.error and "stopped" in crashed.error
            findings = list(session.scalars(select(Finding)))
        assert [(f.id, f.status) for f in findings] == [(f.id, f.status) for f in before.findings]

    def test_a_live_run_is_left_alone(self, world: World, database: Database) -> None:
        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        try:
            assert run_is_alive(database, run.id)
            assert recover(database) == []
            assert _status(database, run.id) == "queued"
        finally:
            lock.release()

    def test_startup_recovers(self, world: World, database: Database, settings: Settings) -> None:
        from linkage_hub.app import create_app

        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        lock.release()
        app: FastAPI = create_app(settings, database=database)
        with TestClient(app):
            pass
        assert _status(database, run.id) == "failed"

    def test_a_failing_run_leaves_the_previous_findings(
        self,
        world: World,
        reconcile: Reconcile,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        line = world.f.payroll(P, world.organ)
        before = reconcile()
        from linkage_hub.records.models import PayrollRecord

        world.f.close(PayrollRecord, line)  # the next run would resolve the finding

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(merge, "evidence", broken)
        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        assert execute_run(database, run.id, lock) == "failed"
        with database.transaction() as session:
            failed = session.get(Run, run.id)
            assert failed is not None and failed.error == "RuntimeError: disk full"
            findings = list(session.scalars(select(Finding)))
        assert [(f.id, f.status) for f in findings] == [(f.id, f.status) for f in before.findings]
        assert not run_is_alive(database, run.id)

    def test_a_database_error_marking_it_running_fails_the_run(
        self,
        world: World,
        reconcile: Reconcile,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The first transaction (queued -> running) lay outside the try that fails a run: a
        database error there escaped ``execute_run`` (the background thread died with it) and
        left the run ``queued``, until the region's next run or a restart failed it as dead.
        Now the run ends ``failed`` at once, with the error, ``not_started``."""
        from linkage_hub.reconciliation import runs as runs_module

        world.f.payroll(P, world.organ)
        before = reconcile()
        real = runs_module.time_limited
        entered: list[Session] = []

        @contextlib.contextmanager
        def failing_first(session: Session, db: Database, deadline: Any) -> Iterator[None]:
            entered.append(session)
            if len(entered) == 1:  # the transaction that marks the run running
                raise OperationalError(
                    "UPDATE reconciliation_run", {}, Exception("server closed the connection")
                )
            with real(session, db, deadline):
                yield

        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        monkeypatch.setattr(runs_module, "time_limited", failing_first)
        assert execute_run(database, run.id, lock) == "failed"
        monkeypatch.undo()
        assert len(entered) == 1  # the run went no further
        with database.transaction() as session:
            failed = session.get(Run, run.id)
            assert failed is not None
            assert (failed.status, failed.error_code) == ("failed", "not_started")
            assert (
                failed.error
                == "OperationalError: (builtins.Exception) server closed the connection"
            )
            assert failed.finished_at is not None and failed.started_at is None
            findings = list(session.scalars(select(Finding)))
        assert [(f.id, f.status) for f in findings] == [(f.id, f.status) for f in before.findings]
        assert not run_is_alive(database, run.id)  # its lock is free: the next run goes
        assert reconcile().run.status == "succeeded"


class TestCommandLine:
    def _args(self, **kw: str | None) -> argparse.Namespace:
        base: dict[str, str | None] = {
            "region": "230100",
            "period": "2026-10",
            "as_of": "2026-10-31",
        }
        base.update(kw)
        return argparse.Namespace(**base)

    def test_reconcile_prints_the_run(
        self, world: World, settings: Settings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        world.f.payroll(P, world.organ)
        assert reconcile_cli._reconcile(self._args(), settings) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["status"] == "succeeded"
        assert out["rules"]["PAID_WITHOUT_ESTABLISHMENT"]["new"] == 1

    def test_bad_arguments_fail_in_one_line(self, settings: Settings) -> None:
        with pytest.raises(CommandError, match="region"):
            reconcile_cli._reconcile(self._args(region="2301"), settings)
        with pytest.raises(CommandError, match="period"):
            reconcile_cli._reconcile(self._args(period="2026/10"), settings)

    def test_a_run_as_of_a_later_day_is_refused(
        self, world: World, database: Database, settings: Settings
    ) -> None:
        """A run as of tomorrow would file LATE_EXIT findings before they are late (found by
        a review, 2026-12-06: it ran, and the next run resolved them)."""
        later = (settings.today() + dt.timedelta(days=1)).isoformat()
        with pytest.raises(CommandError, match=f"--as-of {later}: as_of lies in the future"):
            reconcile_cli._reconcile(self._args(as_of=later), settings)
        with database.transaction() as session:
            assert list(session.scalars(select(Run))) == []

    def test_a_run_of_a_period_after_next_month_is_refused(
        self, world: World, database: Database, settings: Settings
    ) -> None:
        """The bound payroll batches keep (a review, 2026-12-06, found the run accepted)."""
        with pytest.raises(CommandError, match="--period 2062-11: period must not be after"):
            reconcile_cli._reconcile(self._args(period="2062-11"), settings)
        with database.transaction() as session:
            assert list(session.scalars(select(Run))) == []

    def test_a_run_in_progress_fails_with_the_reason(
        self, world: World, database: Database, settings: Settings
    ) -> None:
        with database.transaction() as session:
            _, lock = create_run(
                session, database, region="230102", period=None, as_of=None, requested_by="t"
            )
        try:
            with pytest.raises(CommandError, match="still in progress"):
                reconcile_cli._reconcile(self._args(), settings)
        finally:
            lock.release()

    def test_the_parser_knows_reconcile(self) -> None:
        from linkage_hub.cli import build_parser

        args = build_parser().parse_args(
            ["reconcile", "--region", "230100", "--as-of", "2026-10-31"]
        )
        assert (args.region, args.period, args.as_of) == ("230100", None, "2026-10-31")


class TestSchedule:
    def test_one_process_runs_each_slot(
        self, world: World, database: Database, settings: Settings
    ) -> None:
        other = Database(settings)
        slot = dt.datetime(2026, 10, 31, 2, 0, tzinfo=settings.zone)
        try:
            first = Scheduler(database, "0 2 * * *", ["230100"]).run_slot("230100", slot)
            second = Scheduler(other, "0 2 * * *", ["230100"]).run_slot("230100", slot)
        finally:
            other.dispose()
        assert (first, second) == ("succeeded", None)
        with database.transaction() as session:
            runs = list(session.scalars(select(Run)))
        assert [(r.requested_by, r.as_of) for r in runs] == [("schedule", dt.date(2026, 10, 31))]


def test_lock_files_are_removed(database: Database, tmp_path: Path) -> None:
    lock = hold_run_lock(database, "abc")
    lock.release()
    assert not list(tmp_path.glob("linkage-hub.run-*.lock"))


class TestPooledConnections:
    def test_a_connection_that_used_temp_tables_still_runs(
        self, world: World, reconcile: Reconcile, database: Database
    ) -> None:
        from sqlalchemy import text

        with database.transaction() as session:
            session.execute(text("CREATE TEMP TABLE scratch (x INTEGER)"))
            session.execute(text("DROP TABLE scratch"))
        world.f.payroll(P, world.organ)
        assert reconcile().rules_for(world.key(P)) == {"PAID_WITHOUT_ESTABLISHMENT"}


class TestScheduleInTheApp:
    def test_started_only_when_configured(self, settings: Settings, database: Database) -> None:
        from linkage_hub.app import create_app

        with TestClient(create_app(settings, database=database)) as client:
            assert client.app.state.reconciliation_scheduler is None  # type: ignore[attr-defined]
        scheduled = settings.model_copy(
            update={"schedule_cron": "0 2 * * *", "schedule_regions": ["230100"]}
        )
        app = create_app(scheduled, database=database)
        with TestClient(app):
            scheduler = app.state.reconciliation_scheduler
            assert scheduler is not None and scheduler._thread.is_alive()
        assert not scheduler._thread.is_alive()


class TestAnAcceptedRunThatNeverStarted:
    """A run answered 202 whose background task never ran must not hold its region: the next
    run, the schedule and the on-write step would all be refused while it stays ``queued``."""

    RUNS = "/api/v1/reconciliation/runs"
    BODY = {"region": "230100", "period": "2026-10", "as_of": "2026-10-31"}  # noqa: RUF012

    def _accepted(self, client: TestClient, headers: dict[str, str]) -> str:
        response = client.post(self.RUNS, json=self.BODY, headers=headers)
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    def _region_is_free(
        self, client: TestClient, headers: dict[str, str], database: Database, stuck: str
    ) -> None:
        from tests.reconciliation.test_api import run_and_wait

        assert run_and_wait(client, headers)["status"] == "succeeded"
        failed = client.get(f"{self.RUNS}/{stuck}", headers=headers).json()
        assert failed["status"] == "failed", failed
        assert failed["error"]
        slot = dt.datetime(2026, 10, 31, 2, 0, tzinfo=dt.UTC)
        assert Scheduler(database, "0 2 * * *", ["230100"]).run_slot("230100", slot) == (
            "succeeded"
        )

    def test_when_the_process_died_after_answering(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Killed between the answer and the task: its run lock dies with it."""
        from linkage_hub.reconciliation.executor import RunExecutor

        world.f.payroll(P, world.organ)
        monkeypatch.setattr(RunExecutor, "start", lambda self, run_id, lock: lock.release())
        headers = headers_for("establishment")
        stuck = self._accepted(client, headers)
        assert _status(database, stuck) == "queued"
        monkeypatch.undo()
        self._region_is_free(client, headers, database, stuck)
        assert "stopped" in client.get(f"{self.RUNS}/{stuck}", headers=headers).json()["error"]

    def test_when_its_thread_could_not_start(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The process lives on (a thread limit reached): the run must not stay queued, its lock
        held by a process that will never run it."""
        world.f.payroll(P, world.organ)

        from types import SimpleNamespace

        from linkage_hub.reconciliation import executor

        class Refused(threading.Thread):
            def start(self) -> None:
                raise RuntimeError("can't start new thread")

        # the executor's threads only: the test client's worker threads start as ever
        monkeypatch.setattr(
            executor, "threading", SimpleNamespace(**{**vars(threading), "Thread": Refused})
        )
        headers = headers_for("establishment")
        stuck = self._accepted(client, headers)
        monkeypatch.undo()
        self._region_is_free(client, headers, database, stuck)
        error = client.get(f"{self.RUNS}/{stuck}", headers=headers).json()["error"]
        assert "can't start new thread" in error

    def test_when_its_task_was_dropped(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The process lives on and the task was never called (the answer's background tasks
        skipped): the lock it would have released is garbage, and must not hold the region."""
        from linkage_hub.reconciliation.executor import RunExecutor

        world.f.payroll(P, world.organ)
        monkeypatch.setattr(RunExecutor, "start", lambda self, run_id, lock: None)
        headers = headers_for("establishment")
        stuck = self._accepted(client, headers)
        monkeypatch.undo()
        gc.collect()  # the dropped lock is garbage whenever the collector comes round
        self._region_is_free(client, headers, database, stuck)


class TestARunWhoseLockIsLostMidway:
    def test_is_not_failed_under_it_nor_overlapped(
        self,
        world: World,
        database: Database,
        settings: Settings,
        backend: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """PostgreSQL: the run lock's connection ends while the run goes (``idle_session_timeout``,
        a restarted pooler). Another process then took the run for dead, failed it and started
        an overlapping run, and the first still merged its findings and ended ``succeeded``
        over its own failure. The run's transaction holds its row: it is alive while it does."""
        if backend != "postgres":
            pytest.skip("a flock is not lost while its process lives")
        from linkage_hub.reconciliation import runs as runs_module

        world.f.payroll(P, world.organ)
        other = Database(settings)  # another hub process
        seen: dict[str, object] = {}
        real = runs_module.reconcile

        def midway(*args: object, **kwargs: object) -> object:
            lock.release()  # the lock's connection is gone; this run goes on
            seen["failed"] = recover(other)
            try:
                with other.transaction() as session:
                    _, second = create_run(
                        session, other, region="230102", period=None, as_of=None, requested_by="t"
                    )
                second.release()
                seen["second"] = "queued"
            except Conflict:
                seen["second"] = "409"
            return real(*args, **kwargs)  # type: ignore[arg-type]

        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        monkeypatch.setattr(runs_module, "reconcile", midway)
        try:
            status = execute_run(database, run.id, lock)
        finally:
            other.dispose()
        assert (seen["failed"], seen["second"]) == ([], "409")
        assert status == "succeeded" == _status(database, run.id)
