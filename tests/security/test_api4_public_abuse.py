"""API4/API6 on the public face: floods of requests and reports are refused cheaply, cap what
is stored, and leave the departments' API alone."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.app import create_app
from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from linkage_hub.public.shield import PublicShield, Window
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings

pytestmark = pytest.mark.usefixtures("province_served")
REPORT = {"category": "ghost_pay", "region": "230100", "facts": "举报"}


def limited(settings: Settings, database: Database, **limits: int) -> TestClient:
    tight = make_settings(settings.database_url or "", settings.data_dir, **limits)
    return TestClient(create_app(tight, database=database), raise_server_exceptions=False)


def stored(database: Database) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_an_address_past_its_rate_gets_429_with_retry_after(
    settings: Settings, database: Database, headers_for: HeadersFor
) -> None:
    with limited(settings, database, public_requests_per_minute=5) as client:
        for _ in range(5):
            assert client.get("/public/12310").status_code == 200
        page = client.get("/public/")
        assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
        assert 1 <= int(page.headers["retry-after"]) <= 60
        api = client.get("/public/v1/disclosures/230100")
        assert api.status_code == 429
        assert api.headers["content-type"] == "application/problem+json"
        # The departments' API is not behind the public limit.
        token = headers_for("hr", "230100")
        assert client.get("/api/v1/reconciliation/rules", headers=token).status_code == 200


def test_reports_per_address_and_per_day_are_capped(settings: Settings, database: Database) -> None:
    with limited(settings, database, public_reports_per_hour=3) as client:
        codes = [client.post("/public/v1/reports", json=REPORT).status_code for _ in range(5)]
        assert codes == [201, 201, 201, 429, 429]
        assert stored(database) == 3
    with limited(settings, database, public_reports_per_day=4) as client:
        assert client.post("/public/v1/reports", json=REPORT).status_code == 201
        full = client.post("/public/v1/reports", json=REPORT)
        assert full.status_code == 503 and int(full.headers["retry-after"]) >= 1
        form = client.post("/public/12310", data=REPORT)
        assert form.status_code == 503 and "服务繁忙" in form.text
        assert stored(database) == 4


def test_a_body_over_the_cap_is_413_and_stores_nothing(
    client: TestClient, database: Database
) -> None:
    body = json.dumps(REPORT | {"facts": "举" * 20_000}, ensure_ascii=False).encode()
    response = client.post(
        "/public/v1/reports", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    form = client.post("/public/12310", data=REPORT | {"facts": "x" * 40_000})
    assert form.status_code == 413
    assert stored(database) == 0


def test_the_window_forgets_old_hits_and_old_addresses() -> None:
    window = Window(limit=2, seconds=60, max_keys=3)
    assert window.hit("a", 0) is None and window.hit("a", 1) is None
    assert window.hit("a", 2) == 58
    assert window.hit("a", 61) is None  # the first hit has left the window
    for key in ("b", "c", "d"):
        window.hit(key, 62)
    assert "a" not in window._times and len(window._times) == 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_public_requests_past_the_cap_are_refused_at_once_not_queued(
    settings: Settings,
) -> None:
    """With one public request in flight and a cap of one, the next public request is a 503
    at once, and a departments' request passes straight through."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["path"] == "/public/slow":
            entered.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = FastAPI()
    app.state.settings = settings
    shield = PublicShield(
        inner, make_settings(settings.database_url or "", settings.data_dir, public_concurrency=1)
    )

    async def call(path: str) -> int:
        status: list[int] = []

        async def receive():  # type: ignore[no-untyped-def]
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                status.append(message["status"])

        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [],
            "client": ("10.0.0.1", 1),
            "app": app,
            "query_string": b"",
        }
        await shield(scope, receive, send)
        return status[0]

    async def scenario() -> tuple[int, int, int, int]:
        slow = asyncio.create_task(call("/public/slow"))
        await entered.wait()
        refused = await asyncio.wait_for(call("/public/12310"), timeout=1)
        departments = await asyncio.wait_for(call("/api/v1/reconciliation/rules"), timeout=1)
        release.set()
        first = await slow
        after = await call("/public/12310")
        return first, refused, departments, after

    assert asyncio.run(scenario()) == (200, 503, 200, 200)
