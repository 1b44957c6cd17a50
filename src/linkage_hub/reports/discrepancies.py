"""The discrepancy report: every finding the filters select, one row each, streamed.

Rows are read through one server-side cursor (PostgreSQL; SQLite steps its statement lazily)
in a session of their own while the response is written, so a million findings cost a page of
memory and one sorted scan, not one query per page. The filters and the caller's region
are applied in SQL by :func:`linkage_hub.reconciliation.service.filtered`, exactly as in the
discrepancy list.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from linkage_hub.auth.access import PersonReads
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware, wall_clock
from linkage_hub.db import Database
from linkage_hub.keys import Keyring
from linkage_hub.privacy.masking import mask_text
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import RULES_BY_CODE, RuleCode
from linkage_hub.reconciliation.service import (
    Filters,
    acknowledged_inside,
    filtered,
    id_number_of,
    is_overdue,
    located,
    name_of,
)
from linkage_hub.registry.models import RegistryUnit
from linkage_hub.reports.xlsx import Cell

PAGE = 5000
REVEALED = 4096  # stored ID numbers kept opened while a report is written
TIMES_KEPT = 4096  # distinct times kept converted while a report is written
HEADER_ZH = [
    "规则代码", "规则", "严重程度", "状态", "地区", "单位代码", "单位名称", "身份证号", "姓名",
    "编制类型/职数层级", "责任部门", "首次发现", "最近发现", "解决时间", "确认承办部门", "整改期限",
    "是否逾期", "摘要",
]  # fmt: skip
WIDTHS = [30, 16, 9, 10, 8, 22, 30, 21, 10, 14, 30, 20, 20, 20, 12, 12, 9, 60]
JSON_FIELDS = [
    "rule", "rule_title_zh", "severity", "status", "region", "unit_code", "unit_name",
    "id_number", "name", "establishment_type", "level", "departments", "first_seen_at",
    "last_seen_at", "resolved_at", "responsible_department", "due_on", "overdue", "summary_zh",
    "summary_en",
]  # fmt: skip
SEVERITY_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低"}
STATUS_ZH = {
    "open": "待处理", "acknowledged": "已确认", "waived": "已豁免", "resolved": "已解决",
    "reopened": "再次发现",
}  # fmt: skip
DEPARTMENT_ZH = {
    "establishment": "编办", "organization": "组织部", "hr": "人社局", "finance": "财政局",
    "audit": "审计局",
}  # fmt: skip


def _unit_name(bounds: tuple[str, str]) -> Any:
    """The unit's current registry name, while the unit lies in the reader's region
    (``bounds``): a resolved finding stays in the region that resolved it when its unit moves
    on (records.publish), and what the region the unit entered registers for it since (a new
    name) is that region's record, 404 to the reader everywhere else."""
    return (
        select(RegistryUnit.name)
        .where(
            RegistryUnit.unit_code == Finding.unit_code,
            RegistryUnit.closed_at.is_(None),
            RegistryUnit.region.between(*bounds),
        )
        .limit(1)
        .scalar_subquery()
    )


# Plain columns, not ORM entities: a report reads up to millions of rows and an identity-mapped
# object per row would cost more than the query.
_COLUMNS: list[Any] = [
    Finding.id, Finding.rule, Finding.severity, Finding.severity_rank, Finding.status,
    Finding.region, Finding.unit_code, Finding.person_key, Finding.establishment_type,
    Finding.level, Finding.departments, Finding.first_seen_at, Finding.last_seen_at,
    Finding.resolved_at, Finding.summary_zh, Finding.summary_en, Finding.responsible_department,
    Finding.due_on, Finding.acknowledged_in,
]  # fmt: skip


def _of_a_person(lookup: Any) -> Any:
    """A person's field, not looked for at all for a finding about a unit (half of them): the
    lookups are a dozen index probes a row, both databases skip a CASE branch not taken."""
    return case((Finding.person_key.is_(None), None), else_=lookup)


