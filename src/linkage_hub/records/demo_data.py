"""A deterministic demo city: units at three levels, quotas, leader posts, persons in all four
person datasets, with planted mistakes of every kind in DOMAIN.md's catalogue and the input
quirks departments really send (15-digit IDs, lower-case x, full-width digits, name variants).

Every person's records are a pure function of (seed, person index), so each dataset can be
streamed on its own and a province of a million persons never sits in memory. The clean part
of the city breaks no rule; each planted case breaks the rules listed in :attr:`City.expected`
(the ground truth the reconciliation tests check against).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from linkage_hub.domain import ALLOWED_TYPES, Dataset, EstablishmentType
from linkage_hub.records.demo_persons import person
from linkage_hub.records.demo_units import (
    AS_OF,
    PERIOD,
    PERSON_CASES,
    PREVIOUS_PERIOD,
    Finding,
    Unit,
    build_units,
    planted_count,
)

__all__ = [
    "AS_OF",
    "PERIOD",
    "PERSON_CASES",
    "PREVIOUS_PERIOD",
    "City",
    "Finding",
    "Unit",
    "generate_city",
    "planted_count",
]


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
