"""A version's times follow the order in which the batches writing its record commit.

A batch took its ``now`` (every ``recorded_at`` and ``closed_at`` it writes) before it waited
for its dataset's merge lock. Another batch of the same record that took its ``now`` later but
the lock first committed a version recorded at its time; the first then closed that version
at its own, earlier, time, and recorded the version that followed before the one it replaced:
a version closed before it was recorded, and an ``as_of`` read between the two times showing
a value nobody had yet written (noticed by the race fixer, 2026-12-06). Now a batch takes its
``now`` under the lock. PostgreSQL: SQLite runs one writer at a time.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.records import queries
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push


def test_versions_are_closed_no_earlier_than_they_were_recorded(
    push: Push,
    client: TestClient,
    headers_for: HeadersFor,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time")
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    waiting, go = threading.Event(), threading.Event()
    original = queries.lock_dataset
    first = threading.local()

    def paused(session: Any, spec: Any) -> None:
        if spec.name == "roster" and not waiting.is_set() and not getattr(first, "me", False):
            first.me = True  # the first roster batch of the test, in its own thread
            waiting.set()
            assert go.wait(30)
        original(session, spec)

    monkeypatch.setattr(queries, "lock_dataset", paused)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(push, "roster", [f.roster(1, name="甲")])
        assert waiting.wait(30)
        quick = push("roster", [f.roster(1, name="乙")])  # takes the lock first, commits
        assert quick.status_code == 201, quick.text
        go.set()
        assert slow.result(60).status_code == 201

    [record] = client.get("/api/v1/datasets/roster/records", headers=headers_for("audit")).json()[
        "items"
    ]
    assert record["name"] == "甲"  # the batch that committed last wrote the current version
    history = client.get(
        f"/api/v1/datasets/roster/records/{record['record_key']}/history",
        headers=headers_for("audit"),
    ).json()["items"]
    assert len(history) == 3
    for version in history:
        recorded = dt.datetime.fromisoformat(version["recorded_at"])
        closed = version["closed_at"] and dt.datetime.fromisoformat(version["closed_at"])
        assert closed is None or closed >= recorded, history
