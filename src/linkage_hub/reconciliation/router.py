"""HTTP endpoints: the rule catalogue, runs, and discrepancies with their lifecycle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal, person_reads
from linkage_hub.auth.principal import Principal
from linkage_hub.db import Database, DatabaseDep, DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.errors import NotFound, problem_responses
from linkage_hub.idempotency import IdempotencyKey, once
from linkage_hub.reconciliation import lifecycle, service, summary
from linkage_hub.reconciliation.dependencies import (
    DiscrepancyFilters,
    RunExecutorDep,
    region_filter,
)
from linkage_hub.reconciliation.executor import RunExecutor
from linkage_hub.reconciliation.history import (
    RunFilters,
    list_runs,
    openable_batches,
    readable_run,
)
from linkage_hub.reconciliation.rules import RULES
from linkage_hub.reconciliation.runs import create_run
from linkage_hub.reconciliation.schemas import (
    CommentIn,
    CommentOut,
    FindingDetail,
    FindingOut,
    FindingPage,
    FindingSummary,
    RuleList,
    RuleOut,
    RunAccepted,
    RunCreate,
    RunKind,
    RunOut,
    RunPage,
    RunStatus,
    Text,
    TransitionIn,
    detail_read,
    findings_read,
)

router = APIRouter(prefix="/api/v1")


# --- rules and runs ---------------------------------------------------------------------------


@router.get(
    "/reconciliation/rules",
    operation_id="list_reconciliation_rules",
    tags=["reconciliation"],
    response_model=RuleList,
    responses=problem_responses(401),
)
def list_rules(principal: CurrentPrincipal, settings: SettingsDep) -> RuleList:
    """The discrepancy catalogue: the 17 rules with their Chinese and English titles, severity,
    answerable departments, the datasets each needs, and the parameters in force (such as the
    grace, in working days, for leaving the roster after an HR exit)."""
    items = []
    for rule in RULES:
        options, needed = rule.requires_any
        parameters: dict[str, Any] = {"period": "the run's payroll period"}
        if rule.grace:
            parameters = {
                "exit_grace_working_days": settings.exit_grace_working_days,
                "holidays": [d.isoformat() for d in settings.holidays],
                "working_days": "Monday to Friday, minus the holidays",
            }
        items.append(
            RuleOut(
                code=rule.code,
                title=Text(zh=rule.title_zh, en=rule.title_en),
                severity=rule.severity,
                subject=rule.subject,
                departments=list(rule.departments),
                involved_departments=rule.involved,
                datasets=list(rule.requires) + [d for d in options if d not in rule.requires],
                datasets_at_least=needed,
                parameters=parameters,
            )
        )
    return RuleList(items=items)


@router.post(
    "/reconciliation/runs",
    operation_id="create_reconciliation_run",
    name="start_run",
    tags=["reconciliation"],
    status_code=202,
    response_model=RunAccepted,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def start_run_once(
    body: RunCreate,
    response: Response,
    session: DbSession,
    db: DatabaseDep,
    principal: CurrentPrincipal,
    executor: RunExecutorDep,
    background: BackgroundTasks,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    """Start a reconciliation run of a region (and everything below it) for the establishment
    office. The run executes in the background: poll `GET /reconciliation/runs/{run_id}`.
    A region the hub holds no units, records or findings in (a mistyped code) is 422.

    `period` defaults to the latest payroll period finance pushed for the region (never after
    next month), `as_of` to today (China Standard Time); a `period` after next month (a typo:
    payroll batches refuse it too) or an `as_of` after today is 422 (`future`). One run per
    region at a time: while a run of this region, a region containing it or a region inside
    it is queued or running, the answer is 409.

    `Idempotency-Key`: a retry with the same key and body returns the first answer (the
    first run's id, header `Idempotent-Replayed: true`) and starts nothing."""
    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="create_reconciliation_run",
        key=idempotency_key,
        request=body.model_dump(mode="json"),
        status=202,
        model=RunAccepted,
        make=lambda: start_run(body, session, db, principal, executor, background),
        still=lambda first: first if readable_run(session, principal, first.run_id) else None,
    )


def start_run(
    body: RunCreate,
    session: Session,
    db: Database,
    principal: Principal,
    executor: RunExecutor,
    background: BackgroundTasks,
) -> RunAccepted:
    """Start the run (the route above, and the console's form)."""
    if not principal.contains(body.region):
        raise NotFound("No such region in your scope.")
    run, lock = create_run(
        session,
        db,
        region=body.region,
        period=body.period,
        as_of=body.as_of,
        requested_by=principal.client_id,
    )
    background.add_task(executor.start, run.id, lock)
    return RunAccepted(run_id=run.id, status="queued")


