"""Liveness, readiness and metrics: for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from linkage_hub.db import Database, get_database
from linkage_hub.errors import problem_responses
from linkage_hub.migrations import current_revision, head_revision

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    database: str | None = None
    schema_revision: str | None = None
    expected_revision: str | None = None


@router.get("/health/live", operation_id="health_live", response_model=Health)
def live() -> Health:
    """The process is up and answering. Says nothing about the database."""
    return Health(status="ok")


@router.get(
    "/health/ready",
    operation_id="health_ready",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready: database or schema"}},
)
def ready(db: Annotated[Database, Depends(get_database)]) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the newest migration."""
    expected = head_revision(db.settings)
    try:
        with db.read_engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = current_revision(connection)
    except SQLAlchemyError:
        body = Health(status="unavailable", database="unreachable", expected_revision=expected)
        return JSONResponse(body.model_dump(), status_code=503)
    ok = revision == expected
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
