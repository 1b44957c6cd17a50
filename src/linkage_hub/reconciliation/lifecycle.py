"""What people do to findings: comments (会商) and status changes.

Who may do what (DOMAIN.md): any department in the region comments; an answerable department
acknowledges (``open``/``reopened`` → ``acknowledged``), optionally with a due date; the
establishment office or audit waives (with a reason and a document number) and puts an
acknowledged or waived finding back to ``open``. ``resolved`` and ``reopened`` are set by runs
only. A joint meeting's decisions (:mod:`linkage_hub.meetings`) check the same ``FROM_STATES``
and write through the same :func:`apply_transition`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from linkage_hub.audit.service import record_finding_change, typed
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import utcnow
from linkage_hub.domain import Department
from linkage_hub.errors import Conflict, FieldError, Forbidden, InvalidInput, invalid_field
from linkage_hub.keys import Keyring
from linkage_hub.reconciliation import announce
from linkage_hub.reconciliation.models import Comment, Event, Finding
from linkage_hub.reconciliation.schemas import CommentOut, FindingOut, FindingStatus, TransitionIn
from linkage_hub.reconciliation.service import finding_out, visible_finding


def add_comment(session: Session, principal: Principal, finding_id: str, body: str) -> CommentOut:
    finding = visible_finding(session, principal, finding_id)
    comment = Comment(
        finding_id=finding.id,
        client_id=principal.client_id,
        department=principal.department.value,
        region=principal.region,
        body=body,
        at=utcnow(),
        filed_region=finding.region,
    )
    session.add(comment)
    session.flush()
    announce.finding_changed(
        session,
        finding,
        "finding.commented",
        comment.at,
        {"comment_id": comment.id, "department": principal.department.value},
    )
    record_finding_change(
        session,
        principal,
        action="finding.comment",
        finding_id=finding.id,
        region=finding.region,
        person_key=finding.person_key,
        detail={"comment_id": comment.id},
    )
    return CommentOut(
        id=comment.id,
        client_id=comment.client_id,
        department=principal.department,
        body=comment.body,
        at=comment.at,
    )


CAN_WAIVE = frozenset({Department.establishment, Department.audit})
FROM_STATES: dict[str, Sequence[str]] = {
    "acknowledged": (FindingStatus.open, FindingStatus.reopened),
    "waived": (FindingStatus.open, FindingStatus.reopened, FindingStatus.acknowledged),
    "open": (FindingStatus.acknowledged, FindingStatus.waived),
}


def transition(
    session: Session,
    principal: Principal,
    finding_id: str,
    change: TransitionIn,
    keyring: Keyring,
    today: dt.date,
) -> FindingOut:
    finding = visible_finding(session, principal, finding_id, lock=True)
    if change.to == "acknowledged" and principal.department.value not in answerable(finding):
        raise Forbidden("Only an answerable department acknowledges a discrepancy.")
    if change.to in ("waived", "open") and principal.department not in CAN_WAIVE:
        raise Forbidden(
            f"Only the establishment office or audit may set a discrepancy {change.to}."
        )
    if change.to == "waived":
        missing = [
            FieldError(field=name, code="missing", message=f"waiving needs a {label}")
            for name, label, value in (
                ("reason", "reason", change.reason),
                ("document_no", "document number", change.document_no),
            )
            if not (value and value.strip())
        ]
        if missing:
            raise InvalidInput("Waiving needs a reason and a document number.", errors=missing)
    if change.due_on is not None:
        if change.to != "acknowledged":
            raise invalid_field("due_on", "not_allowed", "is set only when acknowledging")
        if change.due_on < today:
            raise invalid_field("due_on", "past", "lies in the past")
    if finding.status not in FROM_STATES[change.to]:
        raise Conflict(
            f"A discrepancy that is {finding.status} cannot become {change.to}.",
            status_now=finding.status,
        )
    apply_transition(
        session,
        principal,
        finding,
        Change(
            to=change.to,
            reason=change.reason,
            document_no=change.document_no,
            responsible_department=principal.department.value
            if change.to == "acknowledged"
            else None,
            due_on=change.due_on,
        ),
    )
    return finding_out(session, principal, finding.id, keyring, today)


def answerable(finding: Finding) -> set[str]:
    """The codes of the departments that answer for ``finding``."""
    return {d for d in finding.departments.strip(",").split(",") if d}


@dataclass(frozen=True, slots=True)
class Change:
    """A status change as it is applied: checked already (who may, from which status)."""

    to: str
    reason: str | None
    document_no: str | None
    responsible_department: str | None = None  # acknowledged: who answers for it
    due_on: dt.date | None = None  # acknowledged: by when
    context: dict[str, str | int | None] = field(default_factory=dict)  # e.g. the meeting
    # Where the meeting of the context sits: the finding.transitioned event names the meeting
    # only to subscribers whose region holds it (notifications.dispatch.withheld).
    meeting_region: str | None = None


def apply_transition(
    session: Session, principal: Principal, finding: Finding, change: Change
) -> Event:
    """Write ``change`` to ``finding`` (locked, in the caller's region, the change checked): its
    event, its status (an acknowledgement sets the responsible department and due date, any
    other change clears them), the outbox event and the audit entry. One home for a person's
    status change, whether made alone or by a meeting."""
    now = utcnow()
    event = Event(
        finding_id=finding.id,
        from_status=finding.status,
        to_status=change.to,
        at=now,
        client_id=principal.client_id,
        department=principal.department.value,
        reason=change.reason,
        document_no=change.document_no,
        filed_region=finding.region,
    )
    session.add(event)
    event_from = finding.status
    finding.status = change.to
    acknowledged = change.to == "acknowledged"
    finding.responsible_department = change.responsible_department if acknowledged else None
    finding.due_on = change.due_on if acknowledged else None
    finding.acknowledged_in = finding.region if acknowledged else None
    session.flush()
    announce.finding_changed(
        session,
        finding,
        "finding.transitioned",
        now,
        {
            "from_status": event_from,
            "department": principal.department.value,
            "document_no": change.document_no,
            **change.context,
            "meeting_region": change.meeting_region,
        },
    )
    record_finding_change(
        session,
        principal,
        action="finding.transition",
        finding_id=finding.id,
        region=finding.region,
        person_key=finding.person_key,
        detail={
            "from": event_from,
            "to": change.to,
            "reason": typed(change.reason),
            "document_no": typed(change.document_no),
            "responsible_department": finding.responsible_department,
            "due_on": finding.due_on.isoformat() if finding.due_on else None,
            **change.context,
        },
    )
    return event
