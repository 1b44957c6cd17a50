"""API1:2023 Broken Object Level Authorization: a county taking a sibling county's unit.

A unit's region decides who reads the unit and, through it, every record of the unit: its
roster, quotas, leader posts, employment and payroll (ID numbers and pay). So a unit write may
move a unit only when both the region it is in now and the region the row puts it in lie
inside the caller's region and the batch's scope; anything else is a 422 ``outside_region``
naming the row and field, with nothing changed. The city moving a unit between two of its
counties works, and the move is in the audit log and change feed of both counties.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending
from contextlib import suppress
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from linkage_hub.records import ingest, queries
from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, MINE, SIBLING = "230100", "230102", "230103"
UNIT = f.unit_code(1, region=SIBLING)  # the sibling's unit, with people
CHILD = f.unit_code(2, region=SIBLING)  # an internal unit of it
OWN = f.unit_code(3, region=MINE)  # the attacker's own unit
LOOSE = f.unit_code(4, region=SIBLING)  # not in the registry: its code's region holds it
OWNER = {"units": "establishment", "quotas": "establishment", "roster": "establishment"}
OWNER |= {"employment": "hr", "payroll": "finance", "cadres": "organization"}


class Hub:
    def __init__(self, client: TestClient, headers_for: HeadersFor) -> None:
        self.client: TestClient = client
        self.headers_for: HeadersFor = headers_for

    def push(
        self, dataset: str, records: list[dict[str, Any]], region: str, **body: Any
    ) -> Response:
        return self.client.post(
            f"/api/v1/datasets/{dataset}/batches",
            content=json.dumps({"records": records, **body}, ensure_ascii=False),
            headers={
                **self.headers_for(OWNER[dataset], region),
                "content-type": "application/json",
            },
        )

    def read(self, dataset: str, department: str, region: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            f"/api/v1/datasets/{dataset}/records",
            params={"limit": 1000},
            headers=self.headers_for(department, region),
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def regions(self, dataset: str, region: str = CITY) -> dict[str, str]:
        """unit_code → region of the current records, as the city's auditor reads them."""
        return {r["unit_code"]: r["region"] for r in self.read(dataset, "audit", region)}

    def changes(self, region: str) -> list[tuple[str, str, str]]:
        answer = self.client.get(
            "/api/v1/changes", params={"limit": 1000}, headers=self.headers_for("audit", region)
        )
        assert answer.status_code == 200, answer.text
        return [(c["dataset"], c["op"], c["record_key"]) for c in answer.json()["items"]]

    def moves(self, region: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            "/api/v1/audit-log",
            params={"action": "units.move"},
            headers=self.headers_for("audit", region),
        )
        assert answer.status_code == 200, answer.text
        return [e["detail"] | {"region": e["region"]} for e in answer.json()["items"]]

    def unit(self, code: str, region: str) -> dict[str, Any]:
        [unit] = [u for u in self.read("units", "establishment", region) if u["unit_code"] == code]
        return unit

    def put(
        self, dataset: str, record: dict[str, Any], body: dict[str, Any], region: str
    ) -> Response:
        headers = self.headers_for(OWNER[dataset], region)
        return self.client.put(
            f"/api/v1/datasets/{dataset}/records/{record['record_key']}",
            json=body,
            headers={**headers, "If-Match": f'"v{record["version"]}"'},
        )


def unit_row(code: str, region: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "unit_code": code,
        "name": f"单位{code[-4:]}",
        "region": region,
        "kind": "institution",
        "funding": "full",
        "status": "active",
    }
    return row | extra


def person(dataset: str, n: int, unit: str) -> dict[str, Any]:
    maker = {"roster": f.roster, "employment": f.employment, "payroll": f.payroll}
    maker |= {"cadres": f.cadre}
    return maker[dataset](n, unit_code=unit)


