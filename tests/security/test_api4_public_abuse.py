"""API4/API6 on the public face: floods of requests and reports are refused cheaply, cap what
is stored, and leave the departments' API alone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
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
from tests.security.asgi import Answer, http_scope

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


def test_only_a_filed_report_counts_against_the_hour(
    settings: Settings, database: Database
) -> None:
    """A reporter on a bad line or with a typo keeps their places: a refused form (422) and a
    retry answered with the first receipt give their place back; a filed report keeps it."""
    with limited(settings, database, public_reports_per_hour=2) as client:
        for _ in range(3):
            assert client.post("/public/v1/reports", json=REPORT | {"facts": ""}).status_code == 422
            assert client.post("/public/12310", data=REPORT | {"facts": ""}).status_code == 422
        key = {"Idempotency-Key": "retry-1"}
        first = client.post("/public/v1/reports", json=REPORT, headers=key)
        assert first.status_code == 201
        for _ in range(3):
            retry = client.post("/public/v1/reports", json=REPORT, headers=key)
            assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
        assert client.post("/public/12310", data=REPORT).status_code == 201
        past = client.post("/public/v1/reports", json=REPORT | {"facts": "第三件"})
        assert past.status_code == 429 and int(past.headers["retry-after"]) >= 1
        assert stored(database) == 2


def test_past_the_hour_a_retry_still_gets_its_receipt_and_nothing_new_is_filed(
    settings: Settings, database: Database
) -> None:
    with limited(settings, database, public_reports_per_hour=1) as client:
        key = {"Idempotency-Key": "bad-line"}
        first = client.post("/public/v1/reports", json=REPORT, headers=key)
        assert first.status_code == 201
        retry = client.post("/public/v1/reports", json=REPORT, headers=key)
        assert retry.status_code == 201 and retry.json() == first.json()
        other = client.post("/public/v1/reports", json=REPORT | {"facts": "另一件"}, headers=key)
        assert other.status_code == 429
        assert other.headers["content-type"] == "application/problem+json"
        unkeyed = client.post("/public/v1/reports", json=REPORT)
        form = client.post("/public/12310", data=REPORT | {"submission": "page-token"})
        assert unkeyed.status_code == form.status_code == 429
        assert "retry-after" in form.headers and form.headers["content-type"].startswith(
            "text/html"
        )
        assert stored(database) == 1


def test_a_burst_of_reports_cannot_pass_the_hour_together() -> None:
    """The place is taken before the work runs: reports in flight at once count at once."""
    window = Window(2, 3600.0)
    assert window.hit("a", 1.0) is None and window.hit("a", 1.0) is None
    assert window.hit("a", 1.0) is not None
    window.forget("a", 1.0)  # one of the two filed nothing
    assert window.hit("a", 2.0) is None and window.hit("a", 3.0) is not None
    window.forget("b", 1.0)  # an address it never saw: nothing to give back
    window.forget("a", 99.0)


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


FORM = {"content-type": "application/x-www-form-urlencoded"}


async def get(app: Any, path: str, address: str) -> Answer:
    answer = Answer()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await app(http_scope("GET", path, {}, address), receive, answer.send)
    return answer


def trickled(gate: anyio.Event) -> Any:
    """An ASGI ``receive`` giving the start of a 12310 form, then nothing until ``gate``."""
    parts = [b"category=other&region=230100&facts="]

    async def receive() -> dict[str, Any]:
        if parts:
            return {"type": "http.request", "body": parts.pop(), "more_body": True}
        await gate.wait()
        return {"type": "http.request", "body": b"x", "more_body": False}

    return receive


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_one_address_cannot_hold_every_public_slot(settings: Settings, database: Database) -> None:
    """Behind HAProxy (``LINKAGE_MAX_IN_FLIGHT=0``, README) the public cap was the only bound,
    per process and not per address, and a slot was taken before the body arrived: one address
    sending 8 12310 forms that never finish held all 8 slots for as long as it liked, and every
    other visitor got a 503 on ``/public/`` and the 12310 form. Now a body is read before a
    slot is taken, and an address holds only a share of the slots: the others are served."""
    proxied = settings.model_copy(update={"max_in_flight": 0})
    app = create_app(proxied, database=database)
    answers: list[Answer] = []

    async def slow_post(gate: anyio.Event) -> None:
        scope = http_scope("POST", "/public/12310", FORM, "198.51.100.7")
        await app(scope, trickled(gate), Answer().send)

    async def main() -> None:
        gate = anyio.Event()
        assert (await get(app, "/public/", "203.0.113.49")).status == 200  # served when idle
        async with anyio.create_task_group() as group:
            for _ in range(proxied.public_concurrency):
                group.start_soon(slow_post, gate)
            await anyio.sleep(0.3)
            answers.append(await get(app, "/public/", "203.0.113.50"))
            answers.append(await get(app, "/public/12310", "203.0.113.51"))
            gate.set()

    with TestClient(app, raise_server_exceptions=False):
        anyio.run(main)
    assert [a.status for a in answers] == [200, 200], [(a.status, a.body[:80]) for a in answers]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_address_holds_a_share_of_the_public_slots(settings: Settings) -> None:
    """Slots held by answers a client reads slowly, not by bodies: the shield's admission is
    the hub's (``loadshed.Admission``), so one address holds at most half of the 8 slots (the
    rest of its requests 503 at once) and another address is served; before, the one address
    took all 8. The cap stays a cap: no newcomers' reserve past it. (JSON paths: a refusal
    there is a problem body, which needs no app around the shield.)"""
    release = anyio.Event()

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["path"] == "/public/v1/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    shield = PublicShield(inner, make_settings(settings.database_url or "", settings.data_dir))
    shield_app: Any = shield
    held: list[Answer] = []

    async def slow(address: str) -> None:
        held.append(await get(shield_app, "/public/v1/slow", address))

    async def main() -> tuple[int, int, int]:
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(slow, "198.51.100.7")
            await anyio.sleep(0.1)
            other = await get(shield_app, "/public/v1/quick", "203.0.113.50")
            for n in range(4):  # three more addresses fill the cap
                group.start_soon(slow, f"192.0.2.{n // 2 + 1}")
            await anyio.sleep(0.1)
            full = await get(shield_app, "/public/v1/quick", "203.0.113.60")
            release.set()
        return other.status, full.status, shield.slots.total

    other, full, left = anyio.run(main)
    assert (other, full, left) == (200, 503, 0)
    statuses = sorted(a.status for a in held)
    assert statuses == [200] * 8 + [503] * 4, statuses


def test_a_body_that_does_not_arrive_in_time_is_408_and_stores_nothing(
    settings: Settings, database: Database
) -> None:
    """A public body is read before its request takes a slot, for at most
    ``LINKAGE_PUBLIC_BODY_SECONDS``: a form or report still arriving then is a 408 (a page for
    the form, a problem for the JSON route) that closes the connection; before, it waited as
    long as the sender liked, holding a public slot the whole time."""
    hasty = settings.model_copy(update={"public_body_seconds": 0.2})
    app = create_app(hasty, database=database)

    async def main() -> list[Answer]:
        answers = []
        for path, headers in (
            ("/public/12310", FORM),
            ("/public/v1/reports", {"content-type": "application/json"}),
        ):
            answer = Answer()
            with anyio.fail_after(5):
                await app(http_scope("POST", path, headers), trickled(anyio.Event()), answer.send)
            answers.append(answer)
        return answers

    with TestClient(app, raise_server_exceptions=False):
        page, problem = anyio.run(main)
    assert page.status == 408 and page.headers["content-type"].startswith("text/html")
    assert problem.status == 408 and problem.json()["status"] == 408
    assert page.headers["connection"] == problem.headers["connection"] == "close"
    assert stored(database) == 0
