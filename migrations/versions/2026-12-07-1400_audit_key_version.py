"""audit_log.key_version, audit_log_key: the audit key becomes versioned (it can be rotated)

Revision ID: 0030_audit_key_version
Revises: 0029_run_error_code
Create Date: 2026-12-07 14:00:00

Each entry records the audit key version its MAC was made under; the entries before this
migration were all MAC'd under the one key there was, version 1 (``LINKAGE_AUDIT_KEY`` or
``linkage-hub.audit.key``, which stay version 1: nothing to do on upgrade). The column is added
with its default in place (no row is updated: the append-only triggers stay as they are).

``audit_log_key`` holds the fingerprint of each version (a keyed hash of a fixed label, never
the key), recorded by the first append under it; a process whose key set disagrees refuses to
append (``linkage_hub.audit.service.check_key_set``). It starts empty: the first append after
the upgrade checks its version 1 against the newest entry's MAC before recording it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_audit_key_version"
down_revision: str | None = "0029_run_error_code"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "audit_log",
        sa.Column("key_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.create_table(
        "audit_log_key",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_audit_log_key")),
    )


def downgrade() -> None:
    op.drop_table("audit_log_key")
    op.drop_column("audit_log", "key_version")
