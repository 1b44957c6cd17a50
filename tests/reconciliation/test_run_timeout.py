"""A run's time limit (LINKAGE_RUN_TIMEOUT_SECONDS): a live run that hangs is stopped by the
database, failed with ``error_code`` ``timeout``, keeps none of its findings and frees its region.

The limit is set tiny and the run made to hang for good: the assertions are on the outcome."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.reconciliation import cli as reconcile_cli
from linkage_hub.reconciliation import delta
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.reconciliation.runs import (
    TIMEOUT,
    create_run,
    execute_run,
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
