"""Tables of the audit log. Rows are never updated or deleted: triggers refuse it (migration
``0004``), and the hash chain shows it if a row is altered behind the hub's back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime


class AuditEntry(Base):
    """One entry. ``seq`` counts from 1 without holes (drawn under the append lock);
    ``hash`` = SHA-256 over ``prev_hash`` and the canonical JSON of the entry (see chain);
    ``mac`` = HMAC-SHA256 of ``seq`` and ``hash`` under audit key version ``key_version``."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))  # client id, or cli:<user>
    department: Mapped[str | None] = mapped_column(String(20))  # the actor's
    region: Mapped[str] = mapped_column(String(6))  # of the data concerned: audit's filter
    target_type: Mapped[str | None] = mapped_column(String(20))
    target_id: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64))  # the hub's own, unique
    # The caller's X-Request-ID, when it sent a safe one (issue 13): for correlation only.
    client_request_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 of seq and hash under the audit key (chain.mac). Nullable only because the
    # column was added to a filled table; migration 0024 gave every entry one, verify demands it.
    mac: Mapped[str | None] = mapped_column(String(64))
    # The audit key version the MAC was made under (migration 0030: the older entries, 1).
    key_version: Mapped[int] = mapped_column(Integer, server_default=text("1"))

    __table_args__ = (
        Index("ix_audit_log_region_seq", "region", "seq"),
        Index("ix_audit_log_actor_seq", "actor", "seq"),
        Index("ix_audit_log_recorded_at", "recorded_at"),
        Index("ix_audit_log_target_type_target_id", "target_type", "target_id"),
    )


class AuditPerson(Base):
    """The persons an entry written before migration ``0032`` concerns, by person key (part of
    the entry's hash), without the region of the record they were named for: the auditor's
    person search matches them as it did then (the person has, or had, a record in the
    auditor's region). Entries since name their persons in :class:`AuditPersonRegion`."""

    __tablename__ = "audit_log_person"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_key: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_audit_log_person_person_key", "person_key"),)


class AuditPersonRegion(Base):
    """The persons an entry concerns (migration ``0032`` on), by person key, each with the
    region of the record it was named for: the record a read sent, the version a change wrote
    or closed, the finding. A person named for records of two regions has a row for each. Part
    of the entry's hash. An auditor finds (and counts) a person in an entry only where it is
    named for a record of the auditor's region, so one who left the region is not followed
    into the next one by the entries that read them there."""

    __tablename__ = "audit_log_person_region"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)

    __table_args__ = (
        Index("ix_audit_log_person_region_person_key", "person_key", "region", "seq"),
    )


class AuditRegion(Base):
    """The regions of the records a read sent, or of the versions a write (a batch, a single
    record) wrote or closed (part of the entry's hash). The entry's own ``region`` is the
    reader's, or the batch's scope; an auditor whose region holds any of these sees it too,
    so a region's auditor sees every read and every write of its people, whoever made them."""

    __tablename__ = "audit_log_region"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)

    __table_args__ = (Index("ix_audit_log_region_region_seq", "region", "seq"),)


class AuditKeyFingerprint(Base):
    """The fingerprint of each audit key version the log's entries are MAC'd under (a keyed
    hash of a fixed label, never the key): a process whose key set disagrees refuses to append
    (:func:`linkage_hub.audit.keyset.check_key_set`), so that no replica writes entries the
    others' verify rejects."""

    __tablename__ = "audit_log_key"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
