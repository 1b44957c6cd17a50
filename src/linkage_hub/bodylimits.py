"""Request body caps: one door, before authentication and before any parsing.

Every request body has a cap chosen by its route (method and path template): the token form a
few KB, a single record about a megabyte, a comment or a transition 64 KB, a batch its own large
cap (``LINKAGE_MAX_BODY_BYTES``, spooled to disk as it is read), any other body a megabyte. A
request whose ``Content-Length`` is over its cap gets a 413 at once: nothing of it is read and
nothing after this middleware (authentication, the handler) runs. A body sent without a length
(chunked) is counted as the application reads it, and reading stops with a 413 at the first
chunk past the cap, so no more than the cap plus one chunk is ever held.

**Deadlines.** A request holds its admission slot (:mod:`linkage_hub.loadshed`) from admission
to its response's last byte, and the server has no deadline for a body: a client that sends its
head and then trickles its body, or stops, would hold the slot for as long as it liked, and
callers from a few dozen addresses would fill the bound (a slowloris on bodies). So the wait for
a body is bounded here, where it is read (:class:`BodyClock`): once nothing of it has come for
``LINKAGE_BODY_IDLE_SECONDS`` while the application waits for it, or, past that time, it has
come slower on average than ``LINKAGE_BODY_MIN_BYTES_PER_SECOND``, ``receive`` raises
:class:`BodyTimedOut`: a 408 problem, the connection closed, the slot freed. Only the time the
application spends waiting for the client counts (never its own work between reads), and only
until the body's last part: what comes after (waiting for a disconnect) has no deadline. A
handler that fails this way fails before anything of the body is used (a batch is spooled in
full before it is parsed), and its transaction is rolled back: nothing is stored. A response
already begun cannot become a 408: the request is then cut off (the server closes the
connection). Either way a log line and ``linkage_http_body_timeouts_total`` say why.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import anyio
from prometheus_client import CollectorRegistry, Counter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage_hub.errors import PROBLEM_JSON, PayloadTooLarge, RequestTimeout, problem_response
from linkage_hub.observability import route_template
from linkage_hub.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BodyCap:
    method: str
    path: str  # the route template, as in the OpenAPI document
    setting: str  # the Settings field holding the cap in bytes


ROUTE_CAPS = (
    BodyCap("POST", "/oauth/token", "token_body_bytes"),
    BodyCap("POST", "/api/v1/datasets/{dataset}/batches", "max_body_bytes"),
    BodyCap("PUT", "/api/v1/datasets/{dataset}/records/{record_key}", "record_body_bytes"),
    BodyCap("POST", "/api/v1/discrepancies/{finding_id}/comments", "comment_body_bytes"),
    BodyCap("POST", "/api/v1/discrepancies/{finding_id}/transitions", "comment_body_bytes"),
    BodyCap("POST", "/api/v1/cases/{case_id}/transitions", "comment_body_bytes"),
    BodyCap("POST", "/public/v1/reports", "public_body_bytes"),
    BodyCap("POST", "/public/12310", "public_body_bytes"),
    BodyCap("POST", "/public/12310/{tracking_code}", "public_body_bytes"),
)
DEFAULT_SETTING = "json_body_bytes"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its cap. An ``HTTPException``, so
    FastAPI's body parsing passes it on and the problem handler answers 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(status_code=413, detail=too_large_detail(cap))


class BodyTimedOut(HTTPException):
    """Raised from ``receive`` when a body has stopped arriving or arrives too slowly (module
    docstring): a 408 that closes the connection (the rest of the body stays on the wire)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=408, detail=detail, headers={"Connection": "close"})


class BodyClock:
    """The deadline of one request's body: how long the application has waited for it, how
    much of it came, and whether it has ended."""

    def __init__(self, idle_seconds: float, min_rate: int) -> None:
        self.idle = idle_seconds
        self.min_rate = min_rate  # bytes a second on average, past the first ``idle``; 0: none
        self.received = 0
        self.waited = 0.0
        self.done = False
        self.expired: str | None = None  # why the body was given up: "idle" or "slow"
        self.cut_off = False  # given up when the response had already begun

    def allowance(self) -> tuple[float, str]:
        """How long the next wait may last, and the limit that ends it. Once the first
        ``idle`` seconds of waiting are over, the body must have averaged ``min_rate``: with
        ``received`` bytes that holds until ``received / min_rate`` seconds of waiting."""
        if self.min_rate and self.waited >= self.idle:
            left = self.received / self.min_rate - self.waited
            if left < self.idle:
                return max(left, 0.0), "slow"
        return self.idle, "idle"

    def timed_out(self, reason: str) -> BodyTimedOut:
        self.expired = reason
        if reason == "idle":
            detail = (
                f"No part of the body arrived for {self.idle:g} seconds; the request was "
                "dropped and nothing of it applied. Send the body again, without pauses."
            )
        else:
            detail = (
                f"The body arrived slower than {self.min_rate} bytes a second on average; the "
                "request was dropped and nothing of it applied. Send it again."
            )
        return BodyTimedOut(detail)

    async def receive(self, receive: Receive) -> Message:
        """``receive`` within the body's deadline (none once the body has ended)."""
        if self.done:
            return await receive()
        allowed, reason = self.allowance()
        if allowed <= 0:
            raise self.timed_out(reason)
        began = anyio.current_time()
        with anyio.move_on_after(allowed) as deadline:
            message = await receive()
        self.waited += anyio.current_time() - began
        if deadline.cancelled_caught:
            raise self.timed_out(reason)
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:  # http.disconnect: nothing more will come
            self.done = True
        return message


