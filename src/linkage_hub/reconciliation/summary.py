"""The findings summary a dashboard shows: counts by rule, severity, status and answerable
department, how long open findings have waited, the units carrying most, and the trend of the
last full runs.

Every count is made by the database (``GROUP BY`` and conditional counts) over the selection
of the discrepancy list — :func:`~linkage_hub.reconciliation.service.filtered`: the caller's
region and the filters — so a figure on a dashboard is what paging the list with the same
filters would count. The trend reads the run history through
:func:`~linkage_hub.reconciliation.history.list_runs`: runs whose region lies inside the
caller's, never a larger region's run, whose counts add up findings the caller cannot read.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Literal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware, utcnow
from linkage_hub.domain import DATASET_OWNER, Department
from linkage_hub.reconciliation.history import RunFilters, list_runs
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import RULES, SEVERITY_RANK, Severity
from linkage_hub.reconciliation.schemas import (
    Ageing,
    FindingStatus,
    FindingSummary,
    KeyCount,
    RunKind,
    RunStatus,
    TrendPoint,
    UnitCounts,
)
from linkage_hub.reconciliation.service import LIVE, Filters, filtered
from linkage_hub.registry.models import RegistryUnit

WAITING = (FindingStatus.open, FindingStatus.reopened)  # nobody has answered them yet
AGEING_DAYS = (30, 60, 90)
# The departments a finding can name: those answering a rule and, for the rules that name
# "the departments involved", the owners of the datasets (audit owns none and answers none).
_NAMED = {d for rule in RULES for d in rule.departments} | set(DATASET_OWNER.values())
ANSWERABLE = tuple(d for d in Department if d in _NAMED)


def summarise(
    session: Session,
    principal: Principal,
    filters: Filters,
    *,
    units_limit: int,
    runs: int,
    now: dt.datetime | None = None,
) -> FindingSummary:
    """The summary of the findings ``filters`` select in the caller's region."""
    by_rule, by_severity, by_status = _counts(session, principal, filters)
    return FindingSummary(
        live=sum(by_status[s] for s in LIVE),
        by_rule=[
            KeyCount(key=rule, count=n)
            for rule, n in sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))
        ],
        by_severity=[
            KeyCount(key=s, count=by_severity[s])
            for s in sorted(Severity, key=SEVERITY_RANK.__getitem__)
        ],
        by_status=[KeyCount(key=s, count=by_status[s]) for s in FindingStatus],
        by_department=_by_department(session, principal, filters),
        ageing=_ageing(session, principal, filters, now or utcnow()),
        units=_units(session, principal, filters, units_limit),
        trend=_trend(session, principal, filters, runs),
    )


def _counts(
    session: Session, principal: Principal, filters: Filters
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Findings by rule, by severity and by status, from one scan grouped by all three."""
    query = filtered(
        select(Finding.rule, Finding.severity, Finding.status, func.count()), principal, filters
    ).group_by(Finding.rule, Finding.severity, Finding.status)
    by_rule: Counter[str] = Counter()
    by_severity: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for rule, severity, status, n in session.execute(query):
        by_rule[rule] += n
        by_severity[severity] += n
        by_status[status] += n
    return by_rule, by_severity, by_status


def _is_live() -> Any:
    return Finding.status.in_([s.value for s in LIVE])


def _by_department(session: Session, principal: Principal, filters: Filters) -> list[KeyCount]:
    """Live findings naming each answerable department; a finding naming two counts for
    both."""
    naming = [
        func.count(case((Finding.departments.contains(f",{d.value},"), 1))) for d in ANSWERABLE
    ]
    row = session.execute(filtered(select(*naming), principal, filters).where(_is_live())).one()
    return [KeyCount(key=d, count=n) for d, n in zip(ANSWERABLE, row, strict=True)]


def _ageing(session: Session, principal: Principal, filters: Filters, now: dt.datetime) -> Ageing:
    """Findings still waiting for an answer (open or reopened), by how long ago they were
    first found: acknowledging or waiving one takes it off this clock."""
    older = [
        func.count(case((Finding.first_seen_at < now - dt.timedelta(days=days), 1)))
        for days in AGEING_DAYS
    ]
    query = filtered(select(*older), principal, filters).where(
        Finding.status.in_([s.value for s in WAITING])
    )
    over = dict(zip(AGEING_DAYS, session.execute(query).one(), strict=True))
    return Ageing(over_30=over[30], over_60=over[60], over_90=over[90])


def _rag(critical: int, live: int) -> Literal["red", "amber", "green"]:
    if critical:
        return "red"
    return "amber" if live else "green"


def _units(
    session: Session, principal: Principal, filters: Filters, limit: int
) -> list[UnitCounts]:
    """The units most in need of attention: open critical findings first, then all live
    ones. A unit is counted in each region its findings carry (a unit that moved keeps its
    old findings' region), so a row is what the list filtered by unit and region shows."""
    critical = func.count(
        case(
            (
                and_(
                    Finding.status.in_([s.value for s in WAITING]),
                    Finding.severity == Severity.critical.value,
                ),
                1,
            )
        )
    ).label("critical")
    live = func.count(case((_is_live(), 1))).label("live")
    query = (
        filtered(
            select(Finding.unit_code, Finding.region, RegistryUnit.name, critical, live),
            principal,
            filters,
        )
        .select_from(Finding)
        .outerjoin(
            RegistryUnit,
            and_(
                RegistryUnit.unit_code == Finding.unit_code,
                RegistryUnit.closed_at.is_(None),
                # Named while it lies in the reader's region: a unit that moved on keeps its
                # resolved findings here, not its new region's registry record (its name).
                RegistryUnit.region.between(*principal.region_bounds),
            ),
        )
        .where(Finding.unit_code.is_not(None))
        .group_by(Finding.unit_code, Finding.region, RegistryUnit.name)
        .order_by(critical.desc(), live.desc(), Finding.unit_code, Finding.region)
        .limit(limit)
    )
    return [
        UnitCounts(
            unit_code=unit_code,
            unit_name=name,
            region=region,
            critical=n_critical,
            live=n_live,
            rag=_rag(n_critical, n_live),
        )
        for unit_code, region, name, n_critical, n_live in session.execute(query)
    ]


def _trend(
    session: Session, principal: Principal, filters: Filters, limit: int
) -> list[TrendPoint]:
    """The last ``limit`` succeeded full runs, oldest first, their counts summed over the
    rules (only the ``rule`` filter's, when given). Incremental runs are left out: each
    reconciles a few records, so their counts are not comparable with a full run's."""
    history = RunFilters(
        region=filters.region, kind=RunKind.full.value, status=RunStatus.succeeded.value
    )
    found, _ = list_runs(session, principal, history, limit=limit, cursor=None)
    points = []
    for run in reversed(found):
        counts = [c for rule, c in (run.counts or {}).items() if filters.rule in (None, rule)]
        points.append(
            TrendPoint(
                run_id=run.id,
                region=run.region,
                finished_at=aware(run.finished_at),
                found=sum(int(c.get("found", 0)) for c in counts),
                new=sum(int(c.get("new", 0)) for c in counts),
                resolved=sum(int(c.get("resolved", 0)) for c in counts),
            )
        )
    return points
