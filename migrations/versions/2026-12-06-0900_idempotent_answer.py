"""idempotent_answer: the first answer to a create with an Idempotency-Key

Revision ID: 0022_idempotent_answer
Revises: 0021_acknowledged_in
Create Date: 2026-12-06 09:00:00

API.md: a retry of a write that creates, with the same ``Idempotency-Key`` and body, returns
the first result. Batches keep theirs on the batch row; every other create route (a
subscription, a comment, a meeting, a disclosure, a run, a 12310 report) keeps its first
answer here, by (client or ``public``, route, keyed hash of the key), sealed, for
``idempotency_retention_hours`` (``linkage_hub.idempotency``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_idempotent_answer"
down_revision: str | None = "0021_acknowledged_in"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_answer",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(32), nullable=False),
        sa.Column("request_digest", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "route", "key_hash", name=op.f("pk_idempotent_answer")),
    )
    op.create_index(op.f("ix_idempotent_answer_created_at"), "idempotent_answer", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotent_answer_created_at"), table_name="idempotent_answer")
    op.drop_table("idempotent_answer")
