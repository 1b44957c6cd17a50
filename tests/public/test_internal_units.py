"""A unit's internal bodies (内设机构) are its child units wherever they sit (DOMAIN.md: "a
unit's child units count for it wherever they sit"). A county's disclosure of a unit listed only
the children registered in that county, so the same unit's published internal bodies depended
on which region published it: the city's publication names both, the county's only one."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
LINK = re.compile(r'href="(/public/disclosures/[^"]+/units/[^"]+)"')


def push_units(client: TestClient, headers_for: HeadersFor, rows: list[dict[str, Any]]) -> None:
    answer = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": rows},
        headers=headers_for("establishment", CITY),
    )
    assert answer.status_code == 201, answer.text


def published_children(
    client: TestClient, headers_for: HeadersFor, region: str, code: str
) -> set[str]:
    answer = client.post(
        "/api/v1/disclosures", json={"region": region}, headers=headers_for("establishment", CITY)
    )
    assert answer.status_code == 201, answer.text
    unit = client.get(f"/public/v1/disclosures/{region}/units/{code}")
    assert unit.status_code == 200, unit.text
    return {c["unit_code"] for c in unit.json()["internal_units"]}


def test_a_county_disclosure_lists_internal_units_registered_in_a_sibling_county(
    client: TestClient, headers_for: HeadersFor
) -> None:
    parent = f.unit(1, region=A, internal_unit_limit=5)
    here = f.unit(2, region=A, parent_code=parent["unit_code"])
    # registered in the sibling county: public, not classified, the parent's internal body
    there = f.unit(3, region=B, parent_code=parent["unit_code"])
    push_units(client, headers_for, [parent, here, there])
    expected = {here["unit_code"], there["unit_code"]}

    assert published_children(client, headers_for, CITY, parent["unit_code"]) == expected
    # the county's own publication of the same unit, the same day
    assert published_children(client, headers_for, A, parent["unit_code"]) == expected


def test_a_county_unit_page_links_only_the_internal_bodies_it_published(
    client: TestClient, headers_for: HeadersFor
) -> None:
    parent = f.unit(1, region=A, internal_unit_limit=5)
    here = f.unit(2, region=A, parent_code=parent["unit_code"])
    there = f.unit(3, region=B, parent_code=parent["unit_code"])
    push_units(client, headers_for, [parent, here, there])
    for region in (A, B):  # each county publishes its own units
        answer = client.post(
            "/api/v1/disclosures",
            json={"region": region},
            headers=headers_for("establishment", CITY),
        )
        assert answer.status_code == 201, answer.text

    page = client.get(f"/public/disclosures/{A}/units/{parent['unit_code']}")
    assert page.status_code == 200, page.text
    links = [link.replace("&amp;", "&") for link in LINK.findall(page.text)]
    assert there["unit_code"] in page.text and there["name"] in page.text  # listed
    assert not any(there["unit_code"] in link for link in links)  # B publishes it, not A
    assert any(here["unit_code"] in link for link in links)
    broken = {link: client.get(link).status_code for link in links}
    assert all(code == 200 for code in broken.values()), (
        f"the county's unit page links internal bodies that 404: {broken}"
    )
