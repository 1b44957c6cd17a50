"""POST /oauth/token: the client credentials grant, its errors and its throttle."""

from __future__ import annotations

import base64
import datetime as dt
import time
from urllib.parse import quote_plus

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from linkage_hub.app import create_app
from linkage_hub.auth.models import AuthClient, AuthThrottle
from linkage_hub.auth.service import LOCK_AFTER, LOCK_MAX_SECONDS, lock_seconds
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.auth.helpers import assert_problem, bearer, new_client, request_token, token_parts


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class TestIssuing:
    def test_form_credentials_give_a_signed_token(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        client_id, secret = new_client(database, "finance", "230102")
        before = int(time.time())
        response = request_token(client, client_id, secret)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == settings.token_ttl_seconds <= 900
        assert body["scope"] == "comment read transition write"
        header, claims = token_parts(body["access_token"])
        kid = client.get("/oauth/jwks").json()["keys"][0]["kid"]
        assert header == {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
        assert claims["iss"] == settings.jwt_issuer and claims["aud"] == settings.jwt_audience
        assert claims["sub"] == client_id
        assert (claims["department"], claims["region"]) == ("finance", "230102")
        assert claims["scope"] == body["scope"]
        assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
        assert claims["exp"] - claims["iat"] == body["expires_in"]
        assert len(claims["jti"]) >= 32
        second = token_parts(request_token(client, client_id, secret).json()["access_token"])[1]
        assert second["jti"] != claims["jti"]

    def test_http_basic_credentials(self, client: TestClient, database: Database) -> None:
        client_id, secret = new_client(database)
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=_basic(client_id, secret),
        )
        assert response.status_code == 200, response.text
        assert token_parts(response.json()["access_token"])[1]["sub"] == client_id

    def test_basic_and_form_secret_together_are_refused(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_secret": secret},
            headers=_basic(client_id, secret),
        )
        assert assert_problem(response, 400)["error"] == "invalid_request"

    def test_the_token_works_and_names_its_client(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit")
        token = request_token(client, client_id, secret).json()["access_token"]
        response = client.get("/api/v1/access-records", headers=bearer(token))
        assert response.status_code == 200, response.text
        assert response.json()["items"][0]["client_id"] == client_id

    def test_a_narrower_scope_can_be_asked_for(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit")
        response = request_token(client, client_id, secret, scope="read")
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == "read"
        token = response.json()["access_token"]
        denied = client.get("/api/v1/access-records", headers=bearer(token))
        assert assert_problem(denied, 403)["detail"].startswith("This needs the 'audit' scope")
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]

    def test_a_scope_the_client_lacks_is_refused(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit")
        response = request_token(client, client_id, secret, scope="read write")
        assert assert_problem(response, 400)["error"] == "invalid_scope"

    def test_an_empty_scope_is_refused_not_read_as_every_scope(
        self, client: TestClient, database: Database
    ) -> None:
        """``scope=`` reached the handler as no scope at all (FastAPI reads an empty form
        field as absent) and got every scope the client holds, ``write`` included, while
        ``scope=%20`` was refused: a system that builds its scope list from an empty set asked
        for nothing and got everything (found by the auth review of 2026-12-06)."""
        client_id, secret = new_client(database, "finance")
        for asked in ("", " "):
            response = request_token(client, client_id, secret, scope=asked)
            assert assert_problem(response, 400)["error"] == "invalid_scope", asked
        assert request_token(client, client_id, secret).status_code == 200  # none sent: all

    def test_a_client_created_with_fewer_scopes_gets_only_those(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit", scopes=["read"])
        assert request_token(client, client_id, secret).json()["scope"] == "read"


class TestRefusing:
    def test_wrong_secret(self, client: TestClient, database: Database) -> None:
        client_id, _ = new_client(database)
        response = request_token(client, client_id, "lhs_wrong")
        body = assert_problem(response, 401)
        assert body["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")

    def test_unknown_client_answers_like_a_wrong_secret(self, client: TestClient) -> None:
        response = request_token(client, "lhc_000000000000000000000000", "lhs_whatever")
        body = assert_problem(response, 401)
        assert body["error"] == "invalid_client"
        assert body["detail"] == "The client credentials are not valid."

    def test_revoked_client(self, client: TestClient, database: Database) -> None:
        client_id, secret = new_client(database)
        with database.transaction() as session:
            session.execute(
                update(AuthClient).where(AuthClient.client_id == client_id).values(active=False)
            )
        assert assert_problem(request_token(client, client_id, secret), 401)["error"] == (
            "invalid_client"
        )

    def test_missing_credentials(self, client: TestClient) -> None:
        response = client.post("/oauth/token", data={"grant_type": "client_credentials"})
        assert assert_problem(response, 401)["error"] == "invalid_client"

    def test_a_bearer_header_is_no_client_credential(self, client: TestClient) -> None:
        response = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Bearer abc"},
        )
        assert assert_problem(response, 401)["error"] == "invalid_client"

    def test_garbage_basic_credentials(self, client: TestClient) -> None:
        for value in ("Basic %%%", "Basic " + base64.b64encode(b"no-colon").decode()):
            response = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": value},
            )
            assert assert_problem(response, 401)["error"] == "invalid_client"

    def test_wrong_grant_even_with_the_right_secret(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        response = request_token(client, client_id, secret, grant_type="password")
        assert assert_problem(response, 400)["error"] == "unsupported_grant_type"

    def test_missing_grant(self, client: TestClient) -> None:
        response = client.post("/oauth/token", data={"client_id": "x", "client_secret": "y"})
        assert assert_problem(response, 400)["error"] == "invalid_request"

    def test_json_is_not_the_token_request_format(self, client: TestClient) -> None:
        response = client.post("/oauth/token", json={"grant_type": "client_credentials"})
        assert assert_problem(response, 400)["error"] == "invalid_request"


class TestThrottle:
    ADDRESS = "testclient"  # the TestClient's peer address

    def _throttle(self, database: Database, client_id: str) -> AuthThrottle:
        with database.transaction() as session:
            row = session.get(AuthThrottle, (client_id, self.ADDRESS))
            assert row is not None
            return row

    def _set(self, database: Database, client_id: str, **values: object) -> None:
        with database.transaction() as session:
            session.execute(
                update(AuthThrottle).where(AuthThrottle.client_id == client_id).values(**values)
            )

    def test_repeated_failures_lock_the_client_even_for_the_right_secret(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        for _ in range(LOCK_AFTER):
            assert request_token(client, client_id, "lhs_guess").status_code == 401
        locked = request_token(client, client_id, secret)
        body = assert_problem(locked, 429)
        assert body["error"] == "temporarily_unavailable"
        assert 0 < int(locked.headers["retry-after"]) <= lock_seconds(LOCK_AFTER)
        row = self._throttle(database, client_id)
        assert row.failures == LOCK_AFTER and row.locked_until is not None

    def test_the_lock_is_shared_by_every_process_on_the_database(
        self, client: TestClient, database: Database, settings: Settings
    ) -> None:
        client_id, secret = new_client(database)
        for _ in range(LOCK_AFTER):
            request_token(client, client_id, "lhs_guess")
        other_database = Database(settings)
        other_process: FastAPI = create_app(settings, database=other_database)
        try:
            with TestClient(other_process) as other:
                assert request_token(other, client_id, secret).status_code == 429
        finally:
            other_database.dispose()

    def test_after_the_lock_the_right_secret_works_and_clears_the_count(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database)
        for _ in range(LOCK_AFTER):
            request_token(client, client_id, "lhs_guess")
        self._set(database, client_id, locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        assert request_token(client, client_id, secret).status_code == 200
        with database.transaction() as session:
            assert session.get(AuthThrottle, (client_id, self.ADDRESS)) is None

    def test_a_failure_after_the_lock_locks_for_twice_as_long(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, _ = new_client(database)
        for _ in range(LOCK_AFTER):
            request_token(client, client_id, "lhs_guess")
        self._set(database, client_id, locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        assert request_token(client, client_id, "lhs_guess").status_code == 401
        row = self._throttle(database, client_id)
        assert row.locked_until is not None
        remaining = (row.locked_until - dt.datetime.now(dt.UTC)).total_seconds()
        assert lock_seconds(LOCK_AFTER) < remaining <= lock_seconds(LOCK_AFTER + 1)


class TestLockSeconds:
    def test_grows_exponentially_to_a_cap(self) -> None:
        assert [lock_seconds(n) for n in range(1, LOCK_AFTER)] == [0] * (LOCK_AFTER - 1)
        steps = [lock_seconds(LOCK_AFTER + k) for k in range(5)]
        assert steps == [steps[0] * 2**k for k in range(5)] and steps[0] > 0
        assert lock_seconds(LOCK_AFTER + 60) == LOCK_MAX_SECONDS


class TestKeySet:
    def test_publishes_the_verifying_key(self, client: TestClient) -> None:
        response = client.get("/oauth/jwks")
        assert response.status_code == 200
        (key,) = response.json()["keys"]
        assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256"
        assert "d" not in key  # the private part never leaves


class TestOverlongInput:
    def test_overlong_credentials_are_an_oauth_error_not_a_422(self, client: TestClient) -> None:
        response = request_token(client, "c" * 65, "s" * 201)
        assert assert_problem(response, 401)["error"] == "invalid_client"
