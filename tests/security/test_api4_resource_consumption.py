"""API4:2023 Unrestricted Resource Consumption: request bodies and error lists are capped.

Every body has a cap by route (settings ``LINKAGE_*_BODY_BYTES``), enforced before
authentication and before parsing: a declared ``Content-Length`` over the cap is refused with a
413 without reading a byte, and a body streamed without a length is cut at the cap. No problem
document lists more than :data:`linkage_hub.errors.MAX_ERRORS` errors.

The ASGI app is driven directly here (not through the TestClient, which reads a body in full
before sending it), so the tests see exactly how much of a body the hub consumed.
"""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.errors import MAX_ERRORS, PROBLEM_JSON
from linkage_hub.records import offload
from linkage_hub.records.parsing import RECORD_WINDOW
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory
from tests.security.asgi import Answer, http_scope

CHUNK = 1024


def call(
    app: FastAPI,
    method: str,
    path: str,
    chunks: Iterator[bytes],
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request straight into the ASGI app; the body comes from ``chunks`` on demand."""
    answer = Answer()

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        answer.consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    scope = http_scope(method, path, headers)
    anyio.run(app, scope, receive, answer.send)
    return answer


def stream(total: int, chunk: int = CHUNK) -> Iterator[bytes]:
    for _ in range(total // chunk):
        yield b"a" * chunk


def routes(settings: Settings) -> list[tuple[str, str, int, str]]:
    """(method, path, cap, content type) of every route that takes a body."""
    return [
        ("POST", "/oauth/token", settings.token_body_bytes, "application/x-www-form-urlencoded"),
        ("PUT", "/api/v1/datasets/roster/records/rk_x", settings.record_body_bytes, "json"),
        ("POST", "/api/v1/discrepancies/f_x/comments", settings.comment_body_bytes, "json"),
        ("POST", "/api/v1/discrepancies/f_x/transitions", settings.comment_body_bytes, "json"),
        ("POST", "/api/v1/reconciliation/runs", settings.json_body_bytes, "json"),
        ("POST", "/api/v1/datasets/roster/batches", settings.max_body_bytes, "text/csv"),
    ]


def _content_type(kind: str) -> str:
    return "application/json" if kind == "json" else kind


class TestDeclaredLength:
    def test_settings_default_to_small_caps(self) -> None:
        defaults = Settings.model_fields
        assert defaults["token_body_bytes"].default <= 8 * 1024
        assert defaults["record_body_bytes"].default <= 1024 * 1024
        assert defaults["comment_body_bytes"].default <= 64 * 1024

    def test_over_the_cap_is_413_before_auth_and_unread(
        self, app: FastAPI, settings: Settings
    ) -> None:
        for method, path, cap, kind in routes(settings):
            answer = call(
                app,
                method,
                path,
                stream(4 * CHUNK),
                {"content-length": str(cap + 1), "content-type": _content_type(kind)},
            )
            assert answer.status == 413, (path, answer.status, answer.body[:200])
            assert answer.consumed == 0, path
            assert answer.headers["content-type"] == PROBLEM_JSON
            problem = answer.json()
            assert str(cap) in problem["detail"]
            assert problem["request_id"] == answer.headers["x-request-id"]

    def test_the_token_form_of_500_mb_is_refused_unread(self, app: FastAPI) -> None:
        answer = call(
            app,
            "POST",
            "/oauth/token",
            stream(8 * CHUNK),
            {"content-length": str(500 * 1024 * 1024), "content-type": "application/x-www-form"},
        )
        assert (answer.status, answer.consumed) == (413, 0)

    def test_an_id_number_in_an_unknown_path_is_not_echoed(self, app: FastAPI) -> None:
        answer = call(
            app,
            "POST",
            "/api/v1/persons/11010519491231002X",
            stream(CHUNK),
            {"content-length": str(1 << 30)},
        )
        assert answer.status == 413
        assert b"11010519491231002X" not in answer.body


class TestStreamedBody:
    """No Content-Length (chunked): the hub stops reading at the cap."""

    def test_the_token_form_is_cut_at_its_cap(self, app: FastAPI, settings: Settings) -> None:
        answer = call(
            app,
            "POST",
            "/oauth/token",
            stream(8 * 1024 * 1024),
            {"content-type": "application/x-www-form-urlencoded"},
        )
        assert answer.status == 413, answer.body[:300]
        assert answer.consumed <= settings.token_body_bytes + CHUNK
        assert answer.json()["instance"] == "/oauth/token"

    def test_a_single_record_is_cut_at_its_cap(
        self, app: FastAPI, settings: Settings, headers_for: HeadersFor
    ) -> None:
        answer = call(
            app,
            "PUT",
            "/api/v1/datasets/roster/records/rk_x",
            stream(16 * 1024 * 1024, 64 * 1024),
            {**headers_for("establishment"), "content-type": "application/json", "if-match": "x"},
        )
        assert answer.status == 413, answer.body[:300]
        assert answer.consumed <= settings.record_body_bytes + 64 * 1024

    def test_a_comment_is_cut_at_its_cap(
        self, app: FastAPI, settings: Settings, headers_for: HeadersFor
    ) -> None:
        answer = call(
            app,
            "POST",
            "/api/v1/discrepancies/f_x/comments",
            stream(4 * 1024 * 1024),
            {**headers_for("audit"), "content-type": "application/json"},
        )
        assert answer.status == 413, answer.body[:300]
        assert answer.consumed <= settings.comment_body_bytes + CHUNK

    def test_a_body_under_its_cap_still_works(self, client: TestClient) -> None:
        answer = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "lhc_x", "client_secret": "s"},
        )
        assert answer.status_code == 401


class TestErrorListsAreCapped:
    def test_a_megabyte_csv_header_of_commas_is_one_small_422(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=b"," * (1024 * 1024) + b"\n",
            headers={**headers_for("establishment"), "content-type": "text/csv"},
        )
        assert answer.status_code == 422
        assert len(answer.content) < 4096
        assert len(answer.json()["errors"]) <= MAX_ERRORS

    def test_a_wide_csv_header_of_unknown_fields_lists_each(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        header = ",".join(f"f{i}" for i in range(50))
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=f"{header}\n".encode(),
            headers={**headers_for("establishment"), "content-type": "text/csv"},
        )
        assert answer.status_code == 422
        assert len(answer.json()["errors"]) == 50


class TestDocumented:
    @pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
    def test_every_operation_with_a_body_documents_its_413(
        self, app: FastAPI, settings: Settings
    ) -> None:
        paths = app.openapi()["paths"]
        documented = 0
        for operations in paths.values():
            for operation in operations.values():
                if "requestBody" in operation:
                    assert "413" in operation["responses"], operation["operationId"]
                    documented += 1
        assert documented >= 6
        token = paths["/oauth/token"]["post"]["responses"]["413"]["description"]
        assert str(settings.token_body_bytes) in token


class TestUnknownBatchMembers:
    def test_are_refused_by_name_before_their_value_is_read(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """A JSON batch is walked as a stream so that a body of hundreds of megabytes is never
        held whole. But every member other than `records` and `deletes` was decoded and kept
        until the whole body had been read, and only then were unknown members refused: a
        body of `{"x0": [{},{},…], "x1": …}` (each member under the reader's 1 MB window, the
        body under the 512 MB cap) made the hub build some 20 bytes of Python objects a byte
        sent, and 512 MB of it killed the process. Now a member other than `mode`, `scope`,
        `records` and `deletes` is refused (422 `unknown_field` naming it) as soon as its name
        is read: 8 MB of body costs less than 4 times its size in memory (it cost some 25)."""
        member = "[" + ",".join(["{}"] * 300_000) + "]"  # ~900 KB: under the reader's window
        body = "{" + ",".join(f'"x{i}": {member}' for i in range(9)) + ', "records": []}'
        headers = {**headers_for("establishment"), "content-type": "application/json"}
        tracemalloc.start()
        try:
            answer = client.post("/api/v1/datasets/roster/batches", content=body, headers=headers)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert answer.status_code == 422, answer.text
        assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [
            ("x0", "unknown_field")
        ]
        assert peak < 4 * len(body), (peak, len(body))


ROSTER = "/api/v1/datasets/roster/batches"
LONG_BODY = 4 * 1024 * 1024


@pytest.fixture
def in_process(settings: Settings, database: Database) -> Iterator[TestClient]:
    """Rows checked in the request's own thread (``LINKAGE_INGEST_PROCESSES=0``), where the
    memory can be traced."""
    app = create_app(settings.model_copy(update={"ingest_processes": 0}), database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def traced_push(client: TestClient, body: bytes, headers: dict[str, str]) -> tuple[Any, int]:
    """The answer to a roster push of ``body`` and the traced memory peak while it ran."""
    client.get("/api/v1/datasets/roster/records", headers=headers)  # warm up
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        answer = client.post(ROSTER, params={"region": "230100"}, content=body, headers=headers)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return answer, peak


def _long_ndjson() -> bytes:
    """Three roster records, a fourth padded with a megabyte of blanks (valid JSON, and a
    valid record if decoded), a fifth."""
    lines = factory.ndjson([factory.roster(n) for n in range(5)]).splitlines(keepends=True)
    lines[3] = lines[3][:-2] + b" " * RECORD_WINDOW + b"}\n"
    return b"".join(lines)


def _long_csv() -> bytes:
    """The same as CSV, the fourth row of quoted cells that each hold a line break: a row may
    span lines, and every line of this one is short."""
    records = [factory.roster(n) for n in range(5)]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records[:3])
    out.write(",".join(['"x\n"'] * (RECORD_WINDOW // 4)) + "\n")
    writer.writerows(records[3:])
    return out.getvalue().encode()


LONG_ROWS: dict[str, Callable[[], bytes]] = {
    "application/x-ndjson": _long_ndjson,
    "text/csv": _long_csv,
}


class TestLongRecords:
    """A record is never a megabyte long: the JSON reader refuses a value longer than its
    window (``parsing.RECORD_WINDOW``), and an NDJSON line or a CSV row longer than it is
    refused, by its row number, before it is decoded or split into cells."""

    def test_one_long_ndjson_line_is_refused_before_it_is_decoded(
        self, in_process: TestClient, headers_for: HeadersFor
    ) -> None:
        """An NDJSON line had no bound: one line of 4 MB of `[[],[],…]` was decoded whole into
        a million and a half lists (a traced peak of ~94 MiB, over 20 times the body, growing
        with the line up to the 512 MB batch cap) only to be refused as not a record. Now a
        line over the window is a 422 naming its row, read no further than the window."""
        headers = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
        line = b"[" + b"[]," * (LONG_BODY // 3) + b"[]]\n"
        answer, peak = traced_push(in_process, line, headers)
        assert answer.status_code == 422, answer.text[:300]
        assert [(e["row"], e["field"], e["code"]) for e in answer.json()["errors"]] == [
            (1, "record", "too_long")
        ]
        assert peak < 4 * len(line), f"peak {peak / 2**20:.0f} MiB, body {len(line) / 2**20:.0f}"

    def test_a_csv_row_of_commas_is_refused_before_it_is_split(
        self, in_process: TestClient, headers_for: HeadersFor
    ) -> None:
        """A CSV data row had no bound on its cells (the header has, 200): a row of 4 MB of
        commas was built into four million cells before its width was compared with the
        header's (a traced peak of ~41 MiB, ten times the body, growing with the row up to the
        512 MB batch cap). Now a row over the window is a 422 naming its row before the CSV
        reader splits it."""
        headers = {**headers_for("establishment"), "content-type": "text/csv"}
        body = b"id_number,unit_code,name\n" + b"," * LONG_BODY + b"\n"
        answer, peak = traced_push(in_process, body, headers)
        assert answer.status_code == 422, answer.text[:300]
        assert [(e["row"], e["field"], e["code"]) for e in answer.json()["errors"]] == [
            (1, "row", "too_long")
        ]
        assert peak < 4 * len(body), f"peak {peak / 2**20:.0f} MiB, body {len(body) / 2**20:.0f}"

    @pytest.mark.parametrize("media", sorted(LONG_ROWS))
    def test_a_long_row_is_refused_by_its_number_in_the_worker_pool_too(
        self, client: TestClient, headers_for: HeadersFor, media: str
    ) -> None:
        """A large body's rows are checked in the worker pool (``LINKAGE_INGEST_PROCESSES``);
        its lines are read in the request's thread, so the cap holds there as well, and the
        rows before the long one are not stored."""
        body = LONG_ROWS[media]()
        assert len(body) >= offload.OFFLOAD_BYTES
        headers = {**headers_for("establishment"), "content-type": media}
        answer = client.post(ROSTER, params={"region": "230100"}, content=body, headers=headers)
        assert answer.status_code == 422, answer.text[:300]
        assert [(e["row"], e["code"]) for e in answer.json()["errors"]] == [(4, "too_long")]
        listing = client.get("/api/v1/datasets/roster/records", headers=headers_for("audit"))
        assert listing.json()["items"] == []
