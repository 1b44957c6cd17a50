"""reconciliation_run.feed_seq: the change feed's position when the run's parameters were fixed

Revision ID: 0019_run_feed_seq
Revises: 0018_finding_fillfactor
Create Date: 2026-12-05 21:00:00

A run whose period is not given takes its region's latest payroll period when it is created,
and read the feed's newest seq only when it started. A payroll batch committed in between
(the first lines of a new month) was then counted as settled by a run that had judged the
month before: the on-write step saw nothing behind and the new month's findings waited for
the next write. The run now settles the feed up to where it stood when its period was chosen;
later changes come again in the next run. Runs queued before the upgrade have none and read
the feed when they start, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_run_feed_seq"
down_revision: str | None = "0018_finding_fillfactor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_run") as batch:
        batch.add_column(sa.Column("feed_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_run") as batch:
        batch.drop_column("feed_seq")
