"""Departmental person datasets, batches and the change feed.

One home for each ID number: ``id_number`` holds the normalised number (and
``id_number_given`` the original where it differed, e.g. a legacy 15-digit number), both
encrypted (``v<key version>:…``, see :mod:`linkage_hub.ciphers`); every join, lookup and
uniqueness check uses ``person_key``, a keyed hash of the normalised number. Nothing else —
JSON, history payloads, idempotency stores, the audit log, logs — holds an ID number.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base
from linkage_hub.versioning import CLOSED, CURRENT, VersionColumns


class PersonColumns(VersionColumns):
    person_key: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str] = mapped_column(String(160))  # encrypted: see linkage_hub.ciphers
    id_number_given: Mapped[str | None] = mapped_column(String(160))
    unit_code: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(100))
    name_norm: Mapped[str] = mapped_column(String(100))

    @staticmethod
    def closed_person_index(table: str) -> Index:
        """One person's closed versions: the audit log's person search reads every version of
        a person (the batches that wrote or closed one; whether the person was ever in the
        auditor's region), together with the current versions' index below. Only closed
        versions, so a first push (all current) pays for no extra index."""
        return Index(
            f"ix_{table}_closed_person_key",
            "person_key",
            sqlite_where=CLOSED,
            postgresql_where=CLOSED,
        )

    @staticmethod
    def person_indexes(table: str) -> tuple[Index, ...]:
        return (
            *VersionColumns.version_indexes(table),
            PersonColumns.closed_person_index(table),
            Index(
                f"ix_{table}_current_person_key",
                "person_key",
                "unit_code",
                sqlite_where=CURRENT,
                postgresql_where=CURRENT,
            ),
            Index(
                f"ix_{table}_current_unit_code",
                "unit_code",
                sqlite_where=CURRENT,
                postgresql_where=CURRENT,
            ),
        )


class RosterRecord(PersonColumns, Base):
    __tablename__ = "records_roster"

    establishment_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    entered_on: Mapped[dt.date | None] = mapped_column(Date)
    exited_on: Mapped[dt.date | None] = mapped_column(Date)
    exit_reason: Mapped[str | None] = mapped_column(String(20))
    quota_notice_no: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = PersonColumns.person_indexes("records_roster")


class CadreRecord(PersonColumns, Base):
    __tablename__ = "records_cadre"

    position: Mapped[str | None] = mapped_column(String(200))
    leader_level: Mapped[str] = mapped_column(String(10))
    civil_servant_registered: Mapped[bool] = mapped_column(Boolean, default=False)
    appointed_on: Mapped[dt.date | None] = mapped_column(Date)
    removed_on: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))

    __table_args__ = PersonColumns.person_indexes("records_cadre")


class EmploymentRecord(PersonColumns, Base):
    __tablename__ = "records_employment"

    category: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    hired_on: Mapped[dt.date | None] = mapped_column(Date)
    status_on: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = PersonColumns.person_indexes("records_employment")


class PayrollRecord(PersonColumns, Base):
    __tablename__ = "records_payroll"

    period: Mapped[str] = mapped_column(String(7))
    establishment_type: Mapped[str] = mapped_column(String(20))
    funding: Mapped[str] = mapped_column(String(20))
    gross_pay: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    status: Mapped[str] = mapped_column(String(10))

    __table_args__ = (
        *VersionColumns.version_indexes("records_payroll"),
        PersonColumns.closed_person_index("records_payroll"),
        Index(
            "ix_records_payroll_current_period_person_key",
            "period",
            "person_key",
            "unit_code",
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
        Index(
            "ix_records_payroll_current_period_region",
            "period",
            "region",
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
        # The paid lines at a unit: an incremental run reads those of the few unregistered
        # units it touched (UNREGISTERED_UNIT) instead of the period's every line.
        Index(
            "ix_records_payroll_current_period_unit_code",
            "period",
            "unit_code",
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
        # One person's lines in any period: a finding's name and ID number when the person is
        # on payroll only, the person view's latest period (PostgreSQL cannot skip the
        # leading period above: a scan of every line, 0.1-0.5 s at a million persons).
        Index(
            "ix_records_payroll_current_person_key",
            "person_key",
            "unit_code",
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
    )


class Batch(Base):
    """One push: its counts, who sent it, and its idempotency key (scoped to the client)."""

    __tablename__ = "records_batch"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(10))
    client_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(20))
    scope_region: Mapped[str] = mapped_column(String(6))
    scope_period: Mapped[str | None] = mapped_column(String(7))
    scope_units: Mapped[list[str] | None] = mapped_column(JSON)  # unit codes only
    received: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("client_id", "idempotency_key"),)


class Change(Base):
    """The change feed: one row per new version (``upsert``) or closing (``close``).

    ``seq`` is allocated in commit order (see records.feed), so a reader that polls
    ``seq > cursor`` never skips a change that committed late.
    """

    __tablename__ = "records_change"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    dataset: Mapped[str] = mapped_column(String(20))
    record_key: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(6))
    region: Mapped[str] = mapped_column(String(6))
    batch_id: Mapped[str] = mapped_column(String(36))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_records_change_region_seq", "region", "seq"),)


class UnitCount(Base):
    """Current records counted per unit, kept by difference as batches commit (see
    :mod:`linkage_hub.records.tally`): the active roster by establishment type and the active
    cadres by leader level, per unit and per the records' own region. Incremental
    reconciliation reads a dirty unit's head count here instead of counting its records."""

    __tablename__ = "records_unit_count"

    dataset: Mapped[str] = mapped_column(String(20), primary_key=True)
    unit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    category: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
