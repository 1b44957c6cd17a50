"""Disclosures: the establishment office publishes (``/api/v1/disclosures``), the public reads
(``/public/v1/disclosures``, no token). API.md, "The public face"."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal, ensure_in_region
from linkage_hub.auth.principal import Principal
from linkage_hub.cursors import decode_pair_cursor, encode_pair_cursor
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep, region_input
from linkage_hub.errors import invalid_field, problem_responses
from linkage_hub.idempotency import IdempotencyKey, once
from linkage_hub.inputs import BoundedDate
from linkage_hub.public import disclosures
from linkage_hub.public.caching import cached, publication_etag
from linkage_hub.public.models import Disclosure
from linkage_hub.public.schemas import (
    DisclosureIn,
    DisclosureOut,
    DisclosurePage,
    Preview,
    PublicDisclosure,
    PublicUnit,
    PublicUnitPublished,
)
from linkage_hub.reconciliation.runs import ensure_known_region
from linkage_hub.settings import Settings

router = APIRouter(prefix="/api/v1/disclosures", tags=["disclosures"])
public_router = APIRouter(prefix="/public/v1", tags=["public"])
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_MICROS = (dt.datetime(3000, 1, 1, tzinfo=dt.UTC) - EPOCH) // dt.timedelta(microseconds=1)


def _day(settings: Settings, as_of: dt.date | None) -> dt.date:
    return disclosures.business_day(settings.today(), as_of)


def _out(d: Disclosure) -> DisclosureOut:
    return DisclosureOut(
        id=d.id,
        region=d.region,
        as_of=d.as_of,
        published_at=d.published_at,
        published_by=d.published_by,
        unit_count=d.unit_count,
    )


@router.post(
    "",
    operation_id="publish_disclosure",
    name="publish_disclosure",
    status_code=201,
    response_model=DisclosureOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def publish_disclosure_once(
    body: DisclosureIn,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> DisclosureOut:
    """Publish the region's public staffing data as a dated snapshot (信息公开).

    Until this call nothing of the region is public; what it publishes stays as it was,
    whatever is pushed later. Per unit: name, kind, funding, parent and internal bodies,
    functions, quota by type against the roster (the staffing report's figures), leader posts
    by level against serving cadres, document numbers — never a person, never a classified
    unit or anything under one. Review first with `GET /api/v1/disclosures/preview`.
    With an `Idempotency-Key`, a retry of the same body returns the first, published once."""
    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="publish_disclosure",
        key=idempotency_key,
        request=body.model_dump(mode="json"),
        status=201,
        model=DisclosureOut,
        make=lambda: publish_disclosure(body, session, principal, settings),
        still=lambda first: first if principal.contains(first.region) else None,
    )


def publish_disclosure(
    body: DisclosureIn, session: Session, principal: Principal, settings: Settings
) -> DisclosureOut:
    """Publish (the route above, and the console's button)."""
    region = region_input(body.region)
    ensure_in_region(principal, region)
    ensure_known_region(session, region)
    return _out(
        disclosures.publish(session, principal, region, _day(settings, body.as_of), settings.zone)
    )


@router.get(
    "",
    operation_id="list_disclosures",
    response_model=DisclosurePage,
    responses=problem_responses(400, 401, 422),
)
def list_disclosures(
    session: DbSession,
    principal: CurrentPrincipal,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DisclosurePage:
    """Publications of your region and below, newest first."""
    after = None
    if cursor:
        micros, key = decode_pair_cursor(cursor, "disclosures")
        if not 0 <= micros < LATEST_MICROS:
            raise invalid_field("cursor", "cursor", "is not a cursor this list issued")
        after = (EPOCH + dt.timedelta(microseconds=micros), key)
    rows = disclosures.page_of(session, principal, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        epoch = last.published_at - EPOCH
        next_cursor = encode_pair_cursor(
            epoch // dt.timedelta(microseconds=1), last.id, "disclosures"
        )
    return DisclosurePage(items=[_out(d) for d in rows], next_cursor=next_cursor)


@router.get(
    "/preview",
    operation_id="preview_disclosure",
    response_model=Preview,
    responses=problem_responses(400, 401, 403, 404, 422),
)
def preview_disclosure(
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    region: Annotated[str, Query(description="Division code inside yours")],
    as_of: Annotated[BoundedDate | None, Query(description="Business date; default today")] = None,
) -> Preview:
    """What publishing would make public now, for the secrecy review (保密审查)."""
    region = region_input(region)
    ensure_in_region(principal, region)
    day = _day(settings, as_of)
    units = disclosures.compute(session, region, day, settings.zone)
    return Preview(region=region, as_of=day, units=[PublicUnit(**u) for u in units])


PUBLIC_RESPONSES = problem_responses(404, 422, 429, 503)
PublicationQuery = Annotated[
    str | None,
    Query(
        pattern=disclosures.PUBLICATION_ID.pattern,
        description="One publication of the region by its id (not with `date`); "
        "another region's: 404",
    ),
]


@public_router.get(
    "/disclosures/{region}",
    operation_id="public_disclosure",
    response_model=PublicDisclosure,
    responses={304: {"description": "Not modified (If-None-Match)"}, **PUBLIC_RESPONSES},
)
def public_disclosure(
    region: str,
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    date: Annotated[
        BoundedDate | None, Query(description="The publication in force that day")
    ] = None,
    publication: PublicationQuery = None,
    cursor: str | None = None,
    limit: Annotated[
        int | None, Query(ge=1, le=5000, description="A page of units; all when left out")
    ] = None,
) -> Response:
    """A region's published units (no token): the latest publication, the one in force on
    `date`, or the region's publication `publication` (an id; another region's or a made-up
    one: 404; not with `date`: 422), by unit code. All units when `limit` is left out; with
    it, a page and `next_cursor` for the next. A unit classified since publication is left
    out (withdrawn), and no unit names a parent classified since (`parent_code` null); ID
    numbers typed into a unit's text are masked. Cacheable with revalidation (ETag,
    `no-cache`: a unit classified since is withdrawn from caches at once)."""
    region = region_input(region)
    chosen = disclosures.publication_input(publication, date)
    after = decode_pair_cursor(cursor, "units")[1] if cursor else None
    hidden = disclosures.hidden_codes(session)
    published = disclosures.latest(session, region, date, settings.zone, hidden, chosen)

    def build() -> Response:
        if limit is None:
            units = disclosures.all_units(session, published.id, after=after, hidden=hidden)
            more = False
        else:
            units = disclosures.units(
                session, published.id, after=after, limit=limit + 1, hidden=hidden
            )
            more = len(units) > limit
            units = units[:limit]
        # The units are stored in the shape of PublicUnit (tests check it): sent as they are,
        # without a second validation of thousands of objects.
        body = {
            "region": published.region,
            "as_of": published.as_of.isoformat(),
            "published_at": published.published_at.isoformat().replace("+00:00", "Z"),
            "units": units,
            "next_cursor": encode_pair_cursor(0, units[-1]["unit_code"], "units") if more else None,
        }
        return JSONResponse(body)

    view = ("json", str(after), str(limit), disclosures.hidden_tag(session, published.id, hidden))
    return cached(request, publication_etag(published.id, *view), build)


@public_router.get(
    "/disclosures/{region}/units/{unit_code}",
    operation_id="public_disclosure_unit",
    response_model=PublicUnitPublished,
    responses={304: {"description": "Not modified (If-None-Match)"}, **PUBLIC_RESPONSES},
)
def public_disclosure_unit(
    region: str,
    unit_code: str,
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    date: Annotated[
        BoundedDate | None, Query(description="The publication in force that day")
    ] = None,
    publication: PublicationQuery = None,
) -> Response:
    """One published unit (no token), of the latest publication, the one in force on `date`,
    or the region's publication `publication`. A classified unit, anything under one, or a
    unit not published: 404, all alike. ID numbers typed into its text are masked, and a
    parent classified since is not named (`parent_code` null)."""
    region = region_input(region)
    chosen = disclosures.publication_input(publication, date)
    hidden = disclosures.hidden_codes(session)
    published = disclosures.latest(session, region, date, settings.zone, hidden, chosen)
    content = disclosures.unit(session, published.id, unit_code, hidden)

    def build() -> Response:
        body = PublicUnitPublished(
            **content, as_of=published.as_of, published_at=published.published_at
        )
        return JSONResponse(body.model_dump(mode="json"))

    view = ("json", unit_code, disclosures.hidden_tag(session, published.id, hidden))
    return cached(request, publication_etag(published.id, *view), build)
