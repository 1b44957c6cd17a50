"""The hash chain: each entry's hash covers the previous entry's hash and its own fields; each
entry's MAC, keyed by the audit key, covers its seq and hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from linkage_hub.ciphers import hmac_pads

GENESIS = "0" * 64


def canonical(
    *,
    seq: int,
    recorded_at: dt.datetime,
    action: str,
    actor: str,
    department: str | None,
    region: str,
    target_type: str | None,
    target_id: str | None,
    detail: dict[str, Any] | None,
    request_id: str | None,
    person_keys: Iterable[str],
    client_request_id: str | None = None,
    regions: Iterable[str] = (),
    person_regions: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The entry as canonical JSON (sorted keys, no spaces, UTC time to the microsecond).

    ``client_request_id`` and ``regions`` (issue 13) are in the body only when an entry has
    them, so entries written before they existed keep their hashes; so is ``person_regions``,
    the ``(person key, region)`` pairs of an entry since migration 0032 (the region of the
    record each person was named for), as each region's sorted keys. ``person_keys`` are the
    distinct keys either way."""
    body: dict[str, Any] = {
        "seq": seq,
        "recorded_at": recorded_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "action": action,
        "actor": actor,
        "department": department,
        "region": region,
        "target_type": target_type,
        "target_id": target_id,
        "detail": detail,
        "request_id": request_id,
        "person_keys": sorted(person_keys),
    }
    if client_request_id is not None:
        body["client_request_id"] = client_request_id
    read_regions = sorted(set(regions))
    if read_regions:
        body["regions"] = read_regions
    named_in: dict[str, set[str]] = {}
    for key, region in person_regions:
        named_in.setdefault(region, set()).add(key)
    if named_in:
        body["person_regions"] = {r: sorted(keys) for r, keys in named_in.items()}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def mac(key: bytes, seq: int, hash: str) -> str:
    """HMAC-SHA256 of ``{seq}\n{hash}`` under the audit key, hex: what one who can rewrite the
    table and recompute every SHA-256 still cannot forge without the key. Migration
    ``0024_audit_mac`` computes the same in SQL (keep the two alike). From the key's primed
    pads: half the cost of ``hmac.new``, paid on every append."""
    inner, outer = _pads(key)
    digest = inner.copy()
    digest.update(f"{seq}\n{hash}".encode())
    result = outer.copy()
    result.update(digest.digest())
    return result.hexdigest()


_pads = lru_cache(maxsize=4)(hmac_pads)
