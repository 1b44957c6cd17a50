"""the console: people's browser sessions and one-time password links

Revision ID: 0013_console
Revises: 0012_public_face
Create Date: 2026-12-04 04:00:00

A person's account is an ``auth_client`` row with the id ``user:<username>``; these two tables
hold what only people have: signed-in sessions (the SHA-256 of the cookie's token) and the
one-time links that set a password.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_console"
down_revision: str | None = "0012_public_face"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_console_session",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("secret_version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("seen_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("source_address", sa.String(64), nullable=True),
    )
    op.create_index("ix_auth_console_session_client_id", "auth_console_session", ["client_id"])
    op.create_table(
        "auth_password_link",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("auth_password_link")
    op.drop_index("ix_auth_console_session_client_id", table_name="auth_console_session")
    op.drop_table("auth_console_session")
