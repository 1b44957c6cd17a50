"""API2:2023 Broken Authentication — a one-time password link sent twice at once.

"A one-time link (valid a day, used once)" (``auth.users``). The link form reads the link's
holder, then ``set_password`` locks the person's row and checks the link again. On PostgreSQL
two posts of one link that overlap (the first hashing its password under the row lock, the
second waiting for it after reading the link) were kept to one password only by accident: the
second check asked ``session.get`` for the link, and the session's identity map, which holds
unchanged objects weakly, had already let go of the link the form read, so it was read again
after the first commit. Kept alive a moment longer (any change to ``link_holder`` returning
or caching it), the stale link would have passed and the second password replaced the first,
under the person's ``secret_version`` as read before the lock. And the second post was told
"密码至少 12 个字符" (422, the form shown again as if the link still worked), not that the
link was used. Now the link is claimed by one ``UPDATE ... WHERE used_at IS NULL`` after the
lock (the row read afresh, ``populate_existing``), and the second post gets the "link no longer
valid" page (404) and changes nothing. SQLite's write lock (``BEGIN IMMEDIATE``) queues the
second post before it reads anything; the test shows the same outcome there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from linkage_hub.auth import users
from linkage_hub.auth.users import create_user, password_link
from linkage_hub.console import router as console_router
from linkage_hub.db import Database
from tests.console.conftest import Console

FIRST = "the owner's own password"
SECOND = "the copy holder's password"
WAIT = 60  # seconds a step may take before the test gives up (never asserted on)


def _held(event: threading.Event, what: str) -> None:
    if not event.wait(WAIT):
        raise AssertionError(f"gave up waiting: {what}")


def test_a_link_sent_twice_at_once_sets_one_password(
    client: TestClient,
    app: FastAPI,
    database: Database,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with database.transaction() as session:
        create_user(session, username="sun", name="孙", department="hr", region="230102")
    with database.transaction() as session:
        token = password_link(session, "sun")
    link = f"/console/password/{token}"

    first_hashing, go, second_read = threading.Event(), threading.Event(), threading.Event()
    hash_password: Callable[[str], str] = users.hash_password
    link_holder: Callable[..., Any] = console_router.link_holder

    def held_hash(password: str) -> str:
        if password == FIRST:
            first_hashing.set()  # the first post holds the person's row lock here
            _held(go, "the second post to read the link")
        return hash_password(password)

    def noted_holder(*args: Any, **kwargs: Any) -> Any:
        holder = link_holder(*args, **kwargs)
        if first_hashing.is_set():
            second_read.set()  # the second post's form read the link, the first not committed
        return holder

    monkeypatch.setattr(users, "hash_password", held_hash)
    monkeypatch.setattr(console_router, "link_holder", noted_holder)

    def post(password: str) -> Response:
        browser = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
        return browser.post(link, data={"password": password, "confirm": password})

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, FIRST)
        _held(first_hashing, "the first post to hash its password")
        second = pool.submit(post, SECOND)
        if backend == "postgres":  # SQLite queues the second post before it reads anything
            _held(second_read, "the second post to read the link")
        go.set()
        answers = first.result(WAIT), second.result(WAIT)

    assert answers[0].status_code == 200, answers[0].text
    assert answers[1].status_code == 404, "the link was used twice"
    assert "此链接已失效" in answers[1].text
    assert Console(app, "sun").sign_in(FIRST).status_code == 303
    assert Console(app, "sun").sign_in(SECOND).status_code == 401
