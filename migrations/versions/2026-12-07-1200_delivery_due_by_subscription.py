"""notification_delivery: due deliveries by subscription

Revision ID: 0028_delivery_due_by_sub
Revises: 0027_id_key_fingerprint
Create Date: 2026-12-07 12:00:00

A claim takes each subscription's share of the due deliveries (``dispatch.claim``), so that
one worker sends to several receivers at once; this index finds one subscription's due
deliveries in order without reading the others'.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_delivery_due_by_sub"
down_revision: str | None = "0027_id_key_fingerprint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_notification_delivery_subscription_due",
        "notification_delivery",
        ["subscription_id", "next_attempt_at"],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_notification_delivery_subscription_due", table_name="notification_delivery")
