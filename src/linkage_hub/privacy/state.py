"""Whether a key rotation is under way (its state rows are this room's; the rotation itself,
which rewrites the dataset tables, is :mod:`linkage_hub.records.rotation`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from linkage_hub.errors import Conflict
from linkage_hub.privacy.models import KeyRotation


def pending_rotation(session: Session) -> KeyRotation | None:
    return session.scalars(
        select(KeyRotation).where(KeyRotation.finished_at.is_(None)).order_by(KeyRotation.id)
    ).first()


def rotation_in_progress(session: Session) -> bool:
    """For jobs that join persons across tables: a rotation is half done."""
    return pending_rotation(session) is not None


def refuse_while_rotating(session: Session, what: str) -> None:
    """A 409 for a read that joins one person's records across datasets by person key (``what``:
    the staffing report, ...) while a rotation is half done: the tables then stand under two
    key versions, and such a join would count a person employed and paid as neither. Lookups
    of one person's fields follow the rotation's key map instead (reconciliation.service)."""
    if rotation_in_progress(session):
        raise Conflict(
            f"An ID key rotation is in progress: {what} joins persons across datasets, so it "
            "is refused until the rotation ends (linkage-hub keys status)."
        )
