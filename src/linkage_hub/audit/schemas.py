"""The audit log as the API shows it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class AuditLogItem(BaseModel):
    seq: int = Field(description="Position in the chain, from 1, without holes.")
    recorded_at: dt.datetime
    action: str = Field(
        description="batch.push, record.replace, record.delete, client.create, client.revoke, "
        "client.rotate_secret, read, finding.transition, finding.comment."
    )
    actor: str = Field(description="The client that acted, or cli:<user> for the command line.")
    department: str | None = Field(description="The acting client's department.")
    region: str = Field(
        description="The region of the data concerned; for a read, the reader's region."
    )
    regions: list[str] = Field(
        default_factory=list,
        description="The other regions whose records the entry concerns: for a read, those "
        "whose records it sent; for a batch.push, record.replace or record.delete, those of "
        "the versions it wrote or closed (a record moved with its unit: both regions). The "
        "auditors of each of them see the entry too, as it concerns their region: only the "
        "regions inside theirs, and, for an entry filed under a region outside theirs, no "
        "counts in its detail and only their own persons.",
    )
    target_type: str | None = Field(description="batch, record, client, route or finding.")
    target_id: str | None
    detail: dict[str, Any] | None = Field(description="Counts and codes; never an ID number.")
    persons: int = Field(
        description="How many persons the entry names (by keyed hash); of an entry filed "
        "under a region outside yours, those with a record in your region."
    )
    request_id: str | None = Field(
        description="The hub's own id of the request (unique; the response's X-Request-ID)."
    )
    client_request_id: str | None = Field(
        default=None,
        description="The caller's own X-Request-ID, when it sent a safe one (not unique).",
    )
    prev_hash: str
    hash: str = Field(description="SHA-256 over prev_hash and the entry's canonical JSON.")


class AuditLogPage(BaseModel):
    items: list[AuditLogItem]
    next_cursor: str | None


class ChainHead(BaseModel):
    seq: int
    hash: str
    recorded_at: dt.datetime | None
    count: int


class KeyVersionStart(BaseModel):
    version: int = Field(description="An audit key version the chain's entries are under.")
    first_seq: int = Field(description="The seq of the first entry under it.")
    pinned: bool = Field(
        description="Whether the hub's audit key set pins that first entry (`since_seq`, kept "
        "outside the database; `audit-log rotate-key` writes it). An unpinned version after "
        "the first lets whoever holds an older key and the database rewrite the entries since "
        "under the older key unnoticed, unless a head hash kept outside shows it: add its "
        "`since_seq` to the key set."
    )


class ChainVerification(BaseModel):
    ok: bool
    entries: int = Field(description="Entries checked and found in order.")
    head: ChainHead
    first_broken_seq: int | None = Field(
        description="The first entry that does not fit the chain; null when the chain is whole."
    )
    reason: str | None
    key_versions: list[KeyVersionStart] = Field(
        default_factory=list,
        description="Where each audit key version begins, as far as the chain was read.",
    )
