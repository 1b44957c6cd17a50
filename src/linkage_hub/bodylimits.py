"""Request body caps: one door, before authentication and before any parsing.

Every request body has a cap chosen by its route (method and path template): the token form a
few KB, a single record about a megabyte, a comment or a transition 64 KB, a batch its own large
cap (``LINKAGE_MAX_BODY_BYTES``, spooled to disk as it is read), any other body a megabyte. A
request whose ``Content-Length`` is over its cap gets a 413 at once: nothing of it is read and
nothing after this middleware (authentication, the handler) runs. A body sent without a length
(chunked) is counted as the application reads it, and reading stops with a 413 at the first
chunk past the cap, so no more than the cap plus one chunk is ever held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage_hub.errors import PROBLEM_JSON, PayloadTooLarge, problem_response
from linkage_hub.settings import Settings


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


def too_large_detail(cap: int) -> str:
    return f"The body is larger than {cap} bytes, the limit of this route."


def cap_of(settings: Settings, setting: str) -> int:
    value = getattr(settings, setting)
    assert isinstance(value, int)
    return value


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
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
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise BodyTooLarge(cap)
            return message

        await self.app(scope, limited_receive, send)


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
    """Every operation with a request body documents its 413 and its cap (idempotent)."""
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
    return document
