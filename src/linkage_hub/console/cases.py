"""The 12310 case pages: the list (``/console/cases``) and one case with its steps, links and
— for the office handling it — the forms that work it.

Each page makes the service calls of the API route beside it (``list_cases``, ``get_case``),
with the same filters, paging and read audit (``case.list``, ``case.read`` or
``case.contact_read``), so a person sees what their office's client would get from
``GET /api/v1/cases``. Who sees the reporter is the service's rule (:func:`service.detail`):
the page shows the contact only when the detail carries it. The form posts build the API's
``TransitionIn`` / ``LinkIn`` and call the same ``workflow`` functions, which decide on every
post; the page only leaves out the forms that cannot succeed.

The list shows no tracking code: with the secret it is the reporter's key to the follow-up, and
an office recognises a case by its facts, not by the reporter's receipt.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from linkage_hub.auth.policy import CurrentPrincipal, ensure_in_region, record_read
from linkage_hub.cases import service, workflow
from linkage_hub.cases.schemas import (
    CATEGORY_ZH,
    STATUS_ZH,
    CaseDetail,
    LinkIn,
    Refusal,
    Status,
    Step,
    TransitionIn,
)
from linkage_hub.console.forms import BlankFieldsAbsent, invalid_form
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep, region_input

router = APIRouter(prefix="/console", include_in_schema=False, route_class=BlankFieldsAbsent)

PAGE = 50
DONE = {"transition": "案件状态已更新。", "link": "关联已保存。"}
STEP_ZH = {
    "filed": "群众举报",
    Step.accepted: "受理",
    Step.refused: "不予受理",
    Step.in_progress: "本级办理",
    Step.assigned: "交下级机构编制部门办理",
    Step.transferred: "移送有关部门",
    Step.extended: "延期",
    Step.closed: "办结",
}
# Short labels for the refusal select; the reporter is told the longer REFUSAL_ZH sentence.
REFUSAL_LABEL = {
    Refusal.out_of_scope: "不属于机构编制违规违纪问题",
    Refusal.court_matter: "应通过诉讼、仲裁解决",
    Refusal.personnel_dispute: "个人人事或工资待遇争议",
    Refusal.repeat: "重复举报",
    Refusal.disclosure_request: "信息公开申请",
}
# A hard cap on a form field before the model's own limits (a reply allows 5,000 characters).
FormText = Annotated[str, Form(max_length=20_000)]


@router.get("/cases")
def cases_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    region: Annotated[str | None, Query(max_length=12)] = None,
    status: Status | None = None,
    overdue: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if region is not None:
        region = region_input(region)
        ensure_in_region(principal, region)
    items, next_cursor = service.listed(
        session,
        principal,
        keyring,
        settings.today(),
        partial(record_read, request, session),
        region=region,
        status=status,
        overdue=overdue,
        limit=PAGE,
        cursor=cursor,
    )
    current = {
        name: str(v).lower() if isinstance(v, bool) else str(v)
        for name, v in (("region", region), ("status", status), ("overdue", overdue))
        if v is not None
    }
    next_url = None
    if next_cursor:
        next_url = "/console/cases?" + urlencode({**current, "cursor": next_cursor})
    return render(
        request,
        "cases.html",
        principal=principal,
        nav="cases",
        items=items,
        categories=CATEGORY_ZH,
        statuses=STATUS_ZH,
        current=current,
        paged=cursor is not None,
        next_url=next_url,
    )


def _actions(detail: CaseDetail, handled: bool) -> dict[str, bool]:
    """The forms worth showing: the handling office's, from the workflow's own from-states
    (the workflow still decides on every post)."""
    if not handled:
        return {}
    shown = {step.value: detail.status in workflow.FROM[step] for step in Step}
    shown["extended"] = shown["extended"] and not detail.extended
    shown["link"] = True
    return shown


@router.get("/cases/{case_id}")
def case_page(
    case_id: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    case = service.get(session, principal, case_id)
    handled = service.handles(session, principal, case)
    record = partial(record_read, request, session)
    detail = service.detail(session, principal, keyring, case, settings.today(), record)
    return render(
        request,
        "case.html",
        principal=principal,
        nav="cases",
        c=detail,
        category=CATEGORY_ZH[detail.category],
        statuses=STATUS_ZH,
        steps=STEP_ZH,
        refusals=REFUSAL_LABEL,
        actions=_actions(detail, handled),
        notice=DONE.get(done or ""),
    )


def _fields(**form: str) -> dict[str, Any]:
    """Form fields as the API body: a field left empty was not sent."""
    return {name: value.strip() or None for name, value in form.items()}


def _back(case_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/console/cases/{case_id}?done={done}", status_code=303)


@router.post("/cases/{case_id}/transitions")
def post_transition(
    case_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    to: FormText = "",
    reason: FormText = "",
    reply: FormText = "",
    due_on: FormText = "",
    refusal: FormText = "",
    duplicate_of: FormText = "",
    region: FormText = "",
) -> Response:
    """The redirect shows nothing of the case, so it is no read (the page it leads back to
    is)."""
    fields = _fields(
        to=to,
        reason=reason,
        reply=reply,
        due_on=due_on,
        refusal=refusal,
        duplicate_of=duplicate_of,
        region=region,
    )
    try:
        body = TransitionIn.model_validate(fields)
    except ValidationError as exc:
        raise invalid_form(exc) from None
    workflow.transition(session, settings, principal, case_id, body)
    return _back(case_id, "transition")


@router.post("/cases/{case_id}/links")
def post_link(
    case_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    unit_code: FormText = "",
    finding_id: FormText = "",
) -> Response:
    try:
        body = LinkIn.model_validate(_fields(unit_code=unit_code, finding_id=finding_id))
    except ValidationError as exc:
        raise invalid_form(exc) from None
    workflow.link(session, principal, case_id, body)
    return _back(case_id, "link")
