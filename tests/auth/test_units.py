"""Pure pieces: secret hashing, signing keys, scopes, the schema of the auth tables."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from linkage_hub.auth.hashing import hash_password, hash_secret, new_secret, verify_secret
from linkage_hub.auth.scopes import DEPARTMENT_SCOPES, Scope
from linkage_hub.auth.tokens import IssuedToken, TokenError, TokenKeys, load_private_key
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.schema import Base
from linkage_hub.settings import Settings


class TestSecrets:
    def test_random_long_and_distinct(self) -> None:
        secrets = {new_secret() for _ in range(100)}
        assert len(secrets) == 100
        assert all(len(s) >= 4 + 43 for s in secrets)  # 32 bytes, base64url

    def test_hash_verifies_only_the_secret(self) -> None:
        secret = new_secret()
        stored = hash_secret(secret)
        assert stored.startswith("scrypt$14$8$1$") and secret not in stored
        assert verify_secret(secret, stored)
        assert not verify_secret(secret + "x", stored)
        assert not verify_secret(new_secret(), stored)
        assert hash_secret(secret) != stored  # salted

    def test_password_cost_is_the_owasp_one_unless_set(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("LINKAGE_PASSWORD_HASH_COST", raising=False)
        assert hash_password("correct horse battery").startswith("scrypt$17$8$1$")
        monkeypatch.setenv("LINKAGE_PASSWORD_HASH_COST", "15")
        stored = hash_password("correct horse battery")
        assert stored.startswith("scrypt$15$8$1$")
        assert verify_secret("correct horse battery", stored)
        for bad in ("13", "21", "x", "-1"):
            monkeypatch.setenv("LINKAGE_PASSWORD_HASH_COST", bad)
            with pytest.raises(ValueError, match="LINKAGE_PASSWORD_HASH_COST"):
                hash_password("correct horse battery")

    @pytest.mark.parametrize("stored", ["", "plain", "md5$x$y", "scrypt$99$8$1$AA$AA", "scrypt$a"])
    def test_a_malformed_hash_never_verifies(self, stored: str) -> None:
        assert not verify_secret("anything", stored)


def _keys(key: ec.EllipticCurvePrivateKey | None = None) -> TokenKeys:
    key = key or ec.generate_private_key(ec.SECP256R1())
    return TokenKeys(key, issuer="i", audience="a", ttl_seconds=900)


def _hr_token(keys: TokenKeys) -> IssuedToken:
    return keys.issue(
        client_id="c",
        department=Department.hr,
        region="230100",
        scopes=frozenset(),
        secret_version=1,
    )


class TestSigningKeys:
    def test_a_seed_gives_the_same_key_in_every_process(self) -> None:
        seed = b"s" * 40
        assert _keys(load_private_key(seed)).kid == _keys(load_private_key(seed)).kid
        assert _keys(load_private_key(seed)).kid != _keys(load_private_key(b"t" * 40)).kid

    def test_a_short_seed_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 32"):
            load_private_key(b"short")

    def test_a_pem_key_is_used_as_is(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        assert _keys(load_private_key(pem)).kid == _keys(key).kid

    def test_other_key_types_are_refused(self) -> None:
        for key in (rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())):
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with pytest.raises(ValueError, match="P-256"):
                load_private_key(pem)

    def test_kid_is_the_rfc7638_thumbprint(self) -> None:
        keys = _keys()
        jwk = keys.public_jwk()
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
        digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
        assert keys.kid == base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert "d" not in jwk

    def test_generated_beside_the_database_with_owner_only_access(self, tmp_path: Path) -> None:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", signing_key=None)
        first = TokenKeys.from_settings(settings)
        path = tmp_path / "linkage-hub.signing.key"
        assert path.stat().st_mode & 0o777 == 0o600
        assert TokenKeys.from_settings(settings).kid == first.kid

    def test_round_trip_and_lifetime(self) -> None:
        keys = _keys()
        issued = keys.issue(
            client_id="c",
            department=Department.hr,
            region="230100",
            scopes=frozenset({"read"}),
            secret_version=3,
        )
        claims = keys.verify(issued.access_token)
        assert claims == issued.claims
        assert claims.expires_at - claims.issued_at == 900
        with pytest.raises(ValueError):
            TokenKeys(
                ec.generate_private_key(ec.SECP256R1()), issuer="i", audience="a", ttl_seconds=901
            )

    def test_another_issuer_or_audience_does_not_verify(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        token = TokenKeys(key, issuer="i", audience="a", ttl_seconds=60).issue(
            client_id="c",
            department=Department.hr,
            region="230100",
            scopes=frozenset(),
            secret_version=1,
            now=time.time(),
        )
        for other in (
            TokenKeys(key, issuer="j", audience="a", ttl_seconds=60),
            TokenKeys(key, issuer="i", audience="b", ttl_seconds=60),
        ):
            with pytest.raises(TokenError):
                other.verify(token.access_token)

    def test_a_remembered_token_still_expires(self, monkeypatch: pytest.MonkeyPatch) -> None:
        keys = _keys()
        issued = _hr_token(keys)
        assert keys.verify(issued.access_token) == keys.verify(issued.access_token)
        later = issued.claims.expires_at + 11  # past the 10 s leeway
        monkeypatch.setattr(time, "time", lambda: float(later))
        with pytest.raises(TokenError, match="expired"):
            keys.verify(issued.access_token)

    def test_a_tampered_copy_of_a_remembered_token_does_not_verify(self) -> None:
        keys = _keys()
        token = _hr_token(keys).access_token
        keys.verify(token)
        head, body, signature = token.split(".")
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        with pytest.raises(TokenError):
            keys.verify(f"{head}.{body}.{flipped}")


class TestScopes:
    def test_audit_writes_nothing_and_only_establishment_reconciles(self) -> None:
        assert Scope.write not in DEPARTMENT_SCOPES[Department.audit]
        assert Scope.audit in DEPARTMENT_SCOPES[Department.audit]
        assert [d for d, s in DEPARTMENT_SCOPES.items() if Scope.reconcile in s] == [
            Department.establishment
        ]
        assert set(DEPARTMENT_SCOPES) == set(Department)


class TestSchema:
    def test_the_migration_builds_what_the_models_say(self, database: Database) -> None:
        with database.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        ours = [d for d in diff if "auth_" in repr(d)]
        assert ours == []
