"""A deterministic demo city: units at three levels, quotas, leader posts, persons in all four
person datasets, with planted mistakes of every kind in DOMAIN.md's catalogue and the input
quirks departments really send (15-digit IDs, lower-case x, full-width digits, name variants).

Every person's records are a pure function of (seed, person index), so each dataset can be
streamed on its own and a province of a million persons never sits in memory. The clean part
of the city breaks no rule; each planted case breaks the rules listed in :attr:`City.expected`
(the ground truth the reconciliation tests check against).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from linkage_hub.domain import ALLOWED_TYPES, Dataset, EstablishmentType, UnitKind
from linkage_hub.identifiers import id_check_char, uscc_check_char

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


@dataclass
class City:
    seed: int
    persons: int
    units: list[Unit]
    expected: set[Finding] = field(default_factory=set)
    quota_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    leader_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    over_quota: set[tuple[str, str]] = field(default_factory=set)
    over_leaders: set[tuple[str, str]] = field(default_factory=set)
    plain: list[Unit] = field(default_factory=list)  # registered, fully funded
    self_funded: list[Unit] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Planted findings by rule code (the ground truth, for people and tests)."""
        return dict(sorted(Counter(f.rule for f in self.expected).items()))

    # -- the datasets ----------------------------------------------------------------------------

    def datasets(self) -> dict[Dataset, Iterator[dict[str, Any]]]:
        return {
            Dataset.units: (u.record() for u in self.units if u.registry != "missing"),
            Dataset.quotas: self._quotas(),
            Dataset.leader_posts: self._leader_posts(),
            Dataset.roster: self._person_rows("roster"),
            Dataset.cadres: self._person_rows("cadres"),
            Dataset.employment: self._person_rows("employment"),
            Dataset.payroll: self._person_rows("payroll", PERIOD),
        }

    def previous_payroll(self) -> Iterator[dict[str, Any]]:
        return self._person_rows("payroll", PREVIOUS_PERIOD)

    def _quotas(self) -> Iterator[dict[str, Any]]:
        registered = {u.code: u for u in self.units if u.registry == "active"}
        for (code, kind), count in sorted(self.quota_counts.items()):
            unit = registered.get(code)
            if unit is None or EstablishmentType(kind) not in ALLOWED_TYPES[unit.kind]:
                continue  # mixed use has no quota row: 超编 of that type too (see expected)
            approved = count - 1 if (code, kind) in self.over_quota else count + unit.index % 3
            yield {
                "unit_code": code,
                "establishment_type": kind,
                "approved": approved,
                "document_no": f"哈编〔2024〕{unit.index + 1}号",
                "effective_on": "2024-01-01",
            }

    def _leader_posts(self) -> Iterator[dict[str, Any]]:
        for unit in self.units:
            if unit.registry != "active":
                continue
            for level in ("principal", "deputy"):
                count = self.leader_counts[(unit.code, level)]
                approved = count - 1 if (unit.code, level) in self.over_leaders else count
                yield {
                    "unit_code": unit.code,
                    "level": level,
                    "approved": max(approved, 0),
                    "document_no": f"哈编〔2024〕{unit.index + 1}号",
                    "effective_on": "2024-01-01",
                }

    def _person_rows(self, dataset: str, period: str = PERIOD) -> Iterator[dict[str, Any]]:
        for i in range(self.persons):
            yield from person(self, i).rows(dataset, period)


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


# --- persons --------------------------------------------------------------------------------------


