"""``linkage-hub keys status`` and ``linkage-hub keys rotate``, and the check of the ID key set
that ``serve``, ``migrate`` and ``demo`` make before they start."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from linkage_hub.ciphers import Algorithm, CipherError
from linkage_hub.commands import CommandError, open_database
from linkage_hub.settings import Settings

if TYPE_CHECKING:
    from linkage_hub.db import Database
    from linkage_hub.keys import Keyring


def require_key_set(db: Database, settings: Settings) -> None:
    """:func:`linkage_hub.records.rotation.check_key_set`, refused in one line."""
    from linkage_hub.keys import KeySetError
    from linkage_hub.records.rotation import check_key_set

    try:
        check_key_set(db, settings)
    except KeySetError as exc:
        raise CommandError(str(exc)) from None


def _keyring(db: Database, settings: Settings) -> Keyring:
    """The key set that opens the stored ID numbers, or a one-line refusal before anything is
    written. A wrong ``LINKAGE_ID_KEY_FILE`` (a typo, another machine's path) would otherwise
    get a fresh key set made there, and ``keys rotate`` would record a rotation to a version
    of it before failing on the first row: reconciliation refused from then on, and no command
    to undo it."""
    from linkage_hub.keys import Keyring, KeySetError
    from linkage_hub.records.rotation import record_key_set

    require_key_set(db, settings)
    keyring = Keyring(settings)
    try:
        record_key_set(db, keyring.keys)
    except KeySetError as exc:
        raise CommandError(str(exc)) from None
    return keyring


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.privacy.state import pending_rotation
    from linkage_hub.records.rotation import rows_by_version

    db = open_database(settings)
    try:
        keyring = _keyring(db, settings)
        with db.read_sessions() as session:
            pending = pending_rotation(session)
            out: dict[str, Any] = {
                "current_version": keyring.current_version,
                "versions": {f"v{v}": keyring.cipher(v).algorithm.value for v in keyring.versions},
                "rows": rows_by_version(session, keyring.versions),
                "rotation": None
                if pending is None
                else {
                    "target_version": pending.target_version,
                    "table": pending.table_name,
                    "after_id": pending.after_id,
                    "rows_done": pending.rows_done,
                },
            }
    finally:
        db.dispose()
    print(json.dumps(out, indent=2))
    return 0


class _Bar:
    """A progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        if self.tty:
            filled = int(share * 30)
            bar = "#" * filled + "." * (30 - filled)
            print(f"\r[{bar}] {share:6.1%} {done:,}/{total:,} rows", end="", file=sys.stderr)
        elif int(share * 10) > self.shown:
            self.shown = int(share * 10)
            print(f"keys rotate: {share:.0%} ({done:,}/{total:,} rows)", file=sys.stderr)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _rotate(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.keys import KeySetError, add_key_version
    from linkage_hub.privacy.state import pending_rotation
    from linkage_hub.records import rotation

    db = open_database(settings)
    bar = _Bar()
    try:
        keyring = _keyring(db, settings)
        with db.read_sessions() as session:
            pending = pending_rotation(session)
        if pending is not None and pending.target_version not in keyring.versions:
            if not rotation.cancel_unstarted(db, pending.id):
                raise CommandError(
                    f"rows are sealed under key version {pending.target_version}, which the ID "
                    "key set lacks: restore the key set that holds it, then run keys rotate"
                )
            print(
                f"keys rotate: the unfinished rotation to key version {pending.target_version} "
                "(a version the key set lacks) had rewritten nothing; cancelled"
            )
            pending = None
        if pending is not None:
            print(f"keys rotate: resuming the rotation to key version {pending.target_version}")
            target = pending.target_version
        elif settings.id_keys is not None:
            target = keyring.current_version  # LINKAGE_ID_KEYS names its own current version
            with db.read_sessions() as session:
                if not rotation.rows_not_at(session, target):
                    print(f"keys rotate: every row is under key version {target} already")
                    return 0
        else:
            try:
                keys = add_key_version(settings, Algorithm(args.algorithm or settings.id_cipher))
            except KeySetError as exc:
                raise CommandError(str(exc)) from None
            keyring.reload()
            rotation.record_key_set(db, keys)
            target = keys.current
            print(f"keys rotate: new key version {target} is current")
        rotation_id = rotation.start(db, target)
        result = rotation.run(db, keyring, rotation_id, batch_size=args.batch_size, progress=bar)
    except (RuntimeError, CipherError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        bar.close()
        db.dispose()
    print(
        f"keys rotate: {result.rows_rewritten:,} rows now under key version "
        f"{result.target_version} ({result.sweeps} extra sweep(s))"
    )
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    keys = sub.add_parser(
        "keys",
        help="the keys that protect ID numbers",
        description="Show and rotate the versioned keys that encrypt ID numbers and make "
        "person keys.",
    )
    commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    status = commands.add_parser("status", help="key versions and rows under each")
    status.set_defaults(handler=_status)
    rotate = commands.add_parser(
        "rotate",
        help="re-encrypt and re-hash every row under a new key version (resumable)",
        description="Add a key version to the key file and rewrite every stored ID number and "
        "person key under it, in batches that each commit; run it again to resume a rotation "
        "that stopped. With LINKAGE_ID_KEYS, add the version there, restart the hub, and "
        "rotate to it.",
    )
    rotate.add_argument("--batch-size", type=int, default=5_000)
    rotate.add_argument(
        "--algorithm",
        choices=[a.value for a in Algorithm],
        default=None,
        help="of the new version (default: LINKAGE_ID_CIPHER)",
    )
    rotate.set_defaults(handler=_rotate)
