"""API1:2023 — reads at a moment across time: a read ``as_of`` a moment answers the same forever.

A batch takes its ``now`` (the ``recorded_at`` of every version it writes, the ``closed_at`` of
every version it closes) under its dataset's merge lock, and commits later. A read ``as_of`` a
moment between that ``now`` and the commit saw the state before the batch; the same question
asked after the commit answered with the batch's versions. An auditor's report "as of 10:00:00"
was no evidence: it changed afterwards (and a unit move in flight showed the county it left
people already gone from it, by the record of the moment). Now such a read first waits for the
writers in flight of its dataset (and for a units batch, which moves the records of other
datasets) to commit, and a moment after the read's start is a 422 ``as_of`` ``future``: the
hub cannot know yet what it will have recorded by then. Both databases: on SQLite the writer
holds the write lock from its ``BEGIN IMMEDIATE``, and a WAL reader does not wait for it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending
from contextlib import suppress
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from linkage_hub.db import Database
from linkage_hub.records import ingest
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.security.test_api1_unit_move import Hub, person, unit_row

CITY, MINE, SIBLING = "230100", "230102", "230103"
UNIT = f.unit_code(1, region=SIBLING)  # a county's unit with one person on its roster


@pytest.fixture
def hub(client: TestClient, headers_for: HeadersFor) -> Hub:
    h = Hub(client, headers_for)
    assert h.push("units", [unit_row(UNIT, SIBLING)], SIBLING).status_code == 201
    assert h.push("roster", [person("roster", 1, UNIT)], SIBLING).status_code == 201
    for department, region in (("audit", CITY), ("audit", SIBLING), ("establishment", CITY)):
        headers_for(department, region)  # its client made now, not under a writer in flight
    return h


def read_at(hub: Hub, dataset: str, department: str, region: str, **params: Any) -> list[Any]:
    answer = hub.client.get(
        f"/api/v1/datasets/{dataset}/records",
        params={"limit": 1000, **params},
        headers=hub.headers_for(department, region),
    )
    assert answer.status_code == 200, answer.text
    items: list[Any] = answer.json()["items"]
    return items


class Paused:
    """Holds the first batch of ``dataset`` after it took its ``now``, before it merges."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, dataset: str) -> None:
        self.took_now, self.go = threading.Event(), threading.Event()
        self.now: dt.datetime | None = None
        original = ingest.Pusher.merge

        def merge(self_: Any, scope: Any, batch_id: str, now: dt.datetime, **kw: Any) -> Any:
            if self_.spec.name == dataset and not self.took_now.is_set():
                self.now = now
                self.took_now.set()
                assert self.go.wait(30)
            return original(self_, scope, batch_id, now, **kw)

        monkeypatch.setattr(ingest.Pusher, "merge", merge)


def waiting_or_done(reader: Future[Any], database: Database, backend: str) -> None:
    """Until the reader has answered or (PostgreSQL) waits for a lock; on SQLite a reader
    waiting for the write lock shows nowhere: give it two seconds to answer."""
    if backend != "postgres":
        with suppress(Pending):
            reader.result(timeout=2)
        return
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    for _ in range(3000):
        if reader.done():
            return
        with database.engine.connect() as connection:
            if connection.execute(waiting).scalar_one():
                return
        time.sleep(0.01)
    raise AssertionError("the reader neither answered nor waited")


def race(
    hub: Hub,
    database: Database,
    backend: str,
    paused: Paused,
    write: Callable[[], Response],
    read: Callable[[str], list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The answer of ``read(as_of=the writer's now)`` while the writer is in flight, and
    the answer of the same read after the writer committed."""
    with ThreadPoolExecutor(2) as pool:
        writer = pool.submit(write)
        try:
            assert paused.took_now.wait(30)
            assert paused.now is not None
            moment = paused.now.isoformat()
            reader = pool.submit(read, moment)
            waiting_or_done(reader, database, backend)
        finally:
            paused.go.set()
        assert writer.result(60).status_code in (200, 201), writer.result().text
        during = reader.result(60)
    return during, read(moment)


def names(items: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
    return [(r["unit_code"], r["region"], r["version"], r["name"]) for r in items]


class TestAReadAsOfAMomentIsSettled:
    def test_a_batch_in_flight(
        self,
        hub: Hub,
        database: Database,
        backend: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        paused = Paused(monkeypatch, "roster")
        renamed = person("roster", 1, UNIT) | {"name": "张一"}

        def read(moment: str) -> list[dict[str, Any]]:
            return read_at(hub, "roster", "audit", CITY, as_of=moment, unit_code=UNIT)

        during, after = race(
            hub, database, backend, paused, lambda: hub.push("roster", [renamed], SIBLING), read
        )
        assert names(after) == [(UNIT, SIBLING, 2, "张一")]  # recorded at the moment asked
        assert during == after

    def test_a_single_record_put_in_flight(
        self,
        hub: Hub,
        database: Database,
        backend: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        [record] = read_at(hub, "roster", "establishment", SIBLING, unit_code=UNIT)
        paused = Paused(monkeypatch, "roster")
        renamed = person("roster", 1, UNIT) | {"name": "张一"}

        def read(moment: str) -> list[dict[str, Any]]:
            return read_at(hub, "roster", "audit", SIBLING, as_of=moment, unit_code=UNIT)

        during, after = race(
            hub,
            database,
            backend,
            paused,
            lambda: hub.put("roster", record, renamed, SIBLING),
            read,
        )
        assert names(after) == [(UNIT, SIBLING, 2, "张一")]
        assert during == after

    def test_a_unit_move_in_flight(
        self,
        hub: Hub,
        database: Database,
        backend: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A units batch closes and writes the versions of the unit's records in every person
        dataset: a read of the roster waits for it too, not only for roster batches."""
        paused = Paused(monkeypatch, "units")

        def read(moment: str) -> list[dict[str, Any]]:
            return read_at(hub, "roster", "audit", CITY, as_of=moment, unit_code=UNIT)

        during, after = race(
            hub,
            database,
            backend,
            paused,
            lambda: hub.push("units", [unit_row(UNIT, MINE)], CITY),
            read,
        )
        assert [(r["region"], r["version"]) for r in after] == [(MINE, 2)]
        assert during == after


class TestAMomentStillToCome:
    def test_is_refused_naming_as_of(self, hub: Hub) -> None:
        """What the hub will have recorded by then is not known yet: answering today's state
        (or any) for it would answer the same question differently tomorrow."""
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
        for dataset in ("roster", "units"):
            answer = hub.client.get(
                f"/api/v1/datasets/{dataset}/records",
                params={"as_of": later},
                headers=hub.headers_for("audit", CITY),
            )
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            [error] = answer.json()["errors"]
            assert (error["field"], error["code"]) == ("as_of", "future")

    def test_a_moment_just_past_answers(self, hub: Hub) -> None:
        moment = dt.datetime.now(dt.UTC).isoformat()
        items = read_at(hub, "roster", "audit", CITY, as_of=moment, unit_code=UNIT)
        assert [(r["unit_code"], r["region"], r["version"]) for r in items] == [(UNIT, SIBLING, 1)]
