"""records: one person's closed versions, for the audit log's person search

Revision ID: 0023_closed_person_index
Revises: 0022_idempotent_answer
Create Date: 2026-12-06 18:00:00

``GET /api/v1/audit-log?id_number=`` reads every version of the person, closed ones too: the
batches that wrote or closed one, and whether the person ever had one in the auditor's
region. Only current versions were indexed by person key, so each search read all four person
tables twice (seconds at a province's millions of versions). Closed versions only: a first
push, all current versions, pays for no extra index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_closed_person_index"
down_revision: str | None = "0022_idempotent_answer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSED = sa.text("closed_batch_id IS NOT NULL")
TABLES = ("records_roster", "records_cadre", "records_employment", "records_payroll")


def upgrade() -> None:
    for table in TABLES:
        op.create_index(
            f"ix_{table}_closed_person_key",
            table,
            ["person_key"],
            sqlite_where=CLOSED,
            postgresql_where=CLOSED,
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_closed_person_key", table_name=table)
