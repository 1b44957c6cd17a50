"""audit_log_person_region: each person an entry names, with the region of the record

Revision ID: 0032_audit_person_region
Revises: 0031_run_deadline
Create Date: 2026-12-07 16:00:00

An entry names its persons by person key; the auditor's person search matched a person in any
entry of its view once the person had a record in its region, even one logged after the person
left for a sibling region (a city read that sent the auditor's people and the mover's new
record). From this migration on, an entry names each person with the region of the record it
was named for (the record a read sent, the version a change wrote or closed, the finding), a
row each in ``audit_log_person_region``, covered by the entry's hash; the search matches, and a
foreign entry counts, a person only where named for a record of the auditor's region.

The entries already logged keep their rows in ``audit_log_person`` as they are: which record
of which region each person was named for was not recorded, and their hashes cover the keys
alone. They keep the old rule (a person who has, or had, a record in the auditor's region);
nothing is copied or updated (the append-only triggers stay as they are). The new table is
append-only like the others of the log.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_audit_person_region"
down_revision: str | None = "0031_run_deadline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_log_person_region"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("person_key", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint("seq", "person_key", "region", name=op.f(f"pk_{TABLE}")),
    )
    op.create_index(f"ix_{TABLE}_person_key", TABLE, ["person_key", "region", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        # audit_log_refuse_change() is migration 0004's.
        op.execute(
            f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{event.lower()} BEFORE {event} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {event} "
                f"refused'); END"
            )


def downgrade() -> None:
    # Dropping the table drops its triggers too. The persons of the entries logged since the
    # upgrade go with it: their hashes cover them, so verify fails on those entries after a
    # downgrade (a downgrade of the audit log is for a database being thrown away).
    op.drop_index(f"ix_{TABLE}_person_key", table_name=TABLE)
    op.drop_table(TABLE)
