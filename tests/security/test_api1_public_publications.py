"""API1 on the public face: ``?publication=<id>`` opens one publication of a region (two the
same day are both reachable). The id names a publication of the region in the path only: another
region's publication, a made-up id and a missing one are 404 alike (nothing tells the public that
the id exists elsewhere); a malformed id, or one given with ``date``, is a 422 naming the field.
Pages and JSON alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.public.conftest import CITY, City

pytestmark = pytest.mark.usefixtures("province_served")

Publish = Callable[..., dict[str, Any]]
COUNTY = "230102"


def _paths(region: str, unit_code: str) -> list[str]:
    return [
        f"/public/v1/disclosures/{region}",
        f"/public/v1/disclosures/{region}/units/{unit_code}",
        f"/public/disclosures/{region}",
        f"/public/disclosures/{region}/units/{unit_code}",
    ]


def test_another_regions_publication_is_not_found_through_this_region(
    client: TestClient, city: City, publish: Publish
) -> None:
    """The county's publication id asked through the city's pages: 404, as a made-up id."""
    publish()
    county = publish(COUNTY)
    bureau = city.public_code["bureau"]
    county_unit = city.public_code["county_a"]
    for path in _paths(CITY, bureau):
        for publication in (county["id"], "0" * 32):
            answer = client.get(path, params={"publication": publication})
            assert answer.status_code == 404, (path, answer.text)
    # the county's unit through the city with the county's publication: 404 too
    for path in _paths(CITY, county_unit)[1::2]:
        answer = client.get(path, params={"publication": county["id"]})
        assert answer.status_code == 404, (path, answer.text)
    # and through its own region it opens
    for path in _paths(COUNTY, county_unit):
        assert client.get(path, params={"publication": county["id"]}).status_code == 200, path


def test_a_malformed_publication_or_one_with_a_date_is_refused(
    client: TestClient, city: City, publish: Publish
) -> None:
    published = publish()
    bureau = city.public_code["bureau"]
    for path in _paths(CITY, bureau):
        for params in (
            {"publication": "' OR 1=1 --"},
            {"publication": published["id"].upper()},
            {"publication": published["id"] + "0"},
            {"publication": "230102199001011234"},
            {"publication": published["id"], "date": "2026-01-01"},
        ):
            answer = client.get(path, params=params)
            assert answer.status_code == 422, (path, params, answer.text)
            if path.startswith("/public/v1/"):
                assert answer.headers["content-type"].startswith("application/problem+json")
                fields = {e["field"] for e in answer.json()["errors"]}
                assert fields == {"publication"}, answer.text
            assert "230102199001011234" not in answer.text


def test_a_unit_withdrawn_since_stays_withdrawn_in_the_publication_named(
    client: TestClient, headers_for: Any, city: City, publish: Publish
) -> None:
    """Naming the publication does not bring back a unit classified since it was published."""
    published = publish()
    bureau = city.units["bureau"]
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [bureau | {"classified": True}]},
        headers=headers_for("establishment", CITY),
    )
    assert pushed.status_code == 201, pushed.text
    for path in _paths(CITY, bureau["unit_code"])[1::2]:
        answer = client.get(path, params={"publication": published["id"]})
        assert answer.status_code == 404, path
    listing = client.get(f"/public/v1/disclosures/{CITY}", params={"publication": published["id"]})
    assert bureau["unit_code"] not in listing.text
