"""API1:2023 Broken Object Level Authorization — writes of one region's people by another.

A city department pushes a batch that writes or closes versions of its counties' records. The
``batch.push`` entry was filed under the pushing client's scope region alone, so the auditor of
a county whose people the batch wrote never saw it (neither in the unfiltered log nor by
``?id_number=`` of its person): the city wrote the county's people unseen by the county's audit.
Now the entry names the regions of the versions it wrote or closed (``regions``, as a read names
the regions it sent), each of those regions' auditors sees it, a region it wrote nothing of does
not, and the chain still verifies. A units batch that moves a unit reaches both counties.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

LOG = "/api/v1/audit-log"
CITY, COUNTY, OTHER, EMPTY = "230100", "230102", "230103", "230104"


def _pushes(
    client: TestClient, headers_for: HeadersFor, auditor_region: str, **params: Any
) -> list[dict[str, Any]]:
    response = client.get(
        LOG,
        params={"action": "batch.push", "limit": 1000, **params},
        headers=headers_for("audit", auditor_region),
    )
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["target_type"] == "batch"]


def _batch_ids(
    client: TestClient, headers_for: HeadersFor, auditor_region: str, **params: Any
) -> set[str]:
    return {e["target_id"] for e in _pushes(client, headers_for, auditor_region, **params)}


def _units(push: Push) -> tuple[str, str]:
    county, other = f.unit_code(2, region=COUNTY), f.unit_code(3, region=OTHER)
    units = [f.unit(2, region=COUNTY), f.unit(3, region=OTHER), f.unit(4, region=EMPTY)]
    assert push("units", units).status_code == 201
    return county, other


class TestTheRegionOfThePeopleSeesTheWrite:
    def test_a_city_roster_batch_reaches_each_county_it_wrote(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county, other = _units(push)
        mine, theirs = f.id_number(1), f.id_number(2)
        rows = [f.roster(1) | {"unit_code": county}, f.roster(2) | {"unit_code": other}]
        answer = push("roster", rows, as_="establishment", region=CITY)
        assert answer.status_code == 201, answer.text
        batch = answer.json()["batch_id"]

        for auditor in (COUNTY, OTHER, CITY):
            (entry,) = [e for e in _pushes(client, headers_for, auditor) if e["target_id"] == batch]
            assert entry["region"] == CITY and entry["department"] == "establishment"
            if auditor == CITY:
                assert set(entry["regions"]) == {COUNTY, OTHER}
                assert entry["detail"]["inserted"] == 2  # the batch's counts: aggregate
            else:  # a county: its own region, no count adding up its sibling's rows
                assert entry["regions"] == [auditor]
                assert "inserted" not in entry["detail"]
        # by its own person, the county's auditor finds the batch; the sibling's by its own
        assert batch in _batch_ids(client, headers_for, COUNTY, id_number=mine)
        assert batch in _batch_ids(client, headers_for, OTHER, id_number=theirs)
        # a person only of the sibling is unknown to the county, as before
        assert _pushes(client, headers_for, COUNTY, id_number=theirs) == []
        # a county the batch wrote nothing of sees nothing of it
        assert batch not in _batch_ids(client, headers_for, EMPTY)
        assert _pushes(client, headers_for, EMPTY, id_number=mine) == []

        verified = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert verified["ok"], verified

    def test_closing_a_countys_record_reaches_the_county(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county, _ = _units(push)
        row = f.roster(1) | {"unit_code": county}
        assert push("roster", [row], as_="establishment", region=CITY).status_code == 201
        key = {"id_number": f.id_number(1), "unit_code": county}
        answer = push("roster", [], deletes=[key], as_="establishment", region=CITY)
        assert answer.status_code == 201, answer.text
        batch = answer.json()["batch_id"]
        assert answer.json()["closed"] == 1
        assert batch in _batch_ids(client, headers_for, COUNTY)
        assert batch in _batch_ids(client, headers_for, COUNTY, id_number=f.id_number(1))
        assert batch not in _batch_ids(client, headers_for, OTHER)

    def test_a_batch_that_changed_nothing_stays_with_the_pusher(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county, _ = _units(push)
        row = f.roster(1) | {"unit_code": county}
        assert push("roster", [row], as_="establishment", region=CITY).status_code == 201
        again = push("roster", [row], as_="establishment", region=CITY)
        assert again.status_code == 201 and again.json()["unchanged"] == 1
        batch = again.json()["batch_id"]
        assert batch not in _batch_ids(client, headers_for, COUNTY)
        (entry,) = [e for e in _pushes(client, headers_for, CITY) if e["target_id"] == batch]
        assert entry["regions"] == []

    def test_a_unit_moved_between_counties_reaches_both(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county, _ = _units(push)
        row = f.roster(1) | {"unit_code": county}
        assert push("roster", [row], as_="establishment", region=CITY).status_code == 201
        moved = f.unit(2, region=COUNTY) | {"region": EMPTY}
        answer = push("units", [moved], as_="establishment", region=CITY)
        assert answer.status_code == 201, answer.text
        batch = answer.json()["batch_id"]
        for auditor in (COUNTY, EMPTY):
            (entry,) = [e for e in _pushes(client, headers_for, auditor) if e["target_id"] == batch]
            assert entry["regions"] == [auditor]  # the other county: told by ``units.move``
            # the person moved with the unit: both counties find the batch by them
            found = _batch_ids(client, headers_for, auditor, id_number=f.id_number(1))
            assert batch in found
        assert batch not in _batch_ids(client, headers_for, OTHER)
        verified = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert verified["ok"], verified

    def test_a_unit_moved_by_a_single_record_put_reaches_both(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county, _ = _units(push)
        row = f.roster(1) | {"unit_code": county}
        assert push("roster", [row], as_="establishment", region=CITY).status_code == 201
        headers = headers_for("establishment", CITY)
        listed = client.get("/api/v1/datasets/units/records", headers=headers)
        (unit,) = [u for u in listed.json()["items"] if u["unit_code"] == county]
        answer = client.put(
            f"/api/v1/datasets/units/records/{unit['record_key']}",
            json=f.unit(2, region=COUNTY) | {"region": EMPTY},
            headers={**headers, "If-Match": "*"},
        )
        assert answer.status_code == 200, answer.text
        for auditor in (COUNTY, EMPTY):
            response = client.get(
                LOG, params={"action": "record.replace"}, headers=headers_for("audit", auditor)
            )
            (entry,) = response.json()["items"]
            assert entry["region"] == COUNTY
            assert entry["regions"] == ([] if auditor == COUNTY else [EMPTY])
        verified = client.get(f"{LOG}/verify", headers=headers_for("audit", "230000")).json()
        assert verified["ok"], verified
