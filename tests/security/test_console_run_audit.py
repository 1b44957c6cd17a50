"""Audit: a run started from the console is audited with the person's department, as one
started through the API is with the client's.

A run's audit entry (``reconciliation.run``) names who started it and their department. The
console's "开始比对" form starts the same run as ``POST /api/v1/reconciliation/runs``, with the
person (``user:<username>``) as the actor; the audit office reading the log must see which
department's person started it, not ``department: null`` (the value kept for the command line
and the schedule, which are no department).

Suspected in a review (2026-12-07) and not so: the person's ``auth_client`` row carries the
department the run's audit entry reads. The test guards it.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as
from tests.console.test_runs import _wait
from tests.reconciliation.conftest import World, factory, world
from tests.reconciliation.factory import citizen_id

__all__ = ["console_as", "factory", "world"]

AUDIT_LOG = "/api/v1/audit-log"


def _run_entries(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(AUDIT_LOG, params={"action": "reconciliation.run"}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_console_run_is_audited_with_the_persons_department(
    world: World, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
) -> None:
    world.f.payroll(citizen_id(1), world.organ)
    person = console_as("establishment", "230100")
    started = person.post(
        "/console/runs", {"region": "230100", "period": "2026-10", "as_of": "2026-10-31"}
    )
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].removeprefix("/console/runs/")
    run = _wait(client, headers_for("audit", "230100"), run_id)
    assert run["status"] == "succeeded", run
    [entry] = _run_entries(client, headers_for("audit", "230100"))
    assert (entry["target_id"], entry["actor"]) == (run_id, f"user:{person.username}")
    assert entry["department"] == "establishment"
