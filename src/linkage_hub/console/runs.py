"""The console's reconciliation runs: the run history, one run, and starting a run.

Each page calls the API's own handler (``get_runs``, ``get_run``, ``start_run`` of
:mod:`linkage_hub.reconciliation.router`) and renders what it returns, so the page shows the
runs ``GET /api/v1/reconciliation/runs`` lists for the same person — the region rule of the
history, keyset paging, a run's counts as the API computes them — and a run started here is
queued, locked against overlaps and executed exactly as one started through the API, with the
person (``user:<username>``) as ``requested_by``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.principal import Principal
from linkage_hub.console.forms import BlankFieldsAbsent
from linkage_hub.console.pages import render
from linkage_hub.db import DatabaseDep, DbSession
from linkage_hub.errors import Conflict
from linkage_hub.reconciliation.dependencies import RunExecutorDep
from linkage_hub.reconciliation.router import get_run, get_runs, start_run
from linkage_hub.reconciliation.rules import RULES
from linkage_hub.reconciliation.schemas import RunCreate, RunKind, RunOut, RunStatus

router = APIRouter(prefix="/console", include_in_schema=False, route_class=BlankFieldsAbsent)

PAGE = 50
KIND_ZH = {"full": "全量", "incremental": "增量"}
WARNING_ZH = {
    "all_rules_skipped": "所有规则均因缺少部门数据而跳过",
    "read_in_full": "增量比对读取了全地区数据",
    "period_behind": "本次比对的工资月份早于本省最新月份",
}
ERROR_ZH = {
    "error": "比对出错",
    "timeout": "比对超时，已中止，未写入任何结果",
    "process_stopped": "运行比对的进程已停止",
    "not_started": "比对未能启动",
}
RULE_ZH = {str(rule.code): rule.title_zh for rule in RULES}
RULE_ORDER = {str(rule.code): n for n, rule in enumerate(RULES)}
Short = Annotated[str | None, Form(max_length=20)]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} 秒"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} 分 {rest} 秒"


def _totals(run: RunOut) -> dict[str, int]:
    counts = run.rules.values()
    return {
        "found": sum(c.found for c in counts),
        "new": sum(c.new for c in counts),
        "resolved": sum(c.resolved for c in counts),
        "reopened": sum(c.reopened for c in counts),
    }


LABELS: dict[str, Any] = {
    "run_kind_zh": lambda v: KIND_ZH.get(v, v),
    "warning_zh": lambda v: WARNING_ZH.get(v, v),
    "error_zh": lambda v: ERROR_ZH.get(v, v),
    "rule_zh": lambda v: RULE_ZH.get(v, v),
    "duration": _duration,
    "totals": _totals,
}


def _history(
    request: Request,
    session: DbSession,
    principal: Principal,
    *,
    region: str | None = None,
    kind: RunKind | None = None,
    status: RunStatus | None = None,
    cursor: str | None = None,
    http_status: int = 200,
    **context: Any,
) -> Response:
    page = get_runs(
        session, principal, region=region, kind=kind, status=status, cursor=cursor, limit=PAGE
    )
    filters = {"region": region or "", "kind": kind or "", "status": status or ""}
    filters = {name: value for name, value in filters.items() if value}
    return render(
        request,
        "runs.html",
        http_status,
        principal=principal,
        nav="runs",
        runs=page.items,
        next_query=urlencode({**filters, "cursor": page.next_cursor}) if page.next_cursor else "",
        first_query=urlencode(filters),
        paged=cursor is not None,
        filters=filters,
        kinds=list(RunKind),
        statuses=list(RunStatus),
        **LABELS,
        **context,
    )


@router.get("/runs")
def runs_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    region: str | None = None,
    kind: RunKind | None = None,
    status: RunStatus | None = None,
    cursor: str | None = None,
) -> Response:
    """The run history of the person's region, newest first, ``PAGE`` runs a page."""
    return _history(
        request, session, principal, region=region, kind=kind, status=status, cursor=cursor
    )


@router.post("/runs")
def start_run_page(
    request: Request,
    session: DbSession,
    db: DatabaseDep,
    principal: CurrentPrincipal,
    executor: RunExecutorDep,
    background: BackgroundTasks,
    region: Annotated[str, Form(max_length=20)],
    period: Short = None,
    as_of: Short = None,
) -> Response:
    """The establishment office's "开始比对" form: the API's ``start_run``, then the run's page.
    An overlapping run answers 409 with the history and a link to the run in the way."""
    try:
        body = RunCreate.model_validate({"region": region, "period": period, "as_of": as_of})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    try:
        accepted = start_run(body, session, db, principal, executor, background)
    except Conflict as exc:
        session.rollback()  # as the API's error would: nothing of the attempt is kept
        busy = {"detail": exc.detail or "", "run_id": exc.extra.get("run_id")}
        return _history(request, session, principal, http_status=409, busy=busy)
    return RedirectResponse(f"/console/runs/{accepted.run_id}", status_code=303)


@router.get("/runs/{run_id}")
def run_page(
    request: Request, run_id: str, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """One run: its settings and timings, then per rule the counts and each skipped rule with
    the datasets it lacked, each rule linked to its findings."""
    run = get_run(run_id, session, principal)
    ran = sorted(run.rules.items(), key=lambda item: RULE_ORDER.get(item[0], len(RULE_ORDER)))
    skipped = sorted(run.skipped.items(), key=lambda item: RULE_ORDER.get(item[0], 0))
    return render(
        request,
        "run.html",
        principal=principal,
        nav="runs",
        run=run,
        ran=ran,
        skipped=skipped,
        **LABELS,
    )
