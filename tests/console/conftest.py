"""Console fixtures: the demo city reconciled, and people signed in through the login form.

``console_as(department, region)`` creates a person's account (through the same service as
``linkage-hub users create --password-stdin``), signs in with ``POST /console/login`` on a
browser of their own (a TestClient with its own cookie jar) and returns it as a
:class:`Console`, whose ``post`` adds the session's CSRF token the way the pages' forms do.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from linkage_hub.auth.users import create_user
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.reconciliation.test_api import run_and_wait

PASSWORD = "a long test password"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


class Console:
    def __init__(self, app: FastAPI, username: str) -> None:
        self.browser = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
        self.username = username
        self.csrf = ""

    def sign_in(self, password: str = PASSWORD) -> Response:
        response = self.browser.post(
            "/console/login",
            data={"username": self.username, "password": password},
            follow_redirects=False,
        )
        if response.status_code == 303:
            self.csrf = self.csrf_of(self.browser.get("/console/").text) or ""
        return response

    @staticmethod
    def csrf_of(html: str) -> str | None:
        match = CSRF.search(html)
        return match.group(1) if match else None

    def get(self, path: str, **kwargs: Any) -> Response:
        response = self.browser.get(path, follow_redirects=False, **kwargs)
        token = self.csrf_of(response.text) if response.status_code == 200 else None
        if token:
            self.csrf = token
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Response:
        if not self.csrf:
            self.get("/console/")
        body = {"csrf_token": self.csrf, **(data or {})}
        return self.browser.post(path, data=body, follow_redirects=False, **kwargs)


ConsoleAs = Callable[..., Console]


@pytest.fixture
def console_as(client: TestClient, app: FastAPI, database: Database) -> ConsoleAs:
    """``console_as(department, region)``: a signed-in person of that department and region
    (``client`` is asked for so the app's lifespan runs)."""
    numbers = itertools.count(1)

    def make(department: str, region: str = "230100", *, username: str | None = None) -> Console:
        username = username or f"{department}{next(numbers)}.{region}"
        with database.transaction() as session:
            create_user(
                session,
                username=username,
                name=f"测试 {department} {region}",
                department=department,
                region=region,
                password=PASSWORD,
            )
        console = Console(app, username)
        response = console.sign_in()
        assert response.status_code == 303, response.text
        return console

    return make


@pytest.fixture
def demo_city(
    settings: Settings, database: Database, client: TestClient, headers_for: HeadersFor
) -> Any:
    """The demo city (600 persons: the city 230100 and its counties 230102 and 230103, with
    planted findings of every rule), pushed and reconciled through the API as a province run."""
    from linkage_hub.records import demo, demo_data

    city = demo_data.generate_city(2026, 600)
    demo.load_city(settings, database, city)
    run = run_and_wait(
        client,
        headers_for("establishment", "230000"),
        region="230000",
        period=demo_data.PERIOD,
        as_of=hub_today().isoformat(),
    )
    assert run["status"] == "succeeded", run
    return city
