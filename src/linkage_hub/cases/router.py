"""12310: the public files and follows a report (``/public/v1/reports``, no token); the
establishment office works the case and audit reads it (``/api/v1/cases``). API.md, "12310
cases"."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal, ensure_in_region, record_read
from linkage_hub.auth.principal import Principal
from linkage_hub.cases import service, workflow
from linkage_hub.cases.models import Case
from linkage_hub.cases.schemas import (
    CaseDetail,
    CasePage,
    LinkIn,
    ReportIn,
    ReportReceipt,
    ReportStatus,
    Status,
    TransitionIn,
)
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep, region_input
from linkage_hub.errors import problem_responses
from linkage_hub.idempotency import IdempotencyKey
from linkage_hub.keys import Keyring
from linkage_hub.public.caching import private
from linkage_hub.public.shield import report_limit
from linkage_hub.settings import Settings

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
public_router = APIRouter(prefix="/public/v1/reports", tags=["public"])


def _detail(
    request: Request,
    session: Session,
    principal: Principal,
    settings: Settings,
    keyring: Keyring,
    case: Case,
) -> CaseDetail:
    """The case as every case route answers it, its read audited."""
    record = partial(record_read, request, session)
    return service.detail(session, principal, keyring, case, settings.today(), record)


@public_router.post(
    "",
    operation_id="file_report",
    status_code=201,
    response_model=ReportReceipt,
    responses=problem_responses(400, 408, 409, 413, 422, 429, 503),
)
def file_report(
    body: ReportIn,
    request: Request,
    response: Response,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> ReportReceipt:
    """File a 12310 report (举报), named or anonymous (no token).

    The answer is a `tracking_code` and a `secret`, shown this once: with both, `GET
    /public/v1/reports/{tracking_code}` (header `X-Report-Secret`) shows the status, the due
    date and the reply. A name and phone, if given, are encrypted at rest and seen only by the
    establishment office handling the case. Limits: a few reports filed an hour per address
    (429; a refused or repeated report does not count), a daily cap for everyone (503 with
    `Retry-After` past it), and a body must arrive within `LINKAGE_PUBLIC_BODY_SECONDS` (10 s;
    408 past it, the connection closed).

    `Idempotency-Key`: a retry with the same key and the very same report returns the first
    receipt (header `Idempotent-Replayed: true`), files no second case, and is answered even
    past the hour's limit. The key counts only with the report it came with: the same key with
    another report files that one."""
    private(response)
    return service.file_once(
        session,
        settings,
        keyring,
        response,
        body,
        key=idempotency_key,
        over_limit=report_limit(request),
    )


@public_router.get(
    "/{tracking_code}",
    operation_id="follow_report",
    response_model=ReportStatus,
    responses=problem_responses(404, 422, 429, 503),
)
def follow_report(
    tracking_code: str,
    response: Response,
    session: DbSession,
    keyring: KeyringDep,
    x_report_secret: Annotated[str, Header(min_length=1, max_length=100)],
) -> ReportStatus:
    """A report's status, next due date, extension reason and public reply (no token; the
    secret in `X-Report-Secret`). A wrong secret is a 404, like an unknown code."""
    private(response)
    return service.follow_up(session, keyring, tracking_code, x_report_secret)


@router.get(
    "",
    operation_id="list_cases",
    response_model=CasePage,
    responses=problem_responses(400, 401, 403, 404, 422),
)
def list_cases(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    region: Annotated[str | None, Query(description="Inside yours; default yours")] = None,
    status: Status | None = None,
    overdue: Annotated[bool | None, Query(description="Past a deadline it has not met")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CasePage:
    """12310 cases reported in or handled by your region (and below), newest first
    (establishment office and audit). `overdue` follows the working-day deadlines: a proposal
    within 10, closing within 60 (one extension of at most 30)."""
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
        limit=limit,
        cursor=cursor,
    )
    return CasePage(items=items, next_cursor=next_cursor)


@router.get(
    "/{case_id}",
    operation_id="get_case",
    response_model=CaseDetail,
    responses=problem_responses(401, 403, 404, 422),
)
def get_case(
    case_id: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> CaseDetail:
    """One case with its steps and links. The reporter's `contact` only for the
    establishment office handling it (the reveal is in the audit log), never for audit."""
    case = service.get(session, principal, case_id)
    return _detail(request, session, principal, settings, keyring, case)


@router.post(
    "/{case_id}/transitions",
    operation_id="transition_case",
    response_model=CaseDetail,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def transition_case(
    case_id: str,
    request: Request,
    body: TransitionIn,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> CaseDetail:
    """Move a case (the establishment office handling it: of the case's handling region, or
    the nearest office above when the hub has none there).

    - `accepted` (from received); `refused` with `refusal` (`out_of_scope`, `court_matter`,
      `personnel_dispute`, `repeat` with optional `duplicate_of`, `disclosure_request`) and an
      optional `reply` (a standard one otherwise);
    - the proposal, within 10 working days: `in_progress` (handle it), `assigned` with `region`
      (a lower office, which then works it), `transferred` with the `reply` saying where;
    - `extended` once, with the `reason` the reporter sees and an optional `due_on` (at most 30
      working days past the closing day; that by default);
    - `closed` with the `reply` the reporter is told.

    A step from the wrong status is a 409."""
    case = workflow.transition(session, settings, principal, case_id, body)
    return _detail(request, session, principal, settings, keyring, case)


@router.post(
    "/{case_id}/links",
    operation_id="link_case",
    response_model=CaseDetail,
    responses=problem_responses(400, 401, 403, 404, 422),
)
def link_case(
    case_id: str,
    request: Request,
    body: LinkIn,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> CaseDetail:
    """Link a finding or a registered unit of your region to the case (one of `finding_id`,
    `unit_code`; linking again changes nothing)."""
    case = workflow.link(session, principal, case_id, body)
    return _detail(request, session, principal, settings, keyring, case)
