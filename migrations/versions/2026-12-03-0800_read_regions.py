"""audit: regions of a read's records; request ids of the caller; source address of access

Revision ID: 0006_read_regions
Revises: 0005_auth_throttle
Create Date: 2026-12-03 08:00:00

``audit_log_region`` names the regions of the records a read sent besides the reader's own
(part of the entry's hash; append-only like the rest of the log), so the auditors of those
regions see the read. ``client_request_id`` (audit log, access records) keeps a caller's own
``X-Request-ID`` beside the hub's unique ``request_id``; ``source_address`` is where an access
came from. Columns are added in place (never by copying the table: the audit log's triggers
stay); entries written before keep their hashes, since the new fields enter the hash only when
set.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_read_regions"
down_revision: str | None = "0005_auth_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_log_region"


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("client_request_id", sa.String(length=64), nullable=True))
    op.add_column(
        "auth_access_record",
        sa.Column("client_request_id", sa.String(length=64), nullable=True),
    )
    op.add_column(
        "auth_access_record", sa.Column("source_address", sa.String(length=64), nullable=True)
    )
    op.create_table(
        TABLE,
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint("seq", "region", name=op.f("pk_audit_log_region")),
    )
    op.create_index("ix_audit_log_region_region_seq", TABLE, ["region", "seq"])
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
    # Dropping the table drops its triggers too.
    op.drop_index("ix_audit_log_region_region_seq", table_name=TABLE)
    op.drop_table(TABLE)
    op.drop_column("auth_access_record", "source_address")
    op.drop_column("auth_access_record", "client_request_id")
    op.drop_column("audit_log", "client_request_id")
