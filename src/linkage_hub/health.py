"""Liveness, readiness and metrics: for load balancers, orchestrators and Prometheus.

They answer without a token. With ``LINKAGE_OPS_PORT`` set they are served on an operators'
port of their own (:class:`OpsPortMiddleware`); ``/health/live`` stays on the main port too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from linkage_hub.db import Database, get_database
from linkage_hub.dependencies import check_keys
from linkage_hub.errors import (
    NotFound,
    ServiceUnavailable,
    problem_response,
    problem_responses,
)
from linkage_hub.migrations import current_revision, head_revision

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    database: str | None = None
    schema_revision: str | None = None
    expected_revision: str | None = None
    id_keys: str | None = None
    audit_keys: str | None = None


@router.get("/health/live", operation_id="health_live", response_model=Health)
def live() -> Health:
    """The process is up and answering. Says nothing about the database."""
    return Health(status="ok")


@router.get(
    "/health/ready",
    operation_id="health_ready",
    response_model=Health,
    responses={
        503: {"model": Health, "description": "Not ready: database, schema, ID or audit key set"}
    },
)
def ready(request: Request, db: Annotated[Database, Depends(get_database)]) -> JSONResponse:
    """Ready to serve: the database answers, its schema is at the newest migration, and the
    ID key set opens what it holds (checked at start, or here when the database was down
    then: `id_keys` is `mismatch` while it does not), and the audit key set is the one the
    audit log is MAC'd under (`audit_keys` is `mismatch` while not: nothing is appended)."""
    expected = head_revision(db.settings)
    try:
        with db.read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = current_revision(connection)
        check_keys(request.app.state)
    except SQLAlchemyError:
        body = Health(status="unavailable", database="unreachable", expected_revision=expected)
        return JSONResponse(body.model_dump(), status_code=503)
    except ServiceUnavailable:
        body = Health(status="unavailable", database="ok", id_keys="mismatch")
        return JSONResponse(body.model_dump(), status_code=503)
    ok = revision == expected
    audit_check = getattr(request.app.state, "audit_key_check", None)
    if ok and audit_check is not None:
        try:
            audit_check()
        except SQLAlchemyError:
            body = Health(status="unavailable", database="unreachable", expected_revision=expected)
            return JSONResponse(body.model_dump(), status_code=503)
        except ServiceUnavailable:
            body = Health(
                status="unavailable",
                database="ok",
                schema_revision=revision,
                expected_revision=expected,
                audit_keys="mismatch",
            )
            return JSONResponse(body.model_dump(), status_code=503)
    body = Health(
        status="ok" if ok else "unavailable",
        database="ok",
        schema_revision=revision,
        expected_revision=expected,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **problem_responses(404),
    },
)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by route template and status, latency histograms."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# --- the operators' port ---------------------------------------------------------------------

OPS_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
OPS_ONLY_PATHS = frozenset({"/health/ready", "/metrics"})  # /health/live: for load balancers


class OpsPortMiddleware:
    """With ``LINKAGE_OPS_PORT`` set, one app listens on two ports (``linkage-hub serve`` binds
    both) and the port a request came in on decides what it may reach: the operators' port
    serves only :data:`OPS_PATHS`; the departments' port everything but
    :data:`OPS_ONLY_PATHS` (traffic per route and the schema revision are not for them).
    Anything refused is a plain 404, as if it did not exist."""

    def __init__(self, app: ASGIApp, ops_port: int | None) -> None:
        self.app = app
        self.ops_port = ops_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.ops_port is not None:
            server = scope.get("server") or (None, None)
            on_ops_port = server[1] == self.ops_port
            path = str(scope.get("path", ""))
            refused = (path not in OPS_PATHS) if on_ops_port else (path in OPS_ONLY_PATHS)
            if refused:
                response = problem_response(NotFound(), Request(scope))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