def _query(principal: Principal, filters: Filters) -> Select[*tuple[Any, ...]]:
    bounds = principal.region_bounds
    query = select(
        *_COLUMNS,
        _unit_name(principal.region_bounds).label("unit_name"),
        _of_a_person(id_number_of(Finding.person_key, bounds, located=True)).label("id_number"),
        _of_a_person(name_of(Finding.person_key, bounds, located=True)).label("name"),
    )
    return filtered(query, principal, filters)


def rows(
    db: Database, principal: Principal, filters: Filters, keyring: Keyring, reads: PersonReads
) -> Iterator[dict[str, Any]]:
    """Every selected finding as a flat dict, most severe first, read through one server-side
    cursor (:data:`PAGE` rows at a time) while the response is written; ID numbers are
    revealed (they are stored encrypted) as each row passes, and each person row is added to
    ``reads`` (by its stored person key) as it is handed on to be written, in the finding's
    region and in those of the records its ID number and name were read from (a city reads a
    county's finding through a sibling county's record of the person); ``overdue`` is judged
    on ``filters.today``.

    Up to millions of rows pass here, so the per-row work is kept small: plain tuples from the
    connection (no ORM row handling, no lookup by name), each stored ID number opened once per
    report (a person has several findings), each rule title and department list made once."""
    today = filters.today
    bounds = principal.region_bounds
    query = _query(principal, filters).order_by(Finding.severity_rank, Finding.id)
    reveal = functools.lru_cache(maxsize=REVEALED)(keyring.reveal_id)
    add, add_all = reads.add, reads.add_all
    with db.read_sessions() as session:
        result = session.connection().execute(query.execution_options(yield_per=PAGE))
        for (
            finding_id, rule, severity, _rank, status, region, unit_code, person_key,
            establishment_type, level, departments, first_seen_at, last_seen_at, resolved_at,
            summary_zh, summary_en, responsible_department, due_on, acknowledged_in, unit_name,
            id_number, name,
        ) in itertools.chain.from_iterable(result.partitions()):  # fmt: skip
            number_in, id_number = located(id_number)
            name_in, name = located(name)
            if person_key:
                if number_in in (None, region) and name_in in (None, region):
                    add(person_key, region)
                else:
                    read = {region, number_in or region, name_in or region}
                    add_all(((person_key, r) for r in sorted(read)), records=1)
            # Who answers, by when: while acknowledged, to readers of the region that did.
            held = acknowledged_inside(status, acknowledged_in, bounds)
            yield {
                "id": finding_id,
                "rule": rule,
                "rule_title_zh": _rule_title(rule),
                "severity": severity,
                "status": status,
                "region": region,
                "unit_code": unit_code,
                "unit_name": unit_name,
                "id_number": reveal(id_number) if person_key and id_number else None,
                "name": name if person_key else None,
                "establishment_type": establishment_type,
                "level": level,
                "departments": list(_departments(departments)),
                "first_seen_at": aware(first_seen_at),
                "last_seen_at": aware(last_seen_at),
                "resolved_at": aware(resolved_at),
                "responsible_department": responsible_department if held else None,
                "due_on": due_on if held else None,
                "overdue": held and is_overdue(status, due_on, today),
                "summary_zh": summary_zh,
                "summary_en": summary_en,
            }


@functools.cache
def _rule_title(rule: str) -> str:
    """The rule's Chinese title (its code if it has none); an unknown code raises."""
    entry = RULES_BY_CODE.get(RuleCode(rule))
    return entry.title_zh if entry else rule


@functools.lru_cache(maxsize=1024)
def _departments(stored: str) -> tuple[str, ...]:
    """``",finance,establishment,"`` → ``("finance", "establishment")``."""
    return tuple(d for d in stored.strip(",").split(",") if d)


