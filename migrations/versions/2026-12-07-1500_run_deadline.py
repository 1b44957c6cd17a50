"""reconciliation_run.deadline_at: the time a run's own limit ends

Revision ID: 0031_run_deadline
Revises: 0030_audit_key_version
Create Date: 2026-12-07 15:00:00

A run that starts records when its time limit ends (its start plus the
``LINKAGE_RUN_TIMEOUT_SECONDS`` of the process running it). Another process judges a run stuck
by that time, not by its own setting. Runs started before this migration keep NULL: they are
judged by the judging process's setting, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_run_deadline"
down_revision: str | None = "0030_audit_key_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_run") as batch:
        batch.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_run") as batch:
        batch.drop_column("deadline_at")
