"""reconciliation: run kinds, the batches a run covered, warnings, creation order

Revision ID: 0007_run_kinds
Revises: 0006_read_regions
Create Date: 2026-12-03 09:00:00

``kind`` is ``full`` (API, command line, schedule) or ``incremental`` (after writes);
``reconciliation_run_batch`` lists the batches an incremental run covered (none for a full
run), indexed by batch so ``?batch_id=`` finds the run that settled a push. ``warnings`` holds
what a run that succeeded wants its caller to know (every rule skipped). ``seq`` orders runs
for the newest-first list; existing runs are numbered by creation time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_run_kinds"
down_revision: str | None = "0006_read_regions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RUN = "reconciliation_run"
RUN_BATCH = "reconciliation_run_batch"


def upgrade() -> None:
    with op.batch_alter_table(RUN) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=12), server_default="full", nullable=False)
        )
        batch_op.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
    op.execute(
        f"UPDATE {RUN} SET seq = (SELECT COUNT(*) FROM {RUN} r WHERE r.created_at < "
        f"{RUN}.created_at OR (r.created_at = {RUN}.created_at AND r.id <= {RUN}.id))"
    )
    with op.batch_alter_table(RUN) as batch_op:
        batch_op.alter_column(
            "seq",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        )
        batch_op.create_index("uq_reconciliation_run_seq", ["seq"], unique=True)
    op.create_table(
        RUN_BATCH,
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "batch_id", name=op.f("pk_reconciliation_run_batch")),
    )
    op.create_index("ix_reconciliation_run_batch_batch_id", RUN_BATCH, ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_run_batch_batch_id", table_name=RUN_BATCH)
    op.drop_table(RUN_BATCH)
    with op.batch_alter_table(RUN) as batch_op:
        batch_op.drop_index("uq_reconciliation_run_seq")
        batch_op.drop_column("seq")
        batch_op.drop_column("warnings")
        batch_op.drop_column("kind")