@pytest.fixture
def hub(client: TestClient, headers_for: HeadersFor) -> Hub:
    """The sibling county's unit with an internal unit, a quota and people in every person
    dataset; the attacker's own unit; a unit of the sibling's that is not in the registry."""
    h = Hub(client, headers_for)
    units = [unit_row(UNIT, SIBLING), unit_row(CHILD, SIBLING, parent_code=UNIT)]
    assert h.push("units", units, SIBLING).status_code == 201
    assert h.push("units", [unit_row(OWN, MINE)], MINE).status_code == 201
    quota = {"unit_code": UNIT, "establishment_type": "institutional", "approved": 5}
    assert h.push("quotas", [quota], SIBLING).status_code == 201
    for dataset in ("roster", "employment", "payroll", "cadres"):
        rows = [person(dataset, 1, UNIT), person(dataset, 2, CHILD), person(dataset, 3, LOOSE)]
        scope = {"period": "2026-10"} if dataset == "payroll" else {}
        answer = h.push(dataset, rows, SIBLING, scope=scope)
        assert answer.status_code == 201, answer.text
    return h


def errors(answer: Response) -> list[tuple[int, str, str]]:
    assert answer.status_code == 422, answer.text
    return [(e["row"], e["field"], e["code"]) for e in answer.json()["errors"]]


def assert_untouched(hub: Hub) -> None:
    """Everything where the sibling put it; the attacker's county reads none of it."""
    assert hub.regions("units") == {UNIT: SIBLING, CHILD: SIBLING, OWN: MINE}
    for dataset in ("roster", "employment", "payroll", "cadres", "quotas"):
        assert set(hub.regions(dataset).values()) == {SIBLING}, dataset
    assert len(hub.read("roster", "hr", SIBLING)) == 3
    assert hub.read("roster", "hr", MINE) == []
    assert hub.read("payroll", "finance", MINE) == []
    assert hub.read("employment", "hr", MINE) == []
    assert hub.moves(SIBLING) == [] and hub.moves(MINE) == []
    assert all(ds == "units" for ds, _op, _key in hub.changes(MINE))


class TestASiblingsUnit:
    def test_pushing_it_with_my_region_is_refused(self, hub: Hub) -> None:
        seize = [unit_row(OWN, MINE, name="改名"), unit_row(UNIT, MINE)]
        assert errors(hub.push("units", seize, MINE)) == [(2, "region", "outside_region")]
        assert_untouched(hub)

    def test_its_child_units_too(self, hub: Hub) -> None:
        seize = [unit_row(CHILD, MINE, parent_code=UNIT)]
        assert errors(hub.push("units", seize, MINE)) == [(1, "region", "outside_region")]
        assert_untouched(hub)

    def test_registering_a_unit_its_code_places_with_the_sibling_is_refused(self, hub: Hub) -> None:
        # Not in the registry: its records lie in the region of its code, the sibling's.
        assert errors(hub.push("units", [unit_row(LOOSE, MINE)], MINE)) == [
            (1, "region", "outside_region")
        ]
        assert_untouched(hub)

    def test_a_dry_run_says_the_same(self, hub: Hub) -> None:
        answer = hub.client.post(
            "/api/v1/datasets/units/batches",
            params={"dry_run": "true"},
            json={"records": [unit_row(UNIT, MINE)]},
            headers=hub.headers_for("establishment", MINE),
        )
        assert errors(answer) == [(1, "region", "outside_region")]

    def test_deleting_it_is_refused(self, hub: Hub) -> None:
        answer = hub.push("units", [], MINE, deletes=[{"unit_code": UNIT}])
        assert errors(answer) == [(1, "unit_code", "outside_region")]
        assert_untouched(hub)

    def test_a_snapshot_of_my_units_leaves_it_alone(self, hub: Hub) -> None:
        answer = hub.push("units", [unit_row(OWN, MINE)], MINE, mode="snapshot")
        assert answer.status_code == 201, answer.text
        assert answer.json()["closed"] == 0
        assert_untouched(hub)

    @pytest.mark.parametrize("dataset", ["roster", "employment", "payroll", "cadres"])
    def test_records_naming_it_are_refused(self, hub: Hub, dataset: str) -> None:
        rows = [person(dataset, 7, OWN), person(dataset, 8, UNIT)]
        scope = {"period": "2026-10"} if dataset == "payroll" else {}
        answer = hub.push(dataset, rows, MINE, scope=scope)
        assert errors(answer) == [(2, "unit_code", "outside_region")]
        assert_untouched(hub)

    def test_the_single_record_routes_do_not_find_it(self, hub: Hub) -> None:
        unit = hub.unit(UNIT, CITY)
        answer = hub.put("units", unit, unit_row(UNIT, MINE), MINE)
        assert answer.status_code == 404, answer.text
        gone = hub.client.delete(
            f"/api/v1/datasets/units/records/{unit['record_key']}",
            headers={**hub.headers_for("establishment", MINE), "If-Match": "*"},
        )
        assert gone.status_code == 404
        assert_untouched(hub)


