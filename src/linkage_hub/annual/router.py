"""``GET /api/v1/reports/annual``: a unit's year for the annual audit, as JSON, CSV or XLSX.

The CSV and the workbook carry the JSON's numbers, laid out for the audit file: a title block
(unit, year, the day counted at year end), then the months (one row a month with the totals
and the leader posts by level), the months by establishment type, the findings, the meetings,
the cases and the year-end staffing rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from linkage_hub.annual.report import AnnualReport, build
from linkage_hub.auth.access import PersonReads
from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.cases.schemas import CATEGORY_ZH
from linkage_hub.cases.schemas import STATUS_ZH as CASE_STATUS_ZH
from linkage_hub.clock import wall_clock
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import FieldError, InvalidInput, NotFound, problem_responses
from linkage_hub.identifiers import IdentifierError, normalise_unit_code
from linkage_hub.privacy.masking import mask_exports, mask_record
from linkage_hub.reports import discrepancies
from linkage_hub.reports.staffing import TYPE_ZH
from linkage_hub.reports.streaming import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, ReportFormat, download
from linkage_hub.reports.tenure import TenureFinding, note_read
from linkage_hub.reports.xlsx import Cell, Sheet
from linkage_hub.settings import Settings

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
M = TypeVar("M", bound=BaseModel)

MONTH_HEADER = [
    "月份", "统计日", "核定编制", "实名在编", "人社在职", "统发工资", "正职职数", "正职在任",
    "副职职数", "副职在任", "登记状态",
]  # fmt: skip
TYPE_HEADER = ["月份", "编制类型", "核定编制", "实名在编", "人社在职", "统发工资"]
FINDING_HEADER = [
    "问题编号", "规则代码", "严重程度", "状态", "单位代码", "身份证号", "姓名", "发现时间",
    "解决/豁免时间", "结果", "持续天数", "整改期限", "是否逾期", "联席会议", "摘要",
]  # fmt: skip
MEETING_HEADER = ["会议编号", "会议日期", "纪要文号", "议题"]
CASE_HEADER = ["举报编号", "查询码", "类别", "状态", "收到日期", "办结时间", "是否逾期"]
YEAR_END_HEADER = ["编制类型", "核定编制", "实名在编", "人社在职", "统发工资", "差额", "状态"]
MASK_DESCRIPTION = (
    "Mask ID numbers (2301**********1234) for circulation beyond the departments; "
    "the deployment may mask every report (LINKAGE_MASK_EXPORTS)."
)


@router.get(
    "/annual",
    operation_id="reports_annual",
    response_model=AnnualReport,
    responses={
        200: {
            "description": "The report as JSON, or a CSV / XLSX download",
            "content": {CSV_MEDIA_TYPE: {}, XLSX_MEDIA_TYPE: {}},
        },
        **problem_responses(401, 404, 422),
    },
)
def annual_report(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    unit_code: Annotated[str, Query(max_length=18, description="The unit audited.")],
    year: Annotated[int, Query(ge=2000, le=2100, description="Not after this year.")],
    format: Annotated[ReportFormat, Query()] = ReportFormat.json,
    mask: Annotated[bool, Query(description=MASK_DESCRIPTION)] = False,
) -> Response:
    """The annual audit of a unit (机构编制年度审计): month by month its approved quota by
    establishment type against those on the roster, employed and paid, its leader posts and
    leaders in office; every finding open at any time in the year (by its history: a finding
    resolved or waived before the year and found again after it is not) that names the unit,
    or that is about one of its people that year — someone on its roster, employed or in
    office in it on some day of the year, or paid by it for a month of the year — whatever unit
    the finding names (someone who left before 1 January brings none), with its fate then and
    the joint meeting that decided it; the 12310 cases about the unit (establishment office
    and audit); and the position at 31 December as the staffing report of that day gives it.
    The current year is counted to today. The XLSX opens with a title block for the audit
    file."""
    try:
        unit = normalise_unit_code(unit_code)
    except IdentifierError:
        raise NotFound("No such unit.") from None
    today = settings.today()
    if year > today.year:
        raise InvalidInput(
            "The year has not begun.",
            errors=[FieldError(field="year", code="future", message="lies in the future")],
        )
    report, found = build(session, keyring, settings, principal, unit, year)
    reads = person_reads(request)
    if mask_exports(settings, mask):
        report = _masked(report)
    if format is ReportFormat.json:
        _note(found, reads)
        return JSONResponse(report.model_dump(mode="json"))
    return _download(report, found, format, settings, reads)


def _masked(r: AnnualReport) -> AnnualReport:
    """The report with no full ID number in it: the findings' id_number, and any number typed
    into the unit's or its parent's name, a summary, a meeting's title or a year-end row."""

    def mask(model: M) -> M:
        return model.model_copy(update=mask_record(dict(model)))

    return r.model_copy(
        update={
            "unit": mask(r.unit),
            "findings": [mask(f) for f in r.findings],
            "meetings": [mask(m) for m in r.meetings],
            "year_end": [mask(y) for y in r.year_end],
        }
    )


