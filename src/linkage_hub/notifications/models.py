"""Subscriptions, deliveries and the attempt log. No table here holds person data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime

BIGINT = BigInteger().with_variant(Integer, "sqlite")
PENDING = text("status = 'pending'")


class Subscription(Base):
    """An endpoint subscribed by a client to event types of a region.

    ``cursor`` is the last outbox id the dispatcher has looked at for it, ``last_seq`` the last
    ``seq`` it gave: every matching event after ``cursor`` gets ``last_seq + 1, + 2, ...``. The
    signing secret is stored sealed (:mod:`linkage_hub.notifications.secrets`); after a
    rotation the previous one signs too until ``previous_until``.
    """

    __tablename__ = "notification_subscription"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))  # the owner
    department: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(6))  # the filter's region, inside the owner's
    region_lo: Mapped[str] = mapped_column(String(6))
    region_hi: Mapped[str] = mapped_column(String(6))
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON)  # datasets, rules, severities, units
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    cursor: Mapped[int] = mapped_column(BIGINT)
    last_seq: Mapped[int] = mapped_column(BIGINT)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_notification_subscription_client_id", "client_id", "id"),)


class Delivery(Base):
    """One event for one subscription: ``pending`` until a 2xx (``delivered``) or the retries
    run out (``failed``), or ``dropped`` unsent when the subscription's region, events or
    filters changed and no longer match it. ``lease_until`` is the claim of the process
    sending it."""

    __tablename__ = "notification_delivery"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BIGINT)
    outbox_id: Mapped[int] = mapped_column(BIGINT)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("uq_notification_delivery_subscription_seq", "subscription_id", "seq", unique=True),
        Index(
            "ix_notification_delivery_due",
            "next_attempt_at",
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
        Index(
            "ix_notification_delivery_subscription_due",
            "subscription_id",
            "next_attempt_at",
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
    )


class Attempt(Base):
    """Every POST the hub made, answered or not, and every delivery dropped unsent
    (``attempt`` 0, the reason in ``error``)."""

    __tablename__ = "notification_attempt"

    id: Mapped[int] = mapped_column(BIGINT, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[int] = mapped_column(BIGINT)
    event_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BIGINT)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_notification_attempt_subscription_id", "subscription_id", "id"),)


class Bulletin(Base):
    """A periodic bulletin (定期通报) of one region for one answerable department: what was
    opened, resolved, is still open and is overdue, by rule and unit, and the period's runs.
    ``period_to`` is exclusive. Published once: a second publisher of the same period finds
    the row there (the unique index) and leaves it."""

    __tablename__ = "notification_bulletin"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region: Mapped[str] = mapped_column(String(6))
    department: Mapped[str] = mapped_column(String(20))
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date] = mapped_column(Date)
    published_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index(
            "uq_notification_bulletin_period",
            "region",
            "department",
            "period_from",
            "period_to",
            unique=True,
        ),
        Index("ix_notification_bulletin_published", "period_to", "id"),
    )
