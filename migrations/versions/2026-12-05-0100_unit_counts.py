"""Head counts per unit kept by difference, for incremental reconciliation

Revision ID: 0017_unit_counts
Revises: 0016_direct_load_times
Create Date: 2026-12-05 01:00:00

``records_unit_count`` holds, per unit, region and category, how many current roster records
are active (by establishment type) and how many current cadres are active (by leader level);
each batch adds its changes in its own transaction (linkage_hub.records.tally). The upgrade
counts the records already stored, in one pass per table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_unit_counts"
down_revision: str | None = "0016_direct_load_times"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTED = {
    "roster": ("records_roster", "establishment_type"),
    "cadres": ("records_cadre", "leader_level"),
}


def upgrade() -> None:
    op.create_table(
        "records_unit_count",
        sa.Column("dataset", sa.String(20), nullable=False),
        sa.Column("unit_code", sa.String(18), nullable=False),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dataset", "unit_code", "region", "category", name=op.f("pk_records_unit_count")
        ),
    )
    for dataset, (table, column) in COUNTED.items():
        op.execute(
            "INSERT INTO records_unit_count (dataset, unit_code, region, category, n) "
            f"SELECT '{dataset}', unit_code, region, {column}, COUNT(*) FROM {table} "
            f"WHERE closed_at IS NULL AND status = 'active' GROUP BY unit_code, region, {column}"
        )


def downgrade() -> None:
    op.drop_table("records_unit_count")
