"""records: the current paid lines of a period at a unit (incremental runs)

Revision ID: 0009_payroll_unit_index
Revises: 0008_watermarks
Create Date: 2026-12-03 11:00:00

An incremental run counts every paid line at the few unregistered units it touched
(UNREGISTERED_UNIT). Without an index on the unit, PostgreSQL read the period's every line for
them (0.6 s at a million persons, bench/settle.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_payroll_unit_index"
down_revision: str | None = "0008_watermarks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_records_payroll_current_period_unit_code",
        "records_payroll",
        ["period", "unit_code"],
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )


def downgrade() -> None:
    op.drop_index("ix_records_payroll_current_period_unit_code", table_name="records_payroll")
