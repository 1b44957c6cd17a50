"""A payroll snapshot is the whole truth of its scope only: the region of the push (and below)
and its period. After the city moved a unit from one county to another (its records follow it,
``records.publish.propagate_unit_regions``), each county's snapshot closes only lines of its
own region and period: the county the unit left cannot close the lines it now lies outside, and
the county it entered does not touch the unit's lines of another period."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, LEFT, ENTERED = "230100", "230102", "230103"
MOVED = f.unit_code(1, region=LEFT)
STAYS = f.unit_code(2, region=LEFT)
OWN = f.unit_code(3, region=ENTERED)
EARLIER, LATER = "2026-10", "2026-11"


def unit_row(code: str, region: str) -> dict[str, Any]:
    return {"unit_code": code, "name": f"单位{code[-4:]}", "region": region}


def line(n: int, unit: str, period: str) -> dict[str, Any]:
    return f.payroll(n, period=period) | {"unit_code": unit}


def test_each_countys_snapshot_closes_only_its_own_lines(
    client: TestClient, headers_for: HeadersFor
) -> None:
    def push(dataset: str, region: str, rows: list[dict[str, Any]], **body: Any) -> Any:
        department = "finance" if dataset == "payroll" else "establishment"
        answer = client.post(
            f"/api/v1/datasets/{dataset}/batches",
            content=json.dumps({"records": rows, **body}, ensure_ascii=False),
            headers={**headers_for(department, region), "content-type": "application/json"},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def snapshot(region: str, period: str, rows: list[dict[str, Any]]) -> int:
        body = push("payroll", region, rows, mode="snapshot", scope={"period": period})
        return int(body["closed"])

    def lines() -> set[tuple[str, str, str]]:
        answer = client.get(
            "/api/v1/datasets/payroll/records",
            params={"limit": 1000},
            headers=headers_for("audit", CITY),
        )
        assert answer.status_code == 200, answer.text
        return {(r["period"], r["unit_code"], r["region"]) for r in answer.json()["items"]}

    kind = {"kind": "institution", "funding": "full", "status": "active"}
    units = [unit_row(MOVED, LEFT), unit_row(STAYS, LEFT), unit_row(OWN, ENTERED)]
    push("units", CITY, [u | kind for u in units])
    for period in (EARLIER, LATER):
        snapshot(LEFT, period, [line(1, MOVED, period), line(2, STAYS, period)])
    push("units", CITY, [unit_row(MOVED, ENTERED) | kind])  # the city moves it
    moved = {(p, MOVED, ENTERED) for p in (EARLIER, LATER)}
    stays = {(p, STAYS, LEFT) for p in (EARLIER, LATER)}
    assert lines() == moved | stays
    # The county it left, for either period: its own lines only; the moved unit's stay.
    assert snapshot(LEFT, LATER, [line(2, STAYS, LATER)]) == 0
    assert snapshot(LEFT, EARLIER, [line(2, STAYS, EARLIER)]) == 0
    assert lines() == moved | stays
    # The county it entered, for the later period: the earlier period's lines stay.
    later = [line(3, OWN, LATER), line(1, MOVED, LATER)]
    assert snapshot(ENTERED, LATER, later) == 0
    assert lines() == moved | stays | {(LATER, OWN, ENTERED)}
