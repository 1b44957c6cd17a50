"""API4:2023 Unrestricted Resource Consumption: a body that stops arriving, or trickles in,
cannot hold an admission slot for ever (a slowloris on bodies).

A request holds its slot (``LINKAGE_MAX_IN_FLIGHT``) from admission to its response's last
byte, and uvicorn has no deadline for a body: headers and a few bytes from each of a few dozen
addresses filled the bound, and every department's push got a 503, for as long as the sender
liked. The ASGI app is driven directly with a ``receive`` that stalls (as such a client drives
it) with the deadlines made tiny; one test sends a partial body to a real uvicorn over a socket.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import anyio
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from linkage_hub.app import create_app
from linkage_hub.auth.models import AccessRecord
from linkage_hub.bodylimits import BodyLimitMiddleware
from linkage_hub.db import Database
from linkage_hub.errors import PROBLEM_JSON
from linkage_hub.records.models import Batch, RosterRecord
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.net import free_port
from tests.records import factory
from tests.security.asgi import Answer, http_scope

PUSH = "/api/v1/datasets/roster/batches"
PUSH_ROUTE = "/api/v1/datasets/{dataset}/batches"
COMMENTS = "/api/v1/discrepancies/{finding_id}/comments"
ADMITTED = "linkage_http_admitted_in_flight"
TIMEOUTS = "linkage_http_body_timeouts_total"
Receive = Any


def stalling(first: bytes, seen: list[float | None], registry: CollectorRegistry) -> Receive:
    """An ASGI ``receive``: ``first`` (more to come), then nothing ever (the client stopped).
    When it stalls it notes the admission gauge: the request holds its slot meanwhile."""
    parts = [first]

    async def receive() -> dict[str, Any]:
        if parts:
            return {"type": "http.request", "body": parts.pop(), "more_body": True}
        seen.append(registry.get_sample_value(ADMITTED))
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return receive


def trickling(step: float) -> Receive:
    """An ASGI ``receive`` giving ten bytes every ``step`` seconds, never the end."""

    async def receive() -> dict[str, Any]:
        await anyio.sleep(step)
        return {"type": "http.request", "body": b"x" * 10, "more_body": True}

    return receive


def drive(app: Any, scope: dict[str, Any], receive: Receive) -> Answer:
    """One request through the app; a hang (the slot held for ever) fails the test."""
    answer = Answer()

    async def main() -> None:
        with anyio.fail_after(5):
            await app(scope, receive, answer.send)

    anyio.run(main)
    return answer


@pytest.fixture
def hasty(settings: Settings, database: Database) -> Iterator[FastAPI]:
    """A hub process whose bodies may pause for a fifth of a second (default 30 s)."""
    app = create_app(settings.model_copy(update={"body_idle_seconds": 0.2}), database=database)
    with TestClient(app, raise_server_exceptions=False):
        yield app


def registry_of(app: FastAPI) -> CollectorRegistry:
    registry = app.state.metrics.registry
    assert isinstance(registry, CollectorRegistry)
    return registry


def assert_timeout_problem(answer: Answer, words: str) -> None:
    assert answer.status == 408, answer.body
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["connection"] == "close"  # the rest of the body stays on the wire
    problem = answer.json()
    assert problem["status"] == 408 and problem["type"].endswith("/request-timeout")
    assert words in problem["detail"]
    assert problem["request_id"] == answer.headers["x-request-id"]


class TestStalledBody:
    def test_a_body_that_stops_is_408_and_its_slot_is_freed(self, hasty: FastAPI) -> None:
        """Before authentication (a JSON route reads its body first): headers and the start of
        a comment, then nothing. The request held a slot while it waited; it is answered 408
        and the admission count is back to zero."""
        registry = registry_of(hasty)
        seen: list[float | None] = []
        path = COMMENTS.format(finding_id="f-1")
        scope = http_scope("POST", path, {"content-type": "application/json"})
        answer = drive(hasty, scope, stalling(b'{"text": "', seen, registry))
        assert_timeout_problem(answer, "No part of the body arrived for 0.2 seconds")
        assert seen == [1.0]  # held while it stalled
        assert registry.get_sample_value(ADMITTED) == 0.0
        assert registry.get_sample_value(TIMEOUTS, {"route": COMMENTS, "reason": "idle"}) == 1.0
        statuses = {"method": "POST", "route": COMMENTS, "status": "408"}
        assert registry.get_sample_value("linkage_http_requests_total", statuses) == 1.0

    def test_a_trickled_body_is_408_once_below_the_minimum_rate(
        self, settings: Settings, database: Database
    ) -> None:
        """Ten bytes every 20 ms never leaves the body idle for its 0.1 s, but past that time
        it averages 500 bytes a second, under the minimum asked here."""
        slow = settings.model_copy(
            update={"body_idle_seconds": 0.1, "body_min_bytes_per_second": 10_000}
        )
        app = create_app(slow, database=database)
        with TestClient(app, raise_server_exceptions=False):
            scope = http_scope("POST", "/oauth/token", {"content-type": FORM})
            answer = drive(app, scope, trickling(0.02))
        assert_timeout_problem(answer, "slower than 10000 bytes a second")
        registry = registry_of(app)
        assert registry.get_sample_value(ADMITTED) == 0.0
        labels = {"route": "/oauth/token", "reason": "slow"}
        assert registry.get_sample_value(TIMEOUTS, labels) == 1.0

    def test_a_push_that_stalls_mid_body_stores_nothing(
        self, hasty: FastAPI, database: Database, headers_for: HeadersFor
    ) -> None:
        """A department's push whose body stops after a valid record: 408, no batch, no
        record (the partial body is not taken for the whole), and the access record says
        408 as for any other refused push. The same body sent whole is applied."""
        headers = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
        body = factory.ndjson([factory.roster(1)])
        registry = registry_of(hasty)
        seen: list[float | None] = []
        scope = http_scope("POST", PUSH, headers)
        scope["query_string"] = b"region=230100"
        answer = drive(hasty, scope, stalling(body, seen, registry))
        assert_timeout_problem(answer, "nothing of it applied")
        assert registry.get_sample_value(ADMITTED) == 0.0
        assert counts(database) == (0, 0)
        hasty.state.auth.recorder.flush()
        with database.transaction() as session:
            noted = session.scalars(
                select(AccessRecord.status).where(AccessRecord.route == PUSH_ROUTE)
            ).all()
        assert noted == [408]

        whole = drive(hasty, scope, whole_body(body))
        assert whole.status == 201, whole.body
        assert counts(database) == (1, 1)


FORM = "application/x-www-form-urlencoded"


def whole_body(body: bytes) -> Receive:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def counts(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        batches = session.scalar(select(func.count()).select_from(Batch))
        records = session.scalar(select(func.count()).select_from(RosterRecord))
    return int(batches or 0), int(records or 0)


async def reads_first(scope: Any, receive: Any, send: Any) -> None:
    """A plain ASGI app (no framework to turn the exception into a problem)."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


