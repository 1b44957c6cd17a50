"""The demo city: deterministic, loads through the batch path, and its ground truth holds.

``reference_findings`` is a deliberately plain Python reading of DOMAIN.md's 17 rules over the
generated rows; the planted list must be exactly what it finds (so the reconciliation branch
can test against the planted list with confidence).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.domain import ALLOWED_TYPES, Dataset, EstablishmentType, UnitKind
from linkage_hub.identifiers import normalise_name, parse_citizen_id
from linkage_hub.records.demo import load_city
from linkage_hub.records.demo_data import PERIOD, PERSON_CASES, Finding, generate_city
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor

AS_OF = dt.date(2026, 11, 27)
EXITS = {"retired", "resigned", "dismissed", "deceased", "transferred_out"}


def working_days_between(start: dt.date, end: dt.date) -> int:
    days = 0
    day = start
    while day < end:
        day += dt.timedelta(days=1)
        days += day.weekday() < 5
    return days


def reference_findings(data: dict[Dataset, list[dict[str, Any]]]) -> set[Finding]:
    def pid(row: dict[str, Any]) -> str:
        return parse_citizen_id(row["id_number"], today=AS_OF).number

    units = {u["unit_code"]: u for u in data[Dataset.units]}
    registered = {
        code
        for code, u in units.items()
        if u["status"] == "active"
        and (u["abolished_on"] is None or dt.date.fromisoformat(u["abolished_on"]) > AS_OF)
    }
    start = dt.date.fromisoformat(PERIOD + "-01")
    by: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for name in ("roster", "cadres", "employment", "payroll"):
        for row in data[Dataset(name)]:
            by[pid(row)][name].append(row)
    found: set[Finding] = set()
    for person, rows in by.items():
        roster, hr, cadres = rows["roster"], rows["employment"], rows["cadres"]
        paid = [r for r in rows["payroll"] if r["status"] == "paid"]
        active_roster = [r for r in roster if r["status"] == "active"]
        active_hr = [r for r in hr if r["status"] == "active"]
        active_cadres = [r for r in cadres if r["status"] == "active"]
        # an exit without its date makes the latest exit date unknown (no rule reads it)
        hr_exits = [r["status_on"] for r in hr if r["status"] in EXITS]
        latest_exit = (
            max(dt.date.fromisoformat(day) for day in hr_exits)
            if hr_exits and None not in hr_exits
            else None
        )
        roster_exits = [r["exited_on"] for r in roster if r["status"] != "active"]

        def add(rule: str, person: str = person) -> None:
            found.add(Finding(rule, id_number=person))

        if any(r["establishment_type"] != "none" for r in paid) and not roster:
            add("PAID_WITHOUT_ESTABLISHMENT")
        roster_gone = (
            bool(roster)
            and not active_roster
            and None not in roster_exits
            and max(dt.date.fromisoformat(day) for day in roster_exits) < start
        )
        hr_gone = not active_hr and latest_exit is not None and latest_exit < start
        if paid and (roster_gone or hr_gone):
            add("PAID_AFTER_EXIT")
        if len({r["unit_code"] for r in paid}) >= 2:
            add("DUPLICATE_PAYROLL")
        if len({r["unit_code"] for r in active_roster}) >= 2:
            add("DUPLICATE_ESTABLISHMENT")
        for r in active_roster:
            unit = units.get(r["unit_code"]) if r["unit_code"] in registered else None
            kind = UnitKind(unit["kind"]) if unit else None
            a = (
                kind is not None
                and EstablishmentType(r["establishment_type"]) not in (ALLOWED_TYPES[kind])
            )
            b = any(
                p["unit_code"] == r["unit_code"]
                and p["establishment_type"] not in ("none", r["establishment_type"])
                for p in paid
            )
            c = (
                r["establishment_type"] == "institutional"
                and kind not in (None, UnitKind.civil_service_managed_institution)
                and any(
                    x["unit_code"] == r["unit_code"] and x["civil_servant_registered"]
                    for x in active_cadres
                )
            )
            if a or b or c:
                add("MIXED_ESTABLISHMENT")
        if any(r["category"] != "contract" for r in active_hr) and not active_roster:
            add("EMPLOYED_WITHOUT_ESTABLISHMENT")
        if (
            active_roster
            and not active_hr
            and latest_exit is not None
            and working_days_between(latest_exit, AS_OF) > 10
        ):
            add("LATE_EXIT")
        if active_roster and not hr:
            add("ESTABLISHED_NOT_EMPLOYED")
        if not paid and any(
            r["unit_code"] in registered and units[r["unit_code"]]["funding"] != "self"
            for r in active_roster
        ):
            add("ESTABLISHED_NOT_PAID")
        if any(c["leader_level"] != "none" for c in active_cadres) and not active_roster:
            add("CADRE_WITHOUT_ESTABLISHMENT")
        sets = [
            {r["unit_code"] for r in group}
            for group in (active_roster, active_hr, active_cadres, paid)
            if group
        ]
        if len(sets) >= 2 and not set.intersection(*sets):
            add("UNIT_MISMATCH")
        if any(
            p["funding"] == "budget" and units.get(p["unit_code"], {}).get("funding") == "self"
            for p in paid
        ):
            add("FUNDING_MISMATCH")
        names = {normalise_name(r["name"]) for r in roster + hr + cadres + rows["payroll"]}
        if len(names) > 1:
            add("NAME_MISMATCH")
        for r in active_roster + active_cadres + active_hr + paid:
            if r["unit_code"] not in registered:
                found.add(Finding("UNREGISTERED_UNIT", unit_code=r["unit_code"]))

    on_roster: dict[tuple[str, str], int] = defaultdict(int)
    for row in data[Dataset.roster]:
        if row["status"] == "active":
            on_roster[(row["unit_code"], row["establishment_type"])] += 1
    approved = {
        (q["unit_code"], q["establishment_type"]): q["approved"] for q in data[Dataset.quotas]
    }
    for (code, kind), n in on_roster.items():
        if code in registered and n > approved.get((code, kind), 0):
            found.add(Finding("OVER_QUOTA", unit_code=code, establishment_type=kind))
    leaders: dict[tuple[str, str], int] = defaultdict(int)
    for row in data[Dataset.cadres]:
        if row["status"] == "active" and row["leader_level"] != "none":
            leaders[(row["unit_code"], row["leader_level"])] += 1
    posts = {(p["unit_code"], p["level"]): p["approved"] for p in data[Dataset.leader_posts]}
    for (code, level), n in leaders.items():
        if code in registered and n > posts.get((code, level), 0):
            found.add(Finding("OVER_LEADER_POSTS", unit_code=code, level=level))
    children: dict[str, int] = defaultdict(int)
    for code in registered:
        if units[code]["parent_code"]:
            children[units[code]["parent_code"]] += 1
    for code in registered:
        limit = units[code]["internal_unit_limit"]
        if limit is not None and children[code] > limit:
            found.add(Finding("OVER_INTERNAL_UNITS", unit_code=code))
    return found


class TestGroundTruth:
    @pytest.mark.parametrize(("seed", "persons"), [(2026, 3000), (7, 9000)])
    def test_planted_is_exactly_what_the_rules_find(self, seed: int, persons: int) -> None:
        city = generate_city(seed, persons)
        data = {dataset: list(rows) for dataset, rows in city.datasets().items()}
        assert reference_findings(data) == city.expected
        summary = city.summary()
        assert len(summary) == 17 and min(summary.values()) >= 3

    def test_every_person_rule_has_a_multi_unit_plant_and_a_near_miss(self) -> None:
        single = {r for case, rules in PERSON_CASES.items() if case[:5] != "MULTI" for r in rules}
        multi = {r for case, rules in PERSON_CASES.items() if case[:5] == "MULTI" for r in rules}
        assert len(single) == 13 and multi == single
        assert any(case.startswith("NEAR_") and not rules for case, rules in PERSON_CASES.items())

    def test_deterministic_with_quirks(self) -> None:
        one, two = generate_city(5, 1000), generate_city(5, 1000)
        rows = list(one.datasets()[Dataset.payroll])
        assert rows == list(two.datasets()[Dataset.payroll])
        assert one.expected == two.expected
        given = [r["id_number"] for d in one.datasets().values() for r in d if "id_number" in r]
        assert any(len(g) == 15 for g in given)
        assert any(g.endswith("x") for g in given)
        assert any("０" in g or "１" in g for g in given)
        names = [r["name"] for r in one.datasets()[Dataset.employment]]
        assert any("•" in n or "・" in n or "．" in n for n in names)


class TestLoading:
    def test_loads_through_the_batch_path_and_reloads_unchanged(
        self,
        settings: Settings,
        database: Database,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        city = generate_city(11, 600)
        first = load_city(settings, database, city)
        assert all(r.inserted == r.received for r in first.values())
        again = load_city(settings, database, city)
        assert all(r.unchanged == r.received and r.closed == 0 for r in again.values())
        county = client.get(
            "/api/v1/datasets/roster/records",
            params={"limit": 1000},
            headers=headers_for("audit", "230102"),
        ).json()["items"]
        assert county and all(r["region"] == "230102" for r in county)
        legacy = next(
            r
            for r in client.get(
                "/api/v1/datasets/payroll/records",
                params={"limit": 1000},
                headers=headers_for("audit", "230000"),
            ).json()["items"]
            if r["id_number_given"] and len(r["id_number_given"]) == 15
        )
        view = client.get(
            f"/api/v1/persons/{legacy['id_number_given']}", headers=headers_for("audit", "230000")
        ).json()
        assert view["records"]["payroll"] and view["records"]["roster"]


class TestCommand:
    def test_demo_command_loads_once_and_serve_demo_skips_a_full_database(
        self, settings: Settings, database: Database, capsys: pytest.CaptureFixture[str]
    ) -> None:
        import argparse

        from linkage_hub.cli import CommandError
        from linkage_hub.records.cli import _demo
        from linkage_hub.records.demo import is_empty, load_demo_if_empty

        args = argparse.Namespace(size="city", persons=600, seed=3, force=False)
        assert _demo(args, settings) == 0
        out = capsys.readouterr().out
        assert "UNREGISTERED_UNIT" in out and "/api/v1/persons/" in out
        assert not is_empty(database)
        with pytest.raises(CommandError):
            _demo(args, settings)
        load_demo_if_empty(settings, database)  # not empty: nothing happens
        args.persons = 10
        args.force = True
        with pytest.raises(CommandError):
            _demo(args, settings)
