"""The audit key set against the database: the versions an entry's MAC may be made under, each
version's fingerprint recorded with the first entry under it (a keyed hash of a fixed label,
never the key), and the refusal (503) of a process whose set disagrees or is behind the log.
:func:`linkage_hub.audit.service.append_many` checks under its lock; ``/health/ready`` and
``audit-log rotate-key`` read (:func:`check_key_set`) or record (:func:`record_key_set`)."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from typing import cast

from sqlalchemy import insert, inspect, select, text
from sqlalchemy.orm import Session

from linkage_hub.audit.chain import mac
from linkage_hub.audit.models import AuditEntry, AuditKeyFingerprint
from linkage_hub.db import AUDIT_KEY, Database
from linkage_hub.errors import ServiceUnavailable
from linkage_hub.keys import AuditKeyError, AuditKeyring, AuditKeySet

log = logging.getLogger(__name__)

AUDIT_LOCK = 0x4C48_4155  # "LHAU", pg_advisory_xact_lock key of appends


def audit_keyring_of(session: Session) -> AuditKeyring:
    """The audit keyring a session of the hub's :class:`linkage_hub.db.Database` carries."""
    keyring = session.info.get(AUDIT_KEY)
    if keyring is None:
        raise RuntimeError("no audit key: append from a session of linkage_hub.db.Database")
    return cast(AuditKeyring, keyring)


class AuditKeyMismatch(ServiceUnavailable):
    """The process's audit key set is not the one the log is MAC'd under, or unusable: nothing
    is appended (503). ``reason`` says why for the operator (never a key); the problem's detail
    stays general, as for the ID key set."""

    def __init__(self, reason: str) -> None:
        super().__init__("The hub's audit key set does not match its database.")
        self.reason = reason


def usable(keyring: AuditKeyring) -> AuditKeySet:
    try:
        return keyring.key_set()
    except AuditKeyError as exc:
        log.error("%s", exc)
        raise AuditKeyMismatch(str(exc)) from None


def key_set_of(db: Database) -> AuditKeySet:
    """The process's audit key set; :class:`AuditKeyMismatch` (503) when it is unusable."""
    return usable(db.audit_keyring)


def _unrecorded(session: Session, keys: AuditKeySet) -> dict[int, str]:
    """The fingerprints of ``keys`` the database does not hold yet, or :class:`AuditKeyMismatch`
    when it holds others: another secret under a version both have, or none of the versions
    it holds (another key set). A version not recorded yet whose entries exist (a log older
    than migration 0030) must check the newest of them, so that the first process after the
    upgrade cannot record a wrong key."""
    if not inspect(session.connection()).has_table(AuditKeyFingerprint.__tablename__):
        return {}  # before migration 0030 (``migrate`` appends nothing before it upgrades)
    rows = session.execute(select(AuditKeyFingerprint.version, AuditKeyFingerprint.fingerprint))
    recorded = {version: fingerprint for version, fingerprint in rows}
    mine = keys.fingerprints()
    for version in sorted(recorded.keys() & mine.keys()):
        if not hmac.compare_digest(recorded[version], mine[version]):
            raise _mismatch(f"another secret under audit key version {version}")
    if recorded and not recorded.keys() & mine.keys():
        held = ", ".join(f"v{v}" for v in sorted(recorded))
        raise _mismatch(f"none of the audit key versions the log is MAC'd under ({held})")
    missing = {v: fp for v, fp in mine.items() if v not in recorded}
    for version in sorted(missing):
        newest = session.execute(
            select(AuditEntry.seq, AuditEntry.hash, AuditEntry.mac)
            .where(AuditEntry.key_version == version)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).one_or_none()
        if newest is not None and newest.mac is not None:
            expected = mac(keys.versions[version], newest.seq, newest.hash)
            if not hmac.compare_digest(newest.mac, expected):
                raise _mismatch(
                    f"audit key version {version} does not check the entries MAC'd under it"
                )
    return missing


def appending_version(logged: int, key_set: AuditKeySet) -> int:
    """The version a new entry is MAC'd under, after one under ``logged``. Versions never go
    back along the chain (verify refuses it): else whoever holds a key retired for a leak could
    rewrite an entry and MAC it and every later one under the old version again. A process
    whose current version is older but that holds ``logged`` (a secret store rolled out in two
    steps: the new version added everywhere, then made current process by process) appends
    under ``logged``; one that does not hold it (a key set file not copied to its host, a
    secret store not updated, not restarted) appends nothing."""
    if key_set.current >= logged:
        return key_set.current
    if logged not in key_set.versions:
        reason = (
            f"the audit log's newest entry is under audit key version {logged}, this process's "
            f"current version is {key_set.current}: give it the rotated key set "
            "(LINKAGE_AUDIT_KEY_FILE or LINKAGE_AUDIT_KEYS) and restart it"
        )
        log.error("%s", reason)
        raise AuditKeyMismatch(reason)
    return logged


def _mismatch(what: str) -> AuditKeyMismatch:
    reason = (
        f"the audit key set holds {what}: check LINKAGE_AUDIT_KEY_FILE, LINKAGE_AUDIT_KEYS or "
        "LINKAGE_AUDIT_KEY (every process needs the same set)"
    )
    log.error("%s", reason)
    return AuditKeyMismatch(reason)


def record_fingerprints(session: Session, keys: AuditKeySet) -> None:
    missing = _unrecorded(session, keys)
    if missing:
        now = dt.datetime.now(dt.UTC)
        session.execute(
            insert(AuditKeyFingerprint),
            [{"version": v, "fingerprint": fp, "recorded_at": now} for v, fp in missing.items()],
        )
    else:
        audit_keyring_of(session).confirmed = keys


def check_key_set(db: Database) -> None:
    """Refuse (:class:`AuditKeyMismatch`) an audit key set that disagrees with the fingerprints
    the database holds; read only (``/health/ready``, ``audit-log rotate-key`` before it adds a
    version). Appends check the same under their lock and record the versions not recorded."""
    keyring = db.audit_keyring
    keys = usable(keyring)
    with db.read_sessions() as session:
        newest = session.scalar(
            select(AuditEntry.key_version).order_by(AuditEntry.seq.desc()).limit(1)
        )
        if newest is not None and newest > keys.current:
            keyring.reload()
            keys = usable(keyring)
            appending_version(newest, keys)
        if keyring.confirmed is keys:
            return
        missing = _unrecorded(session, keys)
    if not missing:
        keyring.confirmed = keys


def record_key_set(db: Database) -> None:
    """Record the fingerprints of the process's audit key set that the database lacks (after
    ``audit-log rotate-key``: the new version), or refuse like :func:`check_key_set`."""
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
        record_fingerprints(session, usable(db.audit_keyring))
