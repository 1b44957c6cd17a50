"""The console's disclosures (信息公开): the region's publications, the secrecy review's preview,
and publishing.

Each page calls the API's own handler (``list_disclosures``, ``preview_disclosure``,
``publish_disclosure`` of :mod:`linkage_hub.public.router`) and renders what it returns: the
same policy (the establishment office; ``ROUTE_POLICY``), the same region rule, the same
snapshot and the same audit entry (``disclosure.publish``) as ``POST /api/v1/disclosures``,
with the person (``user:<username>``) as ``published_by``.

Publishing is a form on the preview page only, carrying the region and business date that
were reviewed: a person publishes what they have looked at. The snapshot is computed again
when it is published, as the API computes it; the page says that records pushed in between
show in it. A preview with no unit offers no publish button (an empty publication is allowed
by the API, but from the console it is a mistake: a wrong region or a date before the units).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.console.forms import BlankFieldsAbsent, invalid_form
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.dependencies import SettingsDep
from linkage_hub.inputs import BoundedDate
from linkage_hub.public.router import list_disclosures, preview_disclosure, publish_disclosure
from linkage_hub.public.schemas import DisclosureIn, PublicUnit

router = APIRouter(prefix="/console", include_in_schema=False, route_class=BlankFieldsAbsent)

PAGE = 50
SHOWN = 1000  # units listed on a preview page; the totals count them all


def _totals(units: list[PublicUnit]) -> dict[str, int]:
    return {
        "units": len(units),
        "approved": sum(q.approved for u in units for q in u.quotas),
        "on_roster": sum(q.on_roster for u in units for q in u.quotas),
        "posts": sum(p.approved for u in units for p in u.leader_posts),
        "serving": sum(p.serving for u in units for p in u.leader_posts),
        "over": sum(1 for u in units if any(q.on_roster > q.approved for q in u.quotas)),
    }


@router.get("/disclosures")
def disclosures_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    cursor: str | None = None,
    published: str | None = None,
) -> Response:
    """The publications of the person's region and below, newest first, and the form that
    opens a preview. ``published``: the publication just made, confirmed when it is listed."""
    page = list_disclosures(session, principal, cursor=cursor, limit=PAGE)
    just = next((d for d in page.items if d.id == published), None)
    return render(
        request,
        "disclosures.html",
        principal=principal,
        nav="disclosures",
        items=page.items,
        next_cursor=page.next_cursor,
        paged=cursor is not None,
        just=just,
    )


@router.get("/disclosures/preview")
def preview_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    region: str,
    as_of: BoundedDate | None = None,
) -> Response:
    """What publishing would make public, unit by unit, for the secrecy review (保密审查)."""
    preview = preview_disclosure(session, principal, settings, region=region, as_of=as_of)
    return render(
        request,
        "disclosure_preview.html",
        principal=principal,
        nav="disclosures",
        preview=preview,
        units=preview.units[:SHOWN],
        names={u.unit_code: u.name for u in preview.units},
        totals=_totals(preview.units),
        shown=SHOWN,
    )


@router.post("/disclosures")
def publish_page(
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    region: Annotated[str, Form(max_length=20)],
    as_of: Annotated[str | None, Form(max_length=20)] = None,
) -> Response:
    """The preview's "发布" button: the API's ``publish_disclosure``, then the list."""
    fields: dict[str, Any] = {"region": region, "as_of": as_of or None}
    try:
        body = DisclosureIn.model_validate(fields)
    except ValidationError as exc:
        raise invalid_form(exc) from None
    out = publish_disclosure(body, session, principal, settings)
    return RedirectResponse(f"/console/disclosures?published={out.id}", status_code=303)
