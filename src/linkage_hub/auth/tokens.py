"""Signed access tokens: the one module of the hub that touches python-jose.

**Algorithm: ES256** (ECDSA on P-256 with SHA-256), and only ES256.

- Asymmetric: verifying needs only the public key (published at ``GET /oauth/jwks``), so a gateway
  or a departmental system can check a token without being able to mint one. With HS256 every
  verifier would hold the signing secret.
- Pinned: a token whose header names any other algorithm is refused before its signature is
  looked at, and python-jose is told ``algorithms=["ES256"]`` as well. So ``alg: none`` fails, and
  so does algorithm confusion (an HS256 token "signed" with the public key as the HMAC secret).
- ``kid`` is the RFC 7638 thumbprint of the public key and must match; ``typ`` is ``at+jwt``
  (RFC 9068) and must match, so no other JWT signed by the key passes as an access token.

**Key**: ``LINKAGE_SIGNING_KEY`` is either a PEM EC P-256 private key or a random string (at least
32 characters) from which the key is derived with HKDF-SHA256 — one environment variable shared
by every hub process gives them all the same key. Unset, a random string is generated beside the
database (mode 0600) on first use, like the hub's other secrets.

**Claims**: ``iss``, ``aud``, ``sub`` (the client id), ``department``, ``region``, ``scope``
(space-separated, RFC 9068), ``iat``, ``nbf``, ``exp`` (at most 15 minutes after ``iat``), ``jti``,
and ``secret_version`` (the client's secret generation: rotating the secret ends older tokens).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jose import jwk, jws, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWTClaimsError

from linkage_hub.domain import Department
from linkage_hub.identifiers import IdentifierError, normalise_region
from linkage_hub.keys import load_or_create_secret
from linkage_hub.settings import SECRET_MIN_CHARACTERS, Settings

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JOSE "typ", not a secret
LEEWAY_SECONDS = 10  # clock skew tolerated between hub processes on different hosts
VERIFIED_CACHE_SIZE = 10_000  # verified tokens remembered per process (~3 KB each)
MAX_TTL_SECONDS = 900
MAX_TOKEN_LENGTH = 4096
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_REQUIRED = ("iss", "aud", "sub", "iat", "nbf", "exp", "jti")


class TokenError(Exception):
    """The token does not verify; the message says why (safe to show the caller)."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    client_id: str
    department: Department
    region: str
    scopes: frozenset[str]
    secret_version: int
    issued_at: int
    expires_at: int
    token_id: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    claims: TokenClaims


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _derive_key(seed: bytes) -> ec.EllipticCurvePrivateKey:
    if len(seed) < SECRET_MIN_CHARACTERS:
        raise ValueError(
            "LINKAGE_SIGNING_KEY must be a PEM EC P-256 private key "
            f"or a random string of at least {SECRET_MIN_CHARACTERS} characters"
        )
    okm = HKDF(
        algorithm=hashes.SHA256(), length=48, salt=b"linkage-hub", info=b"token signing ES256"
    ).derive(seed)
    # 384 bits reduced modulo a 256-bit order: the bias is below 2^-128.
    value = int.from_bytes(okm, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(value, ec.SECP256R1())


def load_private_key(material: bytes) -> ec.EllipticCurvePrivateKey:
    if material.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(material, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("LINKAGE_SIGNING_KEY: the PEM key must be an EC P-256 private key")
        return key
    return _derive_key(material)


class TokenKeys:
    """Issues and verifies the hub's access tokens with one ES256 key."""

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
    ) -> None:
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"token lifetime must be 1..{MAX_TTL_SECONDS} seconds")
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        numbers = private_key.public_key().public_numbers()
        self._public_members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
        canonical = json.dumps(self._public_members, separators=(",", ":"), sort_keys=True)
        self.kid = _b64url(hashlib.sha256(canonical.encode()).digest())  # RFC 7638
        private_pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_pem = public_pem.decode()  # for a gateway (``linkage-hub token-key``)
        self._signing_key = jwk.construct(private_pem, ALGORITHM)
        self._verifying_key = jwk.construct(public_pem, ALGORITHM)
        self._verified: dict[str, TokenClaims] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenKeys:
        material = load_or_create_secret(settings, "signing", settings.signing_key)
        return cls(
            load_private_key(material),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.token_ttl_seconds,
        )

    def public_jwk(self) -> dict[str, str]:
        return {**self._public_members, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """Sign any claims with this key (``issue`` is the way to make a real token)."""
        header = {"kid": self.kid, "typ": TOKEN_TYPE, **(headers or {})}
        token: str = jwt.encode(claims, self._signing_key, algorithm=ALGORITHM, headers=header)
        return token

    def issue(
        self,
        *,
        client_id: str,
        department: Department,
        region: str,
        scopes: frozenset[str],
        secret_version: int,
        now: float | None = None,
    ) -> IssuedToken:
        issued_at = int(now if now is not None else time.time())
        claims = TokenClaims(
            client_id=client_id,
            department=department,
            region=region,
            scopes=scopes,
            secret_version=secret_version,
            issued_at=issued_at,
            expires_at=issued_at + self.ttl_seconds,
            token_id=uuid.uuid4().hex,
        )
        token = self.sign(
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": client_id,
                "department": str(department),
                "region": region,
                "scope": " ".join(sorted(scopes)),
                "secret_version": secret_version,
                "iat": issued_at,
                "nbf": issued_at,
                "exp": claims.expires_at,
                "jti": claims.token_id,
            }
        )
        return IssuedToken(token, self.ttl_seconds, claims)

    def verify(self, token: str) -> TokenClaims:
        """The claims of a token this hub issued and that is valid now; else :class:`TokenError`.

        A token that verified is remembered (exact string → claims) until it expires, so a
        client sending the same token on every request pays the ES256 check (~0.1 ms) once;
        expiry is still checked on every use. The memory is bounded: when full it is cleared.
        """
        claims = self._verified.get(token)
        if claims is not None:
            if time.time() <= claims.expires_at + LEEWAY_SECONDS:
                return claims
            self._verified.pop(token, None)
            raise TokenError("The token has expired.")
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def known_client(self, token: str) -> str | None:
        """The client id of a token this process has verified before, else ``None``; no
        check at all (expiry included): for telling callers apart cheaply, never for trust."""
        claims = self._verified.get(token)
        return claims.client_id if claims is not None else None

    def _verify(self, token: str) -> TokenClaims:
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenError("The token is malformed.")
        try:
            header = jws.get_unverified_header(token)
        except JOSEError:
            raise TokenError("The token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"Only {ALGORITHM} tokens are accepted.")
        if header.get("kid") != self.kid:
            raise TokenError("The token was not signed with this hub's key.")
        if header.get("typ") != TOKEN_TYPE:
            raise TokenError("The token is not an access token.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "leeway": LEEWAY_SECONDS,
                    **{f"require_{name}": True for name in _REQUIRED},
                    "verify_jti": True,
                },
            )
        except ExpiredSignatureError:
            raise TokenError("The token has expired.") from None
        except JWTClaimsError as exc:
            raise TokenError(f"The token's claims are not valid: {exc}.") from None
        except JOSEError:
            raise TokenError("The token's signature does not verify.") from None
        return _claims(claims)


def _claims(claims: dict[str, Any]) -> TokenClaims:
    try:
        department = Department(claims["department"])
        region = normalise_region(str(claims["region"]))
        scope, sub, jti = claims.get("scope", ""), claims["sub"], claims["jti"]
        issued_at, expires_at = claims["iat"], claims["exp"]
        secret_version = claims["secret_version"]
    except (KeyError, ValueError, IdentifierError):
        raise TokenError("The token's claims are not valid.") from None
    if not (isinstance(scope, str) and isinstance(sub, str) and isinstance(jti, str)):
        raise TokenError("The token's claims are not valid.")
    if not all(isinstance(n, int) for n in (issued_at, expires_at, secret_version)):
        raise TokenError("The token's claims are not valid.")
    if expires_at - issued_at > MAX_TTL_SECONDS:
        raise TokenError("The token lives longer than this hub allows.")
    return TokenClaims(
        client_id=sub,
        department=department,
        region=region,
        scopes=frozenset(part for part in scope.split(" ") if part),
        secret_version=secret_version,
        issued_at=issued_at,
        expires_at=expires_at,
        token_id=jti,
    )
