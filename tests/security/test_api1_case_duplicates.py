"""API1: a 12310 case refused as a repeat names the earlier case only to a reader who may open it.

A county that does not use the hub yet (no establishment office of its own) has its reports
worked by the city's office (``cases.service.handling_office``). The city refuses the county's
case as a repeat (``refusal: repeat``) of a case it can open, another county's or its own:
``duplicate_of`` holds that case's id. The county's audit reads its case (its region), and so
does the county's office once it joins the hub; ``GET /api/v1/cases/{duplicate_of}`` is a 404
to both. Before 2026-12-07 ``duplicate_of`` named it to them anyway, in the API (the case and
the list) and on the console's case page (the same ``cases.service.detail``), as the links did
before they were filtered (``test_api1_case_links.py``). Now it is named only when the reader
may open that case; the city still reads it.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

CITY, COUNTY, OTHER = "230100", "230102", "230103"
CASES = "/api/v1/cases"


def _file(client: TestClient, region: str) -> str:
    report = {"category": "ghost_pay", "region": region, "facts": f"{region} 某单位有人吃空饷。"}
    filed = client.post("/public/v1/reports", json=report)
    assert filed.status_code == 201, filed.text
    return str(filed.json()["tracking_code"])


def _case(client: TestClient, headers: dict[str, str], code: str) -> dict[str, Any]:
    listed = client.get(CASES, params={"limit": 100}, headers=headers)
    assert listed.status_code == 200, listed.text
    (case,) = [c for c in listed.json()["items"] if c["tracking_code"] == code]
    return dict(case)


def test_a_repeat_names_no_case_its_reader_cannot_open(
    client: TestClient, headers_for: HeadersFor, push: Push
) -> None:
    units = [f.unit(1, region=CITY), f.unit(2, region=COUNTY), f.unit(3, region=OTHER)]
    assert push("units", units).status_code == 201
    city = headers_for("establishment", CITY)
    county_office = headers_for("establishment", COUNTY)  # COUNTY uses the hub; OTHER not yet
    earlier = _case(client, county_office, _file(client, COUNTY))["id"]
    other_code = _file(client, OTHER)
    case = _case(client, city, other_code)["id"]
    refused = client.post(
        f"{CASES}/{case}/transitions",
        json={"to": "refused", "refusal": "repeat", "duplicate_of": earlier},
        headers=city,
    )
    assert refused.status_code == 200, refused.text
    assert client.get(f"{CASES}/{case}", headers=city).json()["duplicate_of"] == earlier

    other_audit = headers_for("audit", OTHER)
    other_office = headers_for("establishment", OTHER)  # joins the hub afterwards
    for reader in (other_audit, other_office):
        # The earlier case is another county's: it does not exist for OTHER.
        assert client.get(f"{CASES}/{earlier}", headers=reader).status_code == 404
        shown = client.get(f"{CASES}/{case}", headers=reader)
        assert shown.status_code == 200, shown.text
        assert shown.json()["duplicate_of"] is None
        assert earlier not in shown.text
        assert _case(client, reader, other_code)["duplicate_of"] is None
