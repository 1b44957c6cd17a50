"""the public face: disclosures (信息公开) and 12310 cases (举报受理)

Revision ID: 0012_public_face
Revises: 0011_bulletins
Create Date: 2026-12-04 03:00:00

Disclosures are immutable snapshots: a publication row and one row per public unit, which the
database itself refuses to change, or to delete within a year of publication (triggers; a
TRUNCATE by an operator is not stopped). Cases hold
the report (the reporter's contact sealed, the follow-up secret as a keyed hash), their steps
and their links to units and findings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_public_face"
down_revision: str | None = "0011_bulletins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


PG_FUNCTION = """
CREATE FUNCTION public_disclosure_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'public_disclosure'
     AND OLD.published_at < now() - interval '1 year' THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'public_disclosure_unit' AND NOT EXISTS (
       SELECT 1 FROM public_disclosure d
       WHERE d.id = OLD.disclosure_id AND d.published_at >= now() - interval '1 year') THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'a publication is immutable and kept a year: % refused', TG_OP;
END $$
"""
SQLITE_YOUNG = "published_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 year')"
SQLITE_TRIGGERS = (
    "CREATE TRIGGER public_disclosure_no_update BEFORE UPDATE ON public_disclosure BEGIN "
    "SELECT RAISE(ABORT, 'a publication is immutable: UPDATE refused'); END",
    "CREATE TRIGGER public_disclosure_no_delete BEFORE DELETE ON public_disclosure "
    f"WHEN OLD.{SQLITE_YOUNG} BEGIN "
    "SELECT RAISE(ABORT, 'a publication is kept a year: DELETE refused'); END",
    "CREATE TRIGGER public_disclosure_unit_no_update BEFORE UPDATE ON public_disclosure_unit "
    "BEGIN SELECT RAISE(ABORT, 'a publication is immutable: UPDATE refused'); END",
    "CREATE TRIGGER public_disclosure_unit_no_delete BEFORE DELETE ON public_disclosure_unit "
    "WHEN EXISTS (SELECT 1 FROM public_disclosure d WHERE d.id = OLD.disclosure_id "
    f"AND d.{SQLITE_YOUNG}) BEGIN "
    "SELECT RAISE(ABORT, 'a publication is kept a year: DELETE refused'); END",
)


def upgrade() -> None:
    op.create_index(
        "ix_registry_unit_classified",
        "registry_unit",
        ["unit_code"],
        sqlite_where=sa.text("classified"),
        postgresql_where=sa.text("classified"),
    )
    op.create_table(
        "public_disclosure",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("published_at", TIME, nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.Column("unit_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_public_disclosure")),
    )
    op.create_index("ix_public_disclosure_region", "public_disclosure", ["region", "published_at"])
    op.create_table(
        "public_disclosure_unit",
        sa.Column("disclosure_id", sa.String(32), nullable=False),
        sa.Column("unit_code", sa.String(18), nullable=False),
        sa.Column("parent_code", sa.String(18), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "disclosure_id", "unit_code", name=op.f("pk_public_disclosure_unit")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in ("public_disclosure", "public_disclosure_unit"):
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION public_disclosure_refuse_change()"
            )
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.create_table(
        "case_report",
        sa.Column("number", BIGINT, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tracking_code", sa.String(20), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("handler_region", sa.String(6), nullable=False),
        sa.Column("unit_code", sa.String(18), nullable=True),
        sa.Column("unit_name", sa.String(200), nullable=True),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("propose_due", sa.Date(), nullable=False),
        sa.Column("close_due", sa.Date(), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=True),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("refusal", sa.String(30), nullable=True),
        sa.Column("duplicate_of", sa.String(32), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_case_report")),
        sa.UniqueConstraint("id", name=op.f("uq_case_report_id")),
        sa.UniqueConstraint("tracking_code", name=op.f("uq_case_report_tracking_code")),
    )
    op.create_index("ix_case_report_handler", "case_report", ["handler_region", "number"])
    op.create_index("ix_case_report_region", "case_report", ["region", "number"])
    op.create_index("ix_case_report_received_on", "case_report", ["received_on"])
    op.create_table(
        "case_step",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_step")),
    )
    op.create_index("ix_case_step_case", "case_step", ["case_id", "id"])
    op.create_table(
        "case_link",
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("linked_at", TIME, nullable=False),
        sa.Column("linked_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "kind", "target", name=op.f("pk_case_link")),
    )


def downgrade() -> None:
    op.drop_table("case_link")
    op.drop_index("ix_case_step_case", table_name="case_step")
    op.drop_table("case_step")
    op.drop_index("ix_case_report_received_on", table_name="case_report")
    op.drop_index("ix_case_report_region", table_name="case_report")
    op.drop_index("ix_case_report_handler", table_name="case_report")
    op.drop_table("case_report")
    op.drop_table("public_disclosure_unit")  # its triggers go with it
    op.drop_index("ix_public_disclosure_region", table_name="public_disclosure")
    op.drop_index("ix_registry_unit_classified", table_name="registry_unit")
    op.drop_table("public_disclosure")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION public_disclosure_refuse_change()")
