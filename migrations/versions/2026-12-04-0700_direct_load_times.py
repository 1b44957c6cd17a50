"""SQLite: the versions of a first large load store their time as every other write does

Revision ID: 0016_direct_load_times
Revises: 0015_meetings
Create Date: 2026-12-04 07:00:00

A large first NDJSON or CSV load into an empty SQLite version table wrote ``recorded_at`` through
the driver's default adapter (``2026-12-04 20:34:02.217889+00:00``) instead of SQLAlchemy's text
(``2026-12-04 20:34:02.217889``), so those versions sorted after the moment they were recorded and
a read ``as_of`` that moment missed them. Rewrites such values to the usual text. PostgreSQL
stores a ``timestamptz`` and is not touched. Nothing to undo.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_direct_load_times"
down_revision: str | None = "0015_meetings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSION_TABLES = (
    "records_roster",
    "records_cadre",
    "records_employment",
    "records_payroll",
    "registry_unit",
    "registry_quota",
    "registry_leader_post",
)
# "YYYY-MM-DD HH:MM:SS+00:00" (25 characters) when the microseconds were 0, else
# "YYYY-MM-DD HH:MM:SS.ffffff+00:00" (32).
USUAL = (
    "CASE WHEN length(recorded_at) = 25 THEN substr(recorded_at, 1, 19) || '.000000' "
    "ELSE substr(recorded_at, 1, 26) END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in VERSION_TABLES:
        op.execute(
            f"UPDATE {table} SET recorded_at = {USUAL} "
            "WHERE typeof(recorded_at) = 'text' AND recorded_at LIKE '%+00:00'"
        )


def downgrade() -> None:
    pass
