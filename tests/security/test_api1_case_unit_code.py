"""API1: a 12310 case names the unit it was filed about only to a reader of that unit's region.

A report to the city (230100) may name a published unit of any of its counties: here 南岗区
教育局 of county 230102. The city's office hands the case down to the sibling county 230103
(``assigned``), and the unit is classified since. The county now handling the case (its office
and its audit) cannot open that unit, yet before 2026-12-07 ``GET /api/v1/cases`` and
``/cases/{id}`` sent it the case's ``unit_code`` and the ``unit_name`` filed with it, as they
were filed. Now both are sent only while the unit lies in the reader's region (its current
registry region, the rule of the case's links and of the discrepancy report's unit names);
the case keeps them, and the city still reads them. A ``unit_name`` filed without a code is
the reporter's words, like the facts, and is sent to whoever handles the case.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.public.conftest import City

CITY, COUNTY, OTHER = "230100", "230102", "230103"
CASES = "/api/v1/cases"


def _file(client: TestClient, **extra: Any) -> str:
    report = {"category": "ghost_pay", "region": CITY, "facts": "某单位有人吃空饷。", **extra}
    filed = client.post("/public/v1/reports", json=report)
    assert filed.status_code == 201, filed.text
    return str(filed.json()["tracking_code"])


def _seen(client: TestClient, headers: dict[str, str], code: str) -> list[dict[str, Any]]:
    """The case as the list and as ``GET /cases/{id}`` send it to ``headers``."""
    listed = client.get(CASES, params={"limit": 100}, headers=headers)
    assert listed.status_code == 200, listed.text
    (case,) = [c for c in listed.json()["items"] if c["tracking_code"] == code]
    one = client.get(f"{CASES}/{case['id']}", headers=headers)
    assert one.status_code == 200, one.text
    return [case, one.json()]


def _hand_down(client: TestClient, office: dict[str, str], code: str, region: str) -> None:
    (case, _) = _seen(client, office, code)
    for body in ({"to": "accepted"}, {"to": "assigned", "region": region}):
        step = client.post(f"{CASES}/{case['id']}/transitions", json=body, headers=office)
        assert step.status_code == 200, step.text


def test_a_case_handed_to_a_sibling_county_hides_the_unit_it_names(
    client: TestClient, city: City, publish: Any, headers_for: HeadersFor
) -> None:
    publish()
    unit = city.public_code["county_a"]
    assert city.units["county_a"]["region"] == COUNTY
    city_office = headers_for("establishment", CITY)
    named = _file(client, unit_code=unit, unit_name="南岗区教育局")
    free = _file(client, unit_name="某区某所")
    for code in (named, free):
        _hand_down(client, city_office, code, OTHER)
    # The unit the reporter chose is classified since.
    classified = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [city.units["county_a"] | {"classified": True}]},
        headers=city_office,
    )
    assert classified.status_code == 201, classified.text
    for department in ("establishment", "audit"):
        county = headers_for(department, OTHER)
        for case in _seen(client, county, named):
            assert (case["unit_code"], case["unit_name"]) == (None, None), department
            assert unit not in str(case)
        for case in _seen(client, county, free):
            assert case["unit_name"] == "某区某所", department
    # The city (and its audit) read the case as filed; so would the county the unit lies in.
    for department in ("establishment", "audit"):
        for case in _seen(client, headers_for(department, CITY), named):
            assert (case["unit_code"], case["unit_name"]) == (unit, "南岗区教育局")
