"""The demo city's persons: each person's truth and the rows every department sends about them,
a pure function of (seed, person index) (see :mod:`linkage_hub.records.demo_data`).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from linkage_hub.domain import UnitKind
from linkage_hub.identifiers import id_check_char
from linkage_hub.records.demo_units import (
    ADDRESS_CODES,
    CASE_NAMES,
    ETHNIC,
    GIVEN,
    GRACE_EXIT_ON,
    HR_CATEGORY,
    LATE_EXIT_ON,
    MIDDLE_DOTS,
    PERIOD,
    SURNAMES,
    Plan,
    Unit,
    planted_count,
)

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


def person(city: Plan, i: int) -> Person:
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
