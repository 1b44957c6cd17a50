"""Every request verifies its token: anything that does not verify is a 401 problem+json."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from linkage_hub.auth.runtime import AuthRuntime
from linkage_hub.auth.service import revoke_client, rotate_secret
from linkage_hub.auth.tokens import TokenKeys
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.auth.helpers import (
    assert_problem,
    b64json,
    b64url,
    bearer,
    new_client,
    token_for,
    token_parts,
)

PROTECTED = "/api/v1/access-records"


def _runtime(app: FastAPI) -> AuthRuntime:
    runtime: AuthRuntime = app.state.auth
    return runtime


def _assert_refused(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(PROTECTED, headers=headers)
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith('Bearer realm="linkage-hub"')
    return body


class Forge:
    """Tokens made outside the token endpoint, for a client that exists (audit, 230100)."""

    def __init__(self, app: FastAPI, settings: Settings, client_id: str) -> None:
        self.keys = _runtime(app).keys
        self.settings = settings
        self.client_id = client_id

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": self.client_id,
            "department": "audit",
            "region": "230100",
            "scope": "audit comment read transition",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": "f" * 32,
            "secret_version": 1,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def signed(self, **changes: Any) -> str:
        return self.keys.sign(self.claims(**changes))


@pytest.fixture
def auditor(database: Database) -> tuple[str, str]:
    return new_client(database, "audit", "230100")


@pytest.fixture
def forge(app: FastAPI, settings: Settings, auditor: tuple[str, str]) -> Forge:
    return Forge(app, settings, auditor[0])


class TestTheControl:
    def test_a_real_token_passes(self, client: TestClient, auditor: tuple[str, str]) -> None:
        assert client.get(PROTECTED, headers=bearer(token_for(client, *auditor))).status_code == 200

    def test_a_well_formed_forgery_with_the_real_key_passes(
        self, client: TestClient, forge: Forge
    ) -> None:
        # The forging helper makes valid tokens by default, so each refusal below is down to
        # the one thing that test changes.
        assert client.get(PROTECTED, headers=bearer(forge.signed())).status_code == 200


class TestTime:
    def test_expired(self, client: TestClient, forge: Forge) -> None:
        now = int(time.time())
        token = forge.signed(iat=now - 900, nbf=now - 900, exp=now - 60)
        assert "expired" in _assert_refused(client, bearer(token))["detail"]

    def test_not_yet_valid(self, client: TestClient, forge: Forge) -> None:
        now = int(time.time())
        token = forge.signed(iat=now, nbf=now + 300, exp=now + 600)
        assert "not yet valid" in _assert_refused(client, bearer(token))["detail"]

    def test_living_longer_than_the_hub_allows(self, client: TestClient, forge: Forge) -> None:
        now = int(time.time())
        _assert_refused(client, bearer(forge.signed(exp=now + 24 * 3600)))

    @pytest.mark.parametrize(
        "claim", ["exp", "nbf", "iat", "jti", "sub", "iss", "aud", "secret_version"]
    )
    def test_a_required_claim_missing(self, client: TestClient, forge: Forge, claim: str) -> None:
        _assert_refused(client, bearer(forge.signed(**{claim: None})))


class TestSignature:
    def test_signed_by_another_key(self, client: TestClient, forge: Forge) -> None:
        other = TokenKeys(
            ec.generate_private_key(ec.SECP256R1()), issuer="x", audience="y", ttl_seconds=900
        )
        token = other.sign(forge.claims(), headers={"kid": forge.keys.kid})
        assert "signature" in _assert_refused(client, bearer(token))["detail"]

    def test_an_unknown_key_id(self, client: TestClient, forge: Forge) -> None:
        _assert_refused(client, bearer(forge.keys.sign(forge.claims(), headers={"kid": "k2"})))

    def test_not_an_access_token_type(self, client: TestClient, forge: Forge) -> None:
        _assert_refused(client, bearer(forge.keys.sign(forge.claims(), headers={"typ": "JWT"})))

    def test_alg_none(self, client: TestClient, forge: Forge) -> None:
        for alg in ("none", "None", "NONE"):
            header = {"alg": alg, "typ": "at+jwt", "kid": forge.keys.kid}
            token = f"{b64json(header)}.{b64json(forge.claims())}."
            _assert_refused(client, bearer(token))

    def test_hs256_signed_with_the_public_key(self, client: TestClient, forge: Forge) -> None:
        """Algorithm confusion: the public key used as an HMAC secret."""
        jwk = client.get("/oauth/jwks").json()["keys"][0]
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(_unb64(jwk["x"]), "big"),
            int.from_bytes(_unb64(jwk["y"]), "big"),
            ec.SECP256R1(),
        )
        public_pem = numbers.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "at+jwt", "kid": forge.keys.kid}
        signing_input = f"{b64json(header)}.{b64json(forge.claims())}"
        for secret in (public_pem, public_pem.strip(), jwk["x"].encode()):
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            detail = _assert_refused(client, bearer(f"{signing_input}.{b64url(mac)}"))["detail"]
            assert "ES256" in detail

    def test_tampered_claims(
        self, client: TestClient, auditor: tuple[str, str], forge: Forge
    ) -> None:
        header_part, _, signature = token_for(client, *auditor).split(".")
        claims = token_parts(token_for(client, *auditor))[1]
        for change in ({"region": "230000"}, {"department": "finance"}, {"scope": "write"}):
            tampered = f"{header_part}.{b64json(claims | change)}.{signature}"
            _assert_refused(client, bearer(tampered))


class TestAudienceAndIssuer:
    def test_wrong_audience(self, client: TestClient, forge: Forge) -> None:
        assert "audience" in _assert_refused(client, bearer(forge.signed(aud="other")))["detail"]

    def test_wrong_issuer(self, client: TestClient, forge: Forge) -> None:
        assert "issuer" in _assert_refused(client, bearer(forge.signed(iss="other")))["detail"]


class TestClientState:
    def test_claims_that_do_not_match_the_client(self, client: TestClient, forge: Forge) -> None:
        """Even signed by the hub's key, a token must agree with its client's row."""
        _assert_refused(client, bearer(forge.signed(region="230000")))
        _assert_refused(client, bearer(forge.signed(department="finance")))

    def test_an_unknown_client(self, client: TestClient, forge: Forge) -> None:
        _assert_refused(client, bearer(forge.signed(sub="lhc_nobody")))

    def test_a_revoked_client_with_no_cache(
        self, app: FastAPI, client: TestClient, database: Database, auditor: tuple[str, str]
    ) -> None:
        _runtime(app).clients.ttl_seconds = 0
        headers = bearer(token_for(client, *auditor))
        assert client.get(PROTECTED, headers=headers).status_code == 200
        with database.transaction() as session:
            revoke_client(session, auditor[0])
        assert "revoked" in _assert_refused(client, headers)["detail"]

    def test_a_revoked_client_stops_within_the_cache_window(
        self,
        app: FastAPI,
        client: TestClient,
        database: Database,
        settings: Settings,
        auditor: tuple[str, str],
    ) -> None:
        cache = _runtime(app).clients
        assert 0 < cache.ttl_seconds <= 60
        now = [1000.0]
        cache.clock = lambda: now[0]
        headers = bearer(token_for(client, *auditor))
        assert client.get(PROTECTED, headers=headers).status_code == 200
        with database.transaction() as session:
            revoke_client(session, auditor[0])
        now[0] += cache.ttl_seconds - 0.5  # still trusted from the cache ...
        assert client.get(PROTECTED, headers=headers).status_code == 200
        now[0] += 0.5  # ... until the window ends
        _assert_refused(client, headers)
        with pytest.raises(ValidationError):
            Settings(client_cache_seconds=61)  # the window can never be more than a minute

    def test_rotating_the_secret_ends_earlier_tokens(
        self, app: FastAPI, client: TestClient, database: Database, auditor: tuple[str, str]
    ) -> None:
        _runtime(app).clients.ttl_seconds = 0
        old = bearer(token_for(client, *auditor))
        with database.transaction() as session:
            new_secret = rotate_secret(session, auditor[0]).client_secret
        _assert_refused(client, old)
        fresh = bearer(token_for(client, auditor[0], new_secret))
        assert client.get(PROTECTED, headers=fresh).status_code == 200

    def test_the_new_secrets_token_works_at_once_in_a_process_that_cached_the_old(
        self, app: FastAPI, client: TestClient, database: Database, auditor: tuple[str, str]
    ) -> None:
        """A process that had just verified one of the client's tokens kept its version of the
        client (secret 1) for the cache's window, and refused every token of the new secret
        (secret 2) as "revoked or rotated" meanwhile, in each process: the department that
        rotated its secret as the README says was locked out for up to a minute (found by
        the auth review of 2026-12-06). A token newer than the cache now re-reads the client;
        the old secret's tokens still end within the window, as before."""
        cache = _runtime(app).clients
        assert cache.ttl_seconds > 0
        old = bearer(token_for(client, *auditor))
        assert client.get(PROTECTED, headers=old).status_code == 200  # cached: secret 1
        with database.transaction() as session:
            new_secret = rotate_secret(session, auditor[0]).client_secret
        fresh = bearer(token_for(client, auditor[0], new_secret))
        assert client.get(PROTECTED, headers=fresh).status_code == 200
        _assert_refused(client, old)  # the re-read cached secret 2: the old token is done


class TestGarbage:
    @pytest.mark.parametrize(
        "value",
        [
            "Bearer garbage",
            "Bearer a.b.c",
            "Bearer ...",
            "Bearer " + "a" * 5000,
            "Bearer eyJhbGciOiJFUzI1NiJ9.eyJ9.x",
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Token abc",
        ],
    )
    def test_garbage(self, client: TestClient, value: str) -> None:
        _assert_refused(client, {"Authorization": value})

    def test_a_token_without_the_bearer_prefix(
        self, client: TestClient, auditor: tuple[str, str]
    ) -> None:
        token = token_for(client, *auditor)
        body = _assert_refused(client, {"Authorization": token})
        assert "Bearer" in body["detail"]

    def test_no_token_at_all(self, client: TestClient) -> None:
        response = client.get(PROTECTED)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer realm="linkage-hub"'

    def test_public_routes_ignore_tokens(self, client: TestClient) -> None:
        assert client.get("/health/live", headers={"Authorization": "Bearer junk"}).status_code == (
            200
        )


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
