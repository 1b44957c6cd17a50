"""notifications: the transactional outbox, subscriptions, deliveries and their attempts

Revision ID: 0010_notifications
Revises: 0009_payroll_unit_index
Create Date: 2026-12-04 01:00:00

``outbox_event`` is appended in the transaction of the change that causes an event (a batch,
a run, a transition or comment); the delivery worker fans each event out to the matching
subscriptions (``notification_delivery``, one ``seq`` per subscription without gaps) and logs
every POST (``notification_attempt``). A run's events are found by ``run_id`` in
``reconciliation_event``, hence its new index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_notifications"
down_revision: str | None = "0009_payroll_unit_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_attempt",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_attempt")),
    )
    op.create_index(
        "ix_notification_attempt_subscription_id",
        "notification_attempt",
        ["subscription_id", "id"],
        unique=False,
    )
    op.create_table(
        "notification_delivery",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_delivery")),
    )
    op.create_index(
        "ix_notification_delivery_due",
        "notification_delivery",
        ["next_attempt_at"],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "uq_notification_delivery_subscription_seq",
        "notification_delivery",
        ["subscription_id", "seq"],
        unique=True,
    )
    op.create_table(
        "notification_subscription",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("region_lo", sa.String(length=6), nullable=False),
        sa.Column("region_hi", sa.String(length=6), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_subscription")),
    )
    op.create_index(
        "ix_notification_subscription_client_id",
        "notification_subscription",
        ["client_id", "id"],
        unique=False,
    )
    op.create_table(
        "outbox_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("unit_code", sa.String(length=18), nullable=True),
        sa.Column("dataset", sa.String(length=20), nullable=True),
        sa.Column("rule", sa.String(length=40), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("finding_id", sa.String(length=32), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_event_id")),
    )
    op.create_index(
        "ix_reconciliation_event_run_id", "reconciliation_event", ["run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_reconciliation_event_run_id", table_name="reconciliation_event")
    op.drop_table("outbox_event")
    op.drop_index("ix_notification_subscription_client_id", table_name="notification_subscription")
    op.drop_table("notification_subscription")
    op.drop_index("uq_notification_delivery_subscription_seq", table_name="notification_delivery")
    op.drop_index(
        "ix_notification_delivery_due",
        table_name="notification_delivery",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("notification_delivery")
    op.drop_index("ix_notification_attempt_subscription_id", table_name="notification_attempt")
    op.drop_table("notification_attempt")
