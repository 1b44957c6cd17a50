"""HTTP endpoints of subscriptions (API.md, "Notifications")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from linkage_hub.auth.policy import CurrentPrincipal, ensure_in_region
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.domain import Department
from linkage_hub.errors import problem_responses
from linkage_hub.idempotency import IdempotencyKey, once
from linkage_hub.identifiers import REGION_PATTERN
from linkage_hub.notifications import bulletins, service
from linkage_hub.notifications.models import Bulletin
from linkage_hub.notifications.schemas import (
    AttemptPage,
    BulletinDetail,
    BulletinFormat,
    BulletinOut,
    BulletinPage,
    ReplayIn,
    ReplayOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionPatch,
)
from linkage_hub.reports.streaming import XLSX_MEDIA_TYPE, content_disposition
from linkage_hub.reports.xlsx import stream_xlsx

router = APIRouter(prefix="/api/v1/subscriptions", tags=["notifications"])
bulletins_router = APIRouter(prefix="/api/v1/bulletins", tags=["notifications"])
Limit = Annotated[int, Query(ge=1, le=1000)]


def _created(sub: object, secret: str) -> SubscriptionCreated:
    return SubscriptionCreated(**service.out(sub).model_dump(), secret=secret)  # type: ignore[arg-type]


@router.post(
    "",
    operation_id="create_subscription",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def create_subscription(
    body: SubscriptionIn,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> SubscriptionCreated:
    """Subscribe an endpoint to events of your region (or a region inside it), with filters.

    The answer holds the signing `secret` (`whsec_...`), shown this once. Deliveries are
    `POST url` signed by Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`), body `{"type", "timestamp", "seq", "data"}`; `seq` counts from 1
    per subscription without gaps (but those a change of the filters dropped). `data` holds
    ids, keys, rule, severity, region, unit and links, never an ID number, a name or pay:
    fetch what you may see through the API.

    The URL must be `https` to a public address (hosts in `LINKAGE_WEBHOOK_ALLOW_HOSTS`
    excepted); a 2xx is success, a 410 disables the subscription, anything else is retried
    with backoff for about three days (`Retry-After` honoured on 429 and 503).

    `Idempotency-Key`: a retry with the same key and body returns the first answer, its
    `secret` included (header `Idempotent-Replayed: true`); another body is 422."""

    def make() -> SubscriptionCreated:
        sub, secret = service.create(session, settings, principal, body)
        return _created(sub, secret)

    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="create_subscription",
        key=idempotency_key,
        request=body.model_dump(mode="json"),
        status=201,
        model=SubscriptionCreated,
        make=make,
        still=lambda first: first if service.still_fits(session, principal, first.id) else None,
    )


@router.get(
    "",
    operation_id="list_subscriptions",
    response_model=SubscriptionPage,
    responses=problem_responses(400, 401, 422),
)
def list_subscriptions(
    session: DbSession,
    principal: CurrentPrincipal,
    cursor: str | None = None,
    limit: Limit = 100,
) -> SubscriptionPage:
    """Your client's subscriptions."""
    subs, next_cursor = service.page(session, principal, limit=limit, cursor=cursor)
    return SubscriptionPage(items=[service.out(s) for s in subs], next_cursor=next_cursor)


@router.get(
    "/{subscription_id}",
    operation_id="get_subscription",
    response_model=SubscriptionOut,
    responses=problem_responses(401, 404, 422),
)
def get_subscription(
    subscription_id: str, session: DbSession, principal: CurrentPrincipal
) -> SubscriptionOut:
    """One of your subscriptions; `disabled_reason` says why the hub stopped it."""
    return service.out(service.get(session, principal, subscription_id))


@router.patch(
    "/{subscription_id}",
    operation_id="change_subscription",
    response_model=SubscriptionOut,
    responses=problem_responses(400, 401, 404, 422),
)
def change_subscription(
    subscription_id: str,
    body: SubscriptionPatch,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
) -> SubscriptionOut:
    """Change the URL, events, filters or description; `"active": false` pauses (events
    keep their `seq` and are sent on resume), `true` resumes (also after the hub disabled
    it). Changing the events or filters drops the deliveries still waiting that the
    subscription no longer asks for: their `seq` is skipped, and `/deliveries` lists each
    (`attempt` 0, `error` saying why)."""
    sub = service.change(session, settings, principal, subscription_id, body)
    return service.out(sub)


@router.delete(
    "/{subscription_id}",
    operation_id="delete_subscription",
    status_code=204,
    responses=problem_responses(401, 404, 422),
)
def delete_subscription(
    subscription_id: str, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """Delete it and its pending deliveries (the attempt log stays)."""
    service.delete(session, principal, subscription_id)
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/rotate-secret",
    operation_id="rotate_subscription_secret",
    response_model=SubscriptionCreated,
    responses=problem_responses(401, 404, 422),
)
def rotate_secret(
    subscription_id: str, session: DbSession, principal: CurrentPrincipal, settings: SettingsDep
) -> SubscriptionCreated:
    """A new signing secret, shown once. The old one keeps signing beside it (two `v1,`
    signatures) for `LINKAGE_WEBHOOK_SECRET_OVERLAP_HOURS` (24 by default)."""
    sub, secret = service.rotate(session, settings, principal, subscription_id)
    return _created(sub, secret)


@router.get(
    "/{subscription_id}/deliveries",
    operation_id="list_subscription_deliveries",
    response_model=AttemptPage,
    responses=problem_responses(400, 401, 404, 422),
)
def list_deliveries(
    subscription_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    cursor: str | None = None,
    limit: Limit = 100,
) -> AttemptPage:
    """Every delivery attempt, newest first: `event_id`, `seq`, `attempt`, `at`,
    `status_code`, `latency_ms`, `error`. A delivery dropped unsent by a change of the
    filters is listed with `attempt` 0 and the reason."""
    items, next_cursor = service.attempts(
        session, principal, subscription_id, limit=limit, cursor=cursor
    )
    return AttemptPage(items=items, next_cursor=next_cursor)


@router.post(
    "/{subscription_id}/replay",
    operation_id="replay_subscription",
    status_code=202,
    response_model=ReplayOut,
    responses=problem_responses(400, 401, 404, 422),
)
def replay(
    subscription_id: str, body: ReplayIn, session: DbSession, principal: CurrentPrincipal
) -> ReplayOut:
    """Send again every event from `from_seq` on that the subscription asks for now (its
    current region, events and filters), with its first `webhook-id` and `seq`."""
    return ReplayOut(replayed=service.replay(session, principal, subscription_id, body.from_seq))


# --- bulletins ---------------------------------------------------------------------------------


def _bulletin_out(b: Bulletin) -> BulletinOut:
    return BulletinOut(
        id=b.id,
        region=b.region,
        department=b.department,
        period_from=b.period_from,
        period_to=b.period_to,
        published_at=b.published_at,
        totals=b.content["totals"],
    )


@bulletins_router.get(
    "",
    operation_id="list_bulletins",
    response_model=BulletinPage,
    responses=problem_responses(400, 401, 404, 422),
)
def list_bulletins(
    session: DbSession,
    principal: CurrentPrincipal,
    region: Annotated[
        str | None, Query(pattern=REGION_PATTERN, description="Only this region and below.")
    ] = None,
    department: Annotated[
        Department | None, Query(description="Only the bulletins of this answerable department.")
    ] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> BulletinPage:
    """Periodic bulletins (定期通报) of your region, newest period first: per region and
    answerable department, the findings opened, resolved, still open and overdue in the
    period, with totals here and by rule and unit in each bulletin."""
    if region is not None:
        ensure_in_region(principal, region)
    rows, next_cursor = bulletins.page(
        session,
        principal,
        region=region,
        department=department.value if department else None,
        limit=limit,
        cursor=cursor,
    )
    return BulletinPage(items=[_bulletin_out(b) for b in rows], next_cursor=next_cursor)


@bulletins_router.get(
    "/{bulletin_id}",
    operation_id="get_bulletin",
    response_model=BulletinDetail,
    responses={
        **problem_responses(401, 404, 422),
        200: {"content": {"application/json": {}, XLSX_MEDIA_TYPE: {}}},
    },
)
def get_bulletin(
    bulletin_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    format: BulletinFormat = BulletinFormat.json,
) -> Any:
    """One bulletin: counts by rule and by unit, and the period's runs; `format=xlsx` for
    the spreadsheet (sheets 总览, 按规则, 按单位, 运行)."""
    b = bulletins.get(session, principal, bulletin_id)
    if format is BulletinFormat.xlsx:
        name = f"定期通报_{b.region}_{b.department}_{b.period_from.isoformat()}.xlsx"
        return StreamingResponse(
            stream_xlsx(bulletins.xlsx_sheets(b)),
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": content_disposition(name)},
        )
    c = b.content
    return BulletinDetail(
        **_bulletin_out(b).model_dump(),
        overdue_after_working_days=c["overdue_after_working_days"],
        overdue_if_first_seen_before=c["overdue_if_first_seen_before"],
        by_rule=c["by_rule"],
        by_unit=c["by_unit"],
        runs=c["runs"],
    )
