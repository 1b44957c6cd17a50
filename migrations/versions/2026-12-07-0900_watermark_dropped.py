"""reconciliation_watermark.seq may be null: a dropped watermark keeps its region

Revision ID: 0025_watermark_dropped
Revises: 0024_audit_mac
Create Date: 2026-12-07 09:00:00

A full run under other parameters deleted the watermarks of the regions it overlaps. The
on-write step picks its targets from the regions that hold a watermark, so a county run as of
another day (or of another period) took its city off the targets: writes elsewhere in the
city were no longer reconciled until someone ran the city by hand. Such a run now sets the
seq to null instead: the region stays a target, behind, and its next run is a full one.
Downgrade deletes the dropped watermarks, which is what they meant before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_watermark_dropped"
down_revision: str | None = "0024_audit_mac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reconciliation_watermark"
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("seq", existing_type=SEQ, nullable=True)


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE seq IS NULL"))
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("seq", existing_type=SEQ, nullable=False)
