"""API2:2023 Broken Authentication: the token endpoint's throttle, as an attacker sees it.

A stranger who knows a department's client id (they appear in records, history and comments)
must not be able to lock that department out, nor learn from the answers whether an id exists;
guessing must still be throttled (per client id and source address, and per address); and a
token request must not hold the database's write lock while the secret is hashed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

import linkage_hub.auth.hashing as hashing
from linkage_hub.auth.service import ADDRESS_LOCK_AFTER, LOCK_AFTER
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.auth.helpers import new_client, request_token

STRANGER = "198.51.100.7"
DEPARTMENT = "203.0.113.10"


@contextmanager
def client_at(app: FastAPI, address: str) -> Iterator[TestClient]:
    """A client at ``address``. Not entered as a context: the app's lifespan runs once, in the
    ``client`` fixture (several TestClients on one app cannot each run it)."""
    test_client = TestClient(app, raise_server_exceptions=False, client=(address, 50000))
    try:
        yield test_client
    finally:
        test_client.close()


def comparable(response: Response) -> tuple[int, dict[str, object], dict[str, str]]:
    """Status, body and headers, without what differs on every request."""
    body = dict(response.json())
    body.pop("request_id", None)
    varying = ("x-request-id", "retry-after")
    headers = {k: v for k, v in response.headers.items() if k not in varying}
    return response.status_code, body, headers


class TestAStrangerCannotLockADepartmentOut:
    def test_fifty_failures_elsewhere_leave_the_department_its_tokens(
        self, app: FastAPI, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        with client_at(app, STRANGER) as stranger, client_at(app, DEPARTMENT) as department:
            answers = [request_token(stranger, client_id, "lhs_guess") for _ in range(50)]
            assert {a.status_code for a in answers} == {401, 429}
            assert request_token(department, client_id, secret).status_code == 200

    def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(
        self, app: FastAPI, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        with client_at(app, STRANGER) as stranger, client_at(app, DEPARTMENT) as department:
            for _ in range(LOCK_AFTER + 2):
                stranger.post(
                    "/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": client_id,
                        "client_secret": "lhs_guess",
                    },
                    headers={"X-Forwarded-For": DEPARTMENT},
                )
            assert request_token(department, client_id, secret).status_code == 200


class TestGuessingIsStillThrottled:
    def test_the_guessing_address_is_locked_even_with_the_right_secret(
        self, app: FastAPI, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        with client_at(app, STRANGER) as stranger:
            for _ in range(LOCK_AFTER):
                assert request_token(stranger, client_id, "lhs_guess").status_code == 401
            locked = request_token(stranger, client_id, secret)
            assert locked.status_code == 429
            assert int(locked.headers["retry-after"]) > 0

    def test_one_address_cannot_spray_ids(self, app: FastAPI, database: Database) -> None:
        client_id, secret = new_client(database)
        with client_at(app, STRANGER) as stranger:
            for n in range(ADDRESS_LOCK_AFTER):
                assert request_token(stranger, f"lhc_spray{n}", "lhs_guess").status_code == 401
            assert request_token(stranger, "lhc_fresh", "lhs_guess").status_code == 429
            assert request_token(stranger, client_id, secret).status_code == 429
        with client_at(app, DEPARTMENT) as department:
            assert request_token(department, client_id, secret).status_code == 200


class TestUnknownAndKnownIdsAnswerAlike:
    def test_failures_and_locks_look_the_same(self, app: FastAPI, database: Database) -> None:
        client_id, _ = new_client(database)
        unknown = "lhc_" + "0" * 24  # as long as a real id
        with client_at(app, STRANGER) as stranger:
            for _ in range(LOCK_AFTER + 1):
                known_answer = request_token(stranger, client_id, "lhs_guess")
                unknown_answer = request_token(stranger, unknown, "lhs_guess")
                assert comparable(known_answer) == comparable(unknown_answer)
            assert known_answer.status_code == 429
            retry_known = int(known_answer.headers["retry-after"])
            retry_unknown = int(unknown_answer.headers["retry-after"])
            assert abs(retry_known - retry_unknown) <= 1


class TestNoWriteLockWhileHashing:
    """While the secret is hashed, another connection can take the write lock at once
    (SQLite: ``BEGIN IMMEDIATE`` with no busy wait; PostgreSQL: the client's row ``FOR UPDATE
    NOWAIT``). Before issue 12 the whole check ran inside the write transaction."""

    def _probe(self, settings: Settings, database: Database, client_id: str) -> Callable[[], bool]:
        if database.dialect == "sqlite":
            path = settings.sqlalchemy_url.removeprefix("sqlite:///")

            def sqlite_probe() -> bool:
                connection = sqlite3.connect(path, timeout=0, isolation_level=None)
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.execute("ROLLBACK")
                    return True
                except sqlite3.OperationalError:
                    return False
                finally:
                    connection.close()

            return sqlite_probe

        def postgres_probe() -> bool:
            with database.engine.connect() as connection:
                try:
                    connection.execute(
                        text("SELECT 1 FROM auth_client WHERE client_id = :id FOR UPDATE NOWAIT"),
                        {"id": client_id},
                    )
                    return True
                except Exception:  # lock_not_available, whatever the driver calls it
                    return False
                finally:
                    connection.rollback()

        return postgres_probe

    @pytest.mark.parametrize("who", ["unknown", "known"])
    def test_a_token_request_leaves_the_write_lock_free_while_hashing(
        self,
        who: str,
        client: TestClient,
        database: Database,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        client_id, _ = new_client(database)
        if who == "unknown":
            if database.dialect != "sqlite":
                pytest.skip("an unknown id has no row to lock on PostgreSQL")
            client_id = "lhc_" + "f" * 24
        probe = self._probe(settings, database, client_id)
        free: list[bool] = []
        real_scrypt = hashing._scrypt

        def scrypt_with_probe(*args: object, **kwargs: object) -> bytes:
            free.append(probe())
            return real_scrypt(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(hashing, "_scrypt", scrypt_with_probe)
        assert request_token(client, client_id, "lhs_guess").status_code == 401
        assert free and all(free), free