async def streams_then_reads(scope: Any, receive: Any, send: Any) -> None:
    """A handler that begins its response before it has read the body."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    while (await receive()).get("more_body"):
        await send({"type": "http.response.body", "body": b".", "more_body": True})
    await send({"type": "http.response.body", "body": b"done"})


@pytest.mark.parametrize("handler", [reads_first, streams_then_reads])
def test_below_any_framework_a_stalled_body_is_answered_or_cut_off(
    handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Without FastAPI to answer the 408, the middleware answers it itself; once the response
    has begun it cannot be a 408, so the request ends there, unfinished (the server then closes
    the connection). Either way the slot's holder returns, and the metric and log say why."""
    sent: list[MutableMapping[str, Any]] = []

    async def record(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    registry = CollectorRegistry()
    app = BodyLimitMiddleware(handler, Settings(body_idle_seconds=0.05), registry=registry)

    async def main() -> None:
        with anyio.fail_after(5):
            await app(http_scope("POST", "/echo"), stalling(b"a", [], registry), record)

    anyio.run(main)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    if handler is reads_first:
        assert sent[0]["status"] == 408
        assert (b"content-type", PROBLEM_JSON.encode()) in sent[0]["headers"]
        assert (b"connection", b"close") in sent[0]["headers"]
    else:
        assert sent[0]["status"] == 200 and sent[-1].get("more_body") is True  # never finished
    assert registry.get_sample_value(TIMEOUTS, {"route": "<unmatched>", "reason": "idle"}) == 1
    [note] = [r for r in caplog.records if r.getMessage() == "request body timed out"]
    assert (note.reason, note.cut_off) == ("idle", handler is streams_then_reads)  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_real_server_answers_a_stalled_body_with_408_and_closes(
    settings: Settings, database: Database
) -> None:
    """Over a socket to uvicorn, as the attack comes: the head of a token request and part of
    its body, then silence. The hub answers 408 within its deadline and closes the
    connection, and the only slot of the process is free again: the next request is
    served."""
    app = create_app(
        settings.model_copy(update={"body_idle_seconds": 0.3, "max_in_flight": 1}),
        database=database,
    )
    with TestClient(app, raise_server_exceptions=False):
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="error")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.01)
            head = (
                "POST /oauth/token HTTP/1.1\r\nHost: hub\r\n"
                f"Content-Type: {FORM}\r\nContent-Length: 200\r\n\r\n"
            )
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(head.encode() + b"grant_type=client_cre")
                reply = b""
                while chunk := sock.recv(65536):  # until the hub closes the connection
                    reply += chunk
            status_line, _, rest = reply.partition(b"\r\n")
            assert status_line == b"HTTP/1.1 408 Request Timeout", reply[:200]
            assert b"application/problem+json" in rest and b"connection: close" in rest.lower()
            assert registry_of(app).get_sample_value(ADMITTED) == 0.0
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /api/v1/reconciliation/rules HTTP/1.1\r\nHost: hub\r\n\r\n")
                assert sock.recv(65536).startswith(b"HTTP/1.1 401 ")  # admitted, not shed
        finally:
            server.should_exit = True
            thread.join(10)
