"""The API's shapes for rules, runs and discrepancies (Pydantic v2)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from linkage_hub.clock import aware
from linkage_hub.domain import Dataset, Department
from linkage_hub.identifiers import PERIOD_PATTERN, IdentifierError, normalise_region
from linkage_hub.inputs import BoundedDate, CleanText, NotBlank
from linkage_hub.reconciliation.rules import RuleCode, Severity, Subject

if TYPE_CHECKING:
    from linkage_hub.reconciliation.models import Run

PERIOD = re.compile(PERIOD_PATTERN)


class FindingStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    waived = "waived"
    resolved = "resolved"
    reopened = "reopened"  # a resolved finding that a later run found again (same id)


class Text(BaseModel):
    zh: str
    en: str


class RuleOut(BaseModel):
    code: RuleCode
    title: Text
    severity: Severity
    subject: Subject
    departments: list[Department] = Field(
        description="Answerable departments. For rules that name 'the departments involved' "
        "each finding lists the departments whose records are involved."
    )
    involved_departments: bool
    datasets: list[Dataset] = Field(
        description="The rule runs only where these datasets have current records in the "
        "run's region (payroll: lines of the run's period)."
    )
    datasets_at_least: int = Field(
        description="For rules comparing any departments: how many of `datasets` must have "
        "records (0: all of them)."
    )
    parameters: dict[str, Any]


class RuleList(BaseModel):
    items: list[RuleOut]


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(description="Six-digit division code; the run covers everything below.")
    period: str | None = Field(
        default=None, description="Payroll period YYYY-MM (default: the latest one pushed)."
    )
    as_of: BoundedDate | None = Field(default=None, description="As-of date (default: today).")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        try:
            return normalise_region(value)
        except IdentifierError as exc:
            raise ValueError(exc.message) from None

    @field_validator("period")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None and not PERIOD.fullmatch(value):
            raise ValueError("a period is a month YYYY-MM of 1900-01 to 2999-12")
        return value


class RunKind(StrEnum):
    full = "full"  # asked for by the API, the command line or the schedule
    incremental = "incremental"  # started by the hub after writes (reconciliation.onwrite)


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class RunAccepted(BaseModel):
    run_id: str
    status: Literal["queued"]


class RuleCounts(BaseModel):
    found: int
    new: int
    resolved: int
    reopened: int


class RunWarning(BaseModel):
    code: str = Field(
        description="`all_rules_skipped`: no rule ran (no department's records); "
        "`read_in_full`: an incremental run read the whole region (why: the message); "
        "`period_behind`: the run judged pay of a month older than the latest payroll period "
        "its province holds, so runs of regions that hold the newer month judge another "
        "month (give `period` to agree)."
    )
    message: str


class RunOut(BaseModel):
    run_id: str
    kind: RunKind
    batch_ids: list[str] = Field(
        default_factory=list,
        description="The batches an incremental run covered (those whose changes it "
        "reconciled) that you may open (a county's run covering its city's batch does not "
        "name it to the county); empty for a full run.",
    )
    region: str
    period: str | None
    as_of: dt.date
    status: RunStatus
    requested_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    deadline_at: dt.datetime | None = Field(
        default=None,
        description="When the run's time limit ends: its start plus the "
        "`LINKAGE_RUN_TIMEOUT_SECONDS` of the hub process running it. A run still going then "
        "is stopped (`error_code` `timeout`) and frees its region. Null for a queued run and "
        "for runs started before the hub recorded it.",
    )
    duration_seconds: float | None
    error: str | None
    error_code: str | None = Field(
        default=None,
        description="Why a failed run failed: `error` (an error in the run: `error` says "
        "which), `timeout` (it ran past `LINKAGE_RUN_TIMEOUT_SECONDS` and was stopped; its "
        "findings were left as they were), `process_stopped` (the process running it died), "
        "`not_started` (it could not start). Null unless `failed`.",
    )
    parameters: dict[str, Any]
    rules: dict[str, RuleCounts] = Field(
        default_factory=dict, description="Per rule that ran: found, new, resolved, reopened."
    )
    skipped: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Rules gated off by coverage, with the datasets that had no records. "
        "Their existing findings are left as they were.",
    )
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per step.")
    warnings: list[RunWarning] = Field(
        default_factory=list,
        description="What a run that succeeded wants you to know, such as every rule skipped "
        "(`linkage-hub reconcile` then exits 3).",
    )

    @classmethod
    def of(cls, run: Run, openable: set[str] | None = None) -> Self:
        """The run as the API and ``linkage-hub reconcile`` show it; ``openable``: the batch
        ids the reader may open (``reconciliation.history.openable_batches``), None for all."""
        started, finished = aware(run.started_at), aware(run.finished_at)
        return cls(
            run_id=run.id,
            kind=RunKind(run.kind),
            batch_ids=[b for b in run.batch_ids if openable is None or b in openable],
            region=run.region,
            period=run.period,
            as_of=run.as_of,
            status=RunStatus(run.status),
            requested_by=run.requested_by,
            created_at=aware(run.created_at),
            started_at=started,
            finished_at=finished,
            deadline_at=aware(run.deadline_at),
            duration_seconds=(finished - started).total_seconds() if started and finished else None,
            error=run.error,
            error_code=run.error_code,
            parameters=dict(run.parameters),
            rules={k: RuleCounts(**v) for k, v in (run.counts or {}).items()},
            skipped=dict(run.skipped or {}),
            timings=dict(run.timings or {}),
            warnings=[RunWarning(**w) for w in run.warnings or []],
        )


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None


class PersonKeyed(BaseModel):
    """A response part that may show a person: it keeps the person key (never serialised) for
    the audit entry of the read (:func:`linkage_hub.auth.policy.person_reads`), and the region
    of the record the person's ID number was read from when that is not the part's own."""

    _person_key: str | None = PrivateAttr(default=None)
    _read_in: str | None = PrivateAttr(default=None)

    @property
    def person_key(self) -> str | None:
        return self._person_key

    @property
    def read_in(self) -> str | None:
        return self._read_in

    def keyed(self, person_key: str | None, read_in: str | None = None) -> Self:
        self._person_key = person_key
        self._read_in = read_in
        return self


class FindingOut(PersonKeyed):
    id: str
    rule: RuleCode
    severity: Severity
    status: FindingStatus
    region: str
    unit_code: str | None
    id_number: str | None = Field(description="Null for unit findings.")
    establishment_type: str | None
    level: str | None
    departments: list[Department]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None
    summary: Text
    responsible_department: Department | None = Field(
        default=None,
        description="Set when the finding is acknowledged: the department that answers for it "
        "(by a joint meeting's decision, or the department that acknowledged it).",
    )
    due_on: dt.date | None = Field(
        default=None, description="Set when acknowledged with a due date."
    )
    overdue: bool = Field(
        default=False,
        description="Acknowledged and its due date has passed (today in China Standard Time).",
    )

    def persons_read(self) -> list[tuple[str, str]]:
        """What showing this finding's person reads, for its read entry: the person in the
        finding's region and in that of the record their ID number was read from (a city
        reads a county's finding through a sibling county's record of the person, or a
        finding that followed its unit to a county that never held one). None when no
        person is shown."""
        if not (self.person_key and self.id_number):
            return []
        return [(self.person_key, r) for r in sorted({self.region, self.read_in or self.region})]


def findings_read(findings: Iterable[FindingOut]) -> tuple[list[tuple[str, str]], int]:
    """The persons a list of findings shows (:meth:`FindingOut.persons_read`) and how many
    of its findings show one: ``person_reads(request).add_all(pairs, records=count)``."""
    pairs = [p.persons_read() for p in findings]
    return [pair for shown in pairs for pair in shown], sum(1 for shown in pairs if shown)


def detail_read(detail: FindingDetail) -> tuple[list[tuple[str, str]], int]:
    """The persons a finding's detail shows: the finding's (:meth:`FindingOut.persons_read`)
    and those of the evidence records it shows (each in its record's region), and how many
    person records that is."""
    own = detail.persons_read()
    evidence = [(e.person_key, e.region) for e in detail.evidence if e.person_key]
    return [*own, *evidence], len(evidence) + bool(own)


class FindingPage(BaseModel):
    items: list[FindingOut]
    next_cursor: str | None


class EvidenceRecord(PersonKeyed):
    dataset: Dataset
    record_key: str
    version: int
    region: str = Field(description="The record's region (its unit's).")
    batch_id: str | None = Field(
        description="The batch that wrote this version; null for a withheld record whose "
        "batch you may not open (`GET /batches/{id}`)."
    )
    recorded_at: dt.datetime
    current: bool = Field(description="Whether this version is still the current one.")
    withheld: bool = Field(
        default=False,
        description="The record lies outside your region: shown as what it is (dataset, "
        "region, record key, version), its fields withheld (`record` is empty).",
    )
    record: dict[str, Any]


class HistoryEntry(BaseModel):
    from_status: FindingStatus | None = Field(serialization_alias="from")
    to_status: FindingStatus = Field(serialization_alias="to")
    at: dt.datetime
    run_id: str | None
    client_id: str | None
    department: Department | None
    reason: str | None
    document_no: str | None
    withheld: bool = Field(
        False,
        description="Written while the finding was filed in a region outside yours (its "
        "unit has since moved into your region): the statuses and the time only.",
    )


class CommentOut(BaseModel):
    id: int
    client_id: str
    department: Department
    body: str
    at: dt.datetime


class FindingDetail(FindingOut):
    parameters: dict[str, Any] = Field(
        description="The rule parameters of the run that last found it."
    )
    evidence: list[EvidenceRecord]
    history: list[HistoryEntry]
    comments: list[CommentOut]


# Free text may hold line breaks but never NUL, which PostgreSQL cannot store (nor a
# non-character: see linkage_hub.inputs).
NO_NUL = r"^[^\x00]*$"


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[str, CleanText, NotBlank] = Field(
        min_length=1, max_length=10_000, pattern=NO_NUL
    )


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Literal["acknowledged", "waived", "open"]
    reason: Annotated[str | None, CleanText] = Field(default=None, max_length=4_000, pattern=NO_NUL)
    document_no: Annotated[str | None, CleanText] = Field(
        default=None, max_length=100, pattern=NO_NUL
    )
    due_on: BoundedDate | None = Field(
        default=None,
        description="With `acknowledged`: the date by which the acknowledging department "
        "answers; past it the finding is `overdue`.",
    )


# --- the summary (reconciliation.summary) -----------------------------------------------------


class KeyCount(BaseModel):
    key: str = Field(description="A rule code, severity, status or department code.")
    count: int


class Ageing(BaseModel):
    """Findings still waiting for an answer (`open` or `reopened`) by how long ago a run
    first found them; the three counts are cumulative (`over_90` ≤ `over_60` ≤ `over_30`)."""

    over_30: int = Field(description="First found more than 30 days ago.")
    over_60: int = Field(description="First found more than 60 days ago.")
    over_90: int = Field(description="First found more than 90 days ago.")


class UnitCounts(BaseModel):
    unit_code: str
    unit_name: str | None = Field(
        description="The unit's current name in the registry (null: the unit is not "
        "registered, or lies outside your region now: it moved on)."
    )
    region: str = Field(description="The region its findings carry (the unit's).")
    critical: int = Field(description="Critical findings that are `open` or `reopened`.")
    live: int = Field(description="Findings not resolved, in any of the four live statuses.")
    rag: Literal["red", "amber", "green"] = Field(
        description="`red`: an open critical finding; `amber`: live findings but no open "
        "critical one; `green`: none live (every finding of the unit resolved)."
    )


class TrendPoint(BaseModel):
    run_id: str
    region: str = Field(description="The run's region (yours or one inside it).")
    finished_at: dt.datetime | None
    found: int = Field(description="Findings the run found, summed over its rules.")
    new: int = Field(description="Of those, found for the first time.")
    resolved: int = Field(description="Findings the run no longer found.")


class FindingSummary(BaseModel):
    live: int = Field(
        description="Findings not resolved (`open`, `reopened`, `acknowledged`, `waived`)."
    )
    by_rule: list[KeyCount] = Field(
        description="Every finding selected, whatever its status, per rule: most first, then "
        "by rule code; rules without findings are left out."
    )
    by_severity: list[KeyCount] = Field(
        description="Every finding selected per severity, `critical` to `low`, zeros included."
    )
    by_status: list[KeyCount] = Field(
        description="Every finding selected per status, zeros included."
    )
    by_department: list[KeyCount] = Field(
        description="Live findings naming each answerable department, zeros included; a "
        "finding that names two departments counts for both."
    )
    ageing: Ageing
    units: list[UnitCounts] = Field(
        description="Units by open critical findings, then live findings (at most "
        "`units_limit`); findings without a unit code are in no row."
    )
    trend: list[TrendPoint] = Field(
        description="The last `runs` succeeded full runs, oldest first."
    )