@functools.lru_cache(maxsize=1024)
def _departments_zh(departments: tuple[str, ...]) -> str:
    return "、".join(DEPARTMENT_ZH.get(d, d) for d in departments)


def cells(
    items: Iterator[dict[str, Any]], zone: Any, *, text_times: bool = False
) -> Iterator[list[Cell]]:
    """The rows of the CSV and XLSX downloads. Times are the wall clock in ``zone``, as ISO
    text with ``text_times`` (what the CSV writer makes of a time); each distinct time is
    converted once (the findings of a run share their times)."""
    local: dict[dt.datetime, Cell] = {}

    def wall(value: dt.datetime | None) -> Cell:
        if value is None:
            return None
        shown = local.get(value)
        if shown is None:
            if len(local) >= TIMES_KEPT:
                local.clear()
            clock = wall_clock(value, zone)
            shown = local[value] = clock.isoformat() if text_times and clock else clock
        return shown

    for r in items:
        severity, status, responsible = r["severity"], r["status"], r["responsible_department"]
        yield [
            r["rule"],
            r["rule_title_zh"],
            SEVERITY_ZH.get(severity, severity),
            STATUS_ZH.get(status, status),
            r["region"],
            r["unit_code"],
            r["unit_name"],
            r["id_number"],
            r["name"],
            r["establishment_type"] or r["level"],
            _departments_zh(tuple(r["departments"])),
            wall(r["first_seen_at"]),
            wall(r["last_seen_at"]),
            wall(r["resolved_at"]),
            DEPARTMENT_ZH.get(responsible or ""),
            r["due_on"],
            "逾期" if r["overdue"] else None,
            r["summary_zh"],
        ]


def json_stream(items: Iterator[dict[str, Any]], meta: dict[str, Any]) -> Iterator[bytes]:
    """``{"...meta", "items": [...]}`` written row by row."""
    head = json.dumps(meta, ensure_ascii=False)[:-1]
    yield (head + (", " if meta else "") + '"items": [').encode()
    # json.dumps(item, ensure_ascii=False, default=_default), without a new encoder per item
    encode = _ENCODER.encode
    first = True
    buffer: list[str] = []
    for item in items:
        text = encode(item)
        buffer.append(text if first else "," + text)
        first = False
        if len(buffer) >= 1000:
            yield "".join(buffer).encode()
            buffer.clear()
    yield ("".join(buffer) + "]}").encode()


def _default(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_default)


def counts_by_rule(session: Session, principal: Principal, filters: Filters) -> list[list[Cell]]:
    query = filtered(
        select(Finding.rule, Finding.severity, func.count()), principal, filters
    ).group_by(Finding.rule, Finding.severity)
    out: list[list[Cell]] = []
    for rule, severity, count in session.execute(query.order_by(Finding.rule)):
        entry = RULES_BY_CODE.get(RuleCode(rule))
        out.append([rule, entry.title_zh if entry else rule, SEVERITY_ZH.get(severity), count])
    return out


def counts_by_unit(
    session: Session, principal: Principal, filters: Filters, *, masked: bool = False
) -> list[list[Cell]]:
    """The count sheet by unit × severity; ``masked``: the unit's name as a masked row shows it
    (a number typed into it masked, as :func:`linkage_hub.privacy.masking.mask_records` does
    for the rows), so a masked workbook carries no full ID number on any sheet."""
    query = filtered(
        select(
            Finding.unit_code, _unit_name(principal.region_bounds), Finding.severity, func.count()
        ),
        principal,
        filters,
    ).group_by(Finding.unit_code, Finding.severity)
    out: list[list[Cell]] = []
    for unit_code, unit_name, severity, count in session.execute(
        query.order_by(Finding.unit_code, Finding.severity)
    ):
        if masked and unit_name is not None:
            unit_name = mask_text("unit_name", unit_name)
        out.append([unit_code, unit_name, SEVERITY_ZH.get(severity), count])
    return out
