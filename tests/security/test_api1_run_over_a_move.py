"""API1:2023 — a reconciliation run of county B while the city moves a unit from A to B.

A run's findings and their history are kept: a finding a run resolved stays resolved in its
history, counted in the period's bulletins, until a later run reopens it. A run reads in
several statements of one transaction: the registry first (``rc_unit``: each unit's region,
which files a finding), then the region's records (``rc_pu``), then it merges what it found
into the stored findings. A units batch moving a unit carries the unit's records and its live
findings to the region it enters (``records.publish.propagate_unit_regions``). On PostgreSQL
each statement sees what had committed when it began, so a move committing after B's run read
the registry and before it read the records left the run seeing the unit's person (now B's)
filed under A (the registry it read), out of B's scope and dropped, and the person's finding
(now B's) not found: B's run resolved a finding that still held, for the next run to reopen.
Now a run reads and merges under the regions lock, shared (:func:`linkage_hub.records.
queries.lock_regions`, which every units batch takes exclusive): a move in flight commits
first; a move that comes later waits for the run. SQLite has one writer at a time.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f
from tests.security.test_api1_as_of_settled import waiting_or_done

CITY, A, B = "230100", "230102", "230103"
N = 88


def test_a_run_of_the_region_a_unit_enters_does_not_resolve_its_findings(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    backend: str,
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    ghost_pay(client, headers_for, A, N)  # PAID_WITHOUT_ESTABLISHMENT at A's unit
    ghost_pay(client, headers_for, B, N + 10)  # B holds records: a region the hub knows
    run(client, headers_for, A)
    audit = headers_for("audit", CITY)
    [found] = [
        d
        for d in client.get("/api/v1/discrepancies", headers=audit).json()["items"]
        if d["unit_code"] == f.unit_code(N, region=A)
    ]
    assert found["status"] == "open"
    city = headers_for("establishment", CITY)  # its client made now, not under the run

    def move() -> Any:
        return client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [f.unit(N, region=A) | {"region": B}]},
            headers=city,
        )

    mover: list[Future[Any]] = []
    with ThreadPoolExecutor(1) as pool:

        def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            """B's run has read the registry; the move starts before it reads the records."""
            if mover or "CREATE TEMP TABLE rc_pu " not in statement:
                return
            mover.append(pool.submit(move))
            waiting_or_done(mover[0], database, backend)

        event.listen(database.engine, "before_cursor_execute", before)
        try:
            run(client, headers_for, B)
        finally:
            event.remove(database.engine, "before_cursor_execute", before)
        assert mover and mover[0].result(60).status_code == 201  # the move went through
    detail = client.get(f"/api/v1/discrepancies/{found['id']}", headers=audit)
    assert detail.status_code == 200, detail.text
    assert detail.json()["region"] == B  # it went with its unit
    assert detail.json()["status"] == "open", detail.json()["history"]
    assert "resolved" not in {h["to"] for h in detail.json()["history"]}
