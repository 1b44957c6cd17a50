"""Large NDJSON and CSV pushes are checked in the worker pool (linkage_hub.records.offload):
the answer, the errors and what is stored are exactly those of checking in process."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.identifiers import id_check_char
from linkage_hub.records import offload
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records.factory import unit_code

ROWS = 4_000  # 300-500 KB: over offload.OFFLOAD_BYTES, two chunks
URL = "/api/v1/datasets/roster/batches"
FIELDS = ["id_number", "unit_code", "name", "establishment_type", "status", "entered_on"]


def person(n: int) -> dict[str, Any]:
    body = f"230102{1970 + n // 1000:04d}0{1 + n // 100 % 9}1{n % 10}{n % 1000:03d}"
    return {
        "id_number": body + id_check_char(body),
        "unit_code": unit_code(1 + n % 7),
        "name": f"王{n}",
        "establishment_type": "institutional" if n % 3 else "administrative",
        "status": "active",
        "entered_on": f"20{10 + n % 15}-0{1 + n % 9}-1{n % 10}",
    }


def rows(bad: bool) -> list[dict[str, Any]]:
    out = [person(n) for n in range(ROWS)]
    assert len(out) == len({r["id_number"] for r in out})
    if bad:
        out[1_499]["id_number"] = out[1_499]["id_number"][:-1] + "0"  # a wrong check character
        del out[2_998]["name"]
        out[2_400]["entered_on"] = "2026-02-30"
    return out


def ndjson(records: list[dict[str, Any]], bad: bool) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if bad:
        lines[16] = '{"id_number": '  # not JSON
        lines.insert(100, "   ")  # a blank line: skipped, but counted in line numbers
    return ("\n".join(lines) + "\n").encode()


def as_csv(records: list[dict[str, Any]], bad: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for n, r in enumerate(records):
        if bad and n == 16:
            writer.writerow(["too", "few"])
            continue
        writer.writerow([r.get(f, "") for f in FIELDS])
    return out.getvalue().encode()


BODIES = {"application/x-ndjson": ndjson, "text/csv": as_csv}


@pytest.fixture
def in_process(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"ingest_processes": 0}), database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def chunks_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many checked chunks came back from the pool (the path is taken only when > 0)."""
    seen: list[int] = []
    real = offload.checked_chunks

    def counting(*args: Any, **kwargs: Any) -> Iterator[offload.Checked]:
        for checked in real(*args, **kwargs):
            seen.append(len(checked.staged))
            yield checked

    monkeypatch.setattr(offload, "checked_chunks", counting)
    return seen


Send = Callable[[TestClient, bytes], Response]


@pytest.fixture(params=sorted(BODIES))
def media(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def send(headers_for: HeadersFor, media: str) -> Send:
    """Push a roster body of ``media`` through one app or the other, as the establishment."""
    headers = {**headers_for("establishment"), "content-type": media}
    return lambda app, body: app.post(URL, content=body, headers=headers)


def test_bad_rows_are_named_the_same_and_nothing_is_stored(
    client: TestClient,
    in_process: TestClient,
    headers_for: HeadersFor,
    chunks_seen: list[int],
    media: str,
    send: Send,
) -> None:
    body = BODIES[media](rows(bad=True), True)
    assert len(body) >= offload.OFFLOAD_BYTES
    pooled = send(client, body)
    assert chunks_seen, "the pool was not used"
    chunks_seen.clear()
    local = send(in_process, body)
    assert not chunks_seen, "ingest_processes=0 used the pool"
    assert pooled.status_code == local.status_code == 422, pooled.text
    p, q = pooled.json(), local.json()
    assert p["errors"] == q["errors"] and p["total_errors"] == q["total_errors"] == 4
    # Rows count from 1; the NDJSON body has a blank line before its 101st record.
    shift = 2 if media == "application/x-ndjson" else 1
    assert [e["row"] for e in p["errors"]] == [17, *(i + shift for i in (1_499, 2_400, 2_998))]
    listing = client.get("/api/v1/datasets/roster/records", headers=headers_for("audit"))
    assert listing.json()["items"] == []


def test_what_the_pool_stores_is_what_in_process_checking_would(
    client: TestClient,
    in_process: TestClient,
    headers_for: HeadersFor,
    chunks_seen: list[int],
    media: str,
    send: Send,
) -> None:
    records = rows(bad=False)
    body = BODIES[media](records, False)
    first = send(client, body)
    assert first.status_code == 201, first.text
    assert (first.json()["received"], first.json()["inserted"]) == (ROWS, ROWS)
    assert sum(chunks_seen) == ROWS
    # Checked in process, the same body finds every record stored as it would store it.
    again = send(in_process, body)
    assert again.status_code == 201, again.text
    counts = {k: again.json()[k] for k in ("inserted", "updated", "unchanged")}
    assert counts == {"inserted": 0, "updated": 0, "unchanged": ROWS}
    stored = client.get(
        "/api/v1/datasets/roster/records",
        params={"id_number": records[2_500]["id_number"]},
        headers=headers_for("audit"),
    ).json()["items"]
    assert [(r["name"], r["entered_on"]) for r in stored] == [
        (records[2_500]["name"], records[2_500]["entered_on"])
    ]


def test_the_pool_does_not_outlive_a_killed_hub_process(tmp_path: Any) -> None:
    """A hub process killed outright runs no shutdown; its workers notice and end."""
    import subprocess
    import sys
    import time

    script = (
        "import os, sys\n"
        "from linkage_hub.records import offload\n"
        "pool = offload._pool(1)\n"
        "print(pool.submit(os.getpid).result(), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    hub = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert hub.returncode == -signal.SIGKILL, hub.stderr
    worker = int(hub.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the pool's worker outlived its hub process")


def test_a_worker_seals_with_the_key_version_a_rotation_added(settings: Settings) -> None:
    """``keys rotate`` adds a version to the key file; a worker that kept the old one would
    seal new records under it, and their person keys would not join the rest."""
    import datetime as dt
    import pickle

    from linkage_hub.domain import Dataset
    from linkage_hub.keys import Keyring, add_key_version

    hub = Keyring(settings)
    job = offload.Job(
        pickle.dumps(settings), Dataset.roster, dt.date(2026, 12, 4), None, None, False, False
    )
    row = person(1)
    before = offload.check(job, [(1, dict(row))], 10).staged[0]
    add_key_version(settings)
    hub.reload()
    offload._keyrings[job.settings]._checked = 0.0  # past the refresh interval, as time would be
    after = offload.check(job, [(1, dict(row))], 10).staged[0]
    assert hub.current_version == 2
    assert hub.person_key(row["id_number"]) in after
    assert hub.person_key(row["id_number"]) not in before


def test_a_killed_worker_costs_one_retry_not_every_push(
    client: TestClient, headers_for: HeadersFor, chunks_seen: list[int]
) -> None:
    """The OOM killer takes a worker: the push that meets the broken pool is a 503 with
    Retry-After and applies nothing; the retry gets a new pool and is stored."""
    pool = offload._pool(1)
    pool.submit(offload._ready).result(timeout=60)  # the worker is up
    for process in list(pool._processes.values()):  # type: ignore[attr-defined]
        os.kill(process.pid, signal.SIGKILL)
        process.join(10)
    body = ndjson(rows(bad=False), False)
    headers = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
    refused = client.post(URL, content=body, headers=headers)
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/problem+json"
    listing = client.get("/api/v1/datasets/roster/records", headers=headers_for("audit"))
    assert listing.json()["items"] == []
    again = client.post(URL, content=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["inserted"] == ROWS and sum(chunks_seen) == ROWS
    assert offload._pool(1) is not pool
