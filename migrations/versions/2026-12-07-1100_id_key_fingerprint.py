"""privacy_id_key: the fingerprint of each ID key version the hub seals under

Revision ID: 0027_id_key_fingerprint
Revises: 0026_throttle_masked
Create Date: 2026-12-07 11:00:00

Two replicas started together on a new database (nothing sealed yet, so the start-up check had
nothing to compare) could each generate their own key set and seal ID numbers the other cannot
open. The first keyring a process makes now records its key set's fingerprints here (a keyed
hash of a fixed label per version, never a key), inserted if absent; a process whose key set
disagrees refuses to seal (``linkage_hub.records.rotation.record_key_set``). The table starts
empty: an existing hub records its key set at its next start, after the check that it opens
what the database holds.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_id_key_fingerprint"
down_revision: str | None = "0026_throttle_masked"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_id_key",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_privacy_id_key")),
    )


def downgrade() -> None:
    op.drop_table("privacy_id_key")
