"""The annual audit of a unit (机构编制年度审计): its year on one report.

- ``months``: January to December (to today in the current year), each counted on its last
  day with the staffing report's definitions (:mod:`linkage_hub.reports.unit_months`): per
  establishment type ``approved`` and ``on_roster``, of those ``employed`` and ``paid``; the
  leader posts approved and the leaders in office, by level.
- ``findings``: every finding about the unit, or about one of its people in the year (on its
  roster, employed or in office on some day of it, or paid by it for one of its months)
  whatever unit it names, that was open at any time in the year (an open spell of its history
  overlaps the year: :func:`linkage_hub.reports.tenure.unit_findings`), with its fate
  (``closed_as``: how that spell ended, resolved or waived, or still open) and the latest
  joint meeting of the year or before that decided it (``meeting_id``).
- ``meetings``: those meetings.
- ``cases``: 12310 cases about the unit (filed naming it, or linked to it) open at any time in
  the year, for the establishment office and audit (who read cases); their category, status
  and dates, never their facts or reporter. ``null`` for other departments.
- ``year_end``: the unit's staffing rows on 31 December (today in the current year): the
  December month's cells, which are the staffing report's rows of that day for the unit
  (``GET /reports/staffing?as_of=``), with ``difference`` and the light.

Everything is in the caller's region; the unit outside it does not exist (404).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.cases import service as cases
from linkage_hub.cases.models import Case, CaseLink
from linkage_hub.cases.schemas import Category
from linkage_hub.cases.schemas import Status as CaseStatus
from linkage_hub.clock import utcnow
from linkage_hub.domain import Department
from linkage_hub.keys import Keyring
from linkage_hub.meetings.models import Decision, Meeting
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.service import acknowledgement_seen_sql, is_overdue
from linkage_hub.reports import tenure
from linkage_hub.reports.schemas import StaffingReportRow, TenureFindingOut
from linkage_hub.reports.staffing import StaffingRow
from linkage_hub.reports.unit_months import UnitFacts, UnitMonth, unit_months
from linkage_hub.settings import Settings


class QuotaOut(BaseModel):
    establishment_type: str
    approved: int
    on_roster: int
    employed: int
    paid: int


class MonthOut(BaseModel):
    month: str
    as_of: dt.date = Field(description="The day counted: the month's last, or today.")
    registered: bool
    payroll_period: str | None
    quotas: list[QuotaOut]
    approved: int
    on_roster: int
    employed: int
    paid: int
    leader_posts: dict[str, int] = Field(description="Level → approved leader posts.")
    leaders: dict[str, int] = Field(description="Level → leaders (cadres) in office.")


class AnnualFinding(TenureFindingOut):
    overdue: bool = Field(description="Acknowledged and past its due date today.")
    due_on: dt.date | None
    meeting_id: str | None = Field(description="The joint meeting that decided it, if any.")


class MeetingRef(BaseModel):
    id: str
    held_on: dt.date
    title: str
    minutes_no: str


class CaseRef(BaseModel):
    id: str
    tracking_code: str
    category: Category
    status: CaseStatus
    received_on: dt.date
    closed_at: dt.datetime | None
    overdue: bool


class AnnualReport(BaseModel):
    unit: UnitFacts
    year: int
    generated_on: dt.date
    year_end_as_of: dt.date
    months: list[MonthOut]
    findings: list[AnnualFinding]
    meetings: list[MeetingRef]
    cases: list[CaseRef] | None = Field(
        description="For the establishment office and audit; null for other departments."
    )
    year_end: list[StaffingReportRow] = Field(
        description="The unit's rows of the staffing report on 31 December (today in the "
        "current year); none when it was not registered that day."
    )


def build(
    session: Session,
    keyring: Keyring,
    settings: Settings,
    principal: Principal,
    unit_code: str,
    year: int,
) -> tuple[AnnualReport, list[tenure.TenureFinding]]:
    """The report, and its findings as found (with the person keys the read is recorded by)."""
    today = settings.today()
    first, last = dt.date(year, 1, 1), min(dt.date(year, 12, 31), today)
    counted = unit_months(session, principal, unit_code, first, last, settings.zone)
    unit = counted.unit
    found = tenure.unit_findings(
        session, keyring, unit.unit_code, first, last, principal.region_bounds, settings.zone,
        utcnow(),
    )  # fmt: skip
    decided = _deciding_meetings(session, principal, [f.id for f in found], last)
    dues = _due_dates(session, [f.id for f in found], principal.region_bounds)
    findings = [
        AnnualFinding(
            **TenureFindingOut.model_validate(f, from_attributes=True).model_dump(),
            overdue=is_overdue(f.status, dues.get(f.id), today),
            due_on=dues.get(f.id),
            meeting_id=decided[f.id].id if f.id in decided else None,
        )
        for f in found
    ]
    meetings = {m.id: m for m in decided.values()}
    months = [_month(m) for m in counted.months]
    december = counted.months[-1] if counted.months else None
    return (
        AnnualReport(
            unit=unit,
            year=year,
            generated_on=today,
            year_end_as_of=last,
            months=months,
            findings=findings,
            meetings=[
                MeetingRef(id=m.id, held_on=m.held_on, title=m.title, minutes_no=m.minutes_no)
                for m in sorted(meetings.values(), key=lambda m: (m.held_on, m.number))
            ],
            cases=_cases(session, principal, unit.unit_code, first, last, settings),
            year_end=_year_end(unit, december),
        ),
        found,
    )


def _month(m: UnitMonth) -> MonthOut:
    return MonthOut(
        month=m.month,
        as_of=m.as_of,
        registered=m.registered,
        payroll_period=m.payroll_period,
        quotas=[QuotaOut(**q.model_dump()) for q in m.quotas],
        approved=m.approved,
        on_roster=m.on_roster,
        employed=m.employed,
        paid=m.paid,
        leader_posts=m.leader_posts,
        leaders=m.leaders,
    )


def _year_end(unit: UnitFacts, december: UnitMonth | None) -> list[StaffingReportRow]:
    """The staffing report's rows of the unit that day (the same definitions, counted by
    :func:`unit_months`): none when it was not registered."""
    if december is None or not december.registered:
        return []
    return [
        StaffingReportRow.from_row(
            StaffingRow(
                unit_code=unit.unit_code,
                unit_name=unit.name or "",
                region=unit.region,
                payroll_period=december.payroll_period,
                **q.model_dump(),
            )
        )
        for q in december.quotas
    ]


def _deciding_meetings(
    session: Session, principal: Principal, ids: list[str], last: dt.date
) -> dict[str, Meeting]:
    """Per finding, the latest meeting held by ``last`` that decided it, among the meetings
    the caller reads (a province's meeting is not named to a county, as it is not listed)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Decision.finding_id, Meeting)
        .join(Meeting, Meeting.id == Decision.meeting_id)
        .where(
            Decision.finding_id.in_(ids),
            Meeting.held_on <= last,
            Meeting.region.between(*principal.region_bounds),
        )
        .order_by(Meeting.held_on, Meeting.number)
    ).all()
    return {finding_id: meeting for finding_id, meeting in rows}  # the latest wins