def _note(found: list[TenureFinding], reads: PersonReads) -> None:
    note_read(reads, found)


def _download(
    r: AnnualReport,
    found: list[TenureFinding],
    format: ReportFormat,
    settings: Settings,
    reads: PersonReads,
) -> Response:
    u = r.unit
    title = [
        f"机构编制年度审计　{r.year} 年度",
        f"单位：{u.name or ''}（{u.unit_code}）　地区：{u.region}",
        f"年末统计日：{r.year_end_as_of.isoformat()}　生成日期：{r.generated_on.isoformat()}",
    ]
    months: list[list[Cell]] = [
        [
            m.month, m.as_of, m.approved, m.on_roster, m.employed, m.paid,
            m.leader_posts.get("principal", 0), m.leaders.get("principal", 0),
            m.leader_posts.get("deputy", 0), m.leaders.get("deputy", 0),
            "已登记" if m.registered else "未登记",
        ]
        for m in r.months
    ]  # fmt: skip
    by_type: list[list[Cell]] = [
        [m.month, _type(q.establishment_type), q.approved, q.on_roster, q.employed, q.paid]
        for m in r.months
        for q in m.quotas
    ]
    zone = settings.zone

    def findings() -> Iterator[list[Cell]]:
        for f, shown in zip(found, r.findings, strict=True):
            if shown.id_number:  # the person is written: the read is recorded as it is
                note_read(reads, [f])
            yield [
                shown.id, shown.rule, discrepancies.SEVERITY_ZH.get(shown.severity),
                discrepancies.STATUS_ZH.get(shown.status), shown.unit_code, shown.id_number,
                shown.name, wall_clock(shown.opened_at, zone), wall_clock(shown.closed_at, zone),
                {"resolved": "已解决", "waived": "已豁免"}.get(shown.closed_as or "", "未解决"),
                shown.days_open, shown.due_on, "逾期" if shown.overdue else None,
                shown.meeting_id, shown.summary_zh,
            ]  # fmt: skip

    meetings: list[list[Cell]] = [[m.id, m.held_on, m.minutes_no, m.title] for m in r.meetings]
    cases: list[list[Cell]] = [
        [
            c.id, c.tracking_code, CATEGORY_ZH[c.category], CASE_STATUS_ZH[c.status],
            c.received_on, wall_clock(c.closed_at, zone), "逾期" if c.overdue else None,
        ]
        for c in r.cases or []
    ]  # fmt: skip
    year_end: list[list[Cell]] = [
        [
            _type(y.establishment_type), y.approved, y.on_roster, y.employed, y.paid,
            y.difference, y.light_zh,
        ]
        for y in r.year_end
    ]  # fmt: skip
    stem = f"年度审计_{u.unit_code}_{r.year}"
    if format is ReportFormat.csv:
        # One CSV: the title block, then each part under its own header, blank lines between.
        parts: list[tuple[list[str], Iterator[list[Cell]] | list[list[Cell]]]] = [
            (MONTH_HEADER, months),
            (TYPE_HEADER, by_type),
            (FINDING_HEADER, findings()),
            (MEETING_HEADER, meetings),
            (CASE_HEADER, cases),
            (YEAR_END_HEADER, year_end),
        ]
        titles: list[list[Cell]] = [[line] for line in title[1:]]
        rows: Iterator[list[Cell]] = itertools.chain(titles, *(_part(h, b) for h, b in parts))
        return download(format, stem, [title[0]], rows, sheet_name="")
    return download(
        format,
        stem,
        MONTH_HEADER,
        months,
        sheet_name="月度编制",
        widths=[10, 12, 10, 10, 10, 10, 10, 10, 10, 10, 10],
        title_lines=title,
        extra_sheets=[
            Sheet("按编制类型", TYPE_HEADER, by_type, widths=[10, 14, 10, 10, 10, 10]),
            Sheet(
                "年内问题",
                FINDING_HEADER,
                findings(),
                widths=[34, 30, 9, 10, 22, 21, 10, 20, 20, 9, 9, 12, 9, 34, 60],
            ),
            Sheet("联席会议", MEETING_HEADER, meetings, widths=[34, 12, 30, 40]),
            Sheet("12310举报", CASE_HEADER, cases, widths=[34, 16, 24, 20, 12, 20, 9]),
            Sheet("年末编制", YEAR_END_HEADER, year_end, widths=[14, 10, 10, 10, 10, 8, 8]),
        ],
    )


def _part(header: list[str], body: Iterable[list[Cell]]) -> Iterator[list[Cell]]:
    """One part of the CSV: a blank line, its header, its rows."""
    yield []
    yield list(header)
    yield from body


def _type(code: str) -> str:
    return TYPE_ZH.get(code, code)
