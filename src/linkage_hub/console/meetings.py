"""The console's joint meetings (联席会议): the list, a meeting's record, its thread, its
decisions and its minutes.

Each page and form calls the meetings service the API's routes call (``page``, ``get``,
``detail``, ``comment``, ``decide``), so a person sees the meetings ``GET /api/v1/meetings``
lists for them, joins a thread only where their department attended, and records decisions only
as the establishment office or audit — all or nothing, checked by the same rules. The decision
form has one row per agenda finding; a row left at "不作决定" is no decision. A refused set of
decisions comes back as the meeting's page with each refused row named, nothing applied.
Convening stays with the API (a departmental system names the agenda's findings).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.principal import Principal
from linkage_hub.console.forms import BlankFieldsAbsent, invalid_form
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.dependencies import SettingsDep, region_input
from linkage_hub.domain import Department
from linkage_hub.errors import Conflict, FieldError, InvalidInput
from linkage_hub.meetings import minutes, service
from linkage_hub.meetings.schemas import CommentIn, DecisionsIn, DecisionTo, MeetingDetail
from linkage_hub.settings import Settings

router = APIRouter(prefix="/console", include_in_schema=False, route_class=BlankFieldsAbsent)

PAGE = 50
DECISION_ZH = minutes.DECISION_ZH
DONE = {"comment": "意见已发表。", "decisions": "会议决定已记录，各项差异状态已更新。"}
FormText = Annotated[str, Form(max_length=20_000)]


@router.get("/meetings")
def meetings_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    region: str | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    region = region_input(region) if region is not None else None  # a 422 naming it, as the API
    items, next_cursor = service.page(session, principal, region=region, limit=PAGE, cursor=cursor)
    query = {"region": region} if region else {}
    return render(
        request,
        "meetings.html",
        principal=principal,
        nav="meetings",
        meetings=items,
        next_query=urlencode({**query, "cursor": next_cursor}) if next_cursor else "",
        paged=cursor is not None,
    )


def _meeting_page(
    request: Request,
    session: DbSession,
    principal: Principal,
    settings: Settings,
    meeting_id: str,
    *,
    http_status: int = 200,
    refused: list[FieldError] | None = None,
    refused_detail: str = "",
    done: str | None = None,
) -> Response:
    meeting = service.get(session, principal, meeting_id)
    record = service.detail(session, principal, meeting, settings.today())
    return render(
        request,
        "meeting.html",
        http_status,
        principal=principal,
        nav="meetings",
        m=record,
        decided={d.finding_id: d for d in record.decisions},
        may_comment=principal.department in record.departments,
        may_decide=_may_decide(principal, record, settings),
        choices=list(DecisionTo),
        decision_zh=DECISION_ZH,
        refused=refused or [],
        refused_detail=refused_detail,
        notice=DONE.get(done or ""),
    )


def _may_decide(principal: Principal, m: MeetingDetail, settings: Settings) -> bool:
    deputed = principal.department in (Department.establishment, Department.audit)
    return deputed and m.decided_at is None and m.held_on <= settings.today()


@router.get("/meetings/{meeting_id}")
def meeting_page(
    request: Request,
    meeting_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """A meeting's record, with the forms the person may use: the thread (departments
    attending) and the decisions (establishment office or audit, once, from the meeting's
    date)."""
    return _meeting_page(request, session, principal, settings, meeting_id, done=done)


@router.post("/meetings/{meeting_id}/comments")
def post_comment(
    meeting_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    body: FormText = "",
) -> Response:
    try:
        said = CommentIn(body=body)
    except ValidationError as exc:
        raise invalid_form(exc) from None
    service.comment(session, principal, meeting_id, said)
    return RedirectResponse(f"/console/meetings/{meeting_id}?done=comment", status_code=303)


@router.post("/meetings/{meeting_id}/decisions")
async def post_decisions(
    request: Request,
    meeting_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> Response:
    """The decision form: per agenda finding ``to.<id>``, ``responsible.<id>``, ``due.<id>``,
    ``reason.<id>``; the rows with a decision, in agenda order, make the API's ``DecisionsIn``."""
    form = await request.form()
    meeting = service.get(session, principal, meeting_id)
    record = service.detail(session, principal, meeting, settings.today())
    rows: list[dict[str, Any]] = []
    for item in record.agenda:
        to = str(form.get(f"to.{item.finding_id}") or "")
        if not to:
            continue
        row: dict[str, Any] = {"finding_id": item.finding_id, "to": to}
        for name, field in (("responsible", "responsible_department"), ("due", "due_on")):
            value = str(form.get(f"{name}.{item.finding_id}") or "")
            if value:
                row[field] = value
        reason = str(form.get(f"reason.{item.finding_id}") or "").strip()
        if reason:
            row["reason"] = reason
        rows.append(row)
    try:
        decisions = DecisionsIn.model_validate({"decisions": rows})
    except ValidationError as exc:
        raise invalid_form(exc) from None
    try:
        service.decide(session, principal, meeting_id, decisions, settings.today())
    except (InvalidInput, Conflict) as exc:
        session.rollback()  # as the API's refusal: nothing of the attempt is kept
        # Each refusal under the finding it names (rows count the decisions posted).
        named = [
            e.model_copy(update={"field": f"{rows[e.row - 1]['finding_id']} · {e.field}"})
            if e.row
            else e
            for e in exc.errors or []
        ]
        return _meeting_page(
            request,
            session,
            principal,
            settings,
            meeting_id,
            http_status=exc.status,
            refused=named,
            refused_detail=exc.detail or "",
        )
    return RedirectResponse(f"/console/meetings/{meeting_id}?done=decisions", status_code=303)


@router.get("/meetings/{meeting_id}/minutes")
def minutes_download(
    meeting_id: str, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep
) -> Response:
    """The minutes workbook, as ``GET /api/v1/meetings/{id}/minutes?format=xlsx`` gives it."""
    meeting = service.get(session, principal, meeting_id)
    return minutes.xlsx(service.detail(session, principal, meeting, settings.today()), settings)
