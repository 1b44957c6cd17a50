"""Bodies of joint meetings (API.md, "Joint meetings and the annual audit")."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from linkage_hub.domain import Department
from linkage_hub.identifiers import REGION_PATTERN
from linkage_hub.inputs import BoundedDate, CleanText, NotBlank
from linkage_hub.reconciliation.rules import RuleCode, Severity
from linkage_hub.reconciliation.schemas import FindingStatus, Text

REGION = REGION_PATTERN
NO_NUL = r"^[^\x00]*$"
MAX_AGENDA = 500
FindingId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9a-zA-Z]+$")]
Line = Annotated[str, CleanText, NotBlank, Field(min_length=1, max_length=200, pattern=NO_NUL)]


class MeetingIn(BaseModel):
    """A meeting convened for a region: who attends and which findings it will decide."""

    model_config = ConfigDict(extra="forbid")

    region: str = Field(pattern=REGION, description="Inside yours.")
    held_on: BoundedDate
    title: Line
    minutes_no: Annotated[
        str, CleanText, NotBlank, Field(min_length=1, max_length=100, pattern=NO_NUL)
    ] = Field(description="The minutes' number (会议纪要文号), unique in the region.")
    departments: list[Department] = Field(
        min_length=1,
        max_length=len(Department),
        description="The departments attending; the convening department always attends.",
    )
    finding_ids: list[FindingId] = Field(
        min_length=1,
        max_length=MAX_AGENDA,
        description="The agenda: live findings (not resolved) of the meeting's region.",
    )


class DecisionTo(StrEnum):
    acknowledged = "acknowledged"
    waived = "waived"
    open = "open"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    finding_id: FindingId
    to: DecisionTo
    reason: Annotated[str | None, CleanText] = Field(default=None, max_length=4_000, pattern=NO_NUL)
    responsible_department: Department | None = Field(
        default=None,
        description="With `acknowledged` (required): an answerable department of the finding "
        "that attends the meeting.",
    )
    due_on: BoundedDate | None = Field(
        default=None,
        description="With `acknowledged`: the date it is due, not before the meeting nor today.",
    )


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decisions: list[DecisionIn] = Field(min_length=1, max_length=MAX_AGENDA)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, CleanText, NotBlank] = Field(
        min_length=1, max_length=4_000, pattern=NO_NUL
    )


class MeetingOut(BaseModel):
    id: str
    region: str
    held_on: dt.date
    title: str
    minutes_no: str
    departments: list[Department]
    convened_by: str
    convened_department: Department
    created_at: dt.datetime
    decided_at: dt.datetime | None = Field(description="When the decisions were recorded.")
    decided_by: str | None
    agenda_size: int
    decisions_count: int


class MeetingPage(BaseModel):
    items: list[MeetingOut]
    next_cursor: str | None


class AgendaEntry(BaseModel):
    """A finding on the agenda. A finding you can no longer open (its unit has since moved out
    of your region) is shown by id only, ``withheld``."""

    finding_id: str
    position: int
    status_then: FindingStatus = Field(description="Its status when the meeting was convened.")
    withheld: bool = False
    status: FindingStatus | None = Field(default=None, description="Its status now.")
    rule: RuleCode | None = None
    severity: Severity | None = None
    region: str | None = None
    unit_code: str | None = None
    departments: list[Department] = Field(default_factory=list)
    summary: Text | None = None
    overdue: bool = False


class DecisionOut(BaseModel):
    finding_id: str
    position: int
    from_status: FindingStatus
    to: DecisionTo
    reason: str | None
    responsible_department: Department | None
    due_on: dt.date | None
    event_id: int = Field(description="The finding's history entry this decision wrote.")


class MeetingCommentOut(BaseModel):
    id: int
    client_id: str
    department: Department
    body: str
    at: dt.datetime


class MeetingDetail(MeetingOut):
    """The meeting's record — the minutes as JSON."""

    agenda: list[AgendaEntry]
    decisions: list[DecisionOut]
    comments: list[MeetingCommentOut]


class MinutesFormat(StrEnum):
    json = "json"
    xlsx = "xlsx"
