"""notifications: periodic bulletins (定期通报)

Revision ID: 0011_bulletins
Revises: 0010_notifications
Create Date: 2026-12-04 02:00:00

One row per region, answerable department and period, holding the period's counts (never a
person); the unique index makes a period's publication happen once however many hub processes
run the schedule.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_bulletins"
down_revision: str | None = "0010_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_bulletin",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("department", sa.String(length=20), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_bulletin")),
    )
    op.create_index(
        "ix_notification_bulletin_published",
        "notification_bulletin",
        ["period_to", "id"],
        unique=False,
    )
    op.create_index(
        "uq_notification_bulletin_period",
        "notification_bulletin",
        ["region", "department", "period_from", "period_to"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_notification_bulletin_period", table_name="notification_bulletin")
    op.drop_index("ix_notification_bulletin_published", table_name="notification_bulletin")
    op.drop_table("notification_bulletin")
