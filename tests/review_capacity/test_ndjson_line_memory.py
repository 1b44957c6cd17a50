"""An NDJSON batch is read line by line, but a line has no bound: one line of 4 MB of
``[],[],...`` is decoded whole into millions of Python lists, many times the body's size,
before it is refused as "not a record"."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor

ROSTER = "/api/v1/datasets/roster/batches"
BODY_BYTES = 4 * 1024 * 1024


@pytest.fixture
def in_process(settings: Settings, database: Database) -> Iterator[TestClient]:
    """Rows checked in the request's own thread (LINKAGE_INGEST_PROCESSES=0), where the
    memory can be traced."""
    app = create_app(settings.model_copy(update={"ingest_processes": 0}), database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_one_huge_ndjson_line_is_not_built_into_objects_whole(
    in_process: TestClient, headers_for: HeadersFor
) -> None:
    """Should: a batch is held in bounded memory (API.md: never the whole body twice; the
    JSON reader refuses a record of more than its 1 MB window), so a 4 MB NDJSON line costs at
    most a few times 4 MB while it is refused with a 422.
    Does: ``parsing.ndjson_lines`` reads the whole line and ``decode_line`` (msgspec) builds
    it into ~1.4 million empty lists: the traced peak is ~94 MiB, over 20 times the body, and
    grows with the line up to the 512 MB batch cap. (The same 4 MB as many short lines peaks
    at ~6 MiB; the same value in a JSON batch is cut at the reader's window.)"""
    headers = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
    line = b"[" + b"[]," * (BODY_BYTES // 3) + b"[]]\n"
    in_process.get("/api/v1/datasets/roster/records", headers=headers)  # warm up
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        answer = in_process.post(
            ROSTER, params={"mode": "upsert", "region": "230100"}, content=line, headers=headers
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code in (413, 422), answer.text[:300]
    assert peak < 4 * len(line), f"peak {peak / 2**20:.0f} MiB for a {len(line) / 2**20:.0f} MiB body"
