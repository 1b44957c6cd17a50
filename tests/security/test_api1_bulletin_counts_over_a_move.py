"""API1:2023 — a periodic bulletin published while the city moves one of its units away.

A bulletin (定期通报) is kept and read for as long as the hub keeps it; nothing takes it back.
It is counted in several statements: the findings the period's runs opened and resolved, then
those live when it is made, then the overdue and past-due ones, all by the findings' region.
A units batch moving a unit to a sibling county files the unit's live findings where it went
(``records.publish.propagate_unit_regions``). On PostgreSQL each statement of the bulletin's
transaction sees what had committed when it began, so a move committing between the first
statements and the next left county A's bulletin counting the finding about the unit as opened
this month by A's run and yet not open in A, nor resolved: a finding that vanished, in the
bulletin of the department that answers for it, and counted as opened again in B's. Now a
bulletin is counted under the regions lock, shared (:func:`linkage_hub.records.queries.
lock_regions`, which every units batch takes exclusive): a move in flight commits first, a
move that comes later waits for the bulletins. Through the scheduled job's entry point
(``BulletinScheduler.publish_due``). SQLite has one writer at a time: nothing to race.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from linkage_hub.db import Database
from linkage_hub.notifications.bulletins import BulletinScheduler
from tests.conftest import HeadersFor, hub_today
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f
from tests.security.test_api1_as_of_settled import waiting_or_done

CITY, A, B = "230100", "230102", "230103"
N = 87
U = f.unit_code(N, region=A)


def test_a_bulletin_counts_a_moved_units_finding_in_one_region_only(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    backend: str,
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    ghost_pay(client, headers_for, A, N)
    run(client, headers_for, A)  # this month: the finding about U, opened by A's run
    city = headers_for("establishment", CITY)  # its client made now, not under the bulletins

    def move() -> Any:
        return client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [f.unit(N, region=A) | {"region": B}]},
            headers=city,
        )

    publisher = threading.get_ident()
    mover: list[Future[Any]] = []
    with ThreadPoolExecutor(1) as pool:

        def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            """Finance's bulletin has counted what runs opened; the move starts before it
            counts what is live."""
            live = "reconciliation_finding.status !=" in statement and "count(" in statement
            if threading.get_ident() != publisher or mover or not live:
                return
            if ",finance," not in str(parameters):
                return
            mover.append(pool.submit(move))
            waiting_or_done(mover[0], database, backend)

        event.listen(database.engine, "before_cursor_execute", before)
        try:
            month = hub_today().replace(day=1)
            following = (month + dt.timedelta(days=32)).replace(day=1)
            assert BulletinScheduler(database).publish_due(following) == 4  # this month, A's
        finally:
            event.remove(database.engine, "before_cursor_execute", before)
        assert mover and mover[0].result(60).status_code == 201  # the move went through
    listed = client.get(
        "/api/v1/bulletins", params={"department": "finance"}, headers=headers_for("audit", A)
    )
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    bulletin = client.get(f"/api/v1/bulletins/{item['id']}", headers=headers_for("audit", A))
    assert bulletin.status_code == 200, bulletin.text
    rows = [(u["unit_code"], u["opened"], u["open"]) for u in bulletin.json()["by_unit"]]
    # published before the move (it waited): U was A's, its finding opened and still open
    assert rows == [(U, 1, 1)], bulletin.json()
    totals = bulletin.json()["totals"]
    assert (totals["opened"], totals["resolved"], totals["open"]) == (1, 0, 1)
