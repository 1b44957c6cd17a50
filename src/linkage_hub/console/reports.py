"""The console's report page (``/console/reports``): one GET form per download.

Each form sends its fields to the console's mount of the API's download
(:mod:`linkage_hub.console.downloads`) under the API's own parameter names, so the page adds no
report logic: the fields a person leaves empty are dropped and the API's defaults apply (your
region, today, every finding). The choices listed — rules, statuses, severities, departments,
formats — are the API's enums, so the page cannot offer a value the API would refuse.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.console.pages import render
from linkage_hub.dependencies import SettingsDep
from linkage_hub.domain import Department
from linkage_hub.reconciliation.rules import RULES, Severity
from linkage_hub.reconciliation.schemas import FindingStatus
from linkage_hub.reports.streaming import ReportFormat

router = APIRouter(prefix="/console", include_in_schema=False)

FORMAT_ZH = {
    ReportFormat.xlsx: "Excel 工作簿（XLSX）",
    ReportFormat.csv: "CSV（UTF-8，可用 Excel 打开）",
    ReportFormat.json: "JSON",
}


@router.get("/reports")
def reports_page(request: Request, principal: CurrentPrincipal, settings: SettingsDep) -> Response:
    return render(
        request,
        "reports.html",
        principal=principal,
        nav="reports",
        rules=[(str(rule.code), rule.title_zh) for rule in RULES],
        statuses=list(FindingStatus),
        severities=list(Severity),
        departments=list(Department),
        formats=list(FORMAT_ZH.items()),
        this_year=settings.today().year,
    )
