"""12310 cases: the report as filed, its steps and its links.

The facts (which may name people and their ID numbers) and the reporter's name and phone are
stored sealed under the hub's ID-number keys, never in plain text; the follow-up secret only as
a keyed hash. Deadlines are
dates on the working-day calendar, kept as columns so "overdue" is one SQL condition.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Case(Base):
    __tablename__ = "case_report"

    # Creation order, for cursors; drawn by the database, so concurrent reports never clash.
    number: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    tracking_code: Mapped[str] = mapped_column(String(20), unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(30))
    region: Mapped[str] = mapped_column(String(6))  # where it was reported
    handler_region: Mapped[str] = mapped_column(String(6))  # the office working it now
    unit_code: Mapped[str | None] = mapped_column(String(18))
    unit_name: Mapped[str | None] = mapped_column(String(200))
    facts: Mapped[str] = mapped_column(Text)  # sealed
    contact: Mapped[str | None] = mapped_column(Text)  # sealed JSON {name, phone}
    status: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_on: Mapped[dt.date] = mapped_column(Date)  # in the hub's time zone
    propose_due: Mapped[dt.date] = mapped_column(Date)
    close_due: Mapped[dt.date] = mapped_column(Date)
    proposed_on: Mapped[dt.date | None] = mapped_column(Date)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_reason: Mapped[str | None] = mapped_column(Text)  # the reporter sees it
    refusal: Mapped[str | None] = mapped_column(String(30))
    duplicate_of: Mapped[str | None] = mapped_column(String(32))
    reply: Mapped[str | None] = mapped_column(Text)  # the public reply
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_case_report_handler", "handler_region", "number"),
        Index("ix_case_report_region", "region", "number"),
        Index("ix_case_report_received_on", "received_on"),
    )


class CaseStep(Base):
    """One step of a case's life: who moved it from what to what, and why."""

    __tablename__ = "case_step"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_case_step_case", "case_id", "id"),)


class CaseLink(Base):
    """A unit or finding the case is about (linked by the office working it)."""

    __tablename__ = "case_link"

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # unit | finding
    target: Mapped[str] = mapped_column(String(32), primary_key=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    linked_by: Mapped[str] = mapped_column(String(64))
