"""reconciliation_finding.acknowledged_in: the region a finding was acknowledged in

Revision ID: 0021_acknowledged_in
Revises: 0020_history_filed_region
Create Date: 2026-12-06 05:00:00

Who answers for an acknowledged finding and by when (``responsible_department``, ``due_on``,
and so ``overdue``) were written by the departments of the region it was filed in then. When
its unit moves to a sibling county, the finding follows with its id, and those facts, like the
history entry that set them, stay the region it left's (0020). Each finding now records where
it was acknowledged; the acknowledged findings of before this revision take the region their
latest acknowledgement was filed in (0020's ``filed_region``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_acknowledged_in"
down_revision: str | None = "0020_history_filed_region"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_finding") as batch:
        batch.add_column(sa.Column("acknowledged_in", sa.String(6), nullable=True))
    op.execute(
        "UPDATE reconciliation_finding SET acknowledged_in = (SELECT e.filed_region "
        "FROM reconciliation_event e WHERE e.finding_id = reconciliation_finding.id "
        "AND e.to_status = 'acknowledged' ORDER BY e.id DESC LIMIT 1) "
        "WHERE status = 'acknowledged'"
    )


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_finding") as batch:
        batch.drop_column("acknowledged_in")
