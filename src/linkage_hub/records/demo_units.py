"""The demo city's fixed facts and its units: the periods and dates the planted cases hold
for, the person cases, the names, and the units at three levels
(see :mod:`linkage_hub.records.demo_data`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from linkage_hub.domain import UnitKind
from linkage_hub.identifiers import uscc_check_char

PERIOD = "2026-10"
PREVIOUS_PERIOD = "2026-09"
REGIONS = ("230100", "230102", "230103")  # the city and two of its districts
ADDRESS_CODES = ("230102", "230103", "230104", "230108", "230109", "230110", "230111", "230183")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文博宇浩然欣怡子涵雨轩"
ETHNIC = ("阿依古丽·买买提", "努尔兰·吐尔逊", "古丽娜尔·艾山", "巴特尔·朝鲁")
MIDDLE_DOTS = ("•", "・", "．")

# Planted person cases, in the order they are dealt out, with the person rules each breaks
# (the variant suffixes _A/_B/_C name the clause of MIXED_ESTABLISHMENT). The cases after the
# first fifteen hold records in two or three units of a department -- moves with dates around
# the period, two HR records, posts in two units, pay from several units or another period --
# and the near misses (no rule) sit exactly at a boundary.
PERSON_CASES: dict[str, tuple[str, ...]] = {
    "PAID_WITHOUT_ESTABLISHMENT": ("PAID_WITHOUT_ESTABLISHMENT",),
    "PAID_AFTER_EXIT": ("PAID_AFTER_EXIT",),
    "DUPLICATE_PAYROLL": ("DUPLICATE_PAYROLL",),
    "DUPLICATE_ESTABLISHMENT": ("DUPLICATE_ESTABLISHMENT",),
    "MIXED_ESTABLISHMENT_A": ("MIXED_ESTABLISHMENT",),
    "MIXED_ESTABLISHMENT_B": ("MIXED_ESTABLISHMENT",),
    "MIXED_ESTABLISHMENT_C": ("MIXED_ESTABLISHMENT",),
    "EMPLOYED_WITHOUT_ESTABLISHMENT": ("EMPLOYED_WITHOUT_ESTABLISHMENT",),
    "LATE_EXIT": ("LATE_EXIT",),
    "ESTABLISHED_NOT_EMPLOYED": ("ESTABLISHED_NOT_EMPLOYED",),
    "ESTABLISHED_NOT_PAID": ("ESTABLISHED_NOT_PAID",),
    "CADRE_WITHOUT_ESTABLISHMENT": ("CADRE_WITHOUT_ESTABLISHMENT",),
    "UNIT_MISMATCH": ("UNIT_MISMATCH",),
    "FUNDING_MISMATCH": ("FUNDING_MISMATCH",),
    "NAME_MISMATCH": ("NAME_MISMATCH",),
    # records in several units of one department
    "MULTI_PAID_WITHOUT_ESTABLISHMENT": ("PAID_WITHOUT_ESTABLISHMENT", "DUPLICATE_PAYROLL"),
    "MULTI_PAID_AFTER_EXIT_MOVED": ("PAID_AFTER_EXIT",),
    "MULTI_PAID_AFTER_EXIT_DIED": ("PAID_AFTER_EXIT", "LATE_EXIT"),
    "MULTI_DUPLICATE_PAYROLL": ("DUPLICATE_PAYROLL",),
    "MULTI_DUPLICATE_ESTABLISHMENT": ("DUPLICATE_ESTABLISHMENT",),
    "MULTI_MIXED_ESTABLISHMENT_A": ("MIXED_ESTABLISHMENT", "DUPLICATE_ESTABLISHMENT"),
    "MULTI_MIXED_ESTABLISHMENT_C": ("MIXED_ESTABLISHMENT",),
    "MULTI_EMPLOYED_WITHOUT_ESTABLISHMENT": ("EMPLOYED_WITHOUT_ESTABLISHMENT",),
    "MULTI_LATE_EXIT": ("LATE_EXIT",),
    "MULTI_ESTABLISHED_NOT_EMPLOYED": ("ESTABLISHED_NOT_EMPLOYED",),
    "MULTI_ESTABLISHED_NOT_PAID": ("ESTABLISHED_NOT_PAID", "DUPLICATE_ESTABLISHMENT"),
    "MULTI_ESTABLISHED_NOT_PAID_LAST_PERIOD": ("ESTABLISHED_NOT_PAID",),
    "MULTI_CADRE_WITHOUT_ESTABLISHMENT": ("CADRE_WITHOUT_ESTABLISHMENT",),
    "MULTI_UNIT_MISMATCH": ("UNIT_MISMATCH",),
    "MULTI_FUNDING_MISMATCH": ("FUNDING_MISMATCH", "DUPLICATE_PAYROLL"),
    "MULTI_NAME_MISMATCH": ("NAME_MISMATCH",),
    # near misses: exactly at a boundary, or a unit common to all
    "NEAR_PAID_AFTER_EXIT_FIRST_DAY": (),
    "NEAR_LATE_EXIT_GRACE": (),
    "NEAR_TWO_POSTS_ONE_COMMON": (),
    "NEAR_ORGANIZATION_ALONE": (),
}
AS_OF = dt.date(2026, 11, 27)  # the as-of date the planted list holds for (a Friday)
LATE_EXIT_ON = "2026-11-12"  # 11 working days before AS_OF: late
GRACE_EXIT_ON = "2026-11-13"  # exactly 10 working days before AS_OF: not yet late
CASE_NAMES = tuple(PERSON_CASES)
HR_CATEGORY = {
    "administrative": "civil_servant",
    "political_legal": "civil_servant",
    "worker": "worker",
    "institutional": "institution_staff",
}


@dataclass(frozen=True)
class Unit:
    index: int
    code: str
    name: str
    region: str
    kind: UnitKind
    funding: str  # full / partial / self
    parent: str | None = None
    registry: str = "active"  # active / abolished / missing (never registered)
    internal_unit_limit: int | None = None

    def record(self) -> dict[str, Any]:
        abolished = self.registry == "abolished"
        return {
            "unit_code": self.code,
            "name": self.name,
            "region": self.region,
            "kind": self.kind.value,
            "funding": self.funding,
            "parent_code": self.parent,
            "classified": self.index % 97 == 5,
            "functions": None,
            "internal_unit_limit": self.internal_unit_limit,
            "status": "abolished" if abolished else "active",
            "established_on": "2001-01-01",
            "abolished_on": "2025-12-31" if abolished else None,
        }


@dataclass(frozen=True)
class Finding:
    """One finding the reconciliation must report: a rule and its subject."""

    rule: str
    id_number: str | None = None
    unit_code: str | None = None
    establishment_type: str | None = None
    level: str | None = None


class Plan(Protocol):
    """What a person is drawn from: the city's seed, size and units (``demo_data.City``)."""

    seed: int
    persons: int
    units: list[Unit]
    plain: list[Unit]
    self_funded: list[Unit]


