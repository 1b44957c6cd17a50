"""Secrets the embedded default needs, generated on first start and kept beside the database.

A secret given in the settings always wins; otherwise it is read from (or written once to)
``<secrets_dir>/linkage-hub.<name>.key`` with mode 0600. Nothing secret lives in the repository.

The keys that protect ID numbers are versioned (see :mod:`linkage_hub.ciphers`): a key set
``{"current": N, "versions": [{"version", "algorithm", "secret"}, ...]}`` comes from
``LINKAGE_ID_KEYS`` (the JSON itself, for secret stores that inject environment variables; never
written) or from the key file (``LINKAGE_ID_KEY_FILE``, default
``<secrets_dir>/linkage-hub.id-keys.json``, generated on first start, 0600). New values are
sealed under the current version; every version in the set can open its values, and lookups try
the person key of every version (a key rotation re-encrypts and re-hashes rows in batches, so
for a while two versions live side by side: see :mod:`linkage_hub.records.rotation`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from linkage_hub.ciphers import (
    Algorithm,
    CipherError,
    KeyVersion,
    VersionCipher,
    hmac_hex,
    hmac_pads,
    version_of,
)
from linkage_hub.settings import Settings

REFRESH_SECONDS = 2.0
FINGERPRINT_LABEL = b"linkage-hub id key fingerprint\x1f"


def load_or_create_secret(settings: Settings, name: str, configured: str | None) -> bytes:
    if configured:
        return configured.encode()
    path: Path = settings.secrets_dir / f"linkage-hub.{name}.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    if not _write_owner_only(path, value, exclusive=True):  # another process won: use its key
        return path.read_bytes().strip()
    return value.encode()


def audit_key(settings: Settings) -> bytes:
    """Audit key version 1 (:func:`load_audit_key_set`): the key every entry was MAC'd under
    before versions existed (migration ``0024_audit_mac`` fills the MACs with it)."""
    keys = load_audit_key_set(settings)
    if 1 not in keys.versions:
        raise AuditKeyError("the audit key set has no version 1, which the older entries need")
    return keys.versions[1]


# --- the audit log's keys ---------------------------------------------------------------------

AUDIT_FINGERPRINT_LABEL = b"linkage-hub audit key fingerprint\x1f"


class AuditKeyError(ValueError):
    """The configured audit key set is unusable (the message says why, never a key)."""


@dataclass(frozen=True, slots=True)
class AuditKeySet:
    """The audit log's MAC keys by version (:mod:`linkage_hub.audit`): new entries are MAC'd
    under ``current``, each entry checked under the version it records. As JSON (like the ID
    key set, without an algorithm: every version is HMAC-SHA256)
    ``{"current": N, "versions": [{"version": N, "secret": "<base64>", "since_seq": S}, ...]}``.

    ``since_seq`` (optional, in ``pins``) is the seq of the version's first entry, which
    ``audit-log rotate-key`` writes: kept outside the database, it says where the version began,
    so that whoever holds an older version's key and the database cannot rewrite the entries
    since under the older one (verify checks it). A version without one is checked as before."""

    current: int
    versions: dict[int, bytes]
    pins: dict[int, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> AuditKeySet:
        try:
            doc = json.loads(text)
            versions = {
                int(v["version"]): base64.b64decode(v["secret"], validate=True)
                for v in doc["versions"]
            }
            pins = {
                int(v["version"]): _since_seq(v["since_seq"])
                for v in doc["versions"]
                if v.get("since_seq") is not None
            }
            current = int(doc["current"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AuditKeyError(f"the audit key set is not valid ({type(exc).__name__})") from None
        if current not in versions or any(len(k) < 32 for k in versions.values()):
            raise AuditKeyError("the audit key set needs its current version and 32-byte secrets")
        return cls(current, versions, pins)

    def dumps(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "versions": [
                    {"version": v, "secret": base64.b64encode(k).decode()}
                    | ({"since_seq": self.pins[v]} if v in self.pins else {})
                    for v, k in sorted(self.versions.items())
                ],
            },
            indent=2,
        )

    def fingerprints(self) -> dict[int, str]:
        """Each version's fingerprint (a keyed hash of a fixed label, never the key), which the
        database records (:func:`linkage_hub.audit.keyset.record_key_set`)."""
        return {
            v: hmac.new(k, AUDIT_FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
            for v, k in self.versions.items()
        }

    def with_new_version(self) -> AuditKeySet:
        """A new random version, held but not current yet (``audit-log rotate-key`` makes it
        current once its first entry is written, with :meth:`made_current`)."""
        version = max(self.versions) + 1
        versions = {**self.versions, version: secrets.token_bytes(32)}
        return AuditKeySet(self.current, versions, dict(self.pins))

    def made_current(self, version: int, since_seq: int) -> AuditKeySet:
        """``version`` current, its first entry pinned at ``since_seq``."""
        return AuditKeySet(version, dict(self.versions), {**self.pins, version: since_seq})


def _since_seq(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("since_seq")
    return value


def audit_key_path(settings: Settings) -> Path:
    return settings.audit_key_file or settings.secrets_dir / "linkage-hub.audit-keys.json"


def audit_keys_from_environment(settings: Settings) -> str | None:
    if settings.audit_keys is not None:
        return "LINKAGE_AUDIT_KEYS"
    return "LINKAGE_AUDIT_KEY" if settings.audit_key is not None else None


def configured_audit_key_set(settings: Settings) -> AuditKeySet | None:
    """``LINKAGE_AUDIT_KEYS``; else ``LINKAGE_AUDIT_KEY`` as version 1; else the key set file
    (``LINKAGE_AUDIT_KEY_FILE``, written by ``audit-log rotate-key``); else the single key of
    ``linkage-hub.audit.key`` as version 1. None when none of them is there."""
    if settings.audit_keys is not None:
        return AuditKeySet.parse(settings.audit_keys.get_secret_value())
    if settings.audit_key is not None:
        return AuditKeySet(1, {1: settings.audit_key.get_secret_value().encode()})
    try:
        return AuditKeySet.parse(audit_key_path(settings).read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    try:
        single = (settings.secrets_dir / "linkage-hub.audit.key").read_bytes().strip()
    except FileNotFoundError:
        return None
    return AuditKeySet(1, {1: single})


def load_audit_key_set(settings: Settings) -> AuditKeySet:
    """The configured audit key set; on first use (nothing configured) a single key made in
    ``linkage-hub.audit.key``, version 1."""
    configured = configured_audit_key_set(settings)
    if configured is not None:
        return configured
    return AuditKeySet(1, {1: load_or_create_secret(settings, "audit", None)})


def stage_audit_key_version(settings: Settings) -> tuple[AuditKeySet, int]:
    """The first step of ``audit-log rotate-key``: a new version in the audit key set file, held
    but not current yet (the old ones stay: they check the entries MAC'd under them), and its
    number. A version the file holds above the current one without a pin (a rotation cut short)
    is taken up again instead of adding another. A single key file becomes version 1 of the set.
    """
    source = audit_keys_from_environment(settings)
    if source is not None:
        raise AuditKeyError(
            f"the audit key comes from {source}: add a new version to LINKAGE_AUDIT_KEYS in "
            "the secret store and restart every process with it, then make it current and restart "
            "them again (a process not holding the version a newer entry is under appends "
            'nothing), then pin it: add "since_seq" (the seq of its first entry, which '
            "audit-log verify prints) to that version"
        )
    keys = load_audit_key_set(settings)
    newest = max(keys.versions)
    if newest > keys.current and newest not in keys.pins:
        return keys, newest
    staged = keys.with_new_version()
    _write_owner_only(audit_key_path(settings), staged.dumps(), exclusive=False)
    return staged, max(staged.versions)


def make_audit_key_current(settings: Settings, version: int, since_seq: int) -> AuditKeySet:
    """The last step of ``audit-log rotate-key``: ``version`` current in the key set file, with
    the seq of its first entry (``since_seq``) beside it."""
    updated = load_audit_key_set(settings).made_current(version, since_seq)
    _write_owner_only(audit_key_path(settings), updated.dumps(), exclusive=False)
    return updated


class AuditKeyring:
    """The audit key set of one process, loaded on first use (a command may make the data
    directory after) and picked up again when the key set file changes (``audit-log
    rotate-key`` in another process), checked at most every ``REFRESH_SECONDS``.
    ``confirmed`` is the set the database was seen to agree with
    (:func:`linkage_hub.audit.keyset.check_key_set`)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._keys: AuditKeySet | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self.confirmed: AuditKeySet | None = None

    def _file_stamp(self) -> tuple[int, int] | None:
        if audit_keys_from_environment(self._settings) is not None:
            return None
        try:
            stat = audit_key_path(self._settings).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def key_set(self) -> AuditKeySet:
        keys, now = self._keys, time.monotonic()
        if keys is not None and now - self._checked < REFRESH_SECONDS:
            return keys
        with self._lock:
            self._checked = now
            if self._keys is None:
                self._stamp = self._file_stamp()
                self._keys = load_audit_key_set(self._settings)
            elif self._file_stamp() != self._stamp:
                self._reload()
            return self._keys

    def reload(self) -> None:
        """Install the key set as configured now; a key set file gone since leaves the
        installed set in place (a new single key would MAC entries no one else can check)."""
        with self._lock:
            self._reload()

    def _reload(self) -> None:
        self._stamp = self._file_stamp()
        keys = configured_audit_key_set(self._settings)
        if keys is not None:
            self._keys = keys


# --- ID number keys -------------------------------------------------------------------------


class KeySetError(ValueError):
    """The configured ID key set is unusable (the message says why, never a key)."""


@dataclass(frozen=True, slots=True)
class KeySet:
    current: int
    versions: dict[int, KeyVersion]

    @classmethod
    def parse(cls, text: str) -> KeySet:
        try:
            doc = json.loads(text)
            versions = {
                int(v["version"]): KeyVersion(
                    int(v["version"]), Algorithm(v["algorithm"]), base64.b64decode(v["secret"])
                )
                for v in doc["versions"]
            }
            current = int(doc["current"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KeySetError(f"the ID key set is not valid ({type(exc).__name__})") from None
        if current not in versions or any(len(k.secret) < 32 for k in versions.values()):
            raise KeySetError("the ID key set needs its current version and 32-byte secrets")
        return cls(current, versions)

    def dumps(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "versions": [
                    {
                        "version": k.version,
                        "algorithm": k.algorithm.value,
                        "secret": base64.b64encode(k.secret).decode(),
                    }
                    for k in sorted(self.versions.values(), key=lambda k: k.version)
                ],
            },
            indent=2,
        )

    def fingerprints(self) -> dict[int, str]:
        """Each version's fingerprint: a keyed hash of a fixed label under the version's
        secret (a key check value, never the key), which the database records
        (:func:`linkage_hub.records.rotation.record_key_set`) so that a process with another
        key set refuses before it seals."""
        return {
            v: hmac.new(
                k.secret, FINGERPRINT_LABEL + k.algorithm.value.encode(), hashlib.sha256
            ).hexdigest()
            for v, k in self.versions.items()
        }

    def with_new_version(self, algorithm: Algorithm) -> KeySet:
        version = max(self.versions) + 1
        key = KeyVersion(version, algorithm, secrets.token_bytes(32))
        return KeySet(version, {**self.versions, version: key})


def id_key_path(settings: Settings) -> Path:
    return settings.id_key_file or settings.secrets_dir / "linkage-hub.id-keys.json"


def _write_owner_only(path: Path, text: str, *, exclusive: bool) -> bool:
    """Write ``text`` to ``path`` readable by the owner only; False if ``exclusive`` and the
    file exists. The text goes to a temporary file first and appears at ``path`` whole (a
    hard link when exclusive, a rename otherwise): a process starting beside this one reads
    the whole file or none, never the empty file of a create that has not written yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def configured_key_set(settings: Settings) -> KeySet | None:
    """The key set of ``LINKAGE_ID_KEYS`` or of the key file; None when neither is there."""
    if settings.id_keys is not None:
        return KeySet.parse(settings.id_keys.get_secret_value())
    try:
        return KeySet.parse(id_key_path(settings).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def load_key_set(settings: Settings) -> KeySet:
    """The configured key set; on first start (no setting, no file) a new one, saved. Only a
    database that holds nothing sealed has a first start: the hub and the commands that seal
    check that before they make a keyring (:func:`linkage_hub.records.rotation.check_key_set`)."""
    configured = configured_key_set(settings)
    if configured is not None:
        return configured
    path = id_key_path(settings)
    fresh = KeySet(1, {1: KeyVersion(1, settings.id_cipher, secrets.token_bytes(32))})
    if not _write_owner_only(path, fresh.dumps(), exclusive=True):
        return KeySet.parse(path.read_text(encoding="utf-8"))  # another process made it
    return fresh


def add_key_version(settings: Settings, algorithm: Algorithm | None = None) -> KeySet:
    """A new current version in the key file (the old ones stay: they open old values)."""
    if settings.id_keys is not None:
        raise KeySetError(
            "the ID keys come from LINKAGE_ID_KEYS: add the new version there and restart"
        )
    updated = load_key_set(settings).with_new_version(algorithm or settings.id_cipher)
    _write_owner_only(id_key_path(settings), updated.dumps(), exclusive=False)
    return updated


class Keyring:
    """Keyed hashes that stand in for identifiers, and the ID number's encryption.

    - ``person_key``: HMAC of the normalised 18-character ID number (current key version),
      32 hex characters. Joins, lookups and uniqueness use it; an unkeyed hash of an ID number
      would be reversible by enumeration (the space is about 37 bits).
    - ``seal_id`` / ``reveal_id``: the stored (encrypted) form of an ID number and back.
    - ``record_key``: HMAC of the dataset and the natural key, 32 hex characters; opaque and
      stable across versions, so URLs and logs never carry an ID number. Its secret is not
      rotated with the ID keys: record keys are identifiers departments keep.
    """

    keys: KeySet
    person_key: Callable[[str], str]
    seal_id: Callable[[str], str]

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._record = load_or_create_secret(settings, "record", settings.record_key_secret)
        self._record_pads = hmac_pads(self._record)
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._stamp = self._file_stamp()
        self._install(load_key_set(settings))

    def _install(self, keys: KeySet) -> None:
        self.keys = keys
        ciphers = {v: VersionCipher(k) for v, k in keys.versions.items()}
        current = ciphers[keys.current]
        self._ciphers = ciphers
        self.current = current
        self.person_key = current.person_key
        self.seal_id = current.seal

    def _file_stamp(self) -> tuple[int, int] | None:
        if self._settings.id_keys is not None:
            return None
        try:
            stat = id_key_path(self._settings).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> None:
        """Install the key set as configured now. A key file gone since the start (a volume
        unmounted, a file moved) leaves the installed set in place: generating a new one there
        would seal new ID numbers under a key no other process has."""
        with self._lock:
            self._stamp = self._file_stamp()
            keys = configured_key_set(self._settings)
            if keys is not None:
                self._install(keys)

    def refresh(self) -> None:
        """Pick up a new key version from the key file (``keys rotate`` adds one), checking at
        most every ``REFRESH_SECONDS``; called once per request."""
        now = time.monotonic()
        if now - self._checked < REFRESH_SECONDS:
            return
        self._checked = now
        if self._file_stamp() != self._stamp:
            self.reload()

    @property
    def current_version(self) -> int:
        return self.current.version

    @property
    def versions(self) -> list[int]:
        return sorted(self._ciphers)

    def cipher(self, version: int) -> VersionCipher:
        found = self._ciphers.get(version)
        if found is None:
            self.reload()  # a version made by another process since we loaded
            found = self._ciphers.get(version)
        if found is None:
            raise CipherError(f"no key version {version} in the ID key set")
        return found

    def reveal_id(self, stored: str) -> str:
        """The ID number of a stored value (a value stored before encryption is returned as
        it is: ``keys rotate`` encrypts those)."""
        version = version_of(stored)
        if version == 0:
            return stored
        return self.cipher(version).open(stored)

    def person_keys(self, id_number: str) -> list[str]:
        """The person key under every key version, current first: lookups match any, so they
        work while a rotation is half done (and in the audit log, which is never rewritten)."""
        current = self.current
        rest = [
            c.person_key(id_number) for v, c in sorted(self._ciphers.items()) if c is not current
        ]
        return [current.person_key(id_number), *rest]

    def record_key(self, dataset: str, *natural_key: str) -> str:
        message = "\x1f".join((dataset, *natural_key)).encode()
        return hmac_hex(self._record_pads, message)

    def keyed_digest(self, text: str) -> str:
        """A keyed hash of ``text`` (e.g. a request fingerprint that covers ID numbers)."""
        return hmac_hex(self._record_pads, b"digest\x1f" + text.encode())
