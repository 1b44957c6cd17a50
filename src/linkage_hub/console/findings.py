"""The findings pages: the list (``/console/findings``) and one finding with its evidence,
history, thread (会商) and action forms.

Each page calls the service the API route beside it calls, with the same filters, paging and
person-read audit, so a person sees in the browser what their department's client would get
from ``GET /api/v1/discrepancies``. The form posts build the API's own input models
(``CommentIn``, ``TransitionIn``) and call the same ``lifecycle.add_comment`` /
``service.transition``: who may do what is the service's rule, never the page's — the page only
leaves out the forms that cannot succeed.

ID numbers never go into a console URL (the list has no ``id_number`` filter: people search
persons on ``/console/persons``, by form post) and are shown masked, those a department's system
wrote into a record's free text too.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.auth.principal import Principal
from linkage_hub.console.forms import BlankFieldsAbsent, invalid_form, no_id_number
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.domain import DATASET_OWNER, Department
from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.privacy.masking import mask_text
from linkage_hub.reconciliation import lifecycle, service
from linkage_hub.reconciliation.dependencies import DiscrepancyFilters
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import RULES, RULES_BY_CODE, Severity
from linkage_hub.reconciliation.schemas import (
    CommentIn,
    FindingDetail,
    FindingOut,
    FindingStatus,
    TransitionIn,
    detail_read,
    findings_read,
)

router = APIRouter(prefix="/console", include_in_schema=False, route_class=BlankFieldsAbsent)

PAGE = 50
FILTERS = ("region", "unit_code", "rule", "status", "severity", "department", "live", "overdue")
DONE = {"comment": "意见已发表。", "transition": "状态已更新。"}
# A hard cap on a form field before the model's own limits (CommentIn allows 10,000 characters).
FormText = Annotated[str, Form(max_length=20_000)]


def _names(
    session: Session, principal: Principal, items: list[FindingOut]
) -> dict[str, tuple[str | None, str | None, str | None]]:
    """The person's name of each person finding shown (the list item carries only the ID
    number): one query over the findings already selected, by the service's name lookup,
    from the records inside the reader's region; each with the person key and the region of
    the record it was read from, for the read entry."""
    ids = [i.id for i in items if i.id_number]
    if not ids:
        return {}
    name = service.name_of(Finding.person_key, principal.region_bounds, located=True)
    rows = session.execute(select(Finding.id, Finding.person_key, name).where(Finding.id.in_(ids)))
    return {fid: (key, *service.located(value)) for fid, key, value in rows}


@router.get("/findings", dependencies=[Depends(no_id_number)])
def findings_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    filters: DiscrepancyFilters,
    keyring: KeyringDep,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    items, next_cursor = service.list_findings(
        session,
        principal,
        filters,
        keyring=keyring,
        today=settings.today(),
        limit=PAGE,
        cursor=cursor,
    )
    pairs, shown = findings_read(items)
    names = _names(session, principal, items)
    person_reads(request).add_all(
        [*pairs, *((key, r) for key, r, _ in names.values() if key and r)], records=shown
    )
    current = {
        name: str(v).lower() if isinstance(v, bool) else str(v)
        for name in FILTERS
        if (v := getattr(filters, name)) is not None
    }
    next_url = None
    if next_cursor:
        next_url = "/console/findings?" + urlencode({**current, "cursor": next_cursor})
    return render(
        request,
        "findings.html",
        principal=principal,
        nav="findings",
        items=items,
        names={fid: name for fid, (_, _, name) in names.items()},
        rules=RULES,
        rules_by_code=RULES_BY_CODE,
        statuses=list(FindingStatus),
        severities=list(Severity),
        departments=list(Department),
        current=current,
        paged=cursor is not None,
        next_url=next_url,
    )


def _shown(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    return str(value)


def _evidence(detail: FindingDetail) -> list[dict[str, Any]]:
    """Each evidence record as a card shows it: owner department, fields as text, ID numbers
    masked, the ``id_number`` field's and any typed into another field (:func:`mask_text`; the
    full record is in the API's answer, for programs)."""
    cards = []
    for e in detail.evidence:
        fields = [
            (
                key,
                mask_citizen_id(str(value))
                if key == "id_number" and value
                else mask_text(key, _shown(value)),
            )
            for key, value in e.record.items()
        ]
        cards.append({"e": e, "department": DATASET_OWNER[e.dataset], "fields": fields})
    return cards


def _actions(detail: FindingDetail, principal: Principal) -> dict[str, bool]:
    """The forms worth showing: the service's own from-states and departments (it still
    decides on every post)."""
    status = detail.status.value
    deputed = principal.department in lifecycle.CAN_WAIVE
    return {
        "acknowledge": status in lifecycle.FROM_STATES["acknowledged"]
        and principal.department in detail.departments,
        "waive": deputed and status in lifecycle.FROM_STATES["waived"],
        "reopen": deputed and status in lifecycle.FROM_STATES["open"],
    }


@router.get("/findings/{finding_id}")
def finding_page(
    finding_id: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    keyring: KeyringDep,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    detail = service.finding_detail(session, principal, finding_id, keyring, settings.today())
    pairs, shown = detail_read(detail)
    person_reads(request).add_all(pairs, records=shown)
    name = next((e.record["name"] for e in detail.evidence if e.record.get("name")), None)
    return render(
        request,
        "finding.html",
        principal=principal,
        nav="findings",
        f=detail,
        name=name if detail.id_number else None,
        rule=RULES_BY_CODE.get(detail.rule),
        evidence=_evidence(detail),
        parameters=[(k, _shown(v)) for k, v in detail.parameters.items()],
        actions=_actions(detail, principal),
        notice=DONE.get(done or ""),
    )


def _back(finding_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/findings/{finding_id}?done={done}", status_code=303)


@router.post("/findings/{finding_id}/comments")
def post_comment(
    finding_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    body: FormText = "",
) -> Response:
    try:
        comment = CommentIn(body=body)
    except ValidationError as exc:
        raise invalid_form(exc) from None
    lifecycle.add_comment(session, principal, finding_id, comment.body)
    return _back(finding_id, "comment")


@router.post("/findings/{finding_id}/transitions")
def post_transition(
    finding_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    keyring: KeyringDep,
    settings: SettingsDep,
    to: FormText = "",
    reason: FormText = "",
    document_no: FormText = "",
    due_on: FormText = "",
) -> Response:
    """The redirect shows no person, so this is no person read (the page it leads back to
    is)."""
    try:
        change = TransitionIn.model_validate(
            {
                "to": to,
                "reason": reason or None,
                "document_no": document_no or None,
                "due_on": due_on or None,
            }
        )
    except ValidationError as exc:
        raise invalid_form(exc) from None
    lifecycle.transition(session, principal, finding_id, change, keyring, settings.today())
    return _back(finding_id, "transition")
