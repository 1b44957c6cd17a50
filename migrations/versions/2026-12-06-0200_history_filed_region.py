"""reconciliation_event.filed_region, reconciliation_comment.filed_region: where the finding
was filed when the entry was written

Revision ID: 0020_history_filed_region
Revises: 0019_run_feed_seq
Create Date: 2026-12-06 02:00:00

A finding follows its unit to another region (a unit moved from one county to its sibling),
with the same id. What the departments of the region it left wrote about it — comments,
waiver reasons, document numbers, who acknowledged it — is that region's, as the records'
versions from before a move are: the region it enters reads the statuses, not the rest. Each
history entry and comment now carries the region the finding was filed in when it was
written; the rows written before this revision take the finding's region now (the best that
is known: nothing moved findings before).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_history_filed_region"
down_revision: str | None = "0019_run_feed_seq"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("reconciliation_event", "reconciliation_comment")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("filed_region", sa.String(6), nullable=True))
        op.execute(
            f"UPDATE {table} SET filed_region = (SELECT f.region FROM reconciliation_finding f "
            f"WHERE f.id = {table}.finding_id)"
        )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("filed_region")
