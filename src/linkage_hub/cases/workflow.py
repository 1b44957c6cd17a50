"""Working a 12310 case: the steps of its life and its links (the establishment office
handling it; see :mod:`linkage_hub.cases.service` for the clock and who sees what)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from linkage_hub.audit import service as audit
from linkage_hub.auth.principal import Principal
from linkage_hub.cases.models import Case, CaseLink, CaseStep
from linkage_hub.cases.schemas import REFUSAL_ZH, LinkIn, Refusal, Status, Step, TransitionIn
from linkage_hub.cases.service import (
    EXTENSION_WORKING_DAYS,
    announce,
    get,
    handles,
    working_days_after,
)
from linkage_hub.clock import utcnow
from linkage_hub.dependencies import region_input
from linkage_hub.errors import Conflict, Forbidden, NotFound, invalid_field
from linkage_hub.identifiers import region_contains
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.runs import region_is_known
from linkage_hub.registry.models import RegistryUnit
from linkage_hub.settings import Settings

# The statuses each step may leave from.
FROM: dict[Step, tuple[Status, ...]] = {
    Step.accepted: (Status.received,),
    Step.refused: (Status.received, Status.accepted),
    Step.in_progress: (Status.accepted, Status.assigned),
    Step.assigned: (Status.accepted, Status.in_progress),
    Step.transferred: (Status.received, Status.accepted),
    # A case is extended and closed only after the proposal (handle it, or assign it down).
    Step.extended: (Status.in_progress, Status.assigned),
    Step.closed: (Status.in_progress, Status.assigned),
}
PROPOSALS = (Step.refused, Step.in_progress, Step.assigned, Step.transferred)


def _working(session: Session, principal: Principal, case_id: str) -> Case:
    """The case, locked, for the office handling it. An office above sees it (403: it may
    read, not work it); anyone else gets the 404 of a case that does not exist."""
    case = get(session, principal, case_id, lock=True)
    if not handles(session, principal, case):
        raise Forbidden("Only the establishment office handling the case may work it.")
    return case


def transition(
    session: Session, settings: Settings, principal: Principal, case_id: str, body: TransitionIn
) -> Case:
    case = _working(session, principal, case_id)
    before = Status(case.status)
    if before not in FROM[body.to]:
        raise Conflict(f"A case that is {before.value} cannot be {body.to.value}.")
    today = settings.today()
    reason = (body.reason or "").strip() or None
    reply = (body.reply or "").strip() or None
    after = before if body.to is Step.extended else Status(body.to.value)
    if body.to is Step.refused:
        if body.refusal is None:
            raise invalid_field("refusal", "required", "is required to refuse a case")
        if body.duplicate_of is not None:
            if body.refusal is not Refusal.repeat or body.duplicate_of == case.id:
                raise invalid_field("duplicate_of", "invalid", "names the earlier case of a repeat")
            get(session, principal, body.duplicate_of)  # 404 if not one the caller sees
            case.duplicate_of = body.duplicate_of
        case.refusal = body.refusal.value
        reply = reply or REFUSAL_ZH[body.refusal]
    elif body.to is Step.assigned:
        if body.region is None:
            raise invalid_field(
                "region", "required", "names the lower office to assign the case to"
            )
        region = region_input(body.region)
        if not region_is_known(session, region):
            raise invalid_field("region", "unknown_region", "is a region the hub holds nothing of")
        if region == case.handler_region or not region_contains(case.handler_region, region):
            raise invalid_field(
                "region", "not_lower", "must lie below the office handling the case"
            )
        case.handler_region = region
        reason = reason or f"交 {region} 办理"
    elif body.to is Step.transferred:
        if reply is None:
            raise invalid_field("reply", "required", "tells the reporter where the case went")
    elif body.to is Step.extended:
        if case.extended:
            raise Conflict("A case is extended once only.")
        if case.close_due < today:
            raise Conflict(f"The closing day {case.close_due} has passed: too late to extend.")
        if reason is None:
            raise invalid_field("reason", "required", "tells the reporter why it takes longer")
        latest = working_days_after(case.close_due, EXTENSION_WORKING_DAYS, settings.holidays)
        new_due = body.due_on or latest
        if not case.close_due < new_due <= latest:
            raise invalid_field(
                "due_on",
                "out_of_range",
                f"must lie after {case.close_due} and no later than {latest}",
            )
        case.extended = True
        case.extension_reason = reason
        case.close_due = new_due
    elif body.to is Step.closed and reply is None:
        raise invalid_field("reply", "required", "is the outcome the reporter is told")
    now = utcnow()
    if body.to in PROPOSALS and case.proposed_on is None:
        case.proposed_on = today
    if reply is not None and body.to in (Step.refused, Step.transferred, Step.closed):
        case.reply = reply
    if after in (Status.refused, Status.transferred, Status.closed):
        case.closed_at = now
    case.status = after.value
    case.updated_at = now
    session.add(
        CaseStep(
            case_id=case.id,
            at=now,
            actor=principal.client_id,
            action=body.to.value,
            from_status=before.value,
            to_status=after.value,
            reason=reason or (body.refusal.value if body.refusal else None),
        )
    )
    session.flush()
    announce(session, case, "case.transitioned", now, step=body.to.value, from_status=before.value)
    audit.append(
        session,
        audit.by(
            principal,
            "case.transition",
            case.handler_region,
            target_type="case",
            target_id=case.id,
            detail={"from": before.value, "to": after.value, "step": body.to.value},
        ),
    )
    return case


def link(session: Session, principal: Principal, case_id: str, body: LinkIn) -> Case:
    """Link a finding or a registered unit of the caller's region (idempotent)."""
    case = _working(session, principal, case_id)
    if (body.finding_id is None) == (body.unit_code is None):
        raise invalid_field("finding_id", "one_of", "or unit_code: give exactly one")
    lo, hi = principal.region_bounds
    if body.finding_id is not None:
        kind, target = "finding", body.finding_id
        found = session.scalar(
            select(Finding.id).where(Finding.id == target, Finding.region.between(lo, hi))
        )
        if found is None:
            raise NotFound("No such finding.")
    else:
        kind, target = "unit", str(body.unit_code)
        found = session.scalar(
            select(RegistryUnit.unit_code).where(
                RegistryUnit.unit_code == target,
                RegistryUnit.closed_at.is_(None),
                RegistryUnit.region.between(lo, hi),
            )
        )
        if found is None:
            raise NotFound("No such unit.")
    exists = session.get(CaseLink, (case.id, kind, target))
    if exists is None:
        now = utcnow()
        session.add(
            CaseLink(
                case_id=case.id,
                kind=kind,
                target=target,
                linked_at=now,
                linked_by=principal.client_id,
            )
        )
        session.flush()
        audit.append(
            session,
            audit.by(
                principal,
                "case.link",
                case.handler_region,
                target_type="case",
                target_id=case.id,
                detail={"kind": kind, "target": target},
            ),
        )
    return case
