"""``linkage-hub audit-log verify`` and ``linkage-hub audit-log head``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from linkage_hub.commands import CommandError, open_database
from linkage_hub.settings import Settings


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.audit.service import verify

    db = open_database(settings)
    try:
        with db.read_sessions() as session:
            result = verify(session, key=db.audit_key(), anchor=args.anchor)
    finally:
        db.dispose()
    if not result.ok:
        where = f"entry {result.broken_seq}: " if result.broken_seq is not None else ""
        raise CommandError(f"the chain is broken at {where}{result.reason}")
    print(f"audit-log verify: {result.entries:,} entries, chain intact, head {result.head.hash}")
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


def register(sub: argparse._SubParsersAction[Any]) -> None:
    log = sub.add_parser(
        "audit-log",
        help="check the audit log's hash chain",
        description="Verify the audit log's hash chain, or print its head to anchor outside "
        "the hub (a later verify --anchor HASH shows that nothing was removed since).",
    )
    commands = log.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = commands.add_parser("verify", help="recompute the chain; exit 1 if it is broken")
    verify.add_argument("--anchor", help="a head hash kept outside the hub: must be in the chain")
    verify.set_defaults(handler=_verify)
    head = commands.add_parser("head", help="print the head: seq, hash, time, count (JSON)")
    head.set_defaults(handler=_head)
