"""Reports for auditors and the establishment office: JSON, CSV (UTF-8 with BOM) and XLSX."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.principal import Principal
from linkage_hub.db import DbSession
from linkage_hub.errors import FieldError, InvalidInput, NotFound, problem_responses
from linkage_hub.identifiers import IdentifierError, normalise_region
from linkage_hub.reports import staffing
from linkage_hub.reports.schemas import StaffingReport, StaffingReportRow
from linkage_hub.reports.streaming import ReportFormat, download
from linkage_hub.reports.xlsx import Cell

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, or a CSV / XLSX download",
        "content": {
            "text/csv": {},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        },
    },
    **problem_responses(401, 404, 422),
}


def report_region(principal: Principal, region: str | None) -> str:
    """The region asked for, inside the caller's; outside it does not exist (404)."""
    if region is None:
        return principal.region
    try:
        region = normalise_region(region)
    except IdentifierError as exc:
        raise InvalidInput(
            exc.message, errors=[FieldError(field="region", code=exc.code, message=exc.message)]
        ) from None
    if not principal.contains(region):
        raise NotFound("No such region.")
    return region


def report_day(request: Request, as_of: dt.date | None) -> dt.date:
    """``as_of``, by default today in the hub's time zone; never in the future."""
    today: dt.date = request.app.state.settings.today()
    if as_of is None:
        return today
    if as_of > today:
        raise InvalidInput(
            "as_of lies in the future.",
            errors=[FieldError(field="as_of", code="future", message="as_of lies in the future")],
        )
    return as_of


@router.get(
    "/staffing",
    operation_id="reports_staffing",
    response_model=StaffingReport,
    responses=FILE_RESPONSES,
)
def staffing_report(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    region: Annotated[str | None, Query(description="Division code; default: yours")] = None,
    as_of: Annotated[dt.date | None, Query(description="Business date; default: today")] = None,
    format: Annotated[ReportFormat, Query()] = ReportFormat.json,
) -> Response:
    """Quota against head counts, per unit × establishment type (编制使用情况).

    One row per registered unit and establishment type with `approved` (核定编制), `on_roster`
    (实名在编), `employed` (of those, active with HR in the same unit), `paid` (of those, paid in
    the same unit in the payroll period), `difference` = `on_roster - approved` and `light`:
    `over` 超编, `full` 满编, `under` 缺编. Computed for the day `as_of` from the departments'
    business dates (entered and exited, hired and left, quota effective dates), so a past day
    shows how things stood then; the payroll period is the latest one not after `as_of`.
    `format=csv` gives UTF-8 with a byte-order mark for Excel; `format=xlsx` a workbook with a
    frozen header row.
    """
    region = report_region(principal, region)
    as_of = report_day(request, as_of)
    period = staffing.payroll_period(session, region, as_of)
    rows = staffing.staffing_rows(session, region, as_of, period)
    if format is ReportFormat.json:
        report = StaffingReport(
            region=region,
            as_of=as_of,
            payroll_period=period,
            items=[StaffingReportRow.from_row(r) for r in rows],
        )
        return JSONResponse(report.model_dump(mode="json"))
    cells: Iterator[list[Cell]] = (
        [
            r.unit_code,
            r.unit_name,
            staffing.TYPE_ZH.get(r.establishment_type, r.establishment_type),
            r.approved,
            r.on_roster,
            r.employed,
            r.paid,
            r.difference,
            staffing.LIGHTS[r.light],
        ]
        for r in rows
    )
    return download(
        format,
        f"编制使用情况_{region}_{as_of.isoformat()}",
        staffing.HEADER_ZH,
        cells,
        sheet_name="编制使用情况",
        widths=staffing.WIDTHS,
    )
