"""The person view: ``GET /api/v1/persons/{id_number}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.db import DbSession, run_in_session
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import problem_responses
from linkage_hub.identifiers import PERIOD_PATTERN
from linkage_hub.persons import service
from linkage_hub.persons.schemas import PersonView

router = APIRouter(prefix="/api/v1", tags=["persons"])


@router.get(
    "/persons/{id_number}",
    operation_id="get_person",
    name="get_person",
    response_model=PersonView,
    responses=problem_responses(401, 404, 422),
)
async def get_person(
    principal: CurrentPrincipal,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    id_number: str,
    request: Request,
    period: Annotated[
        str | None,
        Query(pattern=PERIOD_PATTERN, description="Payroll period (default: latest)"),
    ] = None,
) -> PersonView:
    """One person across all departments: the current roster, cadre, employment and payroll
    records in your region side by side (payroll: the person's latest period, or `period`),
    and the person's open discrepancies. Any accepted form of the ID number works (15 or 18
    characters, lower-case x, full-width digits)."""
    view = await run_in_session(
        session,
        lambda: service.person_view(session, keyring, settings, principal, id_number, period),
    )
    shown = sum(len(rows) for rows in view.records.values())
    regions = service.regions_read(view)
    person_key = keyring.person_key(view.id_number)
    person_reads(request).add_all(((person_key, r) for r in regions), records=shown)
    return view
