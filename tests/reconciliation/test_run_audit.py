"""Every run is one audit-log entry ``reconciliation.run``, whichever door started it (the API,
the command line, the schedule), written with the findings it merged — or, for a run that
failed, with none of them."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.audit.service import operator
from linkage_hub.db import Database
from linkage_hub.reconciliation import cli as reconcile_cli
from linkage_hub.reconciliation import merge
from linkage_hub.reconciliation.executor import Scheduler
from linkage_hub.reconciliation.runs import create_run, execute_run, recover
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.reconciliation.conftest import World
from tests.reconciliation.factory import citizen_id
from tests.reconciliation.test_api import run_and_wait

P = citizen_id(1)
AUDIT_LOG = "/api/v1/audit-log"


def run_entries(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(AUDIT_LOG, params={"action": "reconciliation.run"}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class TestRunAudit:
    def test_an_api_run_is_one_entry_with_its_counts(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        client_id_for: Any,
    ) -> None:
        world.f.payroll(P, world.organ)
        world.f.employment(P, world.organ)
        run = run_and_wait(client, headers_for("establishment"))
        [entry] = run_entries(client, headers_for("audit", "230100"))
        found = sum(r["found"] for r in run["rules"].values())
        assert found >= 2
        assert entry["actor"] == client_id_for("establishment")
        assert entry["department"] == "establishment"
        assert (entry["region"], entry["target_type"], entry["target_id"]) == (
            "230100",
            "run",
            run["run_id"],
        )
        assert entry["detail"] == {
            "kind": "full",
            "status": "succeeded",
            "period": "2026-10",
            "as_of": "2026-10-31",
            "counts": {"found": found, "new": found, "resolved": 0, "reopened": 0},
        }
        # the audit office of a county inside sees nothing of the city's run
        assert run_entries(client, headers_for("audit", "230102")) == []
        second = run_and_wait(client, headers_for("establishment"))
        entries = run_entries(client, headers_for("audit", "230100"))
        assert [e["target_id"] for e in entries] == [run["run_id"], second["run_id"]]

    def test_the_command_line_and_the_schedule_are_logged_too(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        settings: Settings,
        database: Database,
    ) -> None:
        world.f.payroll(P, world.organ)
        args = argparse.Namespace(region="230102", period="2026-10", as_of="2026-10-31")
        assert reconcile_cli._reconcile(args, settings) == 0
        slot = dt.datetime(2026, 10, 31, 2, 0, tzinfo=settings.zone)
        assert Scheduler(database, "0 2 * * *", ["230100"]).run_slot("230100", slot) == "succeeded"
        entries = run_entries(client, headers_for("audit", "230100"))
        assert [(e["actor"], e["department"], e["region"]) for e in entries] == [
            (operator(), None, "230102"),
            ("schedule", None, "230100"),
        ]
        assert entries[0]["detail"]["counts"]["new"] == 1
        assert entries[1]["detail"]["counts"] == {
            "found": 1,
            "new": 0,
            "resolved": 0,
            "reopened": 0,
        }

    def test_a_failed_run_is_logged_without_the_counts_it_rolled_back(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        world.f.payroll(P, world.organ)

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(merge, "evidence", broken)
        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        assert execute_run(database, run.id, lock) == "failed"
        [entry] = run_entries(client, headers_for("audit", "230100"))
        assert entry["target_id"] == run.id
        assert entry["detail"]["status"] == "failed"
        assert entry["detail"]["counts"] == {"found": 0, "new": 0, "resolved": 0, "reopened": 0}

    def test_a_run_cut_off_by_a_crash_is_logged_when_it_is_failed(
        self, world: World, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        with database.transaction() as session:
            run, lock = create_run(
                session, database, region="230100", period=None, as_of=None, requested_by="t"
            )
        lock.release()  # the process is gone
        assert recover(database) == [run.id]
        [entry] = run_entries(client, headers_for("audit", "230100"))
        assert (entry["target_id"], entry["detail"]["status"]) == (run.id, "failed")