def _id_number(rng: random.Random, i: int) -> str:
    address = ADDRESS_CODES[rng.randrange(len(ADDRESS_CODES))]
    # Birth date and sequence follow from the index (7919 is prime to 13870, so the day
    # offsets of blocks of 1000 never repeat): no two persons share a number.
    born = dt.date(1962, 1, 1) + dt.timedelta(days=(i // 1000) * 7919 % 13870)
    body = f"{address}{born:%Y%m%d}{i % 1000:03d}"
    return body + id_check_char(body)


def _name(rng: random.Random, i: int) -> str:
    if i % 211 == 7:
        return ETHNIC[i % len(ETHNIC)]
    return SURNAMES[rng.randrange(len(SURNAMES))] + "".join(
        GIVEN[rng.randrange(len(GIVEN))] for _ in range(1 + rng.randrange(2))
    )


@dataclass
class Person:
    """One person's truth and the rows each department sends about them."""

    number: str
    name: str
    unit: Unit
    kind: str  # establishment type
    case: str | None
    rows_by: dict[str, list[dict[str, Any]]]

    def rows(self, dataset: str, period: str) -> list[dict[str, Any]]:
        rows = self.rows_by.get(dataset, [])
        if dataset == "payroll":
            if period != PERIOD and "payroll_previous" in self.rows_by:
                rows = self.rows_by["payroll_previous"]
            return [{**r, "period": period} for r in rows]
        return rows


def _given(number: str, i: int, dataset: str) -> str:
    """The ID number as a department types it: legacy 15 digits (payroll of older staff),
    lower-case x (HR), full-width digits (a few cadre records)."""
    if dataset == "payroll" and i % 53 == 3 and number[6:8] == "19":
        return number[:6] + number[8:17]
    if dataset == "employment" and number.endswith("X"):
        return number[:-1] + "x"
    if dataset == "cadres" and i % 17 == 4:
        return number.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    return number


def _shown(name: str, i: int, dataset: str) -> str:
    """Name variants that are the same name once normalised."""
    if "·" in name and dataset in ("employment", "payroll"):
        return name.replace("·", MIDDLE_DOTS[i % len(MIDDLE_DOTS)])
    if dataset == "payroll" and i % 29 == 11 and len(name) == 2:
        return name[0] + "\u3000" + name[1]
    return name


def _kind_for(unit: Unit, i: int) -> str:
    if unit.kind is UnitKind.organ:
        return "worker" if i % 9 == 0 else "administrative"
    if unit.kind is UnitKind.political_legal_organ:
        return ("political_legal", "political_legal", "administrative", "worker")[i % 4]
    return "institutional"


def person(city: City, i: int) -> Person:
    rng = random.Random(city.seed * 7_919 + i)  # noqa: S311 - made-up data, not secrets
    number = _id_number(rng, i)
    name = _name(rng, i)
    units = city.units
    planted = planted_count(city.persons)
    case_index = i - (city.persons - planted)
    case = CASE_NAMES[case_index % len(CASE_NAMES)] if case_index >= 0 else None
    unit = units[i % len(units)]
    # Planted cases live in plain full-funded registered units unless the case says otherwise.
    plain, self_funded = city.plain, city.self_funded
    if case is not None:
        unit = plain[case_index % len(plain)]
    kind = _kind_for(unit, i)
    hr_category = (
        "civil_service_managed"
        if unit.kind is UnitKind.civil_service_managed_institution
        else HR_CATEGORY[kind]
    )
    paid_funding = "self_funded" if unit.funding == "self" else "budget"

    def roster(u: Unit = unit, k: str = kind, **extra: Any) -> dict[str, Any]:
        return {
            "id_number": _given(number, i, "roster"),
            "unit_code": u.code,
            "name": _shown(name, i, "roster"),
            "establishment_type": k,
            "status": "active",
            "entered_on": f"{2000 + i % 24}-0{1 + i % 9}-01",
            "exited_on": None,
            "exit_reason": None,
            "quota_notice_no": f"哈编控〔{2000 + i % 24}〕{i}号",
            **extra,
        }

    def employment(u: Unit = unit, **extra: Any) -> dict[str, Any]:
        return {
            "id_number": _given(number, i, "employment"),
            "unit_code": u.code,
            "name": _shown(name, i, "employment"),
            "category": hr_category,
            "status": "active",
            "hired_on": f"{2000 + i % 24}-0{1 + i % 9}-01",
            "status_on": None,
            **extra,
        }

    def payroll(u: Unit = unit, k: str = kind, **extra: Any) -> dict[str, Any]:
        return {
            "id_number": _given(number, i, "payroll"),
            "unit_code": u.code,
            "name": _shown(name, i, "payroll"),
            "establishment_type": k,
            "funding": paid_funding,
            "gross_pay": f"{5200 + (i * 37) % 6000}.{(i * 13) % 100:02d}",
            "status": "paid",
            **extra,
        }

    def cadre(level: str, registered: bool, u: Unit = unit) -> dict[str, Any]:
        return {
            "id_number": _given(number, i, "cadres"),
            "unit_code": u.code,
            "name": _shown(name, i, "cadres"),
            "position": {"principal": "主任", "deputy": "副主任", "none": "科员"}[level],
            "leader_level": level,
            "civil_servant_registered": registered,
            "appointed_on": "2021-06-01",
            "removed_on": None,
            "status": "active",
        }

    civil_servant = kind in ("administrative", "political_legal") or (
        unit.kind is UnitKind.civil_service_managed_institution
    )
    rows: dict[str, list[dict[str, Any]]] = {
        "roster": [roster()],
        "employment": [employment()],
        "payroll": [payroll()],
    }
    n_units = len(units)
    if case is None and unit.registry == "active":
        if i < n_units:
            rows["cadres"] = [cadre("principal", civil_servant)]
        elif i < 3 * n_units and unit.kind is not UnitKind.institution:
            rows["cadres"] = [cadre("deputy", civil_servant)]
        elif i % 7 == 0 and kind == "administrative":
            rows["cadres"] = [cadre("none", True)]
    if case is None and i % 41 == 13:  # retired long ago: exited everywhere, not paid
        rows["roster"] = [roster(status="exited", exited_on="2025-03-31", exit_reason="retirement")]
        rows["employment"] = [employment(status="retired", status_on="2025-03-31")]
        rows["payroll"] = []
        rows.pop("cadres", None)
    elif case is None and i % 37 == 17 and unit.registry == "active":  # contract staff
        rows.pop("cadres", None)
        rows["roster"] = []
        rows["employment"] = [employment(category="contract")]
        rows["payroll"] = [payroll(k="none")]
    other = plain[(case_index + 1) % len(plain)] if case is not None else unit
    if case == "PAID_WITHOUT_ESTABLISHMENT":
        rows = {"payroll": [payroll()]}
    elif case == "PAID_AFTER_EXIT":
        rows["roster"] = [roster(status="exited", exited_on="2026-06-30", exit_reason="retirement")]
        rows["employment"] = [employment(status="retired", status_on="2026-06-30")]
    elif case == "DUPLICATE_PAYROLL":
        rows["payroll"].append(payroll(u=other, k=_kind_for(other, i)))
    elif case == "DUPLICATE_ESTABLISHMENT":
        rows["roster"].append(roster(u=other, k=_kind_for(other, i)))
    elif case == "MIXED_ESTABLISHMENT_A":
        organ = next(u for u in plain if u.kind is UnitKind.organ)
        rows = {
            "roster": [roster(u=organ, k="institutional")],
            "employment": [employment(u=organ)],
            "payroll": [payroll(u=organ, k="institutional")],
        }
    elif case == "MIXED_ESTABLISHMENT_B":
        rows["payroll"] = [payroll(k="worker" if kind != "worker" else "administrative")]
        if unit.kind not in (UnitKind.organ, UnitKind.political_legal_organ):
            rows["payroll"] = [payroll(k="administrative")]
    elif case == "MIXED_ESTABLISHMENT_C":
        institution = next(u for u in plain if u.kind is UnitKind.institution)
        rows = {
            "roster": [roster(u=institution, k="institutional")],
            "employment": [employment(u=institution, category="institution_staff")],
            "payroll": [payroll(u=institution, k="institutional")],
            "cadres": [cadre("none", True, u=institution)],
        }
    elif case == "EMPLOYED_WITHOUT_ESTABLISHMENT":
        rows = {"employment": [employment()]}
    elif case == "LATE_EXIT":
        home = self_funded[case_index % len(self_funded)]
        rows = {
            "roster": [roster(u=home, k="institutional")],
            "employment": [employment(u=home, status="retired", status_on="2026-08-31")],
        }
    elif case == "ESTABLISHED_NOT_EMPLOYED":
        del rows["employment"]
    elif case == "ESTABLISHED_NOT_PAID":
        del rows["payroll"]
    elif case == "CADRE_WITHOUT_ESTABLISHMENT":
        rows = {"cadres": [cadre("deputy", civil_servant)]}
    elif case == "UNIT_MISMATCH":
        rows["employment"] = [employment(u=other)]
    elif case == "FUNDING_MISMATCH":
        home = self_funded[case_index % len(self_funded)]
        rows = {
            "roster": [roster(u=home, k="institutional")],
            "employment": [employment(u=home, category="institution_staff")],
            "payroll": [payroll(u=home, k="institutional", funding="budget")],
        }
    elif case == "NAME_MISMATCH":
        rows["payroll"] = [payroll(name=name[:-1] + ("芳" if name[-1] != "芳" else "方"))]
    # --- records in several units of one department ---
    third = plain[(case_index + 2) % len(plain)] if case is not None else unit
    other_kind, third_kind = _kind_for(other, i), _kind_for(third, i)
    if case == "MULTI_PAID_WITHOUT_ESTABLISHMENT":  # paid by two units, on no roster at all
        rows = {"payroll": [payroll(k="none"), payroll(u=other, k=other_kind)]}
    elif case in ("MULTI_PAID_AFTER_EXIT_MOVED", "NEAR_PAID_AFTER_EXIT_FIRST_DAY"):
        # moved, then retired from the second unit the day before the period (or on its
        # first day: not before it), still paid there
        left = "2026-09-30" if case.startswith("MULTI") else "2026-10-01"
        rows = {
            "roster": [
                roster(status="exited", exited_on="2024-05-31", exit_reason="transfer_out"),
                roster(u=other, k=other_kind, status="exited", exited_on=left,
                       exit_reason="retirement"),
            ],
            "employment": [
                employment(status="transferred_out", status_on="2024-05-31"),
                employment(u=other, status="retired", status_on=left),
            ],
            "payroll": [payroll(u=other, k=other_kind)],
        }  # fmt: skip
    elif case == "MULTI_PAID_AFTER_EXIT_DIED":  # two HR records, the later a death
        rows["employment"] = [
            employment(u=other, status="transferred_out", status_on="2019-03-31"),
            employment(status="deceased", status_on="2026-09-15"),
        ]
    elif case == "MULTI_DUPLICATE_PAYROLL":  # paid by three units
        rows["payroll"] += [payroll(u=other, k=other_kind), payroll(u=third, k=third_kind)]
    elif case == "MULTI_DUPLICATE_ESTABLISHMENT":  # on three rosters
        rows["roster"] += [roster(u=other, k=other_kind), roster(u=third, k=third_kind)]
    elif case == "MULTI_MIXED_ESTABLISHMENT_A":  # a disallowed type in each of two organs
        organs = [u for u in plain if u.kind is UnitKind.organ][:2]
        rows = {
            "roster": [roster(u=u, k="institutional") for u in organs],
            "employment": [employment(u=organs[0])],
            "payroll": [payroll(u=organs[0], k="institutional")],
        }
    elif case == "MULTI_MIXED_ESTABLISHMENT_C":  # HR and cadre records in two units
        institution = [u for u in plain if u.kind is UnitKind.institution][-1]
        away = other if other != institution else third
        rows = {
            "roster": [roster(u=institution, k="institutional")],
            "employment": [
                employment(u=away, status="transferred_out", status_on="2022-06-30"),
                employment(u=institution, category="institution_staff"),
            ],
            "payroll": [payroll(u=institution, k="institutional")],
            "cadres": [cadre("none", True, u=institution), cadre("none", False, u=away)],
        }
    elif case == "MULTI_EMPLOYED_WITHOUT_ESTABLISHMENT":  # HR active in two units
        rows = {
            "roster": [roster(status="exited", exited_on="2026-10-15", exit_reason="other")],
            "employment": [employment(), employment(u=other)],
        }
    elif case in ("MULTI_LATE_EXIT", "NEAR_LATE_EXIT_GRACE"):  # a move, then the exit
        home = self_funded[case_index % len(self_funded)]
        left = LATE_EXIT_ON if case == "MULTI_LATE_EXIT" else GRACE_EXIT_ON
        rows = {
            "roster": [roster(u=home, k="institutional")],
            "employment": [
                employment(u=other, status="transferred_out", status_on="2021-02-26"),
                employment(u=home, status="retired", status_on=left),
            ],
        }
    elif case == "MULTI_ESTABLISHED_NOT_EMPLOYED":  # moved in after the period began
        rows = {
            "roster": [
                roster(u=other, k=other_kind, status="exited", exited_on="2026-10-15",
                       exit_reason="transfer_out"),
                roster(),
            ],
            "payroll": [payroll()],
        }  # fmt: skip
    elif case == "MULTI_ESTABLISHED_NOT_PAID":  # on two funded rosters, paid by neither
        rows = {
            "roster": [roster(), roster(u=other, k=other_kind)],
            "employment": [employment(), employment(u=other)],
        }
    elif case == "MULTI_ESTABLISHED_NOT_PAID_LAST_PERIOD":  # paid last period by the old unit
        rows = {
            "roster": [
                roster(u=other, k=other_kind, status="exited", exited_on="2026-09-30",
                       exit_reason="transfer_out"),
                roster(),
            ],
            "employment": [
                employment(u=other, status="transferred_out", status_on="2026-09-30"),
                employment(),
            ],
            "payroll": [],
            "payroll_previous": [payroll(u=other, k=other_kind)],
        }  # fmt: skip
    elif case == "MULTI_CADRE_WITHOUT_ESTABLISHMENT":  # a deputy in two units, exited
        rows = {
            "roster": [roster(status="exited", exited_on="2026-09-30", exit_reason="other")],
            "employment": [employment(status="resigned", status_on="2026-09-30")],
            "cadres": [cadre("deputy", civil_servant), cadre("deputy", civil_servant, u=other)],
        }
    elif case == "MULTI_UNIT_MISMATCH":  # HR active in two units, neither the roster's
        rows["employment"] = [employment(u=other), employment(u=third)]
    elif case == "MULTI_FUNDING_MISMATCH":  # budget pay from two self-funded units
        home, second = self_funded[0], self_funded[1]
        rows = {
            "roster": [roster(u=home, k="institutional")],
            "employment": [employment(u=home, category="institution_staff")],
            "payroll": [
                payroll(u=home, k="institutional", funding="budget"),
                payroll(u=second, k="institutional", funding="budget"),
            ],
        }
    elif case == "MULTI_NAME_MISMATCH":  # an old HR record in another unit, spelt otherwise
        rows["employment"].append(
            employment(u=other, status="transferred_out", status_on="2018-08-31",
                       name=name[:-1] + ("芳" if name[-1] != "芳" else "方"))
        )  # fmt: skip
    elif case == "NEAR_TWO_POSTS_ONE_COMMON":  # posts in two units, one shared by all
        rows["cadres"] = [cadre("none", False), cadre("none", False, u=other)]
    elif case == "NEAR_ORGANIZATION_ALONE":  # posts in two units, known to nobody else
        rows = {"cadres": [cadre("none", False), cadre("none", False, u=other)]}
    return Person(number, name, unit, kind, case, rows)


def planted_count(persons: int) -> int:
    """Planted person cases: at least three of each, more in larger cities."""
    per_case = max(3, persons // 3000)
    return per_case * len(PERSON_CASES)


def generate_city(seed: int = 2026, persons: int = 3000) -> City:
    """The demo city (or, with a million persons, a province-sized data set)."""
    if persons < 500:
        raise ValueError("a demo city needs at least 500 persons")
    units = build_units(persons)
    city = City(seed, persons, units)
    city.plain = [u for u in units if u.registry == "active" and u.funding == "full"]
    city.self_funded = [u for u in units if u.registry == "active" and u.funding == "self"]
    allowed = {u.code: ALLOWED_TYPES[u.kind] for u in units if u.registry == "active"}
    for i in range(persons):
        p = person(city, i)
        for row in p.rows_by.get("roster", []):
            if row["status"] == "active":
                city.quota_counts[(row["unit_code"], row["establishment_type"])] += 1
        for row in p.rows_by.get("cadres", []):
            if row["status"] == "active" and row["leader_level"] != "none":
                city.leader_counts[(row["unit_code"], row["leader_level"])] += 1
        if p.case is not None:
            city.expected.update(Finding(r, id_number=p.number) for r in PERSON_CASES[p.case])
        for row in p.rows_by.get("roster", []):
            code, kind = row["unit_code"], EstablishmentType(row["establishment_type"])
            if row["status"] == "active" and code in allowed and kind not in allowed[code]:
                # mixed use has no quota row: 超编 of that type too
                city.expected.add(
                    Finding("OVER_QUOTA", unit_code=code, establishment_type=kind.value)
                )
    _plant_unit_cases(city)
    return city


def _plant_unit_cases(city: City) -> None:
    active = [u for u in city.units if u.registry == "active"]
    by_count = sorted(
        ((n, code, kind) for (code, kind), n in city.quota_counts.items() if n >= 2),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    registered = {u.code: u for u in active}
    picked = [
        (code, kind)
        for _n, code, kind in by_count
        if code in registered and EstablishmentType(kind) in ALLOWED_TYPES[registered[code].kind]
    ][:3]
    for code, kind in picked:
        city.over_quota.add((code, kind))
        city.expected.add(Finding("OVER_QUOTA", unit_code=code, establishment_type=kind))
    deputies = sorted(
        code for (code, level), n in city.leader_counts.items() if level == "deputy" and n >= 1
    )[:3]
    for code in deputies:
        city.over_leaders.add((code, "deputy"))
        city.expected.add(Finding("OVER_LEADER_POSTS", unit_code=code, level="deputy"))
    parents = [u for u in active if u.internal_unit_limit]
    for parent in parents[:3]:
        index = city.units.index(parent)
        city.units[index] = Unit(
            parent.index,
            parent.code,
            parent.name,
            parent.region,
            parent.kind,
            parent.funding,
            parent.parent,
            parent.registry,
            (parent.internal_unit_limit or 1) - 1,
        )
        city.expected.add(Finding("OVER_INTERNAL_UNITS", unit_code=parent.code))
    for unit in city.units:
        if unit.registry != "active":
            city.expected.add(Finding("UNREGISTERED_UNIT", unit_code=unit.code))
