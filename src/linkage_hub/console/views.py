"""Every console router, installed together (``create_app`` calls :func:`install`)."""

from __future__ import annotations

from fastapi import FastAPI

from linkage_hub.console import dashboard, router


def install(app: FastAPI) -> None:
    app.include_router(router.router)
    app.include_router(dashboard.router)
