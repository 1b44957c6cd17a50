"""The tenure report as the API serves it: the request checked, the queries of
:mod:`linkage_hub.reports.tenure` run, ID numbers masked when asked, and the JSON, CSV or XLSX
laid out (a title block for the audit file, the months, the findings)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import asdict, replace

from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from linkage_hub.auth.access import PersonReads
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import utcnow, wall_clock
from linkage_hub.errors import FieldError, InvalidInput, NotFound
from linkage_hub.identifiers import (
    IdentifierError,
    normalise_citizen_id,
    normalise_unit_code,
)
from linkage_hub.keys import Keyring
from linkage_hub.privacy.masking import mask_exports, mask_record
from linkage_hub.reports import discrepancies, tenure
from linkage_hub.reports.schemas import TenureReport
from linkage_hub.reports.streaming import ReportFormat, download
from linkage_hub.reports.xlsx import Cell, Sheet
from linkage_hub.settings import Settings

MONTH_HEADER = ["月份", "核定编制", "实名在编", "统发工资", "核定领导职数", "在任领导"]
FINDING_HEADER = [
    "规则代码", "严重程度", "状态", "单位代码", "身份证号", "姓名", "发现时间", "解决/豁免时间",
    "结果", "持续天数", "摘要",
]  # fmt: skip


def _subject(id_number: str, unit_code: str, settings: Settings) -> tuple[str, str]:
    try:
        return (
            normalise_citizen_id(id_number, today=settings.today()),
            normalise_unit_code(unit_code),
        )
    except IdentifierError as exc:
        field = "unit_code" if "unit" in exc.message else "id_number"
        raise InvalidInput(
            exc.message, errors=[FieldError(field=field, code=exc.code, message=exc.message)]
        ) from None


def build_tenure_report(
    session: Session,
    keyring: Keyring,
    settings: Settings,
    principal: Principal,
    reads: PersonReads,
    *,
    id_number: str,
    unit_code: str,
    from_: dt.date | None,
    to: dt.date | None,
    format: ReportFormat,
    mask: bool,
) -> Response:
    """The report of the leader ``id_number`` in ``unit_code``, in the caller's region; each
    person shown is added to ``reads`` as it is sent."""
    number, unit = _subject(id_number, unit_code, settings)
    if from_ and to and from_ > to:
        raise InvalidInput(
            "from lies after to.",
            errors=[FieldError(field="from", code="order", message="from lies after to")],
        )
    today = settings.today()
    found = tenure.find_tenure(
        session, keyring, number, unit, principal.region_bounds, from_, to, today, settings.zone
    )
    if found is None:
        raise NotFound("No cadre record of this person in this unit in your region.")
    _check_order(found, from_, to)
    months = tenure.tenure_months(session, unit, found.start, found.end, settings.zone)
    findings = tenure.tenure_findings(
        session, keyring, found, principal.region_bounds, settings.zone, utcnow()
    )
    reads.add(found.person_key, found.region)  # the leader, in the title block
    if mask_exports(settings, mask):  # the leader's position and the summaries too
        found = replace(found, **mask_record(asdict(found)))
        findings = [replace(f, **mask_record(asdict(f))) for f in findings]
    if format is ReportFormat.json:
        report = TenureReport.build(found, months, findings, today)
        tenure.note_read(reads, findings)
        return JSONResponse(report.model_dump(mode="json"))
    return _download(found, months, findings, format, settings, reads)


def _check_order(found: tenure.Tenure, from_: dt.date | None, to: dt.date | None) -> None:
    """422 ``order`` when the tenure starts after it ends once its ends are defaulted from
    the cadre record (``from`` appointed_on, ``to`` removed_on or today, and capped at
    today): a ``to`` before the appointment or a ``from`` after the removal is refused as a
    ``from`` after ``to`` is, not answered with a negative span. The field named is the one
    given (``from`` when both or neither were)."""
    if found.start <= found.end:
        return
    if from_ is None and to is None:
        message = "the appointment (from's default) lies after the removal or today"
    elif from_ is None:
        message = "to lies before the appointment (from's default)"
    elif to is None:
        message = "from lies after the removal or today (to's default)"
    else:
        message = "from lies after today"  # to is capped at today
    field = "to" if from_ is None and to is not None else "from"
    raise InvalidInput(
        f"{message[0].upper()}{message[1:]}.",
        errors=[FieldError(field=field, code="order", message=message)],
    )


def _download(
    found: tenure.Tenure,
    months: list[tenure.TenureMonth],
    findings: list[tenure.TenureFinding],
    format: ReportFormat,
    settings: Settings,
    reads: PersonReads,
) -> Response:
    title = [
        "领导干部任期编制使用情况（离任审计）",
        f"单位：{found.unit_name or ''}（{found.unit_code}）",
        f"领导：{found.name}　职务：{found.position or ''}",
        f"任期：{found.start.isoformat()} 至 {found.end.isoformat()}　生成日期：{settings.today()}",
    ]
    month_rows: list[list[Cell]] = [
        [m.month, m.approved, m.on_roster, m.paid, m.leader_posts, m.leaders] for m in months
    ]
    finding_rows: Iterator[list[Cell]] = (
        [
            f.rule,
            discrepancies.SEVERITY_ZH.get(f.severity),
            discrepancies.STATUS_ZH.get(f.status),
            f.unit_code,
            f.id_number,
            f.name,
            wall_clock(f.opened_at, settings.zone),
            wall_clock(f.closed_at, settings.zone),
            {"resolved": "已解决", "waived": "已豁免"}.get(f.closed_as or "", "未解决"),
            f.days_open,
            f.summary_zh,
        ]
        for f in _noting(findings, reads)
    )
    stem = f"任期编制情况_{found.unit_code}_{found.start}_{found.end}"
    if format is ReportFormat.csv:
        # One CSV holds the title block, the months and the findings, blank lines between.
        titles: list[list[Cell]] = [[line] for line in title[1:]]
        rows: Iterator[list[Cell]] = itertools.chain(
            [*titles, [], list(MONTH_HEADER), *month_rows, [], list(FINDING_HEADER)],
            finding_rows,
        )
        return download(format, stem, [title[0]], rows, sheet_name="")
    return download(
        format,
        stem,
        MONTH_HEADER,
        month_rows,
        sheet_name="任期编制情况",
        widths=[10, 10, 10, 10, 12, 10],
        title_lines=title,
        extra_sheets=[
            Sheet(
                "任期内问题",
                FINDING_HEADER,
                finding_rows,
                widths=[30, 9, 10, 22, 21, 10, 20, 20, 9, 9, 60],
            )
        ],
    )


def _noting(
    findings: list[tenure.TenureFinding], reads: PersonReads
) -> Iterator[tenure.TenureFinding]:
    """The findings as their rows are written, each person's added to the read entry."""
    for f in findings:
        tenure.note_read(reads, [f])
        yield f
