"""Dependencies of the reconciliation routes that other rooms' routes share: the discrepancy
filters (the list and the report), and the app's run executor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from linkage_hub.auth.policy import CurrentPrincipal, ensure_in_region
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.domain import Department
from linkage_hub.errors import FieldError, InvalidInput
from linkage_hub.identifiers import IdentifierError, normalise_citizen_id, normalise_region
from linkage_hub.keys import Keyring
from linkage_hub.reconciliation import service
from linkage_hub.reconciliation.executor import RunExecutor
from linkage_hub.reconciliation.rules import RuleCode, Severity
from linkage_hub.reconciliation.schemas import FindingStatus


def _person_keys(keyring: Keyring, id_number: str) -> list[str]:
    try:
        number = normalise_citizen_id(id_number)
    except IdentifierError as exc:
        raise InvalidInput(
            "The id_number filter is not a valid ID number.",
            errors=[FieldError(field="id_number", code=exc.code, message=exc.message)],
        ) from None
    return keyring.person_keys(number)


def region_filter(region: str | None) -> str | None:
    """A ``region`` filter as a division code (422 naming the parameter otherwise)."""
    if region is None:
        return None
    try:
        return normalise_region(region)
    except IdentifierError as exc:
        raise InvalidInput(
            "The region filter is not a division code.",
            errors=[FieldError(field="region", code=exc.code, message=exc.message)],
        ) from None


async def discrepancy_filters(
    keyring: KeyringDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    region: Annotated[
        str | None, Query(description="Only this region and below: inside yours (else 404).")
    ] = None,
    unit_code: Annotated[str | None, Query(max_length=18)] = None,
    id_number: Annotated[str | None, Query(description="One person's findings.")] = None,
    rule: RuleCode | None = None,
    status: FindingStatus | None = None,
    severity: Severity | None = None,
    department: Annotated[Department | None, Query(description="Answerable department.")] = None,
    live: Annotated[
        bool | None,
        Query(
            description="`true`: only findings not resolved (open, reopened, acknowledged, "
            "waived); `false`: only resolved ones."
        ),
    ] = None,
    overdue: Annotated[
        bool | None,
        Query(
            description="`true`: only acknowledged findings whose due date has passed; "
            "`false`: all but those."
        ),
    ] = None,
) -> service.Filters:
    """The discrepancy filters of API.md, shared by the list, the summary and the report (API
    and console). A ``region`` outside the caller's (a sibling's, or one above) is the 404 the
    cases and meetings answer, not an empty list; checked here, before a streamed report has
    sent its status."""
    wanted = region_filter(region)
    if wanted is not None:
        ensure_in_region(principal, wanted)
    return service.Filters(
        region=wanted,
        unit_code=unit_code.strip().upper() if unit_code else None,
        person_keys=_person_keys(keyring, id_number) if id_number else None,
        rule=rule,
        status=status,
        severity=severity,
        department=department,
        live=live,
        overdue=overdue,
        today=settings.today(),
    )


DiscrepancyFilters = Annotated[service.Filters, Depends(discrepancy_filters)]


async def run_executor(request: Request) -> RunExecutor:
    """The app's run executor (made by the reconciliation lifespan)."""
    executor: RunExecutor = request.app.state.run_executor
    return executor


RunExecutorDep = Annotated[RunExecutor, Depends(run_executor)]
