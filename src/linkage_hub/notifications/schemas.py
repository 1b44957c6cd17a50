"""Request and response bodies of subscriptions (API.md, "Notifications")."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from linkage_hub.domain import Dataset
from linkage_hub.identifiers import REGION_PATTERN
from linkage_hub.inputs import CleanText
from linkage_hub.reconciliation.rules import RuleCode, Severity

REGION = REGION_PATTERN
UNIT_CODE = r"^[0-9A-Z]{18}$"
MAX_FILTER_VALUES = 1000


class EventType(StrEnum):
    records_changed = "records.changed"
    finding_opened = "finding.opened"
    finding_resolved = "finding.resolved"
    finding_reopened = "finding.reopened"
    finding_transitioned = "finding.transitioned"
    finding_commented = "finding.commented"
    run_finished = "run.finished"
    bulletin_published = "bulletin.published"
    case_opened = "case.opened"
    case_transitioned = "case.transitioned"
    meeting_decided = "meeting.decided"
    meeting_commented = "meeting.commented"


# Events about 12310 cases reach only those who may read cases.
CASE_EVENTS = frozenset({EventType.case_opened, EventType.case_transitioned})


class Filters(BaseModel):
    """What of the region's events to send; a list left out (or empty) means all."""

    model_config = ConfigDict(extra="forbid")

    region: str | None = Field(
        default=None,
        pattern=REGION,
        description="Inside the caller's region; the caller's region when left out.",
    )
    datasets: list[Dataset] | None = Field(default=None, max_length=10)
    rules: list[RuleCode] | None = Field(default=None, max_length=50)
    severities: list[Severity] | None = Field(default=None, max_length=4)
    units: list[Annotated[str, Field(pattern=UNIT_CODE)]] | None = Field(
        default=None, max_length=MAX_FILTER_VALUES
    )


Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]
Url = Annotated[str, Field(min_length=8, max_length=2000)]
# Typed by a person, so free text as a comment is: an ID number in it masked as it enters.
Description = Annotated[
    str | None, Field(default=None, max_length=500, pattern=r"^[^\x00]*$"), CleanText
]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    events: Events
    filters: Filters = Field(default_factory=Filters)
    description: Description = None


class SubscriptionPatch(BaseModel):
    """Only what is given changes; ``active`` pauses (false) or resumes (true)."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: Events | None = None
    filters: Filters | None = None
    description: Description = None
    active: bool | None = None


class SubscriptionOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    filters: Filters
    description: str | None
    active: bool
    disabled_reason: str | None = Field(
        description="Why the hub disabled it (410 Gone, or every attempt failing for days)."
    )
    last_seq: int = Field(description="The seq of the newest event given to it.")
    failing_since: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="whsec_...: shown once, now. Verify signatures with it.")


class SubscriptionPage(BaseModel):
    items: list[SubscriptionOut]
    next_cursor: str | None


class AttemptOut(BaseModel):
    event_id: str
    seq: int
    attempt: int
    at: dt.datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class AttemptPage(BaseModel):
    items: list[AttemptOut]
    next_cursor: str | None


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_seq: int = Field(ge=1)


class ReplayOut(BaseModel):
    replayed: int = Field(description="Deliveries queued again (seq from from_seq on).")


class BulletinFormat(StrEnum):
    json = "json"
    xlsx = "xlsx"


class Counts(BaseModel):
    opened: int
    resolved: int
    open: int
    overdue: int
    past_due: int = Field(
        default=0,
        description="Acknowledged, with a due date before the period's end: promised and "
        "not done (0 in bulletins published before due dates existed).",
    )


class BulletinOut(BaseModel):
    id: str
    region: str
    department: str
    period_from: dt.date
    period_to: dt.date = Field(description="Exclusive: the day after the period's last.")
    published_at: dt.datetime
    totals: Counts


class BulletinPage(BaseModel):
    items: list[BulletinOut]
    next_cursor: str | None


class RuleCounts(Counts):
    rule: str


class UnitCounts(Counts):
    unit_code: str | None


class BulletinDetail(BulletinOut):
    overdue_after_working_days: int
    overdue_if_first_seen_before: dt.date
    by_rule: list[RuleCounts]
    by_unit: list[UnitCounts]
    runs: dict[str, dict[str, int]] = Field(description="kind → status → number of runs.")
