"""``linkage-hub audit-log verify``, ``head`` and ``rotate-key``."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from linkage_hub.commands import CommandError, open_database
from linkage_hub.settings import Settings


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.audit.keyset import AuditKeyMismatch, key_set_of
    from linkage_hub.audit.service import verify

    db = open_database(settings)
    try:
        with db.read_sessions() as session:
            keys = key_set_of(db)
            result = verify(session, key_set=keys, anchor=args.anchor)
    except AuditKeyMismatch as exc:
        raise CommandError(exc.reason) from None
    finally:
        db.dispose()
    if not result.ok:
        where = f"entry {result.broken_seq}: " if result.broken_seq is not None else ""
        raise CommandError(f"the chain is broken at {where}{result.reason}")
    print(f"audit-log verify: {result.entries:,} entries, chain intact, head {result.head.hash}")
    for version, seq in sorted(result.starts.items()):
        if seq > 1 and version not in keys.pins:  # a rotation not pinned (a secret store's)
            print(
                f"audit-log verify: audit key version {version} begins at entry {seq}, not "
                f'pinned: add "since_seq": {seq} to that version in the audit key set'
            )
    return 0


def _head(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.audit.service import head

    db = open_database(settings)
    try:
        with db.read_sessions() as session:
            found = head(session)
    finally:
        db.dispose()
    at = found.recorded_at.isoformat() if found.recorded_at else None
    print(
        json.dumps({"seq": found.seq, "hash": found.hash, "recorded_at": at, "count": found.count})
    )
    return 0


@contextlib.contextmanager
def _one_rotation(path: Path) -> Iterator[None]:
    """One rotation at a time on a key set file (a lock beside it): two that read the file
    before either wrote it would each make a version N+1 of its own secret, and the one whose
    file was replaced would leave an entry (its audit.key_rotated) under a secret no file
    keeps: verify broken, appends refused. Per host: two hosts rotating their own copies at
    once are told apart by the fingerprints (the second is refused before it appends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CommandError(
                "another audit-log rotate-key is running on this key set file: let it finish"
            ) from None
        yield


def _rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    """A new audit key version in the key set file, current from now on; the old versions stay
    (they check the entries MAC'd under them). In three steps, so that the file pins the new
    version's first entry (``since_seq``): the version added, not current (a process that
    reloads the file holds it and appends under the old one, or under the new one once an entry
    under it exists); the entry ``audit.key_rotated`` under it; then it made current with the
    seq of that entry. Cut short, the command takes the added version up again. Refused when
    the keys come from the environment: the secret store is the operator's to update."""
    from linkage_hub.audit.keyset import AuditKeyMismatch, check_key_set, record_key_set
    from linkage_hub.audit.service import record_key_rotation
    from linkage_hub.keys import (
        AuditKeyError,
        audit_key_path,
        audit_keys_from_environment,
        make_audit_key_current,
        stage_audit_key_version,
    )

    source = audit_keys_from_environment(settings)
    if source is not None:
        raise CommandError(
            f"the audit key comes from {source}: add a new version to LINKAGE_AUDIT_KEYS in "
            "the secret store and restart every process with it, then make it current and restart "
            "them again (a process not holding the version a newer entry is under appends "
            'nothing), then pin it: add "since_seq" (the seq of its first entry, which '
            "audit-log verify prints) to that version"
        )
    with _one_rotation(audit_key_path(settings)):
        db = open_database(settings)
        try:
            check_key_set(db)  # the set in use is the log's before a version joins it
            _, version = stage_audit_key_version(settings)
            db.audit_keyring.reload()
            record_key_set(db)  # the new version's fingerprint: no other process can make its own
            with db.transaction() as session:
                since = record_key_rotation(session, version)
            keys = make_audit_key_current(settings, version, since)
            db.audit_keyring.reload()
        except AuditKeyError as exc:
            raise CommandError(str(exc)) from None
        except AuditKeyMismatch as exc:
            raise CommandError(exc.reason) from None
        finally:
            db.dispose()
    print(
        f"audit-log rotate-key: version {keys.current} is current in {audit_key_path(settings)}, "
        f"beginning at entry {since}; the processes that read this file MAC under it within "
        "seconds (copy it to every host that keeps its own: it carries the pin verify checks); "
        "entries of every version still verify"
    )
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    log = sub.add_parser(
        "audit-log",
        help="check the audit log's hash chain, rotate its key",
        description="Verify the audit log's hash chain, or print its head to anchor outside "
        "the hub (a later verify --anchor HASH shows that nothing was removed since).",
    )
    commands = log.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = commands.add_parser("verify", help="recompute the chain; exit 1 if it is broken")
    verify.add_argument("--anchor", help="a head hash kept outside the hub: must be in the chain")
    verify.set_defaults(handler=_verify)
    head = commands.add_parser("head", help="print the head: seq, hash, time, count (JSON)")
    head.set_defaults(handler=_head)
    rotate = commands.add_parser(
        "rotate-key",
        help="add a new audit key version to the key set file and make it current",
        description="Add a new audit key version (32 random bytes) to the audit key set file "
        "(LINKAGE_AUDIT_KEY_FILE, default linkage-hub.audit-keys.json beside the database) and "
        "make it current; the old versions stay, so every entry still verifies. Its first entry "
        "(audit.key_rotated) is pinned in the file (since_seq), which verify checks. Refused "
        "when the keys come from LINKAGE_AUDIT_KEYS or LINKAGE_AUDIT_KEY: update the secret "
        "store.",
    )
    rotate.set_defaults(handler=_rotate_key)
