"""reconciliation_finding: room on each page for updates that touch no index (PostgreSQL)

Revision ID: 0018_finding_fillfactor
Revises: 0017_unit_counts
Create Date: 2026-12-05 20:00:00

Every run rewrites the findings it finds again (``last_seen_at``, ``last_run_id``) and resolves
or reopens others (``status``): columns no index holds. On full pages PostgreSQL writes the new
row version to another page and a new entry into each of the table's six indexes; with free
room on the page it updates in place (a HOT update) and the indexes are left alone. With 30 %
of each page kept free, the update that resolves 12,225 findings took 0.13-0.22 s instead of
0.33-0.36 s at a million persons (bench/RESULTS.md, "Later: findings updated in place"). The setting
applies to pages written from now on; ``VACUUM FULL reconciliation_finding`` rewrites the
existing ones (it locks the table while it runs). SQLite has no such setting.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_finding_fillfactor"
down_revision: str | None = "0017_unit_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 70


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE reconciliation_finding SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE reconciliation_finding RESET (fillfactor)")