def too_large_detail(cap: int) -> str:
    return f"The body is larger than {cap} bytes, the limit of this route."


def cap_of(settings: Settings, setting: str) -> int:
    value = getattr(settings, setting)
    assert isinstance(value, int)
    return value


class BodyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.timeouts = Counter(
            "linkage_http_body_timeouts",
            "Requests whose body stopped arriving (idle) or came too slowly (slow), by route "
            "template: answered 408, or cut off when their response had begun",
            ["route", "reason"],
            registry=registry,
        )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, registry: CollectorRegistry) -> None:
        self.app = app
        self.idle_seconds = settings.body_idle_seconds
        self.min_rate = settings.body_min_bytes_per_second
        self.metrics = BodyMetrics(registry)
        self.default = cap_of(settings, DEFAULT_SETTING)
        self.routes: list[tuple[str, re.Pattern[str], str, int]] = [
            (c.method, compile_path(c.path)[0], c.path, cap_of(settings, c.setting))
            for c in ROUTE_CAPS
        ]

    def cap_for(self, method: str, path: str) -> tuple[int, str | None]:
        for route_method, pattern, template, cap in self.routes:
            if route_method == method and pattern.match(path):
                return cap, template
        return self.default, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, template = self.cap_for(scope.get("method", ""), scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _refuse(scope, receive, send, cap, template)
            return
        clock = BodyClock(self.idle_seconds, self.min_rate)
        started = False

        async def limited_receive() -> Message:
            try:
                message = await clock.receive(receive)
            except BodyTimedOut:
                clock.cut_off = started
                raise
            if message["type"] == "http.request" and clock.received > cap:
                raise BodyTooLarge(cap)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Exception as exc:
            if clock.expired is None:
                raise
            if not clock.cut_off:  # the application let it through: answered here instead
                error = RequestTimeout(str(exc.detail) if isinstance(exc, HTTPException) else None)
                error.headers["Connection"] = "close"
                await problem_response(error, Request(scope))(scope, receive, send)
            # else: the response has begun, so it is left unfinished: the server closes the
            # connection, and the slot is freed as this returns.
        finally:
            if clock.expired is not None:
                self._note(scope, clock)

    def _note(self, scope: Scope, clock: BodyClock) -> None:
        route = route_template(scope)
        self.metrics.timeouts.labels(route, clock.expired).inc()
        state = scope.get("state") or {}
        log.warning(
            "request body timed out",
            extra={
                "request_id": state.get("request_id"),
                "method": scope.get("method", ""),
                "route": route,
                "reason": clock.expired,
                "received_bytes": clock.received,
                "waited_ms": round(clock.waited * 1000, 1),
                "cut_off": clock.cut_off,  # the response had begun: no 408, cut off
            },
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(
    scope: Scope, receive: Receive, send: Send, cap: int, template: str | None
) -> None:
    # The route template, never the concrete path (a path may hold an ID number).
    error = PayloadTooLarge(too_large_detail(cap), instance=template or "<unmatched>")
    response = problem_response(error, Request(scope))
    response.headers["Connection"] = "close"  # the unread body stays on the wire
    await response(scope, receive, send)


def document_body_caps(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Every operation with a request body documents its 413 and its cap, and its 408
    (idempotent)."""
    caps = {(c.method.lower(), c.path): cap_of(settings, c.setting) for c in ROUTE_CAPS}
    default = cap_of(settings, DEFAULT_SETTING)
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            cap = caps.get((method, path), default)
            operation["responses"]["413"] = {
                "description": f"{PayloadTooLarge.title}: the body is larger than {cap} bytes "
                "(refused before it is read).",
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            operation["responses"].setdefault(
                "408",
                {
                    "description": f"{RequestTimeout.title}: the body stopped arriving for "
                    f"{settings.body_idle_seconds:g} seconds, or came slower than "
                    f"{settings.body_min_bytes_per_second} bytes a second on average (the "
                    "connection is closed; nothing was applied).",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                },
            )
    return document