class TestMyOwnUnit:
    def test_i_cannot_move_it_out_to_a_sibling(self, hub: Hub) -> None:
        answer = hub.push("units", [unit_row(UNIT, MINE)], SIBLING)
        assert errors(answer) == [(1, "region", "outside_region")]
        assert_untouched(hub)

    def test_nor_by_a_single_record_put(self, hub: Hub) -> None:
        unit = hub.unit(UNIT, SIBLING)
        answer = hub.put("units", unit, unit_row(UNIT, MINE), SIBLING)
        assert errors(answer) == [(1, "region", "outside_region")]
        assert_untouched(hub)


class TestTheCity:
    def check_moved(self, hub: Hub, batch_id: str) -> None:
        assert hub.regions("units") == {UNIT: MINE, CHILD: SIBLING, OWN: MINE}
        for dataset in ("roster", "employment", "payroll", "cadres", "quotas"):
            moved = {code: region for code, region in hub.regions(dataset).items()}
            assert moved[UNIT] == MINE, dataset
            assert {moved.get(CHILD), moved.get(LOOSE)} <= {SIBLING, None}, dataset
        assert [r["unit_code"] for r in hub.read("roster", "hr", MINE)] == [UNIT]
        assert sorted(r["unit_code"] for r in hub.read("roster", "hr", SIBLING)) == sorted(
            [CHILD, LOOSE]
        )
        assert [p["unit_code"] for p in hub.read("payroll", "finance", MINE)] == [UNIT]
        move = {"unit_code": UNIT, "from_region": SIBLING, "to_region": MINE}
        move["batch_id"] = batch_id
        assert hub.moves(SIBLING) == [move | {"region": SIBLING}]
        assert hub.moves(MINE) == [move | {"region": MINE}]
        # Both counties' feeds carry the move: the sibling sees the unit and its records
        # leave (close), the county they enter sees them arrive (upsert).
        unit_key = hub.unit(UNIT, MINE)["record_key"]
        roster_key = hub.read("roster", "hr", MINE)[0]["record_key"]
        left = hub.changes(SIBLING)
        entered = hub.changes(MINE)
        for dataset, key in (("units", unit_key), ("roster", roster_key)):
            assert left.count((dataset, "close", key)) == 1, (dataset, left)
            assert (dataset, "upsert", key) in entered
        leaving = {ds for ds, op, _key in left if op == "close"}
        arriving = {ds for ds, op, _key in entered if op == "upsert"}
        for datasets in (leaving, arriving):
            assert datasets == {
                "units",
                "quotas",
                "roster",
                "employment",
                "payroll",
                "cadres",
            }
        # The city reads each record leave one county and then enter the other.
        city = hub.changes(CITY)
        after = city[city.index(("roster", "close", roster_key)) + 1 :]
        assert ("roster", "upsert", roster_key) in after

    def test_moves_a_unit_between_two_counties(self, hub: Hub) -> None:
        answer = hub.push("units", [unit_row(UNIT, MINE)], CITY)
        assert answer.status_code == 201, answer.text
        self.check_moved(hub, answer.json()["batch_id"])

    def test_moves_it_by_a_single_record_put(self, hub: Hub) -> None:
        unit = hub.unit(UNIT, CITY)
        answer = hub.put("units", unit, unit_row(UNIT, MINE), CITY)
        assert answer.status_code == 200, answer.text
        self.check_moved(hub, answer.json()["batch_id"])

    def test_not_with_a_scope_that_leaves_out_where_the_unit_is(self, hub: Hub) -> None:
        answer = hub.push("units", [unit_row(UNIT, MINE)], CITY, scope={"region": MINE})
        assert errors(answer) == [(1, "region", "outside_region")]
        assert "registered outside" in answer.json()["errors"][0]["message"]
        assert_untouched(hub)

    def test_not_with_a_scope_that_leaves_out_where_it_goes(self, hub: Hub) -> None:
        answer = hub.push("units", [unit_row(UNIT, MINE)], CITY, scope={"region": SIBLING})
        assert errors(answer) == [(1, "region", "outside_region")]
        assert_untouched(hub)

    def test_the_county_it_moved_to_cannot_send_its_people_back_by_deleting_it(
        self, hub: Hub
    ) -> None:
        # Out of the registry, a unit's records fall back to the region of its code.
        assert hub.push("units", [unit_row(UNIT, MINE)], CITY).status_code == 201
        answer = hub.push("units", [], MINE, deletes=[{"unit_code": UNIT}])
        assert errors(answer) == [(1, "unit_code", "outside_region")]
        unit = hub.unit(UNIT, MINE)
        gone = hub.client.delete(
            f"/api/v1/datasets/units/records/{unit['record_key']}",
            headers={**hub.headers_for("establishment", MINE), "If-Match": f'"v{unit["version"]}"'},
        )
        assert errors(gone) == [(1, "unit_code", "outside_region")]
        abolished = unit_row(UNIT, MINE, status="abolished", abolished_on="2026-01-01")
        assert hub.push("units", [abolished], MINE).status_code == 201
        assert hub.regions("roster")[UNIT] == MINE

    def test_nor_by_leaving_it_out_of_a_snapshot(self, hub: Hub) -> None:
        assert hub.push("units", [unit_row(UNIT, MINE)], CITY).status_code == 201
        answer = hub.push("units", [unit_row(OWN, MINE)], MINE, mode="snapshot")
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert (error["field"], error["code"]) == ("records", "outside_region")
        assert UNIT in error["message"]
        assert hub.regions("roster")[UNIT] == MINE
        assert hub.read("roster", "hr", SIBLING) != [] and len(hub.read("roster", "hr", MINE)) == 1
        # Narrowed to the county's own unit, the snapshot does not touch the moved one.
        narrowed = hub.push(
            "units", [unit_row(OWN, MINE)], MINE, mode="snapshot", scope={"units": [OWN]}
        )
        assert narrowed.status_code == 201, narrowed.text
        # The city may: the records go back to a county inside its region.
        city = hub.push(
            "units", [unit_row(OWN, MINE)], CITY, mode="snapshot", scope={"region": CITY}
        )
        assert city.status_code == 201, city.text
        assert hub.regions("roster")[UNIT] == SIBLING


