"""Encryption of ID numbers at rest and the keyed person hash, per key version.

A key version is one random secret and an algorithm:

- ``aes-256-gcm`` (default): AES-256-GCM for the ID number, HMAC-SHA256 for the person key.
- ``sm4-gcm`` (national algorithms, GB/T 32907 and GB/T 32905): SM4-GCM for the ID number,
  HMAC-SM3 for the person key. Both come from OpenSSL through ``cryptography`` and
  ``hashlib``; :func:`sm_available` says whether this build has them.

The encryption key and the HMAC key are derived from the version's secret with the version's
own hash (HMAC over a label), so one secret per version is all that is kept.

A stored ID number is ``v<version>:`` + base64url(nonce ‖ ciphertext ‖ tag), no padding: a
random 96-bit nonce per value (so equal numbers never give equal texts; joins and equality use
the person key), 65 characters for an 18-character number. No associated data: a value is
bound to its key version, not to its row (rows are re-encrypted in place by key rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
TAG_BYTES = 16


class Algorithm(StrEnum):
    aes_256_gcm = "aes-256-gcm"
    sm4_gcm = "sm4-gcm"


class CipherError(ValueError):
    """A stored value cannot be decrypted (unknown key version, altered text)."""


def sm_available() -> bool:
    """Whether this OpenSSL build offers SM3 (hashlib) and SM4 (cryptography)."""
    if "sm3" not in hashlib.algorithms_available:
        return False
    try:
        Cipher(algorithms.SM4(bytes(16)), modes.GCM(bytes(NONCE_BYTES))).encryptor()
    except Exception:  # UnsupportedAlgorithm on builds without SM4
        return False
    return True


_Pads = tuple["hashlib._Hash", "hashlib._Hash"]


def hmac_pads(key: bytes, digest: str = "sha256") -> _Pads:
    """HMAC (RFC 2104) with the keyed pads hashed once: a batch computes keys for every row,
    and copying a primed hash is a third of the cost of ``hmac.digest``. The values are exactly
    ``hmac.new(key, message, digest)``'s (a test holds them to it)."""
    block = hashlib.new(digest).block_size
    if len(key) > block:
        key = hashlib.new(digest, key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.new(digest, bytes(b ^ 0x36 for b in key))
    outer = hashlib.new(digest, bytes(b ^ 0x5C for b in key))
    return inner, outer


def hmac_hex(pads: _Pads, message: bytes) -> str:
    inner = pads[0].copy()
    inner.update(message)
    outer = pads[1].copy()
    outer.update(inner.digest())
    return outer.hexdigest()[:32]


_local = threading.local()
_POOL = NONCE_BYTES * 1024


def _nonce() -> bytes:
    """A fresh random nonce; random bytes are fetched 1024 nonces at a time per thread (one
    ``os.urandom`` call per row costs a third of the encryption). Per thread, so two threads
    never hand out the same bytes."""
    buf: bytes | None = getattr(_local, "buf", None)
    pos: int = getattr(_local, "pos", _POOL)
    if buf is None or pos >= _POOL:
        buf, pos = os.urandom(_POOL), 0
        _local.buf = buf
    _local.pos = pos + NONCE_BYTES
    return buf[pos : pos + NONCE_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class KeyVersion:
    version: int
    algorithm: Algorithm
    secret: bytes


class VersionCipher:
    """Seal, open and hash under one key version."""

    def __init__(self, key: KeyVersion) -> None:
        self.version = key.version
        self.algorithm = key.algorithm
        self.prefix = f"v{key.version}:"
        sm = key.algorithm is Algorithm.sm4_gcm
        digest = "sm3" if sm else "sha256"
        if sm and not sm_available():
            raise CipherError("this OpenSSL build has no SM3/SM4: use aes-256-gcm")
        enc = hmac.new(key.secret, b"linkage-hub id-number encryption", digest).digest()
        mac = hmac.new(key.secret, b"linkage-hub person key", digest).digest()
        self._mac_key = mac
        self._pads = hmac_pads(mac, digest)
        if sm:
            self._sm4_key = enc[:16]
            self._seal = self._sm4_seal
            self._open = self._sm4_open
        else:
            aead = AESGCM(enc[:32])
            encrypt, decrypt = aead.encrypt, aead.decrypt
            self._seal = lambda nonce, data: encrypt(nonce, data, None)
            self._open = lambda nonce, data: decrypt(nonce, data, None)

    def _sm4_seal(self, nonce: bytes, data: bytes) -> bytes:
        encryptor = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce)).encryptor()
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def _sm4_open(self, nonce: bytes, data: bytes) -> bytes:
        body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
        decryptor = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce, tag)).decryptor()
        return decryptor.update(body) + decryptor.finalize()

    def seal(self, plaintext: str) -> str:
        nonce = _nonce()
        return self.prefix + _b64(nonce + self._seal(nonce, plaintext.encode()))

    def open(self, stored: str) -> str:
        """The plaintext of a value sealed under this version (prefix included)."""
        try:
            raw = _unb64(stored[len(self.prefix) :])
            return bytes(self._open(raw[:NONCE_BYTES], raw[NONCE_BYTES:])).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise CipherError(f"a value under key version {self.version} does not open") from exc

    def person_key(self, id_number: str) -> str:
        return hmac_hex(self._pads, id_number.encode())


def version_of(stored: str) -> int:
    """The key version of a stored value; 0 for a value stored before encryption (plain)."""
    if not stored.startswith("v"):
        return 0
    head, sep, _ = stored.partition(":")
    if not sep or not head[1:].isdigit():
        raise CipherError("a stored value has no key version")
    return int(head[1:])
