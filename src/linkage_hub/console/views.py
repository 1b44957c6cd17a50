"""Every console router, installed together (``create_app`` calls :func:`install`)."""

from __future__ import annotations

from fastapi import FastAPI

from linkage_hub.console import (
    cases,
    dashboard,
    disclosures,
    downloads,
    findings,
    meetings,
    persons,
    reports,
    router,
    runs,
    units,
)


def install(app: FastAPI) -> None:
    app.include_router(router.router)
    app.include_router(dashboard.router)
    app.include_router(findings.router)
    app.include_router(runs.router)
    app.include_router(meetings.router)
    app.include_router(reports.router)
    app.include_router(downloads.router)
    app.include_router(units.router)
    app.include_router(persons.router)
    app.include_router(cases.router)
    app.include_router(disclosures.router)
