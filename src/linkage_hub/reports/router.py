"""Reports for auditors and the establishment office: JSON, CSV (UTF-8 with BOM) and XLSX."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.auth.principal import Principal
from linkage_hub.db import DatabaseDep, DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import FieldError, InvalidInput, NotFound, problem_responses
from linkage_hub.identifiers import (
    IdentifierError,
    mask_id_numbers_in,
    normalise_region,
)
from linkage_hub.inputs import BoundedDate
from linkage_hub.privacy.masking import mask_exports, mask_records
from linkage_hub.reconciliation.dependencies import DiscrepancyFilters
from linkage_hub.reports import discrepancies, staffing
from linkage_hub.reports.schemas import StaffingReport, StaffingReportRow, TenureReport
from linkage_hub.reports.streaming import ReportFormat, download
from linkage_hub.reports.tenure_report import build_tenure_report
from linkage_hub.reports.xlsx import Cell, Sheet
from linkage_hub.settings import Settings

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

MASK_DESCRIPTION = (
    "Mask ID numbers (2301**********1234) for circulation beyond the departments; "
    "the deployment may mask every report (LINKAGE_MASK_EXPORTS)."
)
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


def report_day(settings: Settings, as_of: dt.date | None) -> dt.date:
    """``as_of``, by default today in the hub's time zone; never in the future."""
    today = settings.today()
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
    principal: CurrentPrincipal,
    session: DbSession,
    settings: SettingsDep,
    region: Annotated[str | None, Query(description="Division code; default: yours")] = None,
    as_of: Annotated[BoundedDate | None, Query(description="Business date; default: today")] = None,
    format: Annotated[ReportFormat, Query()] = ReportFormat.json,
) -> Response:
    """Quota against head counts, per unit × establishment type (编制使用情况).

    One row per registered unit and establishment type with `approved` (核定编制), `on_roster`
    (实名在编), `employed` (of those, active with HR in the same unit), `paid` (of those, paid in
    the same unit in the payroll period), `difference` = `on_roster - approved` and `light`:
    `over` 超编, `full` 满编, `under` 缺编. Computed for the day `as_of` from the departments'
    business dates (entered and exited, hired and left, quota effective dates), so a past day
    shows how things stood then. `paid` counts the payroll period of the unit's own region: the
    latest period not after `as_of`'s month in which that region has payroll lines (the row's
    `payroll_period`), so a county's people are not counted unpaid because a sibling county's
    finance has pushed a later month; it is the period the annual report's `year_end` and the
    console's unit page count. The top-level `payroll_period` is the latest in the whole region.
    `format=csv` gives UTF-8 with a byte-order mark for Excel; `format=xlsx` a workbook with a
    frozen header row; each row of both names its period (工资期间).
    """
    region = report_region(principal, region)
    as_of = report_day(settings, as_of)
    rows = staffing.staffing_rows(session, region, as_of, settings.zone)
    if settings.mask_exports:  # no person in it, but a unit's name is typed text
        rows = [replace(r, unit_name=mask_id_numbers_in(r.unit_name)) for r in rows]
    if format is ReportFormat.json:
        report = StaffingReport(
            region=region,
            as_of=as_of,
            payroll_period=staffing.payroll_period(session, region, as_of),
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
            r.payroll_period or "",  # the period `paid` counts: the unit's region's
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


@router.get(
    "/discrepancies",
    operation_id="reports_discrepancies",
    responses=FILE_RESPONSES,
)
def discrepancy_report(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    db: DatabaseDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    filters: DiscrepancyFilters,
    format: Annotated[ReportFormat, Query()] = ReportFormat.json,
    mask: Annotated[bool, Query(description=MASK_DESCRIPTION)] = False,
) -> Response:
    """Every discrepancy the filters select (the filters of `GET /api/v1/discrepancies`), one
    row each, most severe first: rule code and Chinese title, severity, status, region, unit
    code and name, ID number and name for person findings, establishment type or level,
    answerable departments, first seen, last seen, resolved, summary.

    Streams in bounded memory whatever the size: `format=json` gives `{"items": [...]}`,
    `format=csv` UTF-8 with a byte-order mark and Chinese column headers, `format=xlsx` a
    workbook whose first sheet has a frozen, filterable header row and real date cells
    (China Standard Time), continued on further sheets past Excel's row limit, and two sheets
    of counts: by rule × severity and by unit × severity.

    Only findings of your region are listed (those `GET /discrepancies/{id}` shows you). The
    audit log records the persons of the rows actually sent, also of a download cut short.
    """
    reads = person_reads(request)
    items = discrepancies.rows(db, principal, filters, keyring, reads)
    masked = mask_exports(settings, mask)
    if masked:
        items = mask_records(items)
    stem = f"问题清单_{principal.region}_{settings.today().isoformat()}"
    if format is ReportFormat.json:
        return StreamingResponse(
            discrepancies.json_stream(items, {}), media_type="application/json"
        )
    extra: list[Sheet] = []
    if format is ReportFormat.xlsx:
        extra = [
            Sheet(
                "按规则统计",
                ["规则代码", "规则", "严重程度", "数量"],
                discrepancies.counts_by_rule(session, principal, filters),
                widths=[30, 16, 9, 9],
            ),
            Sheet(
                "按单位统计",
                ["单位代码", "单位名称", "严重程度", "数量"],
                discrepancies.counts_by_unit(session, principal, filters, masked=masked),
                widths=[22, 30, 9, 9],
            ),
        ]
    return download(
        format,
        stem,
        discrepancies.HEADER_ZH,
        discrepancies.cells(items, settings.zone, text_times=format is ReportFormat.csv),
        sheet_name="问题清单",
        widths=discrepancies.WIDTHS,
        extra_sheets=extra,
    )


@router.get(
    "/tenure",
    operation_id="reports_tenure",
    response_model=TenureReport,
    responses=FILE_RESPONSES,
)
def tenure_report(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    id_number: Annotated[str, Query(description="The leader's ID number (15 or 18 digits).")],
    unit_code: Annotated[str, Query(max_length=18, description="The unit led.")],
    from_: Annotated[
        BoundedDate | None, Query(alias="from", description="Default: the cadre's appointed_on.")
    ] = None,
    to: Annotated[
        BoundedDate | None,
        Query(description="Default: the day before the cadre's removed_on, or today."),
    ] = None,
    format: Annotated[ReportFormat, Query()] = ReportFormat.json,
    mask: Annotated[bool, Query(description=MASK_DESCRIPTION)] = False,
) -> Response:
    """The establishment part of a leader's economic-responsibility audit (离任审计): how the
    unit used its quota while the leader was in office.

    For the leader's cadre record in the unit (`from` and `to` default to its `appointed_on`
    and the day before its `removed_on`, the last day in office, or today): month by month,
    the unit's approved quota, people on the roster, people paid, approved leader posts and
    leaders in office; and every finding that was open (open, acknowledged or reopened, by its
    history) at some time in the tenure and names the unit or is about one of its people in
    the tenure (on its roster, employed or in office in it on some day of the tenure, or paid
    by it for a month of it; whatever unit the finding names), with when it was first found,
    whether and when that spell ended resolved or waived, and how many days it had been open
    by then. A resolved or waived finding found again later is not open in between. The XLSX
    begins with a title block (unit, leader, tenure, date) for the audit file.

    A tenure that starts after it ends is refused (422 `order`), also when one end is
    defaulted: a `to` before the appointment names `to`, a `from` after the removal (or
    today, where `to` is capped) names `from`.
    """
    return build_tenure_report(
        session,
        keyring,
        settings,
        principal,
        person_reads(request),
        id_number=id_number,
        unit_code=unit_code,
        from_=from_,
        to=to,
        format=format,
        mask=mask,
    )
