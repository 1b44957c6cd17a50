"""Secrets the embedded default needs, generated on first start and kept beside the database.

A secret given in the settings always wins; otherwise it is read from (or written once to)
``<secrets_dir>/linkage-hub.<name>.key`` with mode 0600. Nothing secret lives in the repository.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from linkage_hub.settings import Settings


def load_or_create_secret(settings: Settings, name: str, configured: str | None) -> bytes:
    if configured:
        return configured.encode()
    path: Path = settings.secrets_dir / f"linkage-hub.{name}.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value


class Keyring:
    """Keyed hashes that stand in for identifiers in joins and URLs.

    - ``person_key``: HMAC-SHA256 of the normalised 18-character ID number, 32 hex characters.
      Joins, lookups and uniqueness use it; an unkeyed hash of an ID number would be reversible
      by enumeration (the space is about 37 bits).
    - ``record_key``: HMAC of the dataset and the natural key, 32 hex characters; opaque and
      stable across versions, so URLs and logs never carry an ID number.
    """

    def __init__(self, settings: Settings) -> None:
        self._record = load_or_create_secret(settings, "record", settings.record_key_secret)
        self._person = hashlib.sha256(b"person-key:" + self._record).digest()
        self._person_pads = _pads(self._person)
        self._record_pads = _pads(self._record)

    def person_key(self, id_number: str) -> str:
        return _hmac_hex(self._person_pads, id_number.encode())

    def record_key(self, dataset: str, *natural_key: str) -> str:
        message = "\x1f".join((dataset, *natural_key)).encode()
        return _hmac_hex(self._record_pads, message)


_Pads = tuple["hashlib._Hash", "hashlib._Hash"]


def _pads(key: bytes) -> _Pads:
    """HMAC-SHA256 (RFC 2104) with the keyed pads hashed once: a batch computes two keys per
    row, and copying a primed hash is a third of the cost of ``hmac.digest``. The values are
    exactly ``hmac.new(key, message, sha256)``'s (a test holds them to it)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def _hmac_hex(pads: _Pads, message: bytes) -> str:
    inner = pads[0].copy()
    inner.update(message)
    outer = pads[1].copy()
    outer.update(inner.digest())
    return outer.hexdigest()[:32]
