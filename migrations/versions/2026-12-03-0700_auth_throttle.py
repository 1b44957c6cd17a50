"""auth: throttle failed token requests per (client id, source address), not per client

Revision ID: 0005_auth_throttle
Revises: 0004
Create Date: 2026-12-03 07:00:00

The lock used to live in ``auth_client`` (``failed_attempts``, ``locked_until``): anyone who
knew a client id could lock that department out, and only existing ids could be locked, which
told a stranger which ids exist. Counts of the old columns are not carried over (a lock lasts
at most 15 minutes); a downgrade brings the columns back empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_auth_throttle"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_throttle",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "address", name=op.f("pk_auth_throttle")),
    )
    op.create_index("ix_auth_throttle_failed_at", "auth_throttle", ["failed_at"], unique=False)
    with op.batch_alter_table("auth_client", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_attempts")


def downgrade() -> None:
    with op.batch_alter_table("auth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_auth_throttle_failed_at", table_name="auth_throttle")
    op.drop_table("auth_throttle")
