"""The console's overview (``/console/``): the findings summary of the caller's region.

Every figure comes from :func:`linkage_hub.reconciliation.summary.summarise`, the service behind
``GET /api/v1/discrepancies/summary``, called with the same filters plus ``live=true``: the
dashboard counts what is still to be done, and each count links to the findings list that pages
exactly those findings. It reads the API's filters, ``id_number`` included, and refuses that one
as the findings list does (:func:`~linkage_hub.console.forms.no_id_number`): the overview is
of a region, and a person's findings are on the person search. The trend is an SVG drawn here
(no script, nothing loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.console.forms import BlankFieldsAbsent, no_id_number
from linkage_hub.console.pages import render
from linkage_hub.db import DbSession
from linkage_hub.reconciliation.dependencies import DiscrepancyFilters
from linkage_hub.reconciliation.rules import RULES
from linkage_hub.reconciliation.schemas import TrendPoint
from linkage_hub.reconciliation.summary import summarise

router = APIRouter(prefix="/console", include_in_schema=False, route_class=BlankFieldsAbsent)
RULE_ZH = {rule.code: rule.title_zh for rule in RULES}
WIDTH, HEIGHT, PAD = 640, 200, 32


@dataclass(frozen=True)
class Chart:
    """The trend as SVG coordinates: one polyline per series, labels on the x axis."""

    found: str
    new: str
    resolved: str
    labels: list[tuple[float, str]]
    top: int


def trend_chart(points: list[TrendPoint], zone: object) -> Chart | None:
    if not points:
        return None
    top = max(max(p.found, p.new, p.resolved) for p in points) or 1
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def line(values: list[int]) -> str:
        return " ".join(
            f"{PAD + i * step:.1f},{HEIGHT - PAD - v * (HEIGHT - 2 * PAD) / top:.1f}"
            for i, v in enumerate(values)
        )

    labels = [
        (PAD + i * step, p.finished_at.astimezone(zone).strftime("%m-%d") if p.finished_at else "")  # type: ignore[arg-type]
        for i, p in enumerate(points)
    ]
    return Chart(
        found=line([p.found for p in points]),
        new=line([p.new for p in points]),
        resolved=line([p.resolved for p in points]),
        labels=labels,
        top=top,
    )


@router.get("/", dependencies=[Depends(no_id_number)])
def dashboard(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    filters: DiscrepancyFilters,
) -> Response:
    filters.live = True
    summary = summarise(session, principal, filters, units_limit=20, runs=12)
    base = {k: v for k, v in (("region", filters.region),) if v}

    def link(**params: str) -> str:
        return "/console/findings?" + urlencode({**base, "live": "true", **params})

    return render(
        request,
        "dashboard.html",
        principal=principal,
        nav="dashboard",
        s=summary,
        link=link,
        rule_zh=RULE_ZH,
        chart=trend_chart(summary.trend, request.app.state.settings.zone),
        size=(WIDTH, HEIGHT, PAD),
        region=filters.region or "",
    )
