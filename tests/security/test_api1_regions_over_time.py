"""API1:2023 Broken Object Level Authorization — regions over time.

A record's region is part of each version's valid state. When the city moves a unit from one
county to another, the current versions of the unit's records are closed in the county it
leaves and new versions (next version number, same record key and fields) open in the county
it enters, with change-feed rows in both. Every read at a moment then sees the regions as they
were at that moment: the county the unit left keeps reading its own past (``as_of``, history of
the versions written while the unit was its own), the county it entered reads none of that
past, and every change-feed row carries its version's region. A record's history shows a
region the versions whose region it may read; the city reads all of them.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.versioning import region_bounds
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.security.test_api1_unit_move import Hub, person, unit_row

CITY, A, B = "230100", "230102", "230103"
UNIT = f.unit_code(21, region=A)  # moves A → B → A
STAYS = f.unit_code(22, region=A)  # never moves
MANY = 40  # records of the unit in each person dataset
TWICE = 1  # a person with records in both units


class Timeline:
    """The unit with many records; one roster record changed before, during and after."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.moments: dict[str, dt.datetime] = {}

    def mark(self, name: str) -> None:
        time.sleep(0.01)
        self.moments[name] = dt.datetime.now(dt.UTC)
        time.sleep(0.01)

    def records(
        self, dataset: str, department: str, region: str, **params: Any
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 1000, **params} | ({"cursor": cursor} if cursor else {})
            answer = self.hub.client.get(
                f"/api/v1/datasets/{dataset}/records",
                params=query,
                headers=self.hub.headers_for(department, region),
            )
            assert answer.status_code == 200, answer.text
            items += answer.json()["items"]
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return items

    def at(self, name: str, dataset: str, department: str, region: str) -> list[dict[str, Any]]:
        return self.records(
            dataset, department, region, as_of=self.moments[name].isoformat(), unit_code=UNIT
        )

    def history(self, key: str, region: str, dataset: str = "roster") -> list[tuple[int, str]]:
        answer = self.hub.client.get(
            f"/api/v1/datasets/{dataset}/records/{key}/history",
            headers=self.hub.headers_for("audit", region),
        )
        if answer.status_code == 404:
            return []
        assert answer.status_code == 200, answer.text
        return [(v["version"], v["region"]) for v in answer.json()["items"]]

    def feed(self, region: str) -> list[dict[str, Any]]:
        answer = self.hub.client.get(
            "/api/v1/changes",
            params={"limit": 1000},
            headers=self.hub.headers_for("audit", region),
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def move(self, to: str) -> None:
        answer = self.hub.push("units", [unit_row(UNIT, to)], CITY)
        assert answer.status_code == 201, answer.text

    def change_name(self, region: str, name: str) -> None:
        [record] = [
            r
            for r in self.records("roster", "establishment", region)
            if r["record_key"] == self.key
        ]
        meta = {"record_key", "version", "region", "batch_id", "client_id", "recorded_at"}
        body = {k: v for k, v in record.items() if k not in meta and v is not None}
        answer = self.hub.put("roster", record, body | {"name": name}, region)
        assert answer.status_code == 200, answer.text

    key = ""


@pytest.fixture
def timeline(client: TestClient, headers_for: HeadersFor) -> Timeline:
    """v1 (A) at ``start``; v2 (A: renamed) at ``before``; moved to B: v3 at ``moved``;
    v4 (B: renamed); moved back to A: v5 at ``back``."""
    hub = Hub(client, headers_for)
    line = Timeline(hub)
    assert hub.push("units", [unit_row(UNIT, A), unit_row(STAYS, A)], A).status_code == 201
    for dataset in ("roster", "employment", "payroll"):
        rows = [person(dataset, n, UNIT) for n in range(MANY)]
        rows.append(person(dataset, TWICE, STAYS))
        scope = {"period": "2026-10"} if dataset == "payroll" else {}
        answer = hub.push(dataset, rows, A, scope=scope)
        assert answer.status_code == 201, answer.text
    line.key = next(r["record_key"] for r in line.records("roster", "hr", A) if r["name"] == "张0")
    line.mark("start")
    line.change_name(A, "张零")
    line.mark("before")
    line.move(B)
    line.mark("moved")
    line.change_name(B, "张〇")
    line.mark("renamed")
    line.move(A)
    line.mark("back")
    return line


def units_of(records: list[dict[str, Any]]) -> dict[str, str]:
    return {r["record_key"]: r["region"] for r in records}


class TestAsOf:
    @pytest.mark.parametrize("dataset", ["roster", "employment", "payroll"])
    def test_the_county_the_unit_left_reads_its_own_past(
        self, timeline: Timeline, dataset: str
    ) -> None:
        department = {"roster": "establishment", "employment": "hr", "payroll": "finance"}
        mine = timeline.at("before", dataset, department[dataset], A)
        assert len(mine) == MANY and {r["region"] for r in mine} == {A}
        assert timeline.at("moved", dataset, department[dataset], A) == []
        assert len(timeline.at("back", dataset, department[dataset], A)) == MANY

    @pytest.mark.parametrize("dataset", ["roster", "employment", "payroll"])
    def test_the_county_it_entered_reads_nothing_from_before(
        self, timeline: Timeline, dataset: str
    ) -> None:
        department = {"roster": "establishment", "employment": "hr", "payroll": "finance"}
        assert timeline.at("start", dataset, department[dataset], B) == []
        assert timeline.at("before", dataset, department[dataset], B) == []
        between = timeline.at("renamed", dataset, department[dataset], B)
        assert len(between) == MANY and {r["region"] for r in between} == {B}
        assert timeline.at("back", dataset, department[dataset], B) == []

    def test_the_city_reads_each_moment_whole(self, timeline: Timeline) -> None:
        for moment, region in (("before", A), ("moved", B), ("renamed", B), ("back", A)):
            records = timeline.at(moment, "roster", "audit", CITY)
            assert len(records) == MANY, moment
            assert {r["region"] for r in records} == {region}, moment

    def test_a_move_makes_new_versions_of_the_same_records(self, timeline: Timeline) -> None:
        before = units_of(timeline.at("before", "roster", "audit", CITY))
        moved = units_of(timeline.at("moved", "roster", "audit", CITY))
        assert set(before) == set(moved)
        by_key = {r["record_key"]: r for r in timeline.at("moved", "roster", "audit", CITY)}
        old = {r["record_key"]: r for r in timeline.at("before", "roster", "audit", CITY)}
        for key, record in by_key.items():
            assert record["version"] == old[key]["version"] + 1
            assert record["name"] == old[key]["name"]


class TestHistory:
    def test_each_county_reads_the_versions_it_held(self, timeline: Timeline) -> None:
        assert timeline.history(timeline.key, A) == [(1, A), (2, A), (5, A)]
        assert timeline.history(timeline.key, B) == [(3, B), (4, B)]
        assert timeline.history(timeline.key, CITY) == [(1, A), (2, A), (3, B), (4, B), (5, A)]

    def test_an_unchanged_record_too(self, timeline: Timeline) -> None:
        other = next(
            r for r in timeline.records("roster", "audit", A, unit_code=UNIT) if r["name"] == "张5"
        )
        assert timeline.history(other["record_key"], A) == [(1, A), (3, A)]
        assert timeline.history(other["record_key"], B) == [(2, B)]


class TestPersonView:
    def test_a_person_in_two_units_is_split_by_region(self, timeline: Timeline) -> None:
        timeline.move(B)
        number = f.id_number(TWICE)

        def units(region: str) -> list[str]:
            answer = timeline.hub.client.get(
                f"/api/v1/persons/{number}", headers=timeline.hub.headers_for("audit", region)
            )
            assert answer.status_code == 200, answer.text
            roster = answer.json()["records"]["roster"]
            lo, hi = region_bounds(region)
            assert all(lo <= r["region"] <= hi for r in roster)
            return [r["unit_code"] for r in roster]

        assert units(A) == [STAYS]
        assert units(B) == [UNIT]
        assert sorted(units(CITY)) == sorted([UNIT, STAYS])


class TestChangeFeed:
    def test_every_row_carries_its_versions_region(self, timeline: Timeline) -> None:
        for region in (A, B, CITY):
            for item in timeline.feed(region):
                assert item["record"] is not None
                assert item["region"] == item["record"]["region"], item
                lo, hi = region_bounds(region)
                assert lo <= item["region"] <= hi, item

    def test_the_county_it_left_drops_the_records_and_the_other_receives_them(
        self, timeline: Timeline
    ) -> None:
        def ops(region: str, dataset: str) -> list[tuple[str, int, str]]:
            return [
                (c["op"], c["version"], c["record"]["region"])
                for c in timeline.feed(region)
                if c["record_key"] == timeline.key and c["dataset"] == dataset
            ]

        # A: v1 and v2 written, v2 closed by the move, v5 arrives with the move back.
        assert ops(A, "roster") == [
            ("upsert", 1, A),
            ("upsert", 2, A),
            ("close", 2, A),
            ("upsert", 5, A),
        ]
        # B: v3 arrives with the move, v4 written, v4 closed by the move back.
        assert ops(B, "roster") == [("upsert", 3, B), ("upsert", 4, B), ("close", 4, B)]

    @pytest.mark.parametrize("dataset", ["roster", "employment", "payroll"])
    def test_a_synchronised_copy_follows_the_unit(self, timeline: Timeline, dataset: str) -> None:
        def copy(region: str) -> dict[str, int]:
            held: dict[str, int] = {}
            for c in timeline.feed(region):
                if c["dataset"] != dataset:
                    continue
                if c["op"] == "upsert":
                    held[c["record_key"]] = c["version"]
                else:
                    held.pop(c["record_key"], None)
            return held

        timeline.move(B)
        current_b = {r["record_key"]: r["version"] for r in timeline.records(dataset, "audit", B)}
        current_a = {r["record_key"]: r["version"] for r in timeline.records(dataset, "audit", A)}
        assert len(current_b) == MANY and len(current_a) == 1
        assert copy(B) == current_b
        assert copy(A) == current_a
