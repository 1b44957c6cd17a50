"""The application factory: routers, middleware, error handlers and the lifespan."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError

from linkage_hub import __version__, apidocs, health
from linkage_hub.annual.router import router as annual_router
from linkage_hub.audit import keyset as audit_keyset
from linkage_hub.auth.install import install as install_auth
from linkage_hub.auth.policy import authorize
from linkage_hub.auth.runtime import known_caller
from linkage_hub.bodylimits import BodyLimitMiddleware, document_body_caps
from linkage_hub.cases import pages as case_pages
from linkage_hub.cases.router import public_router as reports_public_router
from linkage_hub.cases.router import router as cases_router
from linkage_hub.console import views as console_views
from linkage_hub.console.pages import page_error
from linkage_hub.db import Database
from linkage_hub.errors import (
    document_unavailable,
    install_handlers,
    refuse_nul_characters,
    render_errors_as_pages,
)
from linkage_hub.loadshed import LoadShedMiddleware
from linkage_hub.meetings.router import router as meetings_router
from linkage_hub.notifications import lifespan as notifications_lifespan
from linkage_hub.notifications.router import bulletins_router
from linkage_hub.notifications.router import router as notifications_router
from linkage_hub.observability import Metrics, ObservabilityMiddleware, configure_logging
from linkage_hub.persons import router as persons_router
from linkage_hub.public import pages as public_pages
from linkage_hub.public.router import public_router as disclosures_public_router
from linkage_hub.public.router import router as disclosures_router
from linkage_hub.public.shield import PublicShield
from linkage_hub.reconciliation import lifespan as reconciliation_lifespan
from linkage_hub.reconciliation.router import router as reconciliation_router
from linkage_hub.records import offload
from linkage_hub.records import router as records_router
from linkage_hub.records.rotation import check_key_set, record_key_set
from linkage_hub.reports.audit_log import router as audit_router
from linkage_hub.reports.router import router as reports_router
from linkage_hub.settings import Settings, get_settings

DESCRIPTION = """
The five-department staffing linkage hub (机构编制实名制联动管理).

The establishment office (编办), the organization department (组织部), HR (人社局), finance
(财政局) and audit (审计局) push their staffing records here and pull the shared picture; the
reconciliation engine compares them and reports every disagreement as a discrepancy with
evidence, an answerable department and a lifecycle.

