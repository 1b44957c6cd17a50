"""Errors as RFC 9457 problem details (``application/problem+json``).

Code raises a :class:`HubError` subclass; one handler renders it. Framework errors (404, 405,
request validation) and unexpected exceptions are rendered the same way, and a 500 never shows
anything internal. Input errors carry ``errors: [{row, field, code, message}]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from linkage_hub.identifiers import mask_id_numbers_in
from linkage_hub.inputs import INVALID_UNICODE, INVALID_UNICODE_MESSAGE, has_invalid_unicode

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
MAX_ERRORS = 1_000  # no problem lists more errors than this; ``total_errors`` counts them all
TYPE_BASE = "https://linkage-hub.invalid/problems/"


class FieldError(BaseModel):
    """One bad field: ``row`` counts from 1 within a batch and is null outside batches."""

    row: int | None = None
    field: str
    code: str
    message: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class HubError(Exception):
    status: int = 500
    title: str = "Internal Server Error"
    slug: str = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        if self.errors is not None:
            body["errors"] = [e.model_dump() for e in self.errors[:MAX_ERRORS]]
            if len(self.errors) > MAX_ERRORS:
                body["total_errors"] = len(self.errors)
        body.update(self.extra)
        return body


def invalid_field(field: str, code: str, message: str) -> InvalidInput:
    """A 422 naming one field: "The field region is not ..."."""
    return InvalidInput(
        f"The field {field} {message}.",
        errors=[FieldError(field=field, code=code, message=message)],
        total_errors=1,
    )


class BadRequest(HubError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(HubError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(HubError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(HubError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(HubError):
    status, title, slug = 409, "Conflict", "conflict"


class PreconditionFailed(HubError):
    status, title, slug = 412, "Precondition Failed", "precondition-failed"


class RequestTimeout(HubError):
    status, title, slug = 408, "Request Timeout", "request-timeout"


class PayloadTooLarge(HubError):
    status, title, slug = 413, "Content Too Large", "too-large"


class UnsupportedMediaType(HubError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class InvalidInput(HubError):
    status, title, slug = 422, "Unprocessable Content", "invalid-input"


class PreconditionRequired(HubError):
    status, title, slug = 428, "Precondition Required", "precondition-required"


class TooManyRequests(HubError):
    status, title, slug = 429, "Too Many Requests", "too-many-requests"


class ServiceUnavailable(HubError):
    status, title, slug = 503, "Service Unavailable", "unavailable"


_STATUS_CLASSES: dict[int, type[HubError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PreconditionFailed,
        RequestTimeout,
        PayloadTooLarge,
        UnsupportedMediaType,
        InvalidInput,
        PreconditionRequired,
        TooManyRequests,
        ServiceUnavailable,
    )
}


def problem_response(error: HubError, request: Request | None = None) -> JSONResponse:
    body = error.problem()
    if request is not None:
        # The route template, never the concrete path: a path may carry an ID number
        # (``/api/v1/persons/{id_number}``, or any unmatched path a caller sends), and problem
        # bodies end up in logs. An unmatched path has no template, so no ``instance``.
        template = getattr(request.scope.get("route"), "path", None)
        if isinstance(template, str):
            body.setdefault("instance", template)
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    return JSONResponse(
        body, status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # A location names what the caller sent: an unknown member (``extra_forbidden``) or a key
    # of a mapping is the caller's text, and may be an ID number.
    parts = [
        safe_name(str(p)) for p in loc if p not in ("body", "query", "path", "header", "cookie")
    ]
    return ".".join(parts) or str(loc[0] if loc else "request")


def validation_errors(exc: RequestValidationError) -> list[FieldError]:
    # The offending input is deliberately not echoed: it may be an ID number.
    return [
        FieldError(
            field=_field_path(err.get("loc", ())),
            code=str(err.get("type", "invalid")),
            message=str(err.get("msg", "invalid value")),
        )
        for err in exc.errors()[:MAX_ERRORS]
    ]


# FastAPI's wording when a JSON body does not parse (json.JSONDecodeError / UnicodeDecodeError).
_FASTAPI_PARSE_ERROR = "There was an error parsing the body"


PageRenderer = Callable[[Request, HubError], Response]


def render_errors_as_pages(app: FastAPI, prefix: str, renderer: PageRenderer) -> None:
    """Answer errors of requests under ``prefix`` (the console) with ``renderer``'s page
    instead of a problem: people read them, not programs."""
    app.state.error_pages = [*getattr(app.state, "error_pages", ()), (prefix, renderer)]


def _answer(error: HubError, request: Request) -> Response:
    for prefix, renderer in getattr(request.app.state, "error_pages", ()):
        if request.url.path.startswith(prefix):
            page: Response = renderer(request, error)
            return page
    return problem_response(error, request)


def install_handlers(app: FastAPI) -> None:
    async def hub_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HubError)
        return _answer(exc, request)

    def _routing_detail(status: int, method: str, headers: Mapping[str, str]) -> str | None:
        """The reason of the router's own 404 and 405 (never the path: it may hold an ID number)."""
        if status == 404:
            return "There is no such path in this API; the paths are in /openapi.json."
        if status == 405:
            allowed = headers.get("allow") or headers.get("Allow")
            return f"This path does not take {method}" + (
                f"; it takes {allowed}." if allowed else "."
            )
        return None

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        cls = _STATUS_CLASSES.get(exc.status_code)
        if cls is None:
            detail = _routing_detail(exc.status_code, request.method, exc.headers or {})
            err: HubError = HubError(detail, headers=dict(exc.headers or {}))
            err.status, err.title, err.slug = exc.status_code, str(exc.detail), "http"
        else:
            detail = exc.detail if isinstance(exc.detail, str) and exc.detail != cls.title else None
            if detail == _FASTAPI_PARSE_ERROR:
                detail = "The body is not valid JSON (or not UTF-8); send one JSON object."
            elif detail is None:
                detail = _routing_detail(exc.status_code, request.method, exc.headers or {})
            err = cls(detail, headers=dict(exc.headers or {}))
        return _answer(err, request)

    async def request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        err = InvalidInput("The request is not valid; see errors.", errors=validation_errors(exc))
        if len(exc.errors()) > MAX_ERRORS:
            err.extra["total_errors"] = len(exc.errors())
        return _answer(err, request)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The connection to the database broke (server down, connection terminated): nothing
        # of the request was committed, and a retry may well succeed.
        log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        err = ServiceUnavailable(
            "The database is unavailable; nothing was applied. Retry later.",
            headers={"Retry-After": "5"},
        )
        return problem_response(err, request)

    app.add_exception_handler(HubError, hub_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_validation)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting problem answers of a route in OpenAPI."""
    return {
        status: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": _STATUS_CLASSES[status].title,
        }
        for status in statuses
    }


async def refuse_nul_characters(request: Request) -> None:
    """App-wide: a path or query value holding a NUL character is refused with a 422 naming
    it. No identifier, code or filter of the hub contains one, and PostgreSQL cannot store or
    compare text that does (its driver raises, which would otherwise surface as a 500).
    Likewise a Unicode non-character or lone surrogate (``invalid_unicode``, see
    :mod:`linkage_hub.inputs`)."""
    errors: list[FieldError] = []
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            errors.append(
                FieldError(
                    field=safe_name(name), code="nul_character", message="contains a NUL (0x00)"
                )
            )
        elif has_invalid_unicode(value):
            errors.append(
                FieldError(
                    field=safe_name(name), code=INVALID_UNICODE, message=INVALID_UNICODE_MESSAGE
                )
            )
    if errors:
        raise InvalidInput("A parameter holds a character the hub does not accept.", errors=errors)


def safe_name(name: str) -> str:
    """A name the caller sent (a member, a key, a parameter), fit for an error body: printable
    characters only (no NUL, non-character or lone surrogate, which no JSON encoder writes as
    UTF-8), every run that could be an ID number masked, at most 64 characters.

    Every site that echoes a caller's name goes through here: a record keyed by its ID number
    or a mistyped member must not put the number into a problem body (and so into logs). The
    invisible characters go first, so none can split a number out of the mask's reach, and
    the cut comes last, so none leaves an unmasked head of one."""
    printable = "".join(c for c in name if c.isprintable())
    return mask_id_numbers_in(printable)[:64] or "?"


NO_DATABASE_PATHS = frozenset({"/health/live", "/metrics"})  # answer without the database


def document_unavailable(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation that needs the database can answer 503 (it is unreachable): the
    OpenAPI document says so, with the problem body, unless the route documents its own.
    (422, which a NUL character in a parameter also gets, is documented by FastAPI wherever
    an operation has parameters.)"""
    response = {
        "description": ServiceUnavailable.title + ": the database is unreachable; retry later.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for path, operations in document.get("paths", {}).items():
        if path in NO_DATABASE_PATHS:
            continue
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("503", response)
    return document
