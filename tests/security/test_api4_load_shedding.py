"""API4:2023 Unrestricted Resource Consumption: a process works on a bounded number of requests
at once, no caller takes more than its share, and the refusal comes before authentication.

Requests are held in flight for real: a batch push whose body has not finished arriving holds
its slot (the ASGI app is driven directly, as a slow uploader would drive it), so these tests
see the admission of concurrent requests, not a counter set by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.errors import PROBLEM_JSON
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.security.asgi import Answer, http_scope

PUSH = "/api/v1/datasets/roster/batches"
READ = "/api/v1/datasets/roster/records"


async def call(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    address: str = "203.0.113.9",
    body_gate: anyio.Event | None = None,
) -> Answer:
    """One request into the ASGI app; with ``body_gate`` the body's last part waits for it."""
    answer = Answer()
    parts = [b'{"id_number": "not one"}'] if body_gate else []

    async def receive() -> dict[str, Any]:
        if parts:
            return {"type": "http.request", "body": parts.pop(), "more_body": True}
        if body_gate is not None:
            await body_gate.wait()
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = http_scope(method, path, headers, address)
    await app(scope, receive, answer.send)
    return answer


Hold = Callable[[dict[str, str]], Awaitable[None]]


@pytest.fixture
def small_app(settings: Settings, database: Database) -> Iterator[tuple[FastAPI, TestClient]]:
    """A hub process that works on two requests at once, one per caller while busy."""
    tight = settings.model_copy(update={"max_in_flight": 2, "caller_share": 0.5})
    app = create_app(tight, database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client


def token_of(client: TestClient, headers_for: HeadersFor, department: str) -> dict[str, str]:
    headers = headers_for(department)
    assert client.get(READ, headers=headers).status_code in (200, 403)  # verified once here
    return headers


def run_with_held(
    app: FastAPI,
    held: list[dict[str, str]],
    probe: Callable[[], Awaitable[list[Answer]]],
    path: str = PUSH,
) -> tuple[list[Answer], list[Answer]]:
    """Hold one POST to ``path`` per header set in flight (its body unfinished), run ``probe``
    meanwhile, then let them finish."""
    results: list[Answer] = []
    pushes: list[Answer] = []

    async def main() -> None:
        gate = anyio.Event()
        async with anyio.create_task_group() as group:

            async def push(h: dict[str, str]) -> None:
                pushes.append(
                    await call(
                        app,
                        "POST",
                        path,
                        {"content-type": "application/x-ndjson", **h},
                        body_gate=gate,
                    )
                )

            for h in held:
                group.start_soon(push, h)
            await anyio.sleep(0.2)  # the pushes are inside the app, waiting for their bodies
            results.extend(await probe())
            gate.set()

    anyio.run(main)
    return results, pushes


class TestShedding:
    def test_past_the_bound_a_problem_503_before_authentication(
        self, small_app: tuple[FastAPI, TestClient], headers_for: HeadersFor
    ) -> None:
        app, client = small_app
        writer = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
        other = {**headers_for("establishment", "230102"), "content-type": writer["content-type"]}
        third = {**headers_for("establishment", "230103"), "content-type": writer["content-type"]}
        for h in (writer, other, third):  # the tokens verified once in this process
            client.post(PUSH, headers=h, content=b"x")
        auditor = token_of(client, headers_for, "audit")

        async def probe() -> list[Answer]:
            return [
                await call(app, "GET", READ, auditor),
                await call(app, "GET", READ, {"Authorization": "Bearer forged.token.here"}),
                await call(app, "GET", "/health/live", {}),
                await call(app, "GET", "/health/ready", {}),
            ]

        # Two pushes fill the bound (2), a third caller's the newcomers' reserve (1).
        (busy, forged, live, ready), pushes = run_with_held(app, [writer, other, third], probe)
        for answer in (busy, forged):
            assert answer.status == 503, answer.body
            assert answer.headers["content-type"] == PROBLEM_JSON
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["request_id"] == answer.headers["x-request-id"]
            assert "capacity" in answer.json()["detail"]
        # Refused before authentication: a forged token is not told it is forged.
        assert forged.status == 503
        assert (live.status, ready.status) == (200, 200)
        # The held pushes were worked on, and refused for their bad body, not shed.
        assert sorted(p.status for p in pushes) == [422, 422, 422]
        assert client.get(READ, headers=auditor).status_code == 200

    def test_a_caller_with_nothing_in_flight_is_served_when_others_fill_the_bound(
        self, small_app: tuple[FastAPI, TestClient], headers_for: HeadersFor
    ) -> None:
        # Two departments fill the bound: a third's request still gets in (the reserve), and
        # a second request of one already in flight does not.
        app, client = small_app
        writer = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
        other = {**headers_for("establishment", "230102"), "content-type": writer["content-type"]}
        for h in (writer, other):
            client.post(PUSH, headers=h, content=b"x")
        auditor = token_of(client, headers_for, "audit")

        async def probe() -> list[Answer]:
            return [await call(app, "GET", READ, auditor), await call(app, "GET", READ, writer)]

        (newcomer, again), pushes = run_with_held(app, [writer, other], probe)
        assert newcomer.status == 200, newcomer.body
        assert again.status == 503 and "capacity" in again.json()["detail"]
        assert sorted(p.status for p in pushes) == [422, 422]

    def test_one_caller_cannot_take_the_slots_of_the_others(
        self, small_app: tuple[FastAPI, TestClient], headers_for: HeadersFor
    ) -> None:
        app, client = small_app
        bulk = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
        client.post(PUSH, headers=bulk, content=b"x")
        auditor = token_of(client, headers_for, "audit")

        async def probe() -> list[Answer]:
            return [
                await call(app, "GET", READ, bulk),
                await call(app, "GET", READ, auditor),
            ]

        (bulk_again, audit), _ = run_with_held(app, [bulk], probe)
        assert bulk_again.status == 503
        assert "share" in bulk_again.json()["detail"]
        assert audit.status == 200, audit.body

    def test_forged_tokens_from_one_address_are_one_caller(
        self, small_app: tuple[FastAPI, TestClient], headers_for: HeadersFor
    ) -> None:
        """A flood of tokens the process has never verified counts by address, so changing
        the token on every request buys no extra share; a real client keeps its room."""
        app, client = small_app
        auditor = token_of(client, headers_for, "audit")
        # A slow 12310 report from the address holds a slot (no token: it counts by address).
        held = {"content-type": "application/json"}

        async def probe() -> list[Answer]:
            return [
                await call(app, "GET", READ, {"Authorization": "Bearer made.up.two"}),
                await call(
                    app,
                    "GET",
                    READ,
                    {"Authorization": "Bearer made.up.three"},
                    address="198.51.100.7",
                ),
                await call(app, "GET", READ, auditor),
            ]

        (same_address, other_address, audit), reports = run_with_held(
            app, [held], probe, "/public/v1/reports"
        )
        assert same_address.status == 503
        assert other_address.status == 401  # admitted, then refused by authentication
        assert audit.status == 200
        assert reports[0].status == 422

    def test_slots_come_back_after_every_kind_of_answer(
        self, small_app: tuple[FastAPI, TestClient], headers_for: HeadersFor
    ) -> None:
        _app, client = small_app
        auditor = token_of(client, headers_for, "audit")
        for _ in range(5):
            assert client.get(READ, headers=auditor).status_code == 200
            assert client.get("/api/v1/nowhere", headers=auditor).status_code == 404
            assert client.get(READ, headers={"Authorization": "Bearer x"}).status_code == 401
            assert client.post(PUSH, headers=auditor, content=b"{}").status_code in (403, 415)
        metrics = client.get("/metrics").text
        assert "linkage_http_admitted_in_flight 0.0" in metrics
        assert 'linkage_http_requests_shed_total{reason="capacity"}' not in metrics


class TestPeopleBehindOneAddress:
    """A whole office reaches the console through one NAT address: each signed-in person is a
    caller of their own (the session cookie, once this process has resolved it), so one
    person's slow form does not shed the colleague at the next desk — and a cookie the process
    never resolved claims no one and counts by address."""

    @staticmethod
    def _person(app: FastAPI, database: Database, username: str) -> dict[str, str]:
        from linkage_hub.auth.users import create_user
        from tests.console.conftest import PASSWORD, Console

        with database.transaction() as session:
            create_user(
                session,
                username=username,
                name="同一科室",
                department="establishment",
                region="230100",
                password=PASSWORD,
            )
        console = Console(app, username)
        assert console.sign_in().status_code == 303
        cookie = console.browser.cookies.get("lh_console")
        assert cookie
        return {"cookie": f"lh_console={cookie}"}

    def test_a_colleague_is_served_while_one_person_holds_their_share(
        self, small_app: tuple[FastAPI, TestClient], database: Database
    ) -> None:
        app, _client = small_app
        first = self._person(app, database, "wang.office")
        second = self._person(app, database, "zhao.office")

        async def probe() -> list[Answer]:
            return [
                await call(app, "GET", "/console/", second),
                await call(app, "GET", "/console/", first),
            ]

        form = {"content-type": "application/x-www-form-urlencoded"}
        (colleague, again), held = run_with_held(
            app, [{**first, **form}], probe, "/console/persons"
        )
        assert colleague.status == 200, colleague.body
        assert again.status == 503, again.body  # the same person's second request: their share
        assert held[0].status == 403  # the held form had no CSRF token: refused, not shed

    def test_a_cookie_never_resolved_claims_no_one(
        self, small_app: tuple[FastAPI, TestClient], database: Database
    ) -> None:
        from linkage_hub.auth.runtime import known_caller

        app, _client = small_app
        person = self._person(app, database, "sun.office")
        app.state.auth.console_callers.clear()  # another process: nothing resolved here yet
        scope = http_scope("GET", "/console/", {"cookie": "x=1; " + person["cookie"]})
        scope["app"] = app
        assert known_caller(scope) is None
        browser = TestClient(app, raise_server_exceptions=False)  # the app is already running
        browser.cookies.set("lh_console", person["cookie"].split("=", 1)[1])
        assert browser.get("/console/").status_code == 200
        assert known_caller(scope) == "client:user:sun.office"
        forged = http_scope("GET", "/console/", {"cookie": "lh_console=" + "A" * 43})
        forged["app"] = app
        assert known_caller(forged) is None
        # two cookies of the name: the one the session check reads (the last) decides
        both = http_scope("GET", "/console/", {"cookie": person["cookie"] + "; lh_console=x"})
        both["app"] = app
        assert known_caller(both) is None

    @pytest.mark.parametrize("authorization", ["Basic eA==", "Bearer " + "A" * 43])
    def test_a_person_is_one_caller_whatever_other_headers_they_send(
        self, small_app: tuple[FastAPI, TestClient], database: Database, authorization: str
    ) -> None:
        """A non-bearer or never-verified ``Authorization`` header once made the person's
        request count by address (the console serving it as the person): one person held the
        whole bound. Now a resolved session cookie is the person's whatever else comes."""
        app, _client = small_app
        person = self._person(app, database, "li.office")

        async def probe() -> list[Answer]:
            return [
                await call(app, "GET", "/console/", person),
                await call(app, "GET", "/console/", {**person, "authorization": authorization}),
            ]

        form = {"content-type": "application/x-www-form-urlencoded"}
        (plain, with_header), held = run_with_held(
            app, [{**person, **form}], probe, "/console/persons"
        )
        assert plain.status == 503, plain.body  # their share
        assert with_header.status == 503, (with_header.status, with_header.body[:200])
        assert held[0].status == 403

    def test_a_second_cookie_header_does_not_hide_the_session(
        self, small_app: tuple[FastAPI, TestClient], database: Database
    ) -> None:
        """Starlette reads every ``Cookie`` header; only the last was read here, so a second
        one without the session cookie made the person's request count by address."""
        from linkage_hub.auth.runtime import known_caller

        app, _client = small_app
        person = self._person(app, database, "qian.office")
        scope = http_scope("GET", "/console/", person)
        scope["headers"].append((b"cookie", b"x=1"))
        scope["app"] = app
        assert known_caller(scope) == "client:user:qian.office"
