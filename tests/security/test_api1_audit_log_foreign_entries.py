"""API1:2023 Broken Object Level Authorization — a county auditor reading a city's entries.

A city department's read or batch that touches two counties is an entry of the audit log filed
under the city and shown to each county's auditor (``regions``). The entry carried the whole
of it to each county: ``regions`` named the sibling county, ``persons`` and the read's
``person_records`` counted the sibling's people, a batch's counts added up the sibling's rows.
Now an entry filed under a region outside the auditor's (seen only because it concerns the
auditor's region) is shown as it concerns that region: ``regions`` inside it, ``persons`` of
it, and no count that adds up other regions. The city's auditor still sees all of it.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

LOG = "/api/v1/audit-log"
CITY, COUNTY, OTHER = "230100", "230102", "230103"
COUNTS = {"received", "inserted", "updated", "unchanged", "closed", "person_records"}


def _entries(
    client: TestClient, headers_for: HeadersFor, auditor: str, action: str
) -> list[dict[str, Any]]:
    client.app.state.auth.recorder.flush()  # type: ignore[attr-defined]
    response = client.get(
        LOG, params={"action": action, "limit": 1000}, headers=headers_for("audit", auditor)
    )
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["region"] == CITY]


def _city_roster(push: Push) -> str:
    units = [f.unit(2, region=COUNTY), f.unit(3, region=OTHER), f.unit(4, region=OTHER)]
    assert push("units", units).status_code == 201
    rows = [
        f.roster(1) | {"unit_code": f.unit_code(2, region=COUNTY)},
        f.roster(2) | {"unit_code": f.unit_code(3, region=OTHER)},
        f.roster(3) | {"unit_code": f.unit_code(4, region=OTHER)},
    ]
    answer = push("roster", rows, as_="establishment", region=CITY)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["batch_id"])


def _of(client: TestClient, headers_for: HeadersFor, auditor: str, batch: str) -> dict[str, Any]:
    (entry,) = [
        e for e in _entries(client, headers_for, auditor, "batch.push") if e["target_id"] == batch
    ]
    return entry


def _counts(detail: dict[str, Any] | None) -> set[str]:
    return set(detail or {}) & COUNTS


class TestACountyAuditorSeesOnlyItsShare:
    def test_a_city_batch_shows_the_county_no_sibling_counts(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        batch = _city_roster(push)
        county = _of(client, headers_for, COUNTY, batch)
        assert county["regions"] == [COUNTY]
        assert _counts(county["detail"]) == set()
        assert county["detail"]["dataset"] == "roster"
        assert county["detail"]["scope"] == {"region": CITY, "period": None}
        # the sibling holds two of the three rows: its auditor sees no count of the county's
        other = _of(client, headers_for, OTHER, batch)
        assert other["regions"] == [OTHER] and _counts(other["detail"]) == set()
        # the city's auditor: the whole batch
        city = _of(client, headers_for, CITY, batch)
        assert city["regions"] == [COUNTY, OTHER] and city["detail"]["inserted"] == 3

    def test_a_city_read_shows_the_county_its_own_persons_only(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _city_roster(push)
        read = client.get("/api/v1/datasets/roster/records", headers=headers_for("finance", CITY))
        assert read.status_code == 200 and len(read.json()["items"]) == 3
        route = "GET /api/v1/datasets/{dataset}/records"

        def the_read(auditor: str) -> dict[str, Any]:
            (entry,) = [
                e
                for e in _entries(client, headers_for, auditor, "read")
                if e["target_id"] == route and e["department"] == "finance"
            ]
            return entry

        county = the_read(COUNTY)
        assert county["regions"] == [COUNTY]
        assert county["persons"] == 1
        assert _counts(county["detail"]) == set() and county["detail"]["status"] == 200
        other = the_read(OTHER)
        assert other["regions"] == [OTHER] and other["persons"] == 2
        city = the_read(CITY)
        assert city["regions"] == [COUNTY, OTHER] and city["persons"] == 3
        assert city["detail"]["person_records"] == 3

    def test_the_chain_still_verifies(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        _city_roster(push)
        verified = client.get(f"{LOG}/verify", headers=headers_for("audit", COUNTY)).json()
        assert verified["ok"], verified
