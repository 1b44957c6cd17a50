"""API1 across time: a unit's registry records (the unit, its quota, its leader posts) and its
internal unit, read by the county it left and the county it entered.

Suspected in a review (2026-12-07) of leaking to county B, which the city moved unit U into,
the versions county A wrote of U (A's batch and client ids, A's earlier quota and its document
number); to A, what B did with U afterwards (a new quota and document number, a new name, U
made classified) through U's history, an ``as_of`` read, the change feed, or through U's
internal unit C that stayed in A (its annual report's ``parent_name``). Not so: each version
keeps the region it was written in and every read filters by it (README, "Regions over
time"): B reads U from the move on (the moved version is the city's), A reads its own past of
U and nothing after; the city reads both. Kept as a guard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
U = f.unit_code(61, region=A)
C = f.unit_code(62, region=A)  # U's internal unit, staying in A
A_DOC, B_DOC = "甲编〔2026〕1号", "乙编〔2026〕9号"
B_NAME = "乙县更名后的单位"


def _push(
    client: TestClient, headers_for: HeadersFor, dataset: str, rows: list[Any], region: str
) -> dict[str, Any]:
    headers = headers_for("establishment", region)
    answer = client.post(
        f"/api/v1/datasets/{dataset}/batches", json={"records": rows}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _get(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    answer = client.get(url, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _quota(approved: int, document_no: str, effective_on: str) -> dict[str, Any]:
    kind = {"unit_code": U, "establishment_type": "institutional"}
    return kind | {"approved": approved, "document_no": document_no, "effective_on": effective_on}


class Moved:
    def __init__(self, client: TestClient, headers_for: HeadersFor) -> None:
        unit = f.unit(61, region=A, name="甲县单位")
        child = f.unit(62, region=A, name="甲县内设机构", parent_code=U)
        self.a_units = _push(client, headers_for, "units", [unit, child], A)["batch_id"]
        self.a_quota = _push(client, headers_for, "quotas", [_quota(5, A_DOC, "2026-01-01")], A)
        a = headers_for("audit", A)
        [quota] = _get(client, "/api/v1/datasets/quotas/records", a)["items"]
        self.key, self.before = quota["record_key"], quota["recorded_at"]
        self.a_client = quota["client_id"]
        self.move = _push(client, headers_for, "units", [unit | {"region": B}], CITY)["batch_id"]
        _push(client, headers_for, "quotas", [_quota(6, B_DOC, "2026-06-01")], B)
        renamed = unit | {"region": B, "name": B_NAME, "classified": True}
        _push(client, headers_for, "units", [renamed], B)


def test_the_county_it_entered_reads_the_unit_from_the_move_on(
    client: TestClient, headers_for: HeadersFor
) -> None:
    moved = Moved(client, headers_for)
    for department in ("establishment", "audit", "hr"):
        b = headers_for(department, B)
        history = _get(client, f"/api/v1/datasets/quotas/records/{moved.key}/history", b)
        versions = [(v["version"], v["region"], v["batch_id"]) for v in history["items"]]
        assert versions[0] == (2, B, moved.move)  # the move's copy, the city's
        assert {v["client_id"] for v in history["items"]}.isdisjoint({moved.a_client})
        text = str(history) + str(_get(client, "/api/v1/changes", b))
        assert moved.a_quota["batch_id"] not in text and moved.a_units not in text
        for dataset in ("units", "quotas"):
            then = _get(client, f"/api/v1/datasets/{dataset}/records", b, as_of=moved.before)
            assert then["items"] == []


def test_the_county_it_left_reads_its_past_and_nothing_after(
    client: TestClient, headers_for: HeadersFor
) -> None:
    moved = Moved(client, headers_for)
    year = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year
    for department in ("establishment", "audit", "hr"):
        a = headers_for(department, A)
        history = _get(client, f"/api/v1/datasets/quotas/records/{moved.key}/history", a)
        [only] = history["items"]
        assert (only["version"], only["document_no"], only["closed_batch_id"]) == (
            1,
            A_DOC,
            moved.move,
        )
        then = _get(client, "/api/v1/datasets/quotas/records", a, as_of=moved.before)["items"]
        assert [q["document_no"] for q in then] == [A_DOC]
        assert _get(client, "/api/v1/datasets/quotas/records", a)["items"] == []
        units = _get(client, "/api/v1/datasets/units/records", a)["items"]
        assert [(u["unit_code"], u["parent_code"]) for u in units] == [(C, U)]
        feed = _get(client, "/api/v1/changes", a, limit=1000)
        annual = _get(client, "/api/v1/reports/annual", a, unit_code=C, year=year)
        assert annual["unit"]["parent_name"] is None
        for text in (str(history), str(feed), str(annual), str(units)):
            assert B_DOC not in text and B_NAME not in text and "'classified': True" not in text
        for url in (f"/api/v1/datasets/quotas/records/{moved.key}", "/api/v1/reports/annual"):
            params = {"unit_code": U, "year": year} if "annual" in url else {}
            assert client.get(url, params=params, headers=a).status_code == 404


def test_the_city_reads_both(client: TestClient, headers_for: HeadersFor) -> None:
    moved = Moved(client, headers_for)
    city = headers_for("audit", CITY)
    history = _get(client, f"/api/v1/datasets/quotas/records/{moved.key}/history", city)
    assert [(v["version"], v["region"], v["document_no"]) for v in history["items"]] == [
        (1, A, A_DOC),
        (2, B, A_DOC),
        (3, B, B_DOC),
    ]
