"""Putting the auth room into an app: its state, its routes and the access-record middleware.

Apart from :mod:`linkage_hub.auth.runtime` so that the runtime (which the token dependency
reads) imports neither the routes nor the policy that import it.
"""

from __future__ import annotations

from fastapi import FastAPI

from linkage_hub.auth.access import AccessRecordMiddleware
from linkage_hub.auth.openapi import with_security
from linkage_hub.auth.router import router
from linkage_hub.auth.runtime import AuthRuntime
from linkage_hub.db import Database
from linkage_hub.settings import Settings


def install(app: FastAPI, settings: Settings, db: Database) -> AuthRuntime:
    """Put the auth room into an app: its state, its routes and the access-record middleware."""
    runtime = AuthRuntime(settings, db)
    app.state.auth = runtime
    app.include_router(router)
    app.openapi = with_security(app, app.openapi)  # type: ignore[method-assign]
    app.add_middleware(
        AccessRecordMiddleware, recorder=runtime.recorder, trusted_proxies=settings.trusted_proxies
    )
    return runtime
