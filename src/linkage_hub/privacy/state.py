"""Whether a key rotation is under way (its state rows are this room's; the rotation itself,
which rewrites the dataset tables, is :mod:`linkage_hub.records.rotation`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from linkage_hub.privacy.models import KeyRotation


def pending_rotation(session: Session) -> KeyRotation | None:
    return session.scalars(
        select(KeyRotation).where(KeyRotation.finished_at.is_(None)).order_by(KeyRotation.id)
    ).first()


def rotation_in_progress(session: Session) -> bool:
    """For jobs that join persons across tables: a rotation is half done."""
    return pending_rotation(session) is not None
