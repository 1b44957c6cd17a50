"""API1 on the public face: a publication's ETag tells nothing of units it does not show.

Every public page and JSON answer of a publication carried in its ETag a digest of every unit
hidden anywhere in the hub (classified, or under a classified unit). A county's publication
changed its tag, and a visitor's ``If-None-Match`` stopped getting a 304, the moment a sibling
county registered a classified unit that was never published and appears nowhere: anyone
polling one public page learnt when classified units came and went across the province. Now a
tag counts only the hidden units the publication could name (its units, their parents and
internal bodies), so a withdrawal from the publication still changes it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.public.conftest import CITY, City, organ
from tests.records import factory as f

Publish = Callable[..., dict[str, Any]]
COUNTY, SIBLING = "230102", "230103"


def _push_units(client: TestClient, headers_for: HeadersFor, units: list[dict[str, Any]]) -> None:
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": units},
        headers=headers_for("establishment", CITY),
    )
    assert pushed.status_code == 201, pushed.text


def _tags(client: TestClient, code: str) -> dict[str, str]:
    paths = {
        "json": f"/public/v1/disclosures/{COUNTY}",
        "json page": f"/public/v1/disclosures/{COUNTY}?limit=1",
        "unit json": f"/public/v1/disclosures/{COUNTY}/units/{code}",
        "page": f"/public/disclosures/{COUNTY}",
        "unit page": f"/public/disclosures/{COUNTY}/units/{code}",
    }
    tags = {}
    for name, path in paths.items():
        response = client.get(path)
        assert response.status_code == 200, (name, response.text)
        tags[name] = response.headers["etag"]
        again = client.get(path, headers={"If-None-Match": tags[name]})
        assert again.status_code == 304, name
    return tags


def test_a_classified_unit_elsewhere_changes_no_tag(
    client: TestClient, headers_for: HeadersFor, city: City, publish: Publish
) -> None:
    county_unit = city.public_code["county_a"]
    publish(COUNTY)
    before = _tags(client, county_unit)

    # A sibling county's new classified unit (and a unit under it), never published anywhere.
    secret = organ(41, region=SIBLING, name="道里区保密机构", classified=True)
    under = f.unit(42, region=SIBLING, name="道里区保密科", parent_code=secret["unit_code"])
    _push_units(client, headers_for, [secret, under])
    assert _tags(client, county_unit) == before
    for path in (f"/public/v1/disclosures/{COUNTY}", f"/public/disclosures/{COUNTY}"):
        tag = before["json" if "/v1/" in path else "page"]
        kept = client.get(path, headers={"If-None-Match": tag})
        assert kept.status_code == 304, path

    # A city unit classified: nothing of the county's publication names it either.
    _push_units(client, headers_for, [city.units["school"] | {"classified": True}])
    assert _tags(client, county_unit) == before

    # A unit of the publication classified since: withdrawn, every tag of the publication
    # changes (the unit's own answers are 404 now).
    other = organ(43, region=COUNTY, name="南岗区档案馆")
    _push_units(client, headers_for, [other])
    publish(COUNTY)
    published = _tags(client, county_unit)
    _push_units(client, headers_for, [other | {"classified": True}])
    withdrawn = _tags(client, county_unit)
    for name in published:
        assert withdrawn[name] != published[name], name
    gone = client.get(f"/public/v1/disclosures/{COUNTY}/units/{other['unit_code']}")
    assert gone.status_code == 404


def test_an_internal_body_withdrawn_changes_its_parents_tags(
    client: TestClient, headers_for: HeadersFor, city: City, publish: Publish
) -> None:
    """A county unit's internal body registered in the sibling county (listed on the unit's
    page, published by neither) classified since: the unit's answers change."""
    county_unit = city.public_code["county_a"]
    body = f.unit(44, region=SIBLING, name="派驻道里区工作组", parent_code=county_unit)
    _push_units(client, headers_for, [body])
    publish(COUNTY)
    shown = client.get(f"/public/v1/disclosures/{COUNTY}/units/{county_unit}").json()
    assert [c["unit_code"] for c in shown["internal_units"]] == [body["unit_code"]]
    before = _tags(client, county_unit)
    _push_units(client, headers_for, [body | {"classified": True}])
    after = _tags(client, county_unit)
    for name in before:
        assert after[name] != before[name], name
    shown = client.get(f"/public/v1/disclosures/{COUNTY}/units/{county_unit}").json()
    assert shown["internal_units"] == []


def test_an_internal_body_that_left_then_was_classified_changes_its_parents_tags(
    client: TestClient, headers_for: HeadersFor, city: City, publish: Publish
) -> None:
    """The same for an internal body that left the unit after publication (its stored page
    still lists it) and was classified afterwards: the cached page must not keep it."""
    county_unit = city.public_code["county_a"]
    body = f.unit(45, region=SIBLING, name="派驻道里区联络组", parent_code=county_unit)
    _push_units(client, headers_for, [body])
    publish(COUNTY)
    _push_units(client, headers_for, [body | {"parent_code": None}])
    before = _tags(client, county_unit)
    _push_units(client, headers_for, [body | {"parent_code": None, "classified": True}])
    after = _tags(client, county_unit)
    for name in before:
        assert after[name] != before[name], name
    shown = client.get(f"/public/v1/disclosures/{COUNTY}/units/{county_unit}").json()
    assert shown["internal_units"] == []
