"""API1 across time: a unit's name read through a finding the county keeps after the unit left.

A resolved finding stays where it was resolved when its unit moves on (records.publish: "the
past of the region that resolved it"), so county A still lists it after the city moved the unit
to the sibling county B. What B's establishment office registers for the unit afterwards (a new
name, say) is a value of B's registry record, 404 to A everywhere else (the unit page, the
units dataset, its history): the discrepancy report (JSON, CSV, the XLSX's by-unit sheet) and
the findings summary's units named the unit by its current registry name wherever the unit
now lies. Now a unit is named there only while it lies in the reader's region.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.test_webhooks import ghost_pay, push, run
from tests.records import factory as f

CITY, COUNTY, SIBLING = "230100", "230102", "230103"
SECRET_NAME = "县委专案工作领导小组办公室"  # the name B gives the unit after the move
N = 80


def _resolved_then_moved(client: TestClient, headers_for: HeadersFor) -> str:
    """A's ghost-pay finding under unit N, resolved in A; then the city moves the unit to B
    and B renames it. The finding's id."""
    ghost_pay(client, headers_for, COUNTY, N)
    run(client, headers_for, CITY)
    code = f.unit_code(N, region=COUNTY)
    push(client, headers_for, "roster", [f.roster(N, unit_code=code)], COUNTY)
    run(client, headers_for, CITY)
    answer = client.get(
        "/api/v1/discrepancies", params={"unit_code": code}, headers=headers_for("audit", COUNTY)
    )
    assert answer.status_code == 200, answer.text
    [found] = answer.json()["items"]
    assert found["status"] == "resolved", found
    moved = f.unit(N, region=COUNTY) | {"region": SIBLING}
    push(client, headers_for, "units", [moved], CITY)
    push(client, headers_for, "units", [moved | {"name": SECRET_NAME}], SIBLING)
    run(client, headers_for, CITY)
    return str(found["id"])


def _report(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    answer = client.get("/api/v1/reports/discrepancies", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


class TestAUnitsNameAfterItLeft:
    def test_the_county_it_left_still_lists_its_resolved_finding(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _resolved_then_moved(client, headers_for)
        a = headers_for("audit", COUNTY)
        code = f.unit_code(N, region=COUNTY)
        # The unit itself does not exist for A any more.
        assert client.get(f"/api/v1/datasets/units/records/{code}", headers=a).status_code == 404
        items = _report(client, a).json()["items"]
        assert [(i["id"], i["status"], i["region"]) for i in items] == [(fid, "resolved", COUNTY)]

    def test_the_report_does_not_name_it_by_the_name_the_sibling_gave(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _resolved_then_moved(client, headers_for)
        a = headers_for("audit", COUNTY)
        [item] = _report(client, a).json()["items"]
        assert item["unit_name"] is None
        text = _report(client, a, format="csv").content.decode("utf-8-sig")
        assert SECRET_NAME not in text
        [row] = list(csv.reader(io.StringIO(text)))[1:]
        assert f.unit_code(N, region=COUNTY) in row

    def test_the_summary_does_not_name_it_either(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _resolved_then_moved(client, headers_for)
        answer = client.get(
            "/api/v1/discrepancies/summary", headers=headers_for("establishment", COUNTY)
        )
        assert answer.status_code == 200, answer.text
        assert SECRET_NAME not in answer.text
        units = answer.json()["units"]
        assert [(u["unit_code"], u["unit_name"]) for u in units] == [
            (f.unit_code(N, region=COUNTY), None)
        ]

    def test_the_region_it_is_in_reads_its_name(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _resolved_then_moved(client, headers_for)
        for region in (CITY, SIBLING):
            answer = client.get(
                "/api/v1/discrepancies/summary", headers=headers_for("audit", region)
            )
            assert answer.status_code == 200, answer.text
            if region == CITY:  # the resolved finding, filed in A: the city reads A's too
                names = {u["unit_name"] for u in answer.json()["units"]}
                assert names == {SECRET_NAME}
            items = _report(client, headers_for("audit", region)).json()["items"]
            assert all(i["unit_name"] == SECRET_NAME for i in items)