def planted_count(persons: int) -> int:
    """Planted person cases: at least three of each, more in larger cities."""
    per_case = max(3, persons // 3000)
    return per_case * len(PERSON_CASES)


# --- units ----------------------------------------------------------------------------------------


def _unit_code(prefix: str, region: str, n: int) -> str:
    body = f"{prefix}{region}MA{n:07d}"[:17]
    return body + uscc_check_char(body)


def build_units(persons: int) -> list[Unit]:
    """About one unit per 40 persons (at least 40, so that every kind and funding has two):
    organs with internal units, political-legal organs, institutions (full, partial,
    self-funded), civil-service-managed institutions; plus units that were never registered
    and units that were abolished."""
    wanted = max(40, persons // 40)  # at least two of every kind and funding
    units: list[Unit] = []
    kinds = (
        UnitKind.organ,
        UnitKind.institution,
        UnitKind.institution,
        UnitKind.political_legal_organ,
        UnitKind.civil_service_managed_institution,
        UnitKind.institution,
    )
    n = institutions = 0
    while len(units) < wanted:
        region = REGIONS[n % len(REGIONS)]
        kind = kinds[n % len(kinds)]
        prefix = "11" if kind in (UnitKind.organ, UnitKind.political_legal_organ) else "12"
        funding = "full"
        if kind is UnitKind.institution:
            funding = ("full", "partial", "self")[institutions % 3]
            institutions += 1
        code = _unit_code(prefix, region, n)
        place = "哈尔滨市" if region == "230100" else ("道里区" if region == "230102" else "南岗区")
        label = {
            UnitKind.organ: "局",
            UnitKind.political_legal_organ: "公安分局",
            UnitKind.institution: "中心",
            UnitKind.civil_service_managed_institution: "事务服务中心",
        }[kind]
        if kind is UnitKind.organ:
            children = 2 + n % 2
            units.append(
                Unit(
                    len(units),
                    code,
                    f"{place}第{n}{label}",
                    region,
                    kind,
                    funding,
                    None,
                    internal_unit_limit=children,
                )
            )
            parent = code
            for c in range(children):
                n += 1
                child = _unit_code("11", region, n)
                units.append(
                    Unit(
                        len(units),
                        child,
                        f"{place}第{n}{label}第{c + 1}科",
                        region,
                        kind,
                        funding,
                        parent,
                    )
                )
        else:
            units.append(Unit(len(units), code, f"{place}第{n}{label}", region, kind, funding))
        n += 1
    for k, (region, registry, label) in enumerate(
        (
            ("230102", "missing", "道里区未批先设服务中心"),
            ("230103", "abolished", "南岗区已撤销事务中心"),
            ("230100", "missing", "哈尔滨市未批先设协调办公室"),
            ("230102", "abolished", "道里区已撤销管理站"),
        )
    ):
        code = _unit_code("12", region, n + 1 + k)
        units.append(
            Unit(len(units), code, label, region, UnitKind.institution, "full", registry=registry)
        )
    return units
