"""The unit page (``/console/units/{unit_code}``): the unit's registry facts, its last twelve
months of quota against head counts, and its live findings.

The months come from :func:`linkage_hub.reports.unit_months.unit_months` — the service the
annual audit report uses, counted with the staffing report's definitions, so this month's row
is what ``GET /api/v1/reports/staffing`` says of the unit today. The findings are the API
list's own (``service.list_findings`` with the unit and ``live`` filters), with its
person-read audit: a finding about a person shows that person's (masked) ID number.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.auth.principal import Principal
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import NotFound
from linkage_hub.identifiers import IdentifierError, normalise_unit_code
from linkage_hub.keys import Keyring
from linkage_hub.reconciliation import service
from linkage_hub.reconciliation.rules import RULES_BY_CODE
from linkage_hub.reconciliation.schemas import FindingOut, findings_read
from linkage_hub.reports.staffing import LIGHTS
from linkage_hub.reports.unit_months import LEVELS, unit_months

router = APIRouter(prefix="/console", include_in_schema=False)

MONTHS = 12
FINDINGS = 100  # per live status; the findings list pages through the rest


def months_back(today: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` before today's."""
    index = today.year * 12 + today.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def live_findings(
    session: Session, principal: Principal, unit_code: str, keyring: Keyring, today: dt.date
) -> tuple[list[FindingOut], bool]:
    """The unit's findings that still hold, most severe first, and whether some were left
    out (more than :data:`FINDINGS`)."""
    filters = service.Filters(unit_code=unit_code, live=True)
    items, next_cursor = service.list_findings(
        session, principal, filters, keyring=keyring, today=today, limit=FINDINGS, cursor=None
    )
    return items, next_cursor is not None


@router.get("/units/{unit_code}")
def unit_page(
    unit_code: str,
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    keyring: KeyringDep,
) -> Response:
    try:
        code = normalise_unit_code(unit_code)
    except IdentifierError:
        raise NotFound("No such unit.") from None
    today = settings.today()
    first = months_back(today, MONTHS - 1)
    result = unit_months(session, principal, code, first, today, settings.zone)
    findings, more = live_findings(session, principal, code, keyring, today)
    pairs, shown = findings_read(findings)
    person_reads(request).add_all(pairs, records=shown)
    months = list(reversed(result.months))  # the current month first
    types = sorted({q.establishment_type for m in result.months for q in m.quotas})
    return render(
        request,
        "unit.html",
        principal=principal,
        nav="",
        u=result.unit,
        current=months[0] if months else None,
        months=months,
        types=types,
        levels=LEVELS,
        lights=LIGHTS,
        findings=findings,
        more=more,
        rules_by_code=RULES_BY_CODE,
    )
