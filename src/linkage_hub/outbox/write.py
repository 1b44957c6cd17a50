"""Appending events: the last step of the transaction that causes them.

Every append first takes the change feed's commit-order lock (PostgreSQL, held until commit;
SQLite has one writer at a time): an event's ``id`` is then drawn in commit order, so the
dispatcher, reading ``id > cursor``, never passes over an event that commits later. Take it as
the transaction's last step but one, before the audit-log entry (whose own lock comes after it
everywhere, so the two locks are always taken in the same order).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.orm import Session

from linkage_hub.db import EVENTS_WRITTEN, FEED_LOCK, NEW_ID, UtcDateTime
from linkage_hub.outbox.models import OutboxEvent

# The columns of a set-based append, in this order: ``INSERT INTO outbox_event (COLUMNS)
# SELECT <event id>, <type>, ...`` (see :func:`append_select`).
COLUMNS = (
    "event_id, type, region, unit_code, dataset, rule, severity, finding_id, batch_id, run_id, "
    "data, created_at"
)


def take_order_lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})


def append(session: Session, *, type: str, region: str, now: dt.datetime, **columns: Any) -> None:
    """One event; ``columns`` are those of :class:`OutboxEvent` (``data`` defaults to {})."""
    take_order_lock(session)
    columns.setdefault("data", {})
    session.execute(
        insert(OutboxEvent).values(
            event_id=uuid.uuid4().hex, type=type, region=region, created_at=now, **columns
        )
    )
    session.info[EVENTS_WRITTEN] = True


def append_select(
    session: Session, select_sql: str, params: dict[str, Any], *, returning: str | None = None
) -> list[Any]:
    """Events from a query: ``select_sql`` yields the columns of :data:`COLUMNS` after the
    event id (given here), so a run's thousand findings are one statement. ``returning``: a
    column of the events written, returned a value per event (``RETURNING``, same statement)."""
    take_order_lock(session)
    new_id = NEW_ID[session.get_bind().dialect.name]
    statement = select_sql.replace("SELECT ", f"SELECT {new_id}, ", 1)
    tail = f" RETURNING {returning}" if returning is not None else ""
    clause = text(f"INSERT INTO outbox_event ({COLUMNS}) {statement}{tail}")
    if "now" in params:
        clause = clause.bindparams(bindparam("now", type_=UtcDateTime()))
    result = session.execute(clause, params)
    if returning is not None:
        values = list(result.scalars())
        if values:
            session.info[EVENTS_WRITTEN] = True
        return values
    if getattr(result, "rowcount", 1):
        session.info[EVENTS_WRITTEN] = True
    return []


def json_object(dialect: str, *pairs: tuple[str, str]) -> str:
    """A SQL expression building a JSON object of (key, SQL expression) pairs."""
    function = "json_build_object" if dialect == "postgresql" else "json_object"
    return f"{function}(" + ", ".join(f"'{key}', {value}" for key, value in pairs) + ")"
