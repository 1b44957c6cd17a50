"""Joint meetings (联席会议): convene, decide together, discuss, read the minutes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.principal import Principal
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep, region_input
from linkage_hub.errors import NotFound, problem_responses
from linkage_hub.idempotency import IdempotencyKey, once
from linkage_hub.meetings import minutes, service
from linkage_hub.meetings.schemas import (
    CommentIn,
    DecisionsIn,
    MeetingCommentOut,
    MeetingDetail,
    MeetingIn,
    MeetingPage,
    MinutesFormat,
)
from linkage_hub.reports.streaming import XLSX_MEDIA_TYPE

router = APIRouter(prefix="/api/v1/meetings", tags=["meetings"])


@router.post(
    "",
    operation_id="convene_meeting",
    status_code=201,
    response_model=MeetingDetail,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def convene(
    body: MeetingIn,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> MeetingDetail:
    """Convene a joint meeting of a region inside yours (establishment office or audit): its
    date, title, minutes number (unique in the region: a retry of the same meeting is a 409),
    the departments attending (yours always among them) and its agenda of live findings of
    the region. A finding that is not one (resolved, unknown, in another region) is a 422
    naming its row in `finding_ids`, and no meeting is made. With an `Idempotency-Key`, a
    retry of the same meeting returns the first answer instead of the 409. An ID number in
    the title or minutes number (or later in a decision's reason or a comment) is kept masked
    (`2301**********1234`)."""

    def make() -> MeetingDetail:
        meeting = service.convene(session, principal, body)
        return service.detail(session, principal, meeting, settings.today())

    def still(first: MeetingDetail) -> MeetingDetail | None:
        return _replayed(session, principal, first, settings.today())

    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="convene_meeting",
        key=idempotency_key,
        request=body.model_dump(mode="json"),
        status=201,
        model=MeetingDetail,
        make=make,
        still=still,
    )


def _replayed(
    session: Session, principal: Principal, first: MeetingDetail, today: dt.date
) -> MeetingDetail | None:
    """What a retry of a convene or a decision is answered: the first answer, as API.md
    promises, while the caller may still read all it told; the record as ``GET
    /meetings/{id}`` shows it today once an agenda finding the first answer showed has left
    the caller's region (withheld now); None when the meeting is no longer inside the
    caller's region (the retry is then answered as a new request)."""
    try:
        meeting = service.get(session, principal, first.id)
    except NotFound:
        return None
    now = service.detail(session, principal, meeting, today)
    hidden = {entry.finding_id for entry in now.agenda if entry.withheld}
    if any(entry.finding_id in hidden and not entry.withheld for entry in first.agenda):
        return now
    return first


@router.get(
    "",
    operation_id="list_meetings",
    response_model=MeetingPage,
    responses=problem_responses(401, 404, 422),
)
def list_meetings(
    session: DbSession,
    principal: CurrentPrincipal,
    region: Annotated[
        str | None, Query(description="Only this region and below: inside yours (else 404).")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MeetingPage:
    """The meetings of your region and the regions inside it, newest first (any department).
    A meeting of a larger region (the province's, seen from a city) is not listed. A `region`
    outside yours (a sibling's, or one above) is a 404, as for the cases and the reports."""
    items, next_cursor = service.page(
        session,
        principal,
        region=region_input(region) if region is not None else None,
        limit=limit,
        cursor=cursor,
    )
    return MeetingPage(items=items, next_cursor=next_cursor)


@router.get(
    "/{meeting_id}",
    operation_id="get_meeting",
    response_model=MeetingDetail,
    responses=problem_responses(401, 404),
)
def get_meeting(
    meeting_id: str, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep
) -> MeetingDetail:
    """The meeting's record: attendees, the agenda (each finding's status then and now, its
    summary, `overdue` when acknowledged past its due date), the decisions and the thread."""
    meeting = service.get(session, principal, meeting_id)
    return service.detail(session, principal, meeting, settings.today())


@router.post(
    "/{meeting_id}/decisions",
    operation_id="decide_meeting",
    response_model=MeetingDetail,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def decide(
    meeting_id: str,
    body: DecisionsIn,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> MeetingDetail:
    """Record the meeting's decisions, all or nothing (establishment office or audit). Each
    names a finding on the agenda and becomes that finding's transition, with the minutes
    number as `document_no`:

    - `acknowledged` with `responsible_department` (an answerable department of the finding
      that attended) and optionally `due_on` (not before the meeting nor today): past it the finding
      is `overdue` in lists, reports and bulletins;
    - `waived` with a `reason`;
    - `open`: an acknowledged or waived finding goes back to open.

    Any bad decision refuses them all: 422 naming each bad row and field, or 409 when the only
    faults are findings whose status has moved on. The decisions are recorded once (a second
    time is 409), not before the meeting's date; subscribers get one `finding.transitioned`
    per finding and one `meeting.decided`. With an `Idempotency-Key`, a retry of the same
    decisions returns the first answer instead of the 409."""

    def make() -> MeetingDetail:
        today = settings.today()
        meeting = service.decide(session, principal, meeting_id, body, today)
        return service.detail(session, principal, meeting, today)

    def still(first: MeetingDetail) -> MeetingDetail | None:
        return _replayed(session, principal, first, settings.today())

    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="decide_meeting",
        key=idempotency_key,
        request=[meeting_id, body.model_dump(mode="json")],
        status=200,
        model=MeetingDetail,
        make=make,
        still=still,
    )


@router.post(
    "/{meeting_id}/comments",
    operation_id="comment_meeting",
    status_code=201,
    response_model=MeetingCommentOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
def comment(
    meeting_id: str,
    body: CommentIn,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> MeetingCommentOut:
    """Add to the meeting's thread: the departments attending only (403 for the others).
    Subscribers of the region get `meeting.commented` (ids and the department, not the text).
    With an `Idempotency-Key`, a retry of the same comment returns the first, posted once."""

    def make() -> MeetingCommentOut:
        return service.comment(session, principal, meeting_id, body)

    def still(first: MeetingCommentOut) -> MeetingCommentOut | None:
        try:
            meeting = service.get(session, principal, meeting_id)
        except NotFound:
            return None
        return first if principal.department.value in meeting.attending else None

    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="comment_meeting",
        key=idempotency_key,
        request=[meeting_id, body.model_dump(mode="json")],
        status=201,
        model=MeetingCommentOut,
        make=make,
        still=still,
    )


@router.get(
    "/{meeting_id}/minutes",
    operation_id="meeting_minutes",
    response_model=MeetingDetail,
    responses={
        **problem_responses(401, 404, 422),
        200: {"content": {"application/json": {}, XLSX_MEDIA_TYPE: {}}},
    },
)
def get_minutes(
    meeting_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    format: MinutesFormat = MinutesFormat.json,
) -> Any:
    """The minutes (会议纪要): `format=json` is the meeting's record as `GET
    /meetings/{id}` gives it; `format=xlsx` a workbook with a title block (title, minutes
    number, date, attendees) and sheets 议题 (the agenda with each finding's summary), 决定事项
    (every decision) and 会商记录 (the thread). Findings only, never a person: a finding is
    named by its id, rule, unit and summary."""
    meeting = service.get(session, principal, meeting_id)
    record = service.detail(session, principal, meeting, settings.today())
    if format is MinutesFormat.xlsx:
        return minutes.xlsx(record, settings)
    return record
