"""joint meetings (联席会议): meetings, their agendas, decisions and threads; a finding's due date

Revision ID: 0015_meetings
Revises: 0014_payroll_person_index
Create Date: 2026-12-04 06:00:00

A meeting of a region decides findings together: each decision is the finding's transition
(``reconciliation_event``, with the meeting's minutes number as ``document_no``) and a
``meeting_decision`` row pointing at it. An acknowledged finding now carries the department
responsible for it and the date it is due, so "overdue" is one SQL condition.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_meetings"
down_revision: str | None = "0014_payroll_person_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_finding") as table:
        table.add_column(sa.Column("responsible_department", sa.String(20), nullable=True))
        table.add_column(sa.Column("due_on", sa.Date(), nullable=True))
    op.create_table(
        "meeting",
        sa.Column("number", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("region", sa.String(6), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("minutes_no", sa.String(100), nullable=False),
        sa.Column("departments", sa.String(80), nullable=False),
        sa.Column("convened_by", sa.String(64), nullable=False),
        sa.Column("convened_department", sa.String(20), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_meeting_region_number", "meeting", ["region", "number"])
    op.create_index(
        "uq_meeting_region_minutes_no", "meeting", ["region", "minutes_no"], unique=True
    )
    op.create_table(
        "meeting_agenda",
        sa.Column("meeting_id", sa.String(32), primary_key=True),
        sa.Column("finding_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status_then", sa.String(12), nullable=False),
    )
    op.create_index("ix_meeting_agenda_finding_id", "meeting_agenda", ["finding_id"])
    op.create_table(
        "meeting_decision",
        sa.Column("meeting_id", sa.String(32), primary_key=True),
        sa.Column("finding_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(12), nullable=False),
        sa.Column("to_status", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("responsible_department", sa.String(20), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("event_id", BIGINT, nullable=False),
    )
    op.create_index("ix_meeting_decision_finding_id", "meeting_decision", ["finding_id"])
    op.create_table(
        "meeting_comment",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("meeting_id", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("department", sa.String(20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("ix_meeting_comment_meeting_id", "meeting_comment", ["meeting_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_meeting_comment_meeting_id", table_name="meeting_comment")
    op.drop_table("meeting_comment")
    op.drop_index("ix_meeting_decision_finding_id", table_name="meeting_decision")
    op.drop_table("meeting_decision")
    op.drop_index("ix_meeting_agenda_finding_id", table_name="meeting_agenda")
    op.drop_table("meeting_agenda")
    op.drop_index("uq_meeting_region_minutes_no", table_name="meeting")
    op.drop_index("ix_meeting_region_number", table_name="meeting")
    op.drop_table("meeting")
    with op.batch_alter_table("reconciliation_finding") as table:
        table.drop_column("due_on")
        table.drop_column("responsible_department")
