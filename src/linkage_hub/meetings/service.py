"""Joint meetings: convening, deciding together, the thread, reading.

**Who.** The establishment office or audit convenes a meeting for a region inside its own and
records its decisions (the route table's ``convene`` row); any department of the region reads
it; the departments attending (the convener's always among them) add to its thread.

**The agenda** is live findings (not resolved) of the meeting's region, checked when the
meeting is convened; each keeps the status it had then.

**Deciding** is one request and one transaction. Every decision names a finding on the agenda
and is checked against today's rules before anything is written: ``acknowledged`` needs a
responsible department that answers for the finding and attends; ``waived`` needs a reason
(the minutes number is its document number); ``open`` brings back an acknowledged or waived
finding; each must fit the finding's status now (``FROM_STATES``). One bad decision refuses
them all: a 422 naming every bad row (a 409 when the only faults are statuses that moved on).
Then each decision is applied as that finding's transition (``apply_transition``: its history
entry with the minutes number as ``document_no``, ``finding.transitioned``, the audit entry),
the meeting is marked decided (once: a second set of decisions is a 409), and one
``meeting.decided`` event and one audit entry close it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linkage_hub.audit import service as audit
from linkage_hub.auth.policy import ensure_in_region
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware, utcnow
from linkage_hub.cursors import decode_pair_cursor, encode_pair_cursor
from linkage_hub.domain import Department
from linkage_hub.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from linkage_hub.meetings.models import AgendaItem, Decision, Meeting, MeetingComment
from linkage_hub.meetings.schemas import (
    AgendaEntry,
    CommentIn,
    DecisionIn,
    DecisionOut,
    DecisionsIn,
    DecisionTo,
    MeetingCommentOut,
    MeetingDetail,
    MeetingIn,
    MeetingOut,
)
from linkage_hub.outbox import write as outbox
from linkage_hub.reconciliation.lifecycle import FROM_STATES, Change, answerable, apply_transition
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import RuleCode, Severity
from linkage_hub.reconciliation.schemas import FindingStatus, Text
from linkage_hub.reconciliation.service import LIVE, acknowledgement_seen, is_overdue
from linkage_hub.versioning import region_bounds

CONVENERS = frozenset({Department.establishment, Department.audit})


def _codes(departments: Sequence[Department]) -> str:
    return "," + ",".join(sorted({d.value for d in departments})) + ","


# --- convening --------------------------------------------------------------------------------


def convene(session: Session, principal: Principal, body: MeetingIn) -> Meeting:
    if not principal.contains(body.region):
        raise NotFound("No such region.")
    lo, hi = region_bounds(body.region)
    found = {
        f.id: f.status
        for f in session.scalars(
            select(Finding).where(
                Finding.id.in_(set(body.finding_ids)),
                Finding.region.between(lo, hi),
                Finding.status.in_([s.value for s in LIVE]),
            )
        )
    }
    errors: list[FieldError] = []
    seen: set[str] = set()
    for row, finding_id in enumerate(body.finding_ids, start=1):
        if finding_id in seen:
            errors.append(_error(row, "finding_ids", "duplicate", "is on the agenda twice"))
        elif finding_id not in found:
            errors.append(
                _error(row, "finding_ids", "unknown", "is no live finding of the meeting's region")
            )
        seen.add(finding_id)
    if errors:
        raise InvalidInput("The agenda names findings the meeting cannot take.", errors=errors)
    now = utcnow()
    meeting = Meeting(
        id=uuid.uuid4().hex,
        region=body.region,
        held_on=body.held_on,
        title=body.title,
        minutes_no=body.minutes_no,
        departments=_codes([*body.departments, principal.department]),
        convened_by=principal.client_id,
        convened_department=principal.department.value,
        created_at=now,
    )
    session.add(meeting)
    session.add_all(
        AgendaItem(meeting_id=meeting.id, finding_id=fid, position=i, status_then=found[fid])
        for i, fid in enumerate(body.finding_ids, start=1)
    )
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            "The region has a meeting with these minutes already.", field="minutes_no"
        ) from None
    audit.append(
        session,
        audit.by(
            principal,
            "meeting.convene",
            meeting.region,
            target_type="meeting",
            target_id=meeting.id,
            detail={
                "minutes_no": audit.typed(meeting.minutes_no),
                "held_on": meeting.held_on.isoformat(),
                "departments": meeting.attending,
                "findings": len(body.finding_ids),
            },
        ),
    )
    return meeting


def _error(row: int, field: str, code: str, message: str) -> FieldError:
    return FieldError(row=row, field=field, code=code, message=message)


# --- reading ----------------------------------------------------------------------------------


def get(session: Session, principal: Principal, meeting_id: str, *, lock: bool = False) -> Meeting:
    """A meeting whose region lies inside the caller's (404 otherwise)."""
    query = select(Meeting).where(
        Meeting.id == meeting_id, Meeting.region.between(*principal.region_bounds)
    )
    meeting = session.scalar(query.with_for_update() if lock else query)
    if meeting is None:
        raise NotFound("No such meeting.")
    return meeting


