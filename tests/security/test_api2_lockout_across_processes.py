"""API2 across processes: console sign-in guesses sent together, to two hub processes over one
database (the test's app and a second one with its own engine, pool and caches, as a second
``linkage-hub serve`` has). "After 5 wrong passwords from one address the name is locked there"
(README, Accounts): the lock was read before the slow password hash and counted after it, so
guesses sent together — 4 per process is what one address may hold in flight per process
(LINKAGE_MAX_IN_FLIGHT 8 × LINKAGE_CALLER_SHARE 0.5) — were all checked (8 of 8): N processes
gave N × 4 guesses a burst. Now a person's attempt is charged before its hash
(``auth.service._charge``): at most 5 are checked, the rest are refused with 429."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.auth.service import LOCK_AFTER
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.console.conftest import Console, ConsoleAs, console_as

__all__ = ["console_as"]  # the fixture

PER_PROCESS = 4


@pytest.fixture
def other_app(settings: Settings) -> Iterator[FastAPI]:
    db = Database(settings)
    try:
        yield create_app(settings, database=db)
    finally:
        db.dispose()


@pytest.fixture
def other_client(other_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(other_app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_guesses_sent_together_to_two_processes_are_not_checked_past_the_lock(
    client: TestClient,
    other_client: TestClient,
    app: FastAPI,
    other_app: FastAPI,
    console_as: ConsoleAs,
) -> None:
    person = console_as("establishment", "230100")
    guessers = [Console(a, person.username) for a in (app, other_app)] * PER_PROCESS
    barrier = threading.Barrier(len(guessers))

    def guess(n: int) -> int:
        barrier.wait()
        return guessers[n].sign_in(f"wrong guess number {n}").status_code

    with ThreadPoolExecutor(len(guessers)) as pool:
        codes = list(pool.map(guess, range(len(guessers))))
    checked = codes.count(401)  # a wrong password, checked against the hash
    assert set(codes) <= {401, 429}, codes
    assert checked <= LOCK_AFTER, (
        f"{checked} wrong passwords checked at once across two processes "
        f"(the lock allows {LOCK_AFTER}): {codes}"
    )
