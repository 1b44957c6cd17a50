"""reconciliation: how far each region's findings are settled (incremental runs)

Revision ID: 0008_watermarks
Revises: 0007_run_kinds
Create Date: 2026-12-03 10:00:00

``reconciliation_watermark`` holds, per region, the change-feed ``seq`` up to which the
region's findings are settled, and the parameters and rules they were settled under. An
incremental run reconciles the changes after it; without a row the next run is a full one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_watermarks"
down_revision: str | None = "0007_run_kinds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "reconciliation_watermark"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("region", name=op.f("pk_reconciliation_watermark")),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
