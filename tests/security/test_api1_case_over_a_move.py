"""API1 across time: a 12310 case of county A about a unit the city then moved to county B.

Suspected in a review (2026-12-07) of leaking through the case, once its unit had moved: to A,
the unit and the finding that followed it to B (the case's ``unit_code`` and ``unit_name``, its
links, a link made again); to B, A's case (its id, tracking code, steps, reasons) through the
finding now B's or the unit's annual report. Not so: a case stays with the region it was
reported to; what it names is shown while it lies in the reader's region (``readable_units``,
``_link_opens``); the city reads everything. Kept as a guard.

County A (230102) registers and publishes unit U; a reporter files a case to A naming U; A's
office accepts it, gives a reason, links U and U's live finding F. The city moves U to B
(230103): F follows it. A's office keeps working the case.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.test_webhooks import ghost_pay, push, run
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
N = 70
U = f.unit_code(N, region=A)
UNIT_NAME = "甲县被举报单位"
REASON = "甲县编办受理：经核查属实，转甲县财政局"


def _get(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    answer = client.get(url, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _moved_case(client: TestClient, headers_for: HeadersFor) -> tuple[str, str, str]:
    """The case id, its tracking code and F's id, after the move."""
    ghost_pay(client, headers_for, A, N)
    run(client, headers_for, CITY)
    office = headers_for("establishment", A)
    [finding] = _get(client, "/api/v1/discrepancies", office, unit_code=U)["items"]
    published = client.post("/api/v1/disclosures", json={"region": A}, headers=office)
    assert published.status_code == 201, published.text
    report = {"category": "ghost_pay", "region": A, "unit_code": U, "unit_name": UNIT_NAME}
    filed = client.post("/public/v1/reports", json=report | {"facts": "有人长期不上班仍领工资。"})
    assert filed.status_code == 201, filed.text
    code = filed.json()["tracking_code"]
    [case] = [c for c in _get(client, "/api/v1/cases", office)["items"]]
    assert case["tracking_code"] == code and case["unit_code"] == U
    step = {"to": "accepted", "reason": REASON}
    accepted = client.post(f"/api/v1/cases/{case['id']}/transitions", json=step, headers=office)
    assert accepted.status_code == 200, accepted.text
    for body in ({"unit_code": U}, {"finding_id": finding["id"]}):
        linked = client.post(f"/api/v1/cases/{case['id']}/links", json=body, headers=office)
        assert linked.status_code == 200, linked.text
    push(client, headers_for, "units", [f.unit(N, region=A) | {"region": B}], CITY)
    moved = _get(client, f"/api/v1/discrepancies/{finding['id']}", headers_for("audit", B))
    assert moved["region"] == B
    return str(case["id"]), code, str(finding["id"])


def test_the_county_it_was_reported_to_reads_its_case_without_the_units_things(
    client: TestClient, headers_for: HeadersFor
) -> None:
    cid, _, fid = _moved_case(client, headers_for)
    for department in ("establishment", "audit"):
        h = headers_for(department, A)
        case = _get(client, f"/api/v1/cases/{cid}", h)
        assert (case["unit_code"], case["unit_name"], case["links"]) == (None, None, [])
        assert REASON in [s["reason"] for s in case["steps"]]  # its own step stays its own
        [listed] = _get(client, "/api/v1/cases", h)["items"]
        assert (listed["unit_code"], listed["unit_name"]) == (None, None)
        assert U not in str(case) and fid not in str(case) and UNIT_NAME not in str(case)
        assert client.get(f"/api/v1/discrepancies/{fid}", headers=h).status_code == 404
    office = headers_for("establishment", A)
    for body in ({"unit_code": U}, {"finding_id": fid}):  # linking again: gone, not "linked"
        again = client.post(f"/api/v1/cases/{cid}/links", json=body, headers=office)
        assert again.status_code == 404, again.text
        assert U not in again.text and fid not in again.text


def test_the_county_it_entered_learns_nothing_of_the_case(
    client: TestClient, headers_for: HeadersFor
) -> None:
    cid, code, fid = _moved_case(client, headers_for)
    year = dt.datetime.now(ZoneInfo("Asia/Shanghai")).year
    for department in ("establishment", "audit"):
        h = headers_for(department, B)
        assert client.get(f"/api/v1/cases/{cid}", headers=h).status_code == 404
        assert _get(client, "/api/v1/cases", h)["items"] == []
        finding = client.get(f"/api/v1/discrepancies/{fid}", headers=h)
        annual = client.get(
            "/api/v1/reports/annual", params={"unit_code": U, "year": year}, headers=h
        )
        assert finding.status_code == annual.status_code == 200, annual.text
        assert annual.json()["cases"] == []
        for text in (finding.text, annual.text):
            assert cid not in text and code not in text and REASON not in text


def test_the_city_reads_it_all(client: TestClient, headers_for: HeadersFor) -> None:
    cid, _, fid = _moved_case(client, headers_for)
    case = _get(client, f"/api/v1/cases/{cid}", headers_for("audit", CITY))
    assert (case["unit_code"], case["unit_name"]) == (U, UNIT_NAME)
    assert {(x["kind"], x["target"]) for x in case["links"]} == {("unit", U), ("finding", fid)}
