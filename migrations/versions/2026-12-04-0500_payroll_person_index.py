"""records: one person's current payroll lines (the console's pages at a million persons)

Revision ID: 0014_payroll_person_index
Revises: 0013_console
Create Date: 2026-12-04 05:00:00

The payroll table's indexes all lead with the period. A finding about a person who is on payroll
only takes the person's name and ID number from their payroll line, and the person view looks
for the person's latest period: without an index on the person key, PostgreSQL read every line
for each (0.1-0.5 s a person at a million persons, bench/console.py), which put the findings
list, a finding, a unit and the person search past 200 ms.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_payroll_person_index"
down_revision: str | None = "0013_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = sa.text("closed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_records_payroll_current_person_key",
        "records_payroll",
        ["person_key", "unit_code"],
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )


def downgrade() -> None:
    op.drop_index("ix_records_payroll_current_person_key", table_name="records_payroll")