class TestARosterBatchRacingAMove:
    """A batch of the unit's records checked while the city moves the unit. A person
    dataset's batch derived its rows' regions and checked them against the registry
    (``queries.fix_stage_regions``, ``rows_outside``) before it took its dataset's merge
    lock, and a units batch moved the unit's records under the units' merge lock and the
    feed's lock only: nothing ordered the one after the other. A move that committed
    between the check and the merge left the batch writing the unit's people in the county
    the unit had left: the sibling kept (and wrote) a person of a unit now in my county, my
    county no longer read them, and the feed never told it. Now every batch takes the
    registry's regions lock (``queries.lock_regions``: units exclusive, the other datasets
    shared) before it derives regions, so the move waits for the batch (or the batch for
    the move) and the record ends where its unit is."""

    def test_the_record_lands_where_the_unit_went(
        self, hub: Hub, backend: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if backend != "postgres":
            pytest.skip("SQLite runs one writer at a time")
        checked, go = threading.Event(), threading.Event()
        original = ingest.Pusher.raise_if_bad

        def paused(self: Any) -> None:
            original(self)
            if self.spec.name == "roster":
                checked.set()
                assert go.wait(30)

        monkeypatch.setattr(ingest.Pusher, "raise_if_bad", paused)
        renamed = person("roster", 1, UNIT) | {"name": "张一"}
        with ThreadPoolExecutor(2) as pool:
            sibling = pool.submit(hub.push, "roster", [renamed], SIBLING)
            assert checked.wait(30)
            city = pool.submit(hub.push, "units", [unit_row(UNIT, MINE)], CITY)
            # Before: the move committed at once, inside the batch's window. Now it waits.
            with suppress(Pending):
                city.result(timeout=2)
            go.set()
            county, moved = sibling.result(60), city.result(60)
        assert moved.status_code == 201, moved.text
        assert county.status_code in (201, 409, 422), county.text
        assert hub.regions("roster")[UNIT] == MINE
        [mine] = hub.read("roster", "hr", MINE)
        assert mine["unit_code"] == UNIT
        assert UNIT not in {r["unit_code"] for r in hub.read("roster", "hr", SIBLING)}
        history = hub.client.get(
            f"/api/v1/datasets/roster/records/{mine['record_key']}/history",
            headers=hub.headers_for("audit", CITY),
        )
        assert history.status_code == 200, history.text
        for version in history.json()["items"]:
            assert version["closed_at"] is None or version["closed_at"] >= version["recorded_at"]
        if county.status_code == 201:
            assert mine["name"] == "张一"
            assert ("roster", "close", mine["record_key"]) in hub.changes(SIBLING)

    def test_batches_of_records_do_not_wait_for_one_another(
        self, hub: Hub, backend: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The lock is shared among them: an employment batch goes through while a roster
        batch holds it, between its check and its merge."""
        if backend != "postgres":
            pytest.skip("SQLite runs one writer at a time")
        checked, go = threading.Event(), threading.Event()
        original = ingest.Pusher.raise_if_bad

        def paused(self: Any) -> None:
            original(self)
            if self.spec.name == "roster":
                checked.set()
                assert go.wait(30)

        monkeypatch.setattr(ingest.Pusher, "raise_if_bad", paused)
        renamed = person("roster", 1, UNIT) | {"name": "张一"}
        with ThreadPoolExecutor(1) as pool:
            roster = pool.submit(hub.push, "roster", [renamed], SIBLING)
            try:
                assert checked.wait(30)
                employment = hub.push("employment", [person("employment", 4, UNIT)], SIBLING)
                assert employment.status_code == 201, employment.text
            finally:
                go.set()
            assert roster.result(60).status_code == 201


class TestOneDoor:
    """Every route that writes a dataset goes through the one region check of unit moves
    (``records.queries.rows_outside``, called by ``Pusher.check_stage``)."""

    def test_every_write_route_checks_the_regions_of_a_unit(
        self, hub: Hub, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        checked: list[str] = []
        door = queries.rows_outside

        def watched(session: Any, spec: Any, *args: Any, **kwargs: Any) -> Any:
            checked.append(spec.name)
            return door(session, spec, *args, **kwargs)

        monkeypatch.setattr(queries, "rows_outside", watched)

        def batch() -> Response:
            return hub.push("units", [unit_row(UNIT, MINE)], CITY)

        def put() -> Response:
            return hub.put("units", hub.unit(UNIT, CITY), unit_row(UNIT, SIBLING), CITY)

        def delete() -> Response:
            unit = hub.unit(CHILD, CITY)
            return hub.client.delete(
                f"/api/v1/datasets/units/records/{unit['record_key']}",
                headers={**hub.headers_for("establishment", CITY), "If-Match": "*"},
            )

        writes = {
            ("POST", "/api/v1/datasets/{dataset}/batches"): batch,
            ("PUT", "/api/v1/datasets/{dataset}/records/{record_key}"): put,
            ("DELETE", "/api/v1/datasets/{dataset}/records/{record_key}"): delete,
        }
        routes = {
            (method.upper(), path)
            for path, operations in app.openapi()["paths"].items()
            if path.startswith("/api/v1/datasets")
            for method in operations
            if method in {"post", "put", "patch", "delete"}
        }
        assert routes == set(writes)
        for write in writes.values():
            checked.clear()
            answer = write()
            assert answer.status_code < 300, answer.text
            assert checked == ["units"]
