"""API1 on the public face: a unit withdrawn from the public pages (classified, or under a
classified unit) stays withdrawn, and leaves no trace in what the pages count.

- A unit hidden because its parent was classified came back once it was deleted: the walk for
  what is hidden followed current versions only, so the deleted unit (and anything still under
  it) dropped out, and its stored page, naming the classified parent, was public again.
- The region page ("共 N 个单位") and the index counted the units stored at publication, so a
  unit classified since showed as a gap: the public could tell a unit had gone dark.
- A unit that left its parent (its own unit now) still named it in its stored page after the
  parent was classified: only the internal bodies were checked against what is hidden now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.public.conftest import CITY, City
from tests.records import factory as f

Publish = Callable[..., dict[str, Any]]


def _delete_unit(client: TestClient, headers_for: HeadersFor, code: str) -> None:
    office = headers_for("establishment", CITY)
    listed = client.get("/api/v1/datasets/units/records", headers=office).json()["items"]
    [record] = [r for r in listed if r["unit_code"] == code]
    path = f"/api/v1/datasets/units/records/{record['record_key']}"
    etag = client.get(path, headers=office).headers["etag"]
    deleted = client.delete(path, headers=office | {"If-Match": etag})
    assert deleted.status_code in (200, 204), deleted.text


def _classify(client: TestClient, headers_for: HeadersFor, record: dict[str, Any]) -> None:
    classified = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [record | {"classified": True}]},
        headers=headers_for("establishment", CITY),
    )
    assert classified.status_code == 201, classified.text


def test_a_unit_under_a_classified_parent_stays_dark_after_it_is_deleted(
    client: TestClient, headers_for: HeadersFor, city: City, publish: Publish
) -> None:
    """The bureau (public, with its office under it, and a desk under the office) is published,
    then classified: the office and the desk are withdrawn at once. The office is then abolished
    for good (deleted): its stored page came back to the public, naming the classified bureau
    as its parent, and the desk still under it with it."""
    bureau = city.public_code["bureau"]
    office = city.public_code["office"]
    desk = f.unit(31, name="市教育局办公室文秘科", parent_code=office)
    pushed = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [desk]},
        headers=headers_for("establishment", CITY),
    )
    assert pushed.status_code == 201, pushed.text
    publish()
    assert client.get(f"/public/v1/disclosures/{CITY}/units/{desk['unit_code']}").status_code == 200
    _classify(client, headers_for, city.units["bureau"])
    assert client.get(f"/public/v1/disclosures/{CITY}/units/{office}").status_code == 404
    _delete_unit(client, headers_for, office)
    for code in (office, desk["unit_code"], bureau):
        one = client.get(f"/public/v1/disclosures/{CITY}/units/{code}")
        assert one.status_code == 404, one.text
        assert client.get(f"/public/disclosures/{CITY}/units/{code}").status_code == 404
    listed = client.get(f"/public/v1/disclosures/{CITY}").json()["units"]
    assert {office, bureau, desk["unit_code"]}.isdisjoint({u["unit_code"] for u in listed})
    page = client.get(f"/public/disclosures/{CITY}")
    for name in ("市教育局办公室", "文秘科", "市教育局"):
        assert name not in page.text


def test_a_withdrawn_unit_is_not_counted_on_the_public_pages(
    client: TestClient, headers_for: HeadersFor, city: City, publish: Publish
) -> None:
    """A unit classified after publication is withdrawn from the lists at once, but the index
    and the region page still said "共 N 个单位" with N counting it: the count told the public
    that one of the region's units went dark since (classified), which a missing unit must not."""
    published = publish()
    before = published["unit_count"]
    _classify(client, headers_for, city.units["office"])
    answer = client.get(f"/public/v1/disclosures/{CITY}").json()
    listed = answer["units"]
    assert len(listed) == before - 1
    assert "unit_count" not in answer  # the JSON carries no count to go stale
    page = client.get(f"/public/disclosures/{CITY}").text
    assert f"共 {before} 个单位" not in page
    assert f"共 {len(listed)} 个单位" in page
    index = client.get("/public/").text
    assert f'<td class="num">{before}</td>' not in index
    assert f'<td class="num">{len(listed)}</td>' in index


def test_a_classified_former_parent_is_not_named_by_a_unit_that_left_it(
    client: TestClient, headers_for: HeadersFor, city: City, publish: Publish
) -> None:
    """The office is published under the bureau, then moves out (its own unit now) and the
    bureau is classified. The office stays public (nothing above it is classified now), but
    its stored page, JSON and the region's list named the bureau as `parent_code`: the public
    learnt the code of a classified unit. Now a parent hidden now is not named (null, "—")."""
    publish()
    bureau = city.units["bureau"]
    office = city.units["office"]
    changed = [
        bureau | {"classified": True},
        {k: v for k, v in office.items() if k != "parent_code"},
    ]
    response = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": changed},
        headers=headers_for("establishment", CITY),
    )
    assert response.status_code == 201, response.text
    secret = bureau["unit_code"]
    assert client.get(f"/public/v1/disclosures/{CITY}/units/{secret}").status_code == 404
    unit = client.get(f"/public/v1/disclosures/{CITY}/units/{office['unit_code']}")
    assert unit.status_code == 200
    assert unit.json()["parent_code"] is None
    assert secret not in unit.text
    listing = client.get(f"/public/v1/disclosures/{CITY}")
    assert secret not in listing.text
    page = client.get(f"/public/disclosures/{CITY}/units/{office['unit_code']}")
    assert page.status_code == 200
    assert secret not in page.text
