"""A signed-in console person is one caller for the fair share (README, Capacity: "a person,
by a console session this process has resolved"). ``known_caller`` looks at an
``Authorization`` header first and, when it is not a known bearer token, gives up on the
session cookie: the same person's request with any ``Authorization`` header added is counted
by address, while the console still serves it as that person."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from tests.security.asgi import Answer
from tests.security.test_api4_load_shedding import (  # noqa: F401
    TestPeopleBehindOneAddress,
    call,
    run_with_held,
    small_app,
)


def test_a_person_cannot_take_more_than_their_share_by_adding_a_header(
    small_app: tuple[FastAPI, TestClient],  # noqa: F811
    database: Database,
) -> None:
    """Should: with one request of the person in flight (their whole share of a bound of 2),
    a second request of the same signed-in person is 503 whatever other headers it carries.
    Does: the second request with ``Authorization: Basic eA==`` added is admitted (counted as
    ``address:...``, not as the person) and served as the person (200): one person holds the
    whole bound. Cause: ``auth.runtime.known_caller`` returns ``None`` at a non-bearer (or
    unknown bearer) ``Authorization`` header before looking at the console cookie, though
    console routes authenticate by the cookie alone."""
    app, _client = small_app
    person = TestPeopleBehindOneAddress._person(app, database, "li.office")

    async def probe() -> list[Answer]:
        return [
            await call(app, "GET", "/console/", person),
            await call(app, "GET", "/console/", {**person, "authorization": "Basic eA=="}),
        ]

    form = {"content-type": "application/x-www-form-urlencoded"}
    (plain, with_header), held = run_with_held(
        app, [{**person, **form}], probe, "/console/persons"
    )
    assert plain.status == 503, plain.body  # their share, as the existing test shows
    assert with_header.status == 503, (with_header.status, with_header.body[:200])
    assert held[0].status == 403
