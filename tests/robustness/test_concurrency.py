"""Two hub processes on one PostgreSQL database, writing at the same time.

- concurrent batches on one dataset: no lost update, one current version per record, and the
  final state equals the last batch of some serial order;
- concurrent runs for one region: exactly one is accepted, the other gets 409;
- the change feed, polled while both hubs write, misses nothing and repeats nothing;
- ETag races: several writers PUT with the same If-Match, exactly one wins each round.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from linkage_hub.db import Database
from linkage_hub.records.models import Change, RosterRecord
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.net import free_port
from tests.reconciliation.conftest import World, factory, world  # noqa: F401 - fixtures
from tests.reconciliation.factory import citizen_id
from tests.records import factory as f
from tests.robustness.test_faults import RUN, TableLock, _serve

ROSTER = "/api/v1/datasets/roster/batches"


@pytest.fixture
def hubs(
    backend: str, settings: Settings, database: Database, tmp_path: Path
) -> Iterator[list[httpx.Client]]:
    if backend != "postgres":
        pytest.skip("two hub processes need a PostgreSQL server")
    procs = []
    clients = []
    try:
        for n in range(2):
            port = free_port()
            procs.append(_serve(settings, port, tmp_path / f"hub{n}.log"))
            clients.append(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60))
        yield clients
    finally:
        for c in clients:
            c.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def errors_logged(tmp_path: Path) -> list[str]:
    """The hubs' logged errors (what a 500 left behind), not their access lines."""
    lines = [line for log in sorted(tmp_path.glob("hub*.log")) for line in log.open()]
    return [line[:3000] for line in lines if '"level": "ERROR"' in line]


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at the same moment."""
    barrier = threading.Barrier(len(calls))

    def start(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(start, calls))


def push(hub: httpx.Client, headers: dict[str, str], rows: list[dict[str, Any]]) -> httpx.Response:
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    return hub.post(
        ROSTER, content=body, headers={**headers, "Content-Type": "application/x-ndjson"}
    )


def test_concurrent_batches_on_one_dataset_lose_no_update(
    hubs: list[httpx.Client], headers_for: HeadersFor, database: Database, tmp_path: Path
) -> None:
    headers = headers_for("establishment")
    people = range(30)
    batches = 8
    calls = [
        (lambda b=b: push(hubs[b % 2], headers, [f.roster(i, name=f"批{b}") for i in people]))
        for b in range(batches)
    ]
    answers = together(calls)
    assert [a.status_code for a in answers] == [201] * batches, (
        [a.text for a in answers],
        errors_logged(tmp_path),
    )
    with database.sessions() as session:
        current = session.execute(
            select(RosterRecord.record_key, RosterRecord.name).where(
                RosterRecord.closed_at.is_(None)
            )
        ).all()
        versions = session.execute(
            select(RosterRecord.record_key, func.count()).group_by(RosterRecord.record_key)
        ).all()
    # One current version per person, all from the same batch: the last of a serial order.
    assert len(current) == len(people)
    assert len({name for _, name in current}) == 1
    # Every batch changed every record: each is one version, none lost or duplicated.
    assert {count for _, count in versions} == {batches}
    inserted = sum(a.json()["inserted"] for a in answers)
    updated = sum(a.json()["updated"] for a in answers)
    assert (inserted, updated) == (len(people), len(people) * (batches - 1))


def test_concurrent_runs_for_one_region_one_is_409(
    hubs: list[httpx.Client],
    headers_for: HeadersFor,
    settings: Settings,
    world: World,  # noqa: F811
) -> None:
    world.f.roster(citizen_id(1), world.organ)
    headers = headers_for("establishment")
    # Hold the findings table so an accepted run is still running when the other arrives.
    lock = TableLock(settings.database_url, "reconciliation_finding")
    try:
        answers = together(
            [
                lambda h=h: h.post("/api/v1/reconciliation/runs", json=RUN, headers=headers)
                for h in hubs
            ]
        )
    finally:
        lock.release()
    assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
    conflict = next(a for a in answers if a.status_code == 409)
    assert conflict.headers["content-type"].startswith("application/problem+json")


def test_the_change_feed_is_complete_under_concurrent_writers(
    hubs: list[httpx.Client], headers_for: HeadersFor, database: Database
) -> None:
    # Four pushes a hub: one caller's share of LINKAGE_MAX_IN_FLIGHT (8), so none is shed.
    batches = 8
    writer = headers_for("establishment")
    reader = headers_for("audit")
    for hub in hubs:  # each process knows both tokens: they count as two callers, not one address
        for headers in (writer, reader):
            assert hub.get("/api/v1/batches/none", headers=headers).status_code == 404
    done = threading.Event()
    seen: list[tuple[int, str, int]] = []

    def poll() -> None:
        cursor: str | None = None
        while True:
            finished = done.is_set()
            params = {"limit": 500, **({"since": cursor} if cursor else {})}
            page = hubs[0].get("/api/v1/changes", params=params, headers=reader)
            assert page.status_code == 200, page.text
            body = page.json()
            seen.extend((c["seq"], c["record_key"], c["version"]) for c in body["items"])
            cursor = body["next_cursor"]
            if finished and not body["items"]:
                return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        answers = together(
            [
                (lambda b=b: push(hubs[b % 2], writer, [f.roster(b * 100 + i) for i in range(25)]))
                for b in range(batches)
            ]
        )
    finally:
        done.set()
        poller.join(60)
    assert [a.status_code for a in answers] == [201] * batches
    with database.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(Change))
    assert stored == batches * 25
    assert len(seen) == batches * 25, "the feed skipped or repeated changes"
    assert len(set(seen)) == batches * 25
    assert [s for s, _, _ in seen] == sorted(s for s, _, _ in seen)


def test_etag_races_have_exactly_one_winner_each_round(
    hubs: list[httpx.Client], headers_for: HeadersFor
) -> None:
    headers = headers_for("establishment")
    assert push(hubs[0], headers, [f.roster(1)]).status_code == 201
    listed = hubs[0].get("/api/v1/datasets/roster/records", headers=headers).json()
    url = f"/api/v1/datasets/roster/records/{listed['items'][0]['record_key']}"
    for round_ in range(5):
        tag = hubs[0].get(url, headers=headers).headers["etag"]
        answers = together(
            [
                (
                    lambda w=w, r=round_, t=tag: hubs[w % 2].put(
                        url,
                        json=f.roster(1, name=f"写{r}-{w}"),
                        headers={**headers, "If-Match": t},
                    )
                )
                for w in range(4)
            ]
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200, 412, 412, 412], [a.text for a in answers]
        winner = next(a for a in answers if a.status_code == 200)
        final = hubs[1].get(url, headers=headers)
        assert final.headers["etag"] == winner.headers["etag"] == f'"v{round_ + 2}"'
        assert final.json()["name"] == winner.json()["name"]