def page(
    session: Session,
    principal: Principal,
    *,
    region: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[MeetingOut], str | None]:
    """Newest first; a meeting is listed when its region lies inside the caller's. A
    ``region`` outside the caller's is the 404 the cases and reports answer
    (:func:`ensure_in_region`), not an empty page, for the API and the console alike."""
    query = select(Meeting).where(Meeting.region.between(*principal.region_bounds))
    if region is not None:
        ensure_in_region(principal, region)
        query = query.where(Meeting.region.between(*region_bounds(region)))
    if cursor:
        number, _ = decode_pair_cursor(cursor, "meetings")
        query = query.where(Meeting.number < number)
    rows = list(session.scalars(query.order_by(Meeting.number.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    counts = _counts(session, [m.id for m in rows])
    items = [out(m, *counts.get(m.id, (0, 0))) for m in rows]
    return items, encode_pair_cursor(rows[-1].number, rows[-1].id, "meetings") if more else None


def _counts(session: Session, ids: list[str]) -> dict[str, tuple[int, int]]:
    """Agenda size and decisions per meeting, two GROUP BYs for a page."""
    if not ids:
        return {}
    agenda = _count_by(session, AgendaItem.meeting_id, ids)
    decided = _count_by(session, Decision.meeting_id, ids)
    return {i: (int(agenda.get(i, 0)), int(decided.get(i, 0))) for i in ids}


def _count_by(session: Session, column: Any, ids: list[str]) -> dict[str, int]:
    query = select(column, func.count()).where(column.in_(ids)).group_by(column)
    return {key: int(n) for key, n in session.execute(query)}


def out(meeting: Meeting, agenda_size: int, decisions: int) -> MeetingOut:
    return MeetingOut(
        id=meeting.id,
        region=meeting.region,
        held_on=meeting.held_on,
        title=meeting.title,
        minutes_no=meeting.minutes_no,
        departments=[Department(d) for d in meeting.attending],
        convened_by=meeting.convened_by,
        convened_department=Department(meeting.convened_department),
        created_at=aware(meeting.created_at),
        decided_at=aware(meeting.decided_at),
        decided_by=meeting.decided_by,
        agenda_size=agenda_size,
        decisions_count=decisions,
    )


def detail(
    session: Session, principal: Principal, meeting: Meeting, today: dt.date
) -> MeetingDetail:
    """The whole record. An agenda finding the caller can no longer open is withheld."""
    rows = session.execute(
        select(AgendaItem, Finding)
        .join(Finding, Finding.id == AgendaItem.finding_id, isouter=True)
        .where(AgendaItem.meeting_id == meeting.id)
        .order_by(AgendaItem.position)
    ).all()
    agenda = []
    for item, f in rows:
        entry = AgendaEntry(
            finding_id=item.finding_id, position=item.position, status_then=item.status_then
        )
        if f is None or not principal.contains(f.region):
            entry.withheld = True
        else:
            entry.status = FindingStatus(f.status)
            entry.rule = RuleCode(f.rule)
            entry.severity = Severity(f.severity)
            entry.region = f.region
            entry.unit_code = f.unit_code
            entry.departments = [Department(d) for d in sorted(answerable(f))]
            entry.summary = Text(zh=f.summary_zh, en=f.summary_en)
            entry.overdue = acknowledgement_seen(f, principal.region_bounds) and is_overdue(
                f.status, f.due_on, today
            )
        agenda.append(entry)
    decisions = [
        DecisionOut(
            finding_id=d.finding_id,
            position=d.position,
            from_status=d.from_status,
            to=d.to_status,
            reason=d.reason,
            responsible_department=d.responsible_department,
            due_on=d.due_on,
            event_id=d.event_id,
        )
        for d in session.scalars(
            select(Decision).where(Decision.meeting_id == meeting.id).order_by(Decision.position)
        )
    ]
    comments = [
        MeetingCommentOut(
            id=c.id, client_id=c.client_id, department=c.department, body=c.body, at=aware(c.at)
        )
        for c in session.scalars(
            select(MeetingComment)
            .where(MeetingComment.meeting_id == meeting.id)
            .order_by(MeetingComment.id)
        )
    ]
    return MeetingDetail(
        **out(meeting, len(agenda), len(decisions)).model_dump(),
        agenda=agenda,
        decisions=decisions,
        comments=comments,
    )


# --- deciding ---------------------------------------------------------------------------------


def decide(
    session: Session, principal: Principal, meeting_id: str, body: DecisionsIn, today: dt.date
) -> Meeting:
    meeting = get(session, principal, meeting_id, lock=True)
    if meeting.decided_at is not None:
        raise Conflict("The meeting's decisions are recorded already.")
    if meeting.held_on > today:
        raise Conflict("The meeting has not been held yet.", held_on=meeting.held_on.isoformat())
    on_agenda = set(
        session.scalars(select(AgendaItem.finding_id).where(AgendaItem.meeting_id == meeting.id))
    )
    lo, hi = region_bounds(meeting.region)
    named = sorted({d.finding_id for d in body.decisions} & on_agenda)
    findings = {
        f.id: f
        for f in session.scalars(
            select(Finding)
            .where(
                Finding.id.in_(named),
                Finding.region.between(lo, hi),
                Finding.region.between(*principal.region_bounds),
            )
            .order_by(Finding.id)  # one lock order for every request
            .with_for_update()
        )
    }
    errors: list[FieldError] = []
    counts = Counter(d.finding_id for d in body.decisions)
    for row, decision in enumerate(body.decisions, start=1):
        if counts[decision.finding_id] > 1:
            errors.append(_error(row, "finding_id", "duplicate", "is decided twice"))
        elif decision.finding_id not in on_agenda:
            errors.append(_error(row, "finding_id", "not_on_agenda", "is not on the agenda"))
        elif decision.finding_id not in findings:
            errors.append(
                _error(row, "finding_id", "unknown", "is no finding of the meeting's region")
            )
        else:
            errors += _decision_errors(row, decision, findings[decision.finding_id], meeting, today)
    if errors:
        if all(e.code == "status" for e in errors):
            raise Conflict(
                "A finding's status has moved on; no decision was applied.", errors=errors
            )
        raise InvalidInput("No decision was applied.", errors=errors)
    for row, decision in enumerate(body.decisions, start=1):
        finding = findings[decision.finding_id]
        from_status = finding.status
        event = apply_transition(
            session,
            principal,
            finding,
            Change(
                to=decision.to.value,
                reason=decision.reason,
                document_no=meeting.minutes_no,
                responsible_department=(
                    decision.responsible_department.value
                    if decision.responsible_department
                    else None
                ),
                due_on=decision.due_on,
                context={"meeting_id": meeting.id},
                meeting_region=meeting.region,
            ),
        )
        session.add(
            Decision(
                meeting_id=meeting.id,
                finding_id=finding.id,
                position=row,
                from_status=from_status,
                to_status=decision.to.value,
                reason=decision.reason,
                responsible_department=finding.responsible_department,
                due_on=finding.due_on,
                event_id=event.id,
            )
        )
    now = utcnow()
    meeting.decided_at, meeting.decided_by = now, principal.client_id
    session.flush()
    outcome = Counter(d.to.value for d in body.decisions)
    summary = {"decisions": len(body.decisions), **{k.value: outcome[k.value] for k in DecisionTo}}
    outbox.append(
        session,
        type="meeting.decided",
        region=meeting.region,
        now=now,
        data={"meeting_id": meeting.id, "minutes_no": meeting.minutes_no, **summary},
    )
    audit.append(
        session,
        audit.by(
            principal,
            "meeting.decide",
            meeting.region,
            target_type="meeting",
            target_id=meeting.id,
            detail={"minutes_no": audit.typed(meeting.minutes_no), **summary},
        ),
    )
    return meeting


def _decision_errors(
    row: int, decision: DecisionIn, finding: Finding, meeting: Meeting, today: dt.date
) -> list[FieldError]:
    """What today's rules say against one decision (empty: it may be applied). ``today`` is
    the hub's (``Settings.today``, its time zone): a due date before it is already past, as
    for an acknowledgement outside a meeting (``reconciliation.lifecycle``)."""
    errors: list[FieldError] = []
    to = decision.to
    if to is DecisionTo.acknowledged:
        responsible = decision.responsible_department
        if responsible is None:
            errors.append(
                _error(row, "responsible_department", "missing", "acknowledging names one")
            )
        elif responsible.value not in answerable(finding):
            errors.append(
                _error(
                    row,
                    "responsible_department",
                    "not_answerable",
                    "does not answer for this finding",
                )
            )
        elif responsible.value not in meeting.attending:
            errors.append(_error(row, "responsible_department", "not_attending", "did not attend"))
        if decision.due_on is not None and decision.due_on < meeting.held_on:
            errors.append(_error(row, "due_on", "before_meeting", "lies before the meeting"))
        elif decision.due_on is not None and decision.due_on < today:
            errors.append(_error(row, "due_on", "past", "lies in the past"))
    else:
        for name in ("responsible_department", "due_on"):
            if getattr(decision, name) is not None:
                errors.append(_error(row, name, "not_allowed", "is set only when acknowledging"))
        if to is DecisionTo.waived and not (decision.reason and decision.reason.strip()):
            errors.append(_error(row, "reason", "missing", "waiving needs a reason"))
    if finding.status not in FROM_STATES[to.value]:
        errors.append(
            _error(row, "to", "status", f"a finding that is {finding.status} cannot become {to}")
        )
    return errors


# --- the thread -------------------------------------------------------------------------------


def comment(
    session: Session, principal: Principal, meeting_id: str, body: CommentIn
) -> MeetingCommentOut:
    meeting = get(session, principal, meeting_id)
    if principal.department.value not in meeting.attending:
        raise Forbidden("Only the departments attending the meeting add to its thread.")
    entry = MeetingComment(
        meeting_id=meeting.id,
        client_id=principal.client_id,
        department=principal.department.value,
        body=body.body,
        at=utcnow(),
    )
    session.add(entry)
    session.flush()
    audit.append(
        session,
        audit.by(
            principal,
            "meeting.comment",
            meeting.region,
            target_type="meeting",
            target_id=meeting.id,
            detail={"comment_id": entry.id},
        ),
    )
    # Thin, as every event: which meeting, which entry, which department wrote; never the text
    # (subscribers read the thread through the API, where the region rule applies).
    outbox.append(
        session,
        type="meeting.commented",
        region=meeting.region,
        now=entry.at,
        data={"meeting_id": meeting.id, "comment_id": entry.id, "department": entry.department},
    )
    return MeetingCommentOut(
        id=entry.id,
        client_id=entry.client_id,
        department=principal.department,
        body=entry.body,
        at=entry.at,
    )
