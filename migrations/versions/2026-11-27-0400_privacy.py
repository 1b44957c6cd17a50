"""privacy: encrypted ID numbers (wider columns), the audit log, key rotation state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERSON_TABLES = ("records_roster", "records_cadre", "records_employment", "records_payroll")
AUDIT_TABLES = ("audit_log", "audit_log_person")

# PostgreSQL: rows of the audit log are never updated or deleted; TRUNCATE only in a session
# that says it is doing maintenance (the test harness empties every table between tests).
PG_FUNCTION = """
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('linkage.audit_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # Ciphertext is longer than the number (65 characters for 18); widening a varchar is
        # a catalogue change on PostgreSQL, no rewrite. SQLite does not enforce lengths.
        for table in PERSON_TABLES:
            for column in ("id_number", "id_number_given"):
                op.alter_column(table, column, type_=sa.String(160), existing_type=sa.String(64))

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=20), nullable=True),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=True),
        sa.Column("target_id", sa.String(length=120), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_region_seq", "audit_log", ["region", "seq"])
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor", "seq"])
    op.create_index("ix_audit_log_recorded_at", "audit_log", ["recorded_at"])
    op.create_index("ix_audit_log_target_type_target_id", "audit_log", ["target_type", "target_id"])
    op.create_table(
        "audit_log_person",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("person_key", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", "person_key", name=op.f("pk_audit_log_person")),
    )
    op.create_index("ix_audit_log_person_person_key", "audit_log_person", ["person_key"])

    op.create_table(
        "privacy_key_rotation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_version", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("table_name", sa.String(length=40), nullable=True),
        sa.Column("after_id", sa.BigInteger(), nullable=False),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_key_rotation")),
    )
    op.create_table(
        "privacy_person_key_map",
        sa.Column("old_key", sa.String(length=32), nullable=False),
        sa.Column("new_key", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("old_key", name=op.f("pk_privacy_person_key_map")),
    )

    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in AUDIT_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()"
            )
    else:
        for table in AUDIT_TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {event} "
                    f"refused'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_table("privacy_person_key_map")
    op.drop_table("privacy_key_rotation")
    op.drop_index("ix_audit_log_person_person_key", table_name="audit_log_person")
    op.drop_table("audit_log_person")
    op.drop_index("ix_audit_log_target_type_target_id", table_name="audit_log")
    op.drop_index("ix_audit_log_recorded_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_seq", table_name="audit_log")
    op.drop_index("ix_audit_log_region_seq", table_name="audit_log")
    op.drop_table("audit_log")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION audit_log_refuse_change()")
        for table in PERSON_TABLES:
            for column in ("id_number", "id_number_given"):
                op.alter_column(table, column, type_=sa.String(64), existing_type=sa.String(160))
