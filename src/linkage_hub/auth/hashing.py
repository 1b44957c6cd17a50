"""Client secrets: generated at random, kept only as a slow salted hash, compared in constant time.

Secrets are 32 random bytes (256 bits), so no one guesses them; the slow hash is defence in depth
for a leaked database. scrypt from the standard library, at the scrypt paper's interactive cost
(N=2^14, r=8, p=1: 16 MiB, ~35 ms here). That keeps a token request cheap (clients ask every
few minutes, not per call) while making an offline attack on a leaked table pointless.

People's passwords (console accounts, :mod:`linkage_hub.auth.users`) are guessable where secrets
are not, so they are hashed at a higher cost: N=2^17 (128 MiB, ~0.4 s here), the cost OWASP's
password storage sheet gives for scrypt. A sign-in is rare; an offline guess costs the same.

``LINKAGE_PASSWORD_HASH_COST`` sets the password cost's log2 N (14–20, default 17) for new
hashes; the test suite sets 14, since it signs in hundreds of accounts. Existing hashes keep the
cost they were made with.

The stored form names its parameters (``scrypt$14$8$1$<salt>$<hash>``), so the cost can be raised
later without invalidating existing hashes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets

SECRET_PREFIX = "lhs_"  # noqa: S105 - makes leaked secrets recognisable to secret scanners
SECRET_BYTES = 32
LOG_N, R, P = 14, 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32
PASSWORD_LOG_N = 17
_MAXMEM = 256 * 1024 * 1024


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=2**log_n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )


def hash_secret(secret: str, log_n: int = LOG_N) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, log_n, R, P)
    return f"scrypt${log_n}${R}${P}${_b64(salt)}${_b64(digest)}"


def password_log_n() -> int:
    """The password cost for new hashes: ``LINKAGE_PASSWORD_HASH_COST`` if set and in 14–20."""
    raw = os.environ.get("LINKAGE_PASSWORD_HASH_COST", "")
    if not raw:
        return PASSWORD_LOG_N
    if not raw.isdigit() or not 14 <= int(raw) <= 20:
        raise ValueError("LINKAGE_PASSWORD_HASH_COST must be a whole number from 14 to 20")
    return int(raw)


def hash_password(password: str) -> str:
    return hash_secret(password, password_log_n())


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, log_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt" or not 10 <= int(log_n) <= 20:
            return False
        computed = _scrypt(secret, _unb64(salt), int(log_n), int(r), int(p))
    except (ValueError, OverflowError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


@functools.cache
def dummy_hash() -> str:
    """A hash of no client's secret: checking against it costs what a real check costs, so
    an unknown client id answers as slowly as a known one."""
    return hash_secret(new_secret())


@functools.cache
def dummy_password_hash() -> str:
    """:func:`dummy_hash` at the password cost: an unknown username signs in as slowly."""
    return hash_password(new_secret())