Conventions: JSON in UTF-8; dates `YYYY-MM-DD`; times RFC 3339 with zone; periods `YYYY-MM`;
money as decimal strings. Errors are RFC 9457 `application/problem+json`; input errors list
`errors: [{row, field, code, message}]`. Lists are keyset-paginated with `limit` and `cursor`.
Authenticate with `POST /oauth/token` (client credentials) and send `Authorization: Bearer`.
"""

OPENAPI_TAGS = [
    {
        "name": "auth",
        "description": "Tokens for departmental systems (OAuth2 client credentials) and the "
        "access record.",
    },
    {"name": "datasets", "description": "Push and pull each department's records."},
    {"name": "persons", "description": "One person across all departments."},
    {"name": "reconciliation", "description": "Rules and reconciliation runs."},
    {"name": "discrepancies", "description": "Findings, their evidence and lifecycle."},
    {"name": "reports", "description": "Reports for auditors: JSON, CSV and XLSX."},
    {
        "name": "audit",
        "description": "The hash-chained audit log of every write and every read of person "
        "data (audit only).",
    },
    {
        "name": "notifications",
        "description": "Signed webhooks (Standard Webhooks) of records, findings and runs.",
    },
    {
        "name": "disclosures",
        "description": "Publishing a region's staffing disclosure (信息公开), for the "
        "establishment office.",
    },
    {
        "name": "cases",
        "description": "12310 cases (举报受理): the establishment office works them, audit reads.",
    },
    {
        "name": "public",
        "description": "No token: published staffing disclosures and 12310 reports. Rate "
        "limited per address (429 with Retry-After).",
    },
    {"name": "service", "description": "Health and metrics."},
]


# A serving process runs the event loop, worker threads for handlers and the background
# flushes on one GIL. Python's default 5 ms switch interval lets a thread busy with a batch
# push hold the GIL for 5 ms each time another thread asks for it; at 1 ms the loop and the
# reads wait less (bench/load.py: GET p99 under a concurrent 10,000-row push roughly halved,
# the push itself no slower).
SWITCH_INTERVAL_SECONDS = 0.001

# Python's cyclic garbage collector stops every thread of the process, the event loop included,
# for as long as a collection takes. At its default (a young collection every 700 net new
# container objects) a serving process collects many times a second, each time promoting the
# objects of the requests in flight a generation up, and every few seconds it collects the whole
# heap: 95–190 ms for ~220,000 objects on a loaded machine, during which the process answers
# nothing, refusals included (bench/load.py at twice the rates: refusal p99 70–140 ms, slowest
# answer 0.2–0.3 s). Young collections every 20,000 objects let a request's objects die before
# they are promoted, and the whole-heap collection becomes rare (bench/RESULTS.md, "The garbage
# collector's pauses": refusal p99 61–106 ms against 81–259, slowest answer 0.22–0.24 s against
# 0.30 s). Much larger thresholds make the young collections themselves long while a push's
# rows are alive (a 0.5 s pause at 200,000).
GC_YOUNG_THRESHOLD = 20_000


log = logging.getLogger(__name__)


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    db = database or Database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # before anything seals; `serve` has said it in one line
            check_key_set(db, settings)
        except SQLAlchemyError:  # the database is down: started, not ready (/health/ready)
            log.warning("database unreachable at start: the ID key set is checked on first use")
        # And again before the first keyring is made: another process may have sealed since
        # (a second replica started with the first on a new database, before either sealed),
        # and a key set generated then would be another "v1".
        app.state.key_check = app.state.key_verify = partial(check_key_set, db, settings)
        # The first keyring records its key set's fingerprint, or is refused (503) when another
        # process recorded another set: two replicas that each generated one on a new database.
        app.state.key_record = partial(record_key_set, db)
        # /health/ready: the audit key set against the fingerprints the log's versions left.
        app.state.audit_key_check = partial(audit_keyset.check_key_set, db)
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        offload.start(settings)
        scheduler = reconciliation_lifespan.start(app, db)
        notifications = notifications_lifespan.start(db)
        try:
            async with app.state.auth.running():
                yield
        finally:
            notifications_lifespan.stop(notifications)
            reconciliation_lifespan.stop(app, scheduler)
            if database is None:
                db.dispose()

    app = FastAPI(
        title="linkage-hub",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,  # served by apidocs, from the hub's own copies (no CDN)
        redoc_url=None,
        dependencies=[Depends(authorize), Depends(refuse_nul_characters)],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.metrics = Metrics()
    install_handlers(app)
    app.include_router(health.router)
    app.include_router(records_router.router)
    app.include_router(persons_router.router)
    records_router.install_openapi_models(app)
    app.include_router(reports_router)
    app.include_router(reconciliation_router)
    app.include_router(audit_router)
    app.include_router(notifications_router)
    app.include_router(bulletins_router)
    app.include_router(disclosures_router)
    app.include_router(cases_router)
    app.include_router(meetings_router)
    app.include_router(annual_router)
    app.include_router(disclosures_public_router)
    app.include_router(reports_public_router)
    app.include_router(public_pages.router)
    app.include_router(case_pages.router)
    console_views.install(app)
    render_errors_as_pages(app, "/console/", page_error)
    apidocs.install(app)
    # Inside Observability (the 413 carries a request id), outside everything that reads a body.
    app.add_middleware(BodyLimitMiddleware, settings=settings, registry=app.state.metrics.registry)
    # Outside the body caps and everything else: a refused public request costs nothing more.
    app.add_middleware(PublicShield, settings=settings)
    app.add_middleware(health.OpsPortMiddleware, ops_port=settings.ops_port)
    # Inside Observability only (a shed request has a request id, a log line and a metric);
    # outside authentication, the public shield and everything that reads a body or a table.
    app.add_middleware(
        LoadShedMiddleware,
        limit=settings.max_in_flight,
        share=settings.caller_share,
        caller_of=known_caller,
        trusted_proxies=tuple(settings.trusted_proxies),
        registry=app.state.metrics.registry,
    )
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics)
    install_auth(app, settings, db)  # after Observability: its access record sees every status
    build = app.openapi
    app.openapi = lambda: document_body_caps(  # type: ignore[method-assign]
        document_unavailable(build()), settings
    )
    return app
