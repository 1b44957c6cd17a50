"""reconciliation_run.error_code: why a failed run failed

Revision ID: 0029_run_error_code
Revises: 0028_delivery_due_by_sub
Create Date: 2026-12-07 13:00:00

A run now has a time limit (``LINKAGE_RUN_TIMEOUT_SECONDS``); a failed run says why in a code
(``error``, ``timeout``, ``process_stopped``, ``not_started``) beside its ``error`` text. Runs
failed before this migration get the code their text says.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_run_error_code"
down_revision: str | None = "0028_delivery_due_by_sub"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_run") as batch:
        batch.add_column(sa.Column("error_code", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE reconciliation_run SET error_code = CASE"
        " WHEN error LIKE 'the process running it stopped%' THEN 'process_stopped'"
        " WHEN error LIKE 'the run could not start%' THEN 'not_started'"
        " ELSE 'error' END"
        " WHERE status = 'failed'"
    )


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_run") as batch:
        batch.drop_column("error_code")
