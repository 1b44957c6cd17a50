"""Runs, findings and what people add to them (events, comments).

A finding's ``identity`` is its rule plus its subject (``RULE:person_key``,
``RULE:unit_code:establishment_type``, ``RULE:unit_code:level`` or ``RULE:unit_code``); it is
unique, so a finding that comes back after being resolved is the same row (``reopened``).
No table here holds an ID number: person findings carry the ``person_key`` and the number is
looked up in the current records when a finding is shown. A key rotation re-keys ``person_key``
and the ``identity`` built from it (``PERSON_KEY_DEPENDANTS`` in :mod:`linkage_hub.records.rotation`
names them: keep it in step with the identity's form).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from linkage_hub.db import Base

ACTIVE_RUN = text("status IN ('queued', 'running')")
LIVE_FINDING = text("status <> 'resolved'")


class Run(Base):
    __tablename__ = "reconciliation_run"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The run's place in creation order: the list pages newest first by it (one integer for
    # the one cursor codec). Given under the creation lock, as max + 1.
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    kind: Mapped[str] = mapped_column(String(12), server_default="full")  # full | incremental
    region: Mapped[str] = mapped_column(String(6))
    region_lo: Mapped[str] = mapped_column(String(6))
    region_hi: Mapped[str] = mapped_column(String(6))
    period: Mapped[str | None] = mapped_column(String(7))
    as_of: Mapped[dt.date] = mapped_column(Date)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    requested_by: Mapped[str] = mapped_column(String(64))
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # When the run's time limit ends: its start plus the LINKAGE_RUN_TIMEOUT_SECONDS of the
    # process running it, by which another process judges it stuck (runs.fail_dead_runs).
    # NULL: not started, or started before migration 0031 (judged by the judge's setting).
    deadline_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    # Why a failed run failed: error | timeout | process_stopped | not_started (runs.py)
    error_code: Mapped[str | None] = mapped_column(String(20))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # rule → {found, new, ...}
    skipped: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # rule → missing datasets
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # step → seconds
    warnings: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # [{code, message}]
    # The change feed's newest seq when the run's parameters were fixed (its default period
    # chosen): the run settles the feed up to here; changes after it come again.
    feed_seq: Mapped[int | None] = mapped_column(BigInteger())
    batches: Mapped[list[RunBatch]] = relationship(
        primaryjoin="Run.id == foreign(RunBatch.run_id)",
        order_by="RunBatch.batch_id",
        lazy="selectin",
        cascade="all, delete-orphan",
    )

    @property
    def batch_ids(self) -> list[str]:
        return [b.batch_id for b in self.batches]

    __table_args__ = (
        # The backstop of "one run per region at a time" (overlapping regions are refused by
        # the service under a lock; this catches the same region from two processes).
        Index(
            "ix_reconciliation_run_active_region",
            "region",
            unique=True,
            sqlite_where=ACTIVE_RUN,
            postgresql_where=ACTIVE_RUN,
        ),
        Index("uq_reconciliation_run_region_scheduled_for", "region", "scheduled_for", unique=True),
        Index("ix_reconciliation_run_status", "status"),
        Index("uq_reconciliation_run_seq", "seq", unique=True),
    )


class RunBatch(Base):
    """A batch an incremental run covered (a full run covers none): ``?batch_id=`` finds the
    run that settled a push."""

    __tablename__ = "reconciliation_run_batch"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)

    __table_args__ = (Index("ix_reconciliation_run_batch_batch_id", "batch_id"),)


class Watermark(Base):
    """How far the findings of a region are settled: every change of the feed up to ``seq``
    (``records_change.seq``) is reflected in them, under ``parameters`` (period, as-of date,
    exit grace, holidays) and with ``rules`` run. Written by every run that succeeds; an
    incremental run reconciles what changed after ``seq`` and is exact only under the same
    parameters and rules (:mod:`linkage_hub.reconciliation.delta`). ``seq`` is null once a
    full run under other parameters over an overlapping region dropped it: the row stays, so
    the region stays a target of the on-write step, and its next run is a full one."""

    __tablename__ = "reconciliation_watermark"

    region: Mapped[str] = mapped_column(String(6), primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    run_id: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[str] = mapped_column(Text)  # canonical JSON, compared as text
    rules: Mapped[str] = mapped_column(Text)  # the rules run, comma-separated, sorted
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Finding(Base):
    __tablename__ = "reconciliation_finding"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    identity: Mapped[str] = mapped_column(String(120), unique=True)
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    severity_rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(6))
    unit_code: Mapped[str | None] = mapped_column(String(18))
    person_key: Mapped[str | None] = mapped_column(String(32))
    establishment_type: Mapped[str | None] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(10))
    departments: Mapped[str] = mapped_column(String(80))  # ",finance,establishment,"
    summary_zh: Mapped[str] = mapped_column(Text)
    summary_en: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    first_run_id: Mapped[str] = mapped_column(String(32))
    last_run_id: Mapped[str] = mapped_column(String(32))  # the run that last found it
    resolved_run_id: Mapped[str | None] = mapped_column(String(32))
    # Set when a finding is acknowledged: the department that answers for it and, where one was
    # set, the date it is due; "overdue" is acknowledged with due_on before today.
    responsible_department: Mapped[str | None] = mapped_column(String(20))
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    # The region the finding was filed in when it was acknowledged: who answers and by when
    # are that region's to read, as its history entries are (reconciliation.service).
    acknowledged_in: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_reconciliation_finding_region_rule", "region", "rule"),
        Index("ix_reconciliation_finding_severity_rank_id", "severity_rank", "id"),
        Index("ix_reconciliation_finding_person_key", "person_key"),
        Index("ix_reconciliation_finding_unit_code", "unit_code"),
        # Room for the updates every run makes in place (migration 0018_finding_fillfactor)
        {"postgresql_with": {"fillfactor": 70}},
    )


class Evidence(Base):
    """One record version behind a finding, as of the run that last found it."""

    __tablename__ = "reconciliation_evidence"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    finding_id: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str] = mapped_column(String(20))
    record_key: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_reconciliation_evidence_finding_id", "finding_id"),)


class Event(Base):
    """A status change: by a run (``run_id``) or by a person (``client_id``, ``department``)."""

    __tablename__ = "reconciliation_event"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    finding_id: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[str | None] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    document_no: Mapped[str | None] = mapped_column(String(100))
    # The region the finding was filed in when this was written: a reader outside it (the
    # region a moved unit entered) reads the statuses only (service.finding_detail).
    filed_region: Mapped[str | None] = mapped_column(String(6))

    __table_args__ = (
        Index("ix_reconciliation_event_finding_id", "finding_id", "id"),
        Index("ix_reconciliation_event_run_id", "run_id"),  # a run's outbox events
    )


class Comment(Base):
    """The joint-meeting thread (会商) of a finding."""

    __tablename__ = "reconciliation_comment"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    finding_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(6))  # the author's
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    filed_region: Mapped[str | None] = mapped_column(String(6))  # the finding's, as Event's

    __table_args__ = (Index("ix_reconciliation_comment_finding_id", "finding_id", "id"),)
