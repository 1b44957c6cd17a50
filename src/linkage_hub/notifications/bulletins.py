"""Periodic bulletins (定期通报): per region and answerable department, what the period did.

A bulletin counts, for the findings a department answers for (its code in the finding's
``departments``) in the region:

- ``opened``: found new or found again by a run in the period (``reconciliation_event`` rows
  of runs, to ``open`` or ``reopened``);
- ``resolved``: resolved by a run in the period;
- ``open``: live when the bulletin is made (open, reopened, acknowledged or waived);
- ``overdue``: of those, first seen more than ``LINKAGE_BULLETIN_OVERDUE_WORKING_DAYS``
  working days before the period's end (the working-day calendar of ``LATE_EXIT``: Monday to
  Friday minus ``LINKAGE_HOLIDAYS``);
- ``past_due``: acknowledged when the bulletin is made, with a due date (set when it was
  acknowledged, alone or by a joint meeting) before the period's end: promised and not done;

by rule and by unit, with totals, and the region's runs of the period by kind and status.
Everything is counted in the database (GROUP BY); a bulletin holds counts and codes, never a
person. The schedule (``LINKAGE_BULLETIN_CRON``, 08:00 on the 1st of each month by default)
publishes the previous calendar month of each scheduled region; ``linkage-hub bulletins
publish`` does it by hand. Each publication is announced as ``bulletin.published``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.cron import CronSchedule
from linkage_hub.cursors import decode_pair_cursor, encode_pair_cursor
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.errors import NotFound, invalid_field
from linkage_hub.notifications.models import Bulletin
from linkage_hub.outbox import write as outbox
from linkage_hub.reconciliation.models import Event, Finding, Run, Watermark
from linkage_hub.reconciliation.rules import is_working_day
from linkage_hub.reconciliation.service import overdue_condition
from linkage_hub.records import queries
from linkage_hub.reports.xlsx import Cell, Sheet
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

log = logging.getLogger(__name__)

ANSWERABLE = (
    Department.establishment,
    Department.organization,
    Department.hr,
    Department.finance,
)
METRICS = ("opened", "resolved", "open", "overdue", "past_due")


def previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    first = today.replace(day=1)
    start = (first - dt.timedelta(days=1)).replace(day=1)
    return start, first


def working_days_before(day: dt.date, n: int, holidays: Sequence[dt.date]) -> dt.date:
    """The date ``n`` working days before ``day``."""
    off = frozenset(holidays)
    while n > 0:
        day -= dt.timedelta(days=1)
        if is_working_day(day, off):
            n -= 1
    return day


def _utc(day: dt.date, settings: Settings) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), settings.zone).astimezone(dt.UTC)


def compute(
    session: Session,
    settings: Settings,
    region: str,
    department: Department,
    period_from: dt.date,
    period_to: dt.date,
) -> dict[str, Any]:
    lo, hi = region_bounds(region)
    start, end = _utc(period_from, settings), _utc(period_to, settings)
    cutoff = working_days_before(
        period_to, settings.bulletin_overdue_working_days, settings.holidays
    )
    answers = and_(
        Finding.region.between(lo, hi),
        Finding.departments.like(f"%,{department.value},%"),
    )
    cells: dict[tuple[str, str | None], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(METRICS, 0)
    )

    def count(metric: str, query: Any) -> None:
        for rule, unit, n in session.execute(query):
            cells[(rule, unit)][metric] += int(n)

    by_event = (
        select(Finding.rule, Finding.unit_code, func.count())
        .join(Event, Event.finding_id == Finding.id)
        .where(answers, Event.run_id.is_not(None), Event.at >= start, Event.at < end)
        .group_by(Finding.rule, Finding.unit_code)
    )
    count("opened", by_event.where(Event.to_status.in_(("open", "reopened"))))
    count("resolved", by_event.where(Event.to_status == "resolved"))
    live = (
        select(Finding.rule, Finding.unit_code, func.count())
        .where(answers, Finding.status != "resolved")
        .group_by(Finding.rule, Finding.unit_code)
    )
    count("open", live)
    count("overdue", live.where(Finding.first_seen_at < _utc(cutoff, settings)))
    count("past_due", live.where(overdue_condition(period_to, (lo, hi))))

    by_rule: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    by_unit: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    totals = dict.fromkeys(METRICS, 0)
    for (rule, unit), values in cells.items():
        for metric, n in values.items():
            by_rule[rule][metric] += n
            by_unit[unit or ""][metric] += n
            totals[metric] += n
    runs: dict[str, dict[str, int]] = defaultdict(dict)
    for kind, status, n in session.execute(
        select(Run.kind, Run.status, func.count())
        .where(Run.region.between(lo, hi), Run.created_at >= start, Run.created_at < end)
        .group_by(Run.kind, Run.status)
    ):
        runs[kind][status] = int(n)
    return {
        "region": region,
        "department": department.value,
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "overdue_after_working_days": settings.bulletin_overdue_working_days,
        "overdue_if_first_seen_before": cutoff.isoformat(),
        "totals": totals,
        "by_rule": [{"rule": r, **v} for r, v in sorted(by_rule.items())],
        "by_unit": [{"unit_code": u or None, **v} for u, v in sorted(by_unit.items())],
        "runs": dict(runs),
    }


def publish(
    session: Session,
    settings: Settings,
    region: str,
    period_from: dt.date,
    period_to: dt.date,
    now: dt.datetime,
) -> list[Bulletin]:
    """One bulletin per answerable department, announced; the caller commits. Raises
    IntegrityError when the period was published already.

    Counted under the regions lock, shared (:func:`linkage_hub.records.queries.lock_regions`,
    which a units batch takes exclusive): a bulletin reads the region's findings in several
    statements, and a unit moving to a sibling region takes its live findings along
    (``records.publish.propagate_unit_regions``); committing between two of them, it left a
    finding counted as opened in the region it left and open in neither. A move in flight
    commits first; a later one waits for the bulletins."""
    queries.lock_regions(session, None)
    made = []
    for department in ANSWERABLE:
        bulletin = Bulletin(
            id=uuid.uuid4().hex,
            region=region,
            department=department.value,
            period_from=period_from,
            period_to=period_to,
            published_at=now,
            content=compute(session, settings, region, department, period_from, period_to),
        )
        session.add(bulletin)
        made.append(bulletin)
    session.flush()
    for bulletin in made:
        outbox.append(
            session,
            type="bulletin.published",
            region=region,
            now=now,
            data={
                "bulletin_id": bulletin.id,
                "department": bulletin.department,
                "period_from": period_from.isoformat(),
                "period_to": period_to.isoformat(),
                "totals": bulletin.content["totals"],
            },
        )
    return made


def scheduled_regions(session: Session, settings: Settings) -> list[str]:
    """The schedule's regions; without them, the widest regions a run has settled."""
    regions = list(settings.schedule_regions) or list(session.scalars(select(Watermark.region)))
    regions = sorted(set(regions))

    def inside(inner: str, outer: str) -> bool:
        lo, hi = region_bounds(outer)
        return outer != inner and lo <= inner <= hi

    return [r for r in regions if not any(inside(r, o) for o in regions)]


