"""API1: a 12310 case's links name only findings and units its reader may open.

The city's office links a finding and units to a case, then hands the case down to a county
(``assigned``). The county's office now works the case and its audit reads it; neither may open
the city's unit, nor a sibling county's unit or finding (``GET /discrepancies/{id}`` and the
unit's records are 404 to them). Before 2026-12-07 the case's ``links`` named them all, to the
county, in the API and on the console's case page: the city's (or a sibling's) finding id and
unit codes — a classified unit's among them. Likewise a county's own link to a unit that has
since moved to a sibling county. Now a link is shown when its target lies in the reader's
region now; the city, which may open them, still reads every link.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.security.regions import CITY, COUNTY, OTHER, SPREAD, Regions

REPORT = {"category": "ghost_pay", "region": CITY, "facts": "某单位有人长期不上班仍领工资。"}


def _file(client: TestClient) -> str:
    filed = client.post("/public/v1/reports", json=REPORT)
    assert filed.status_code == 201, filed.text
    code = filed.json()["tracking_code"]
    office = client.get("/api/v1/cases", params={"limit": 100}, headers=_h.city_office)
    (case,) = [c for c in office.json()["items"] if c["tracking_code"] == code]
    return str(case["id"])


class _H:
    city_office: dict[str, str]


_h = _H()


def _links(client: TestClient, headers: dict[str, str], cid: str) -> set[tuple[str, str]]:
    response = client.get(f"/api/v1/cases/{cid}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return {(x["kind"], x["target"]) for x in body["links"]}


def test_a_case_handed_down_names_no_link_the_county_cannot_open(
    regions: Regions, headers_for: HeadersFor
) -> None:
    client = regions.client
    _h.city_office = headers_for("establishment", CITY)
    cid = _file(client)
    spread = regions.finding("DUPLICATE_PAYROLL", SPREAD)
    assert spread["region"] == COUNTY
    city_unit, county_unit = f.unit_code(1, region=CITY), f.unit_code(2, region=COUNTY)
    assert (
        client.post(
            f"/api/v1/cases/{cid}/transitions", json={"to": "accepted"}, headers=_h.city_office
        ).status_code
        == 200
    )
    for body in (
        {"finding_id": spread["id"]},
        {"unit_code": city_unit},
        {"unit_code": county_unit},
    ):
        linked = client.post(f"/api/v1/cases/{cid}/links", json=body, headers=_h.city_office)
        assert linked.status_code == 200, linked.text
    handed = client.post(
        f"/api/v1/cases/{cid}/transitions",
        json={"to": "assigned", "region": OTHER},
        headers=_h.city_office,
    )
    assert handed.status_code == 200, handed.text
    every = {("finding", spread["id"]), ("unit", city_unit), ("unit", county_unit)}
    assert _links(client, _h.city_office, cid) == every
    for department in ("establishment", "audit"):
        county = headers_for(department, OTHER)
        # What the links name is 404 to the county: the finding and the units' records.
        assert (
            client.get(f"/api/v1/discrepancies/{spread['id']}", headers=county).status_code == 404
        )
        assert _links(client, county, cid) == set(), department
    # The county links its own unit; the city moves it to the sibling county: gone from OTHER.
    other_unit = f.unit_code(3, region=OTHER)
    county_office = headers_for("establishment", OTHER)
    assert (
        client.post(
            f"/api/v1/cases/{cid}/links", json={"unit_code": other_unit}, headers=county_office
        ).status_code
        == 200
    )
    assert _links(client, county_office, cid) == {("unit", other_unit)}
    moved = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(3, region=OTHER) | {"region": COUNTY}]},
        headers=headers_for("establishment", CITY),
    )
    assert moved.status_code == 201, moved.text
    assert _links(client, county_office, cid) == set()
    assert ("unit", other_unit) in _links(client, _h.city_office, cid)
    # A unit deleted from the registry since it was linked: the city that linked it keeps the
    # link (where its last version was), the county is still shown nothing.
    gone = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [], "deletes": [{"unit_code": city_unit}]},
        headers=_h.city_office,
    )
    assert gone.status_code == 201 and gone.json()["closed"] == 1, gone.text
    assert ("unit", city_unit) in _links(client, _h.city_office, cid)
    assert ("unit", city_unit) not in _links(client, county_office, cid)
