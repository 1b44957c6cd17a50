"""What authentication costs: token issuing, token verification, an authenticated request.

    .venv/bin/python bench/bench_auth.py [--requests 2000]

Runs on a throw-away SQLite file (set LINKAGE_DATABASE_URL to try PostgreSQL). Prints one line
per figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.app import create_app
from linkage_hub.auth.models import AccessRecord
from linkage_hub.auth.policy import ROUTE_POLICY, CurrentPrincipal, Permission
from linkage_hub.auth.service import create_client
from linkage_hub.db import Database
from linkage_hub.migrations import upgrade
from linkage_hub.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=50)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    settings = Settings(
        database_url=Settings().database_url or f"sqlite:///{folder / 'hub.db'}",
        data_dir=folder,
        log_level="WARNING",
    )
    upgrade(settings)
    db = Database(settings)
    app = create_app(settings, database=db)
    router = APIRouter()

    @router.get("/bench/authenticated")
    def authenticated(p: CurrentPrincipal) -> str:
        return p.client_id

    ROUTE_POLICY[("GET", "/bench/authenticated")] = Permission.read
    app.include_router(router)

    with db.transaction() as session:
        created = create_client(session, name="bench", department="hr", region="230100")
        client_id, secret = created.client.client_id, created.client_secret

    with TestClient(app) as client:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        timings = []
        for _ in range(args.tokens):
            started = time.perf_counter()
            response = client.post("/oauth/token", data=form)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
        token = response.json()["access_token"]
        print(f"POST /oauth/token: median {statistics.median(timings) * 1000:.1f} ms")

        keys = app.state.auth.keys
        started = time.perf_counter()
        for _ in range(args.requests):
            keys.verify(token)
        per = (time.perf_counter() - started) / args.requests
        print(f"token verification alone: {per * 1e6:.0f} µs ({1 / per:,.0f}/s on one core)")

        for label, path, headers in (
            ("public GET /health/live", "/health/live", {}),
            (
                "authenticated GET (verify + policy + access record)",
                "/bench/authenticated",
                {"Authorization": f"Bearer {token}"},
            ),
        ):
            started = time.perf_counter()
            for _ in range(args.requests):
                assert client.get(path, headers=headers).status_code == 200
            per = (time.perf_counter() - started) / args.requests
            print(f"{label}: {per * 1000:.2f} ms per request (TestClient, one thread)")
    with db.transaction() as session:
        written = session.scalar(select(func.count()).select_from(AccessRecord))
    print(f"access records written: {written}")
    db.dispose()


if __name__ == "__main__":
    main()
