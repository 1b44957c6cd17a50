"""Bodies of 12310 reports (public) and cases (the establishment office; audit reads)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from linkage_hub.identifiers import REGION_PATTERN
from linkage_hub.inputs import CleanText

REGION = REGION_PATTERN
UNIT_CODE = r"^[0-9A-Z]{18}$"
NO_NUL = r"^[^\x00]*$"
MAX_FACTS = 5000


class Category(StrEnum):
    illegal_institution = "illegal_institution"  # 违规设置机构
    over_quota_hiring = "over_quota_hiring"  # 超编进人
    mixed_use = "mixed_use"  # 混编混岗
    excess_leaders = "excess_leaders"  # 超职数配备领导
    ghost_pay = "ghost_pay"  # 吃空饷
    false_data = "false_data"  # 弄虚作假
    other = "other"  # 其他违反机构编制纪律


CATEGORY_ZH = {
    Category.illegal_institution: "违规设置机构",
    Category.over_quota_hiring: "超编进人",
    Category.mixed_use: "混编混岗",
    Category.excess_leaders: "超职数配备领导",
    Category.ghost_pay: "吃空饷",
    Category.false_data: "弄虚作假（虚报实名制数据）",
    Category.other: "其他违反机构编制纪律",
}


class Status(StrEnum):
    received = "received"
    accepted = "accepted"
    refused = "refused"
    in_progress = "in_progress"
    assigned = "assigned"
    transferred = "transferred"
    closed = "closed"


STATUS_ZH = {
    Status.received: "已收到，待受理",
    Status.accepted: "已受理",
    Status.refused: "不予受理",
    Status.in_progress: "办理中",
    Status.assigned: "已交下级机构编制部门办理",
    Status.transferred: "已移送有关部门",
    Status.closed: "已办结",
}


class Step(StrEnum):
    """What ``POST /cases/{id}/transitions`` may ask: a status, or ``extended``."""

    accepted = "accepted"
    refused = "refused"
    in_progress = "in_progress"
    assigned = "assigned"
    transferred = "transferred"
    extended = "extended"
    closed = "closed"


class Refusal(StrEnum):
    out_of_scope = "out_of_scope"  # not a matter of establishment discipline
    court_matter = "court_matter"  # for a court or arbitration
    personnel_dispute = "personnel_dispute"  # an individual personnel or pay dispute
    repeat = "repeat"  # the same facts again
    disclosure_request = "disclosure_request"  # a request for information disclosure


REFUSAL_ZH = {
    Refusal.out_of_scope: "所反映事项不属于机构编制违规违纪问题，不予受理。",
    Refusal.court_matter: "所反映事项应通过诉讼、仲裁等法定途径解决，不予受理。",
    Refusal.personnel_dispute: "所反映事项属于个人人事或工资待遇争议，请向有关部门反映。",
    Refusal.repeat: "所反映事项与已受理的举报相同，不重复受理。",
    Refusal.disclosure_request: "信息公开申请请通过政府信息公开渠道提出。",
}


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 \-]{4,19}$")


class ReportIn(BaseModel):
    """A 12310 report. Leave ``contact`` out to report anonymously."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    region: str = Field(pattern=REGION, description="The division the report is about.")
    unit_code: str | None = Field(
        default=None, pattern=UNIT_CODE, description="A published unit (see the disclosures)."
    )
    unit_name: str | None = Field(
        default=None, max_length=200, pattern=NO_NUL, description="Or the unit's name, free text."
    )
    facts: str = Field(min_length=1, max_length=MAX_FACTS, pattern=NO_NUL)
    contact: Contact | None = None


class ReportReceipt(BaseModel):
    tracking_code: str
    secret: str = Field(description="Shown this once: with the code it opens the follow-up.")
    due_on: dt.date = Field(description="The office proposes how to handle it by this day.")


class ReportStatus(BaseModel):
    """What the reporter sees: nothing of the office's working notes."""

    tracking_code: str
    status: Status
    received_at: dt.datetime
    due_on: dt.date | None = Field(description="The next deadline; none once decided.")
    extension_reason: str | None = None
    reply: str | None = None


class TransitionIn(BaseModel):
    """A step the office takes. An ID number typed into ``reason`` or ``reply`` is masked as it
    enters (``2301**********1234``), as in a finding's transition: the text is copied to the
    case's steps, what audit reads and the reporter's follow-up, never in clear."""

    model_config = ConfigDict(extra="forbid")

    to: Step
    reason: Annotated[str | None, CleanText] = Field(default=None, max_length=2000, pattern=NO_NUL)
    reply: Annotated[str | None, CleanText] = Field(
        default=None, max_length=5000, pattern=NO_NUL, description="The reporter sees it."
    )
    due_on: dt.date | None = Field(
        default=None, description="`extended`: the new closing day (≤ 30 working days later)."
    )
    refusal: Refusal | None = Field(default=None, description="`refused`: why.")
    duplicate_of: str | None = Field(
        default=None, max_length=32, pattern=r"^[0-9a-f]{32}$", description="`repeat`: the case."
    )
    region: str | None = Field(
        default=None, pattern=REGION, description="`assigned`: the lower office's region."
    )


class LinkIn(BaseModel):
    """Exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    finding_id: str | None = Field(default=None, max_length=32, pattern=r"^[0-9a-f]{32}$")
    unit_code: str | None = Field(default=None, pattern=UNIT_CODE)


class LinkOut(BaseModel):
    kind: str
    target: str
    linked_at: dt.datetime


class StepOut(BaseModel):
    at: dt.datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    reason: str | None


class CaseOut(BaseModel):
    id: str
    tracking_code: str
    category: Category
    region: str
    handler_region: str
    unit_code: str | None
    unit_name: str | None
    facts: str
    status: Status
    received_at: dt.datetime
    propose_due: dt.date
    close_due: dt.date
    due_on: dt.date | None
    overdue: bool
    extended: bool
    extension_reason: str | None
    refusal: Refusal | None
    duplicate_of: str | None
    reply: str | None
    closed_at: dt.datetime | None
    named: bool = Field(description="The reporter left a name or phone.")


class CaseDetail(CaseOut):
    contact: Contact | None = Field(
        default=None,
        description="Only for the establishment office handling the case (each reveal is in "
        "the audit log); never for audit.",
    )
    links: list[LinkOut]
    steps: list[StepOut]


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None