def _due_dates(session: Session, ids: list[str], bounds: tuple[str, str]) -> dict[str, dt.date]:
    """The due dates of those of ``ids`` acknowledged in a region inside ``bounds``."""
    if not ids:
        return {}
    rows = session.execute(
        select(Finding.id, Finding.due_on).where(
            Finding.id.in_(ids), Finding.due_on.is_not(None), acknowledgement_seen_sql(bounds)
        )
    )
    return {fid: due for fid, due in rows if due is not None}


def _cases(
    session: Session,
    principal: Principal,
    unit_code: str,
    first: dt.date,
    last: dt.date,
    settings: Settings,
) -> list[CaseRef] | None:
    if principal.department not in (Department.establishment, Department.audit):
        return None
    today = settings.today()
    start = dt.datetime.combine(first, dt.time(), tzinfo=settings.zone).astimezone(dt.UTC)
    linked = exists().where(
        CaseLink.case_id == Case.id, CaseLink.kind == "unit", CaseLink.target == unit_code
    )
    rows = session.scalars(
        select(Case)
        .where(
            cases.visible(principal),
            or_(Case.unit_code == unit_code, linked),
            Case.received_on <= last,
            or_(Case.closed_at.is_(None), Case.closed_at >= start),
        )
        .order_by(Case.number)
    )
    return [
        CaseRef(
            id=c.id,
            tracking_code=c.tracking_code,
            category=Category(c.category),
            status=CaseStatus(c.status),
            received_on=c.received_on,
            closed_at=c.closed_at,
            overdue=cases.is_overdue(c, today),
        )
        for c in rows
    ]