def xlsx_sheets(bulletin: Bulletin) -> list[Sheet]:
    c = bulletin.content
    period = f"{c['period']['from']} 至 {c['period']['to']}（不含）"
    titles = [
        f"定期通报 · 区域 {bulletin.region} · 责任部门 {bulletin.department}",
        f"期间 {period}；逾期：首次发现早于 {c['overdue_if_first_seen_before']}"
        f"（{c['overdue_after_working_days']} 个工作日）",
    ]
    header = [
        "新发现 opened", "已解决 resolved", "未解决 open", "逾期 overdue", "超过整改期限 past_due",
    ]  # fmt: skip

    def rows(items: list[dict[str, Any]], key: str) -> Iterator[Sequence[Cell]]:
        for item in items:
            yield [item[key], *(item.get(m, 0) for m in METRICS)]

    runs = [
        [kind, status, n] for kind, statuses in c["runs"].items() for status, n in statuses.items()
    ]
    return [
        Sheet(
            "总览",
            ["", *header],
            [["合计", *(c["totals"].get(m, 0) for m in METRICS)]],
            title_lines=titles,
        ),
        Sheet(
            "按规则",
            ["规则 rule", *header],
            rows(c["by_rule"], "rule"),
            widths=[34, 14, 14, 14, 14, 18],
        ),
        Sheet(
            "按单位",
            ["单位 unit_code", *header],
            rows(c["by_unit"], "unit_code"),
            widths=[24, 14, 14, 14, 14, 18],
        ),
        Sheet("运行", ["类型 kind", "状态 status", "次数 runs"], runs),
    ]


class BulletinScheduler:
    """Publishes the previous month's bulletins at each time ``LINKAGE_BULLETIN_CRON`` names.
    Every hub process may run it: the unique period makes one of them the publisher."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.schedule = CronSchedule.parse(db.settings.bulletin_cron or "0 8 1 * *")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bulletins", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        zone = self.db.settings.zone
        while not self._stop.is_set():
            now = dt.datetime.now(zone)
            slot = self.schedule.next_after(now)
            if self._stop.wait((slot - now).total_seconds()):
                return
            try:
                self.publish_due(slot.date())
            except Exception:  # logged; the next slot tries again
                log.exception("periodic bulletins at %s failed", slot)

    def publish_due(self, today: dt.date) -> int:
        settings = self.db.settings
        period_from, period_to = previous_month(today)
        with self.db.transaction() as session:
            regions = scheduled_regions(session, settings)
        made = 0
        for region in regions:
            try:
                with self.db.transaction() as session:
                    now = dt.datetime.now(dt.UTC)
                    made += len(publish(session, settings, region, period_from, period_to, now))
            except IntegrityError:
                log.info("bulletins of %s for %s: published already", region, period_from)
        return made


# --- reading --------------------------------------------------------------------------------


def visible(principal: Principal) -> Any:
    return Bulletin.region.between(*principal.region_bounds)


def page(
    session: Session,
    principal: Principal,
    *,
    region: str | None,
    department: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Bulletin], str | None]:
    """Newest period first; a bulletin is shown when its region lies inside the caller's."""
    query = select(Bulletin).where(visible(principal))
    if region is not None:
        query = query.where(Bulletin.region.between(*region_bounds(region)))
    if department is not None:
        query = query.where(Bulletin.department == department)
    if cursor:
        rank, after = decode_pair_cursor(cursor)
        if not 1 <= rank <= dt.date.max.toordinal():  # a tampered rank: no day of the calendar
            raise invalid_field("cursor", "cursor", "is not a cursor this list issued")
        day = dt.date.fromordinal(rank)
        query = query.where(
            (Bulletin.period_to < day) | ((Bulletin.period_to == day) & (Bulletin.id > after))
        )
    rows = list(
        session.scalars(query.order_by(Bulletin.period_to.desc(), Bulletin.id).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_pair_cursor(rows[-1].period_to.toordinal(), rows[-1].id) if more else None
    return rows, next_cursor


def get(session: Session, principal: Principal, bulletin_id: str) -> Bulletin:
    bulletin = session.scalars(
        select(Bulletin).where(Bulletin.id == bulletin_id, visible(principal))
    ).one_or_none()
    if bulletin is None:
        raise NotFound("No such bulletin.")
    return bulletin