@router.get(
    "/reconciliation/runs",
    operation_id="list_reconciliation_runs",
    tags=["reconciliation"],
    response_model=RunPage,
    responses=problem_responses(401, 404, 422),
)
def get_runs(
    session: DbSession,
    principal: CurrentPrincipal,
    region: Annotated[
        str | None,
        Query(description="Only runs of this region and below (inside yours, else 404)."),
    ] = None,
    kind: RunKind | None = None,
    status: RunStatus | None = None,
    batch_id: Annotated[
        str | None, Query(max_length=36, description="The run(s) that covered this batch.")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunPage:
    """The reconciliation runs of your region, newest first, keyset-paginated (`limit`,
    opaque `cursor`): full runs (asked for by the API, `linkage-hub reconcile` or the
    built-in schedule) and the incremental runs the hub starts after writes, each with the
    `batch_ids` it covered (`?batch_id=` finds the run that settled a push you may open,
    `GET /batches/{batch_id}`; another batch's id answers an empty page); an incremental
    run that had to read the whole region (a new as-of date, period or coverage) says so in
    its `warnings` (`read_in_full`).
    Each item is what `GET /reconciliation/runs/{run_id}` shows.

    A run is listed when its region lies inside yours; runs over a larger region (the
    province's run, seen from a city) are not, since their counts cover regions you cannot
    read."""
    filters = RunFilters(
        region=region_filter(region),
        kind=kind.value if kind else None,
        status=status.value if status else None,
        batch_id=batch_id,
    )
    runs, next_cursor = list_runs(session, principal, filters, limit=limit, cursor=cursor)
    openable = openable_batches(session, principal, runs)
    return RunPage(items=[RunOut.of(r, openable) for r in runs], next_cursor=next_cursor)


@router.get(
    "/reconciliation/runs/{run_id}",
    operation_id="get_reconciliation_run",
    tags=["reconciliation"],
    response_model=RunOut,
    responses=problem_responses(401, 404),
)
def get_run(run_id: str, session: DbSession, principal: CurrentPrincipal) -> RunOut:
    """A run's kind (`full` or `incremental`, with the `batch_ids` it covered), status
    (`queued`, `running`, `succeeded`, `failed`), timings and, per rule, the counts `found`,
    `new`, `resolved` and `reopened`; rules skipped for lack of a department's records are
    listed with the datasets that were missing, and a run in which every rule was skipped
    carries the warning `all_rules_skipped`."""
    run = readable_run(session, principal, run_id)
    if run is None:
        raise NotFound("No such run.")
    return RunOut.of(run, openable_batches(session, principal, [run]))


# --- discrepancies ----------------------------------------------------------------------------


@router.get(
    "/discrepancies",
    operation_id="list_discrepancies",
    tags=["discrepancies"],
    response_model=FindingPage,
    responses=problem_responses(401, 404, 422),
)
def list_discrepancies(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    filters: DiscrepancyFilters,
    keyring: KeyringDep,
    settings: SettingsDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FindingPage:
    """Findings in the caller's region, most severe first, filtered and keyset-paginated
    (`limit`, opaque `cursor`). Each item carries the rule, status, subject (unit, ID number
    for person findings, establishment type or level), the answerable departments and a
    summary in Chinese and English.

    Statuses: `open` (found), `acknowledged` and `waived` (set by people), `resolved` (a later
    run covering it no longer finds it) and `reopened` (a resolved finding found again — the
    same finding and id; it is handled like `open`). A finding's identity is its rule and its
    subject, so it keeps its id, history and comments from run to run."""
    items, next_cursor = service.list_findings(
        session,
        principal,
        filters,
        keyring=keyring,
        today=settings.today(),
        limit=limit,
        cursor=cursor,
    )
    pairs, shown = findings_read(items)
    person_reads(request).add_all(pairs, records=shown)
    return FindingPage(items=items, next_cursor=next_cursor)


# Declared before /discrepancies/{finding_id}, which would otherwise take "summary" for an id.
@router.get(
    "/discrepancies/summary",
    operation_id="summarise_discrepancies",
    tags=["discrepancies"],
    response_model=FindingSummary,
    responses=problem_responses(401, 404, 422),
)
def summarise_discrepancies(
    session: DbSession,
    principal: CurrentPrincipal,
    filters: DiscrepancyFilters,
    units_limit: Annotated[
        int, Query(ge=1, le=100, description="How many units `units` lists.")
    ] = 20,
    runs: Annotated[int, Query(ge=1, le=60, description="How many runs `trend` shows.")] = 12,
) -> FindingSummary:
    """Counts of the findings in your region, for a dashboard: the same filters as
    `GET /discrepancies` select the same findings, so each count is what paging that list
    would give — `by_rule` for `PAID_AFTER_EXIT` is the number of items
    `GET /discrepancies?rule=PAID_AFTER_EXIT` returns. No person is named, only counts.

    - `live`: findings not resolved (`open`, `reopened`, `acknowledged`, `waived`);
      `by_rule`, `by_severity` and `by_status` count every finding selected, resolved ones
      included (filter with `status` to count one status).
    - `by_department`: live findings naming each answerable department.
    - `ageing`: findings still waiting for an answer (`open` or `reopened`) first found more
      than 30, 60 and 90 days ago; acknowledging or waiving one stops its clock.
    - `units`: the units with most open critical findings, then most live findings, each
      with a RAG colour (`red`: an open critical finding, `amber`: live findings, `green`:
      none live).
    - `trend`: the last `runs` succeeded full reconciliation runs of your region and the
      regions inside it (as `GET /reconciliation/runs` lists them), oldest first, with the
      findings each found, found new and resolved. It follows the `region` and `rule`
      filters only: a run counts per rule, not per unit, status or department.

    A filter that is not valid (`region=abc`) is 422 naming the parameter."""
    return summary.summarise(session, principal, filters, units_limit=units_limit, runs=runs)


@router.get(
    "/discrepancies/{finding_id}",
    operation_id="get_discrepancy",
    tags=["discrepancies"],
    response_model=FindingDetail,
    response_model_by_alias=True,
    responses=problem_responses(401, 404),
)
def get_discrepancy(
    finding_id: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> FindingDetail:
    """One finding with its evidence (each department's records behind it, with versions and
    batches, as of the run that last found it), the rule parameters of that run, its status
    history (who changed it and when) and the joint-meeting comments (会商).

    An evidence record of a region you cannot read (a finding can span regions) is shown as
    what it is — dataset, region, record key, version — with `withheld: true` and no fields;
    `gross_pay` is shown to finance and audit only."""
    detail = service.finding_detail(session, principal, finding_id, keyring, settings.today())
    pairs, shown = detail_read(detail)
    person_reads(request).add_all(pairs, records=shown)
    return detail


@router.post(
    "/discrepancies/{finding_id}/comments",
    operation_id="comment_discrepancy",
    tags=["discrepancies"],
    status_code=201,
    response_model=CommentOut,
    responses=problem_responses(400, 401, 404, 422),
)
def comment(
    finding_id: str,
    body: CommentIn,
    response: Response,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    keyring: KeyringDep,
    idempotency_key: IdempotencyKey = None,
) -> CommentOut:
    """Add to the joint-meeting thread (会商) of a finding. Any department of the region,
    audit included, may comment. With an `Idempotency-Key`, a retry of the same comment
    returns the first, posted once. An ID number in the body is kept masked
    (`2301**********1234`), as it is everywhere outside the person's record."""

    def make() -> CommentOut:
        return lifecycle.add_comment(session, principal, finding_id, body.body)

    def still(first: CommentOut) -> CommentOut | None:
        try:
            service.visible_finding(session, principal, finding_id)
        except NotFound:
            return None  # the finding followed its unit out of the caller's region, or it moved
        return first

    return once(
        session,
        keyring,
        settings,
        response,
        scope=principal.client_id,
        route="comment_discrepancy",
        key=idempotency_key,
        request=[finding_id, body.model_dump(mode="json")],
        status=201,
        model=CommentOut,
        make=make,
        still=still,
    )


@router.post(
    "/discrepancies/{finding_id}/transitions",
    operation_id="transition_discrepancy",
    tags=["discrepancies"],
    response_model=FindingOut,
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
def transition(
    finding_id: str,
    body: TransitionIn,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    keyring: KeyringDep,
    settings: SettingsDep,
) -> FindingOut:
    """Change a finding's status; every change is recorded with who and when.

    - `acknowledged` (from `open` or `reopened`): by an answerable department.
    - `waived` (an accepted exception): by the establishment office or audit, with a `reason`
      and a `document_no`; it stays waived while it holds and is resolved when a run no
      longer finds it.
    - `open` (back from `acknowledged` or `waived`): by the establishment office or audit.

    `resolved` and `reopened` are set by reconciliation runs only. A change that does not
    fit the current status is 409. An ID number in `reason` or `document_no` is kept masked
    (`2301**********1234`) in the history, the webhook event and the audit log."""
    changed = lifecycle.transition(session, principal, finding_id, body, keyring, settings.today())
    pairs, shown = findings_read([changed])
    person_reads(request).add_all(pairs, records=shown)
    return changed
