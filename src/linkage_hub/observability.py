"""Request ids, Prometheus metrics and one structured log line per request.

Every request gets the hub's own request id (``X-Request-ID`` on the response; unique, used in
the audit log and the access record). A caller's own ``X-Request-ID`` never replaces it: when it
is safe (:func:`accept_request_id`) it is kept beside it as ``client_request_id`` (access
record, audit entry, log line) and echoed as ``X-Client-Request-ID``, for correlation.

A pure ASGI middleware (no per-request task switching). The route *template* is counted, never
the concrete path: paths may carry ID numbers and would explode label sets. The log line also
carries the concrete path and query string as ``target``, with every ID number in them masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any
from urllib.parse import unquote, unquote_plus

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage_hub.identifiers import mask_id_numbers_in

log = logging.getLogger("linkage_hub.access")
error_log = logging.getLogger("linkage_hub.errors")
REQUEST_ID_HEADER = "X-Request-ID"
CLIENT_REQUEST_ID_HEADER = "X-Client-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DIGIT_RUN = re.compile(r"\d{15}")  # could be an ID number: never echo or log it
# The current request's id, for records written deep inside a request (the audit log).
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_request_id", default=None
)
# The caller's own request id, when it sent a safe one (never the hub's key for anything).
current_client_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_client_request_id", default=None
)


# Sent on every response unless the route set its own: nothing here is for a browser to sniff,
# frame or cache (person data must not linger in a proxy or a shared computer's cache); public
# documents (the JWKS) set their own Cache-Control. HTML pages (the API docs) get no
# ``default-src 'none'``, which would stop them loading their scripts. HSTS is sent always:
# browsers ignore it over plain HTTP (RFC 6797 §8.1) and honour it behind a TLS proxy.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"strict-transport-security", b"max-age=31536000"),
)
_CSP_DATA = b"default-src 'none'; frame-ancestors 'none'"
_CSP_PAGE = b"frame-ancestors 'none'"


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` plus every security header the route did not set itself."""
    present = {name.lower() for name, _ in headers}
    added = [h for h in SECURITY_HEADERS if h[0] not in present]
    if b"content-security-policy" not in present:
        html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
        added.append((b"content-security-policy", _CSP_PAGE if html else _CSP_DATA))
    return headers + added


def accept_request_id(incoming: str) -> bool:
    """A caller's own request id is kept when it is short, plain and cannot hide an ID number:
    not 15 digits in a row, nor a number in groups (``110105-19491231-002X``, with points or
    underscores too) as the masking reads one. It is echoed, logged and kept in the access
    records and the append-only audit log, so it is refused rather than masked."""
    if not _SAFE_REQUEST_ID.match(incoming) or _DIGIT_RUN.search(incoming):
        return False
    grouped = incoming.replace("_", "-")  # the masking's separators include '-' and '.'
    return mask_id_numbers_in(grouped) == grouped


class Metrics:
    """The hub's metrics, in a registry of their own so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "linkage_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "linkage_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.in_flight = Gauge(
            "linkage_http_requests_in_flight", "Requests being served", registry=self.registry
        )


SECRET_PATH = "/console/password/"  # noqa: S105 - a path; what follows it is the secret


# Query parameters whose values are credentials: the hub takes none in a query string, but
# some OAuth libraries send the client's secret there, and the refused request is logged.
SECRET_PARAMS = frozenset({"client_secret", "password", "secret", "token", "access_token"})


def masked_target(scope: Scope) -> str:
    """The request's path and query string with every ID number in them masked
    (``/api/v1/persons/2301**********1234``), decoded first so no encoding hides one; a
    one-time password link's token is cut off (``/console/password/***``), and so is the
    value of a query parameter named like a credential (:data:`SECRET_PARAMS`)."""
    path = unquote(str(scope.get("path", "")))
    if path.startswith(SECRET_PATH):
        path = SECRET_PATH + "***"
    parts = []
    for part in bytes(scope.get("query_string", b"")).decode("latin-1").split("&"):
        name, eq, value = part.partition("=")
        if value and unquote_plus(name).strip().lower() in SECRET_PARAMS:
            value = "***"
        # A form's spaces come as '+' (a number typed in groups, "230102+19800101+0073").
        parts.append(unquote_plus(name + eq + value))
    query = "&".join(parts)
    target = f"{path}?{query}" if query else path
    return mask_id_numbers_in(target)[:500]


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        client_request_id = incoming if accept_request_id(incoming) else None
        request_id = uuid.uuid4().hex  # the hub's own: unique, whatever the caller sends
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["client_request_id"] = client_request_id
        token = current_request_id.set(request_id)
        client_token = current_client_request_id.set(client_request_id)
        status = 500
        started_response = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = with_security_headers(list(message.get("headers", [])))
                headers.append((b"x-request-id", request_id.encode()))
                if client_request_id:
                    headers.append((b"x-client-request-id", client_request_id.encode()))
                message["headers"] = headers
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Rendered here, inside the request id and metrics, rather than by Starlette's
            # outermost error middleware, which would bypass both.
            error_log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
            if started_response:
                raise
            await _send_internal_error(send_with_id, request_id, route_template(scope))
        finally:
            current_request_id.reset(token)
            current_client_request_id.reset(client_token)
            self.metrics.in_flight.dec()
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "client_request_id": client_request_id,
                    "method": method,
                    "route": route,
                    "target": masked_target(scope),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client_id": state.get("client_id"),
                },
            )


async def _send_internal_error(send: Send, request_id: str, route: str) -> None:
    body = json.dumps(
        {
            "type": "https://linkage-hub.invalid/problems/internal",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "An unexpected error occurred; it has been logged.",
            "instance": route,  # the template: a concrete path may carry an ID number
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line; ``extra=`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the frames, not the message: messages may quote input values.
            body["error"] = record.exc_info[0].__name__
            body["trace"] = _frames(record)
        return json.dumps(body, ensure_ascii=False, default=str)


def _frames(record: logging.LogRecord) -> list[str]:
    assert record.exc_info is not None
    return [
        f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(record.exc_info[2])
    ]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test capture swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(level: str) -> None:
    root = logging.getLogger("linkage_hub")
    if any(getattr(h, "_linkage", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler._linkage = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
