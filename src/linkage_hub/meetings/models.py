"""A meeting, its agenda, its decisions and its thread.

A decision does not copy the finding's transition: it points at the ``reconciliation_event``
row the decision wrote (``event_id``), so the minutes and the finding's history are one record.
The agenda keeps the status each finding had when the meeting was convened (``status_then``):
the minutes show what the meeting found, even after a run has moved the finding on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Meeting(Base):
    __tablename__ = "meeting"

    # Creation order, for cursors; drawn by the database, so two conveners never clash.
    number: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    region: Mapped[str] = mapped_column(String(6))
    held_on: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(Text)
    minutes_no: Mapped[str] = mapped_column(String(100))
    departments: Mapped[str] = mapped_column(String(80))  # ",establishment,finance,"
    convened_by: Mapped[str] = mapped_column(String(64))
    convened_department: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))

    @property
    def attending(self) -> list[str]:
        return [d for d in self.departments.strip(",").split(",") if d]

    __table_args__ = (
        Index("ix_meeting_region_number", "region", "number"),
        Index("uq_meeting_region_minutes_no", "region", "minutes_no", unique=True),
    )


class AgendaItem(Base):
    __tablename__ = "meeting_agenda"

    meeting_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status_then: Mapped[str] = mapped_column(String(12))

    __table_args__ = (Index("ix_meeting_agenda_finding_id", "finding_id"),)


class Decision(Base):
    __tablename__ = "meeting_decision"

    meeting_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    finding_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    from_status: Mapped[str] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    responsible_department: Mapped[str | None] = mapped_column(String(20))
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    event_id: Mapped[int] = mapped_column(BIGINT)  # the finding's reconciliation_event

    __table_args__ = (Index("ix_meeting_decision_finding_id", "finding_id"),)


class MeetingComment(Base):
    """The meeting's thread: what the departments attending add to it."""

    __tablename__ = "meeting_comment"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    meeting_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_meeting_comment_meeting_id", "meeting_id", "id"),)
