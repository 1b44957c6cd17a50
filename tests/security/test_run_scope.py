"""API1:2023 Broken Object Level Authorization — a narrower run acting on findings it cannot see.

A run over a region reads only that region's records. A finding whose evidence spans regions
(a person on a county unit's roster whom HR lists at a city unit) belongs to the smallest
region containing all of it: a county run may neither resolve it nor file findings of its own
from the half it sees, while findings wholly inside the county stay the county run's to handle.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import conftest as records
from tests.records import factory as f
from tests.records.conftest import Push

push = records.push  # the fixture

LIST = "/api/v1/discrepancies"
COUNTY, CITY = "230102", "230100"
SPANNING, ANCHOR, LOCAL, LATER = 1, 2, 3, 4  # persons
COUNTY_UNIT, CITY_UNIT = 1, 2


def run(client: TestClient, headers: dict[str, str], region: str) -> dict[str, Any]:
    answer = run_and_wait(client, headers, region=region)
    assert answer["status"] == "succeeded", answer["error"]
    return answer


def findings(client: TestClient, headers: dict[str, str], person: int) -> dict[str, dict[str, Any]]:
    """The person's findings by rule (every status)."""
    response = client.get(
        LIST, params={"id_number": f.id_number(person), "limit": 100}, headers=headers
    )
    assert response.status_code == 200, response.text
    return {item["rule"]: item for item in response.json()["items"]}


def totals(run: dict[str, Any]) -> dict[str, int]:
    keys = ("found", "new", "resolved", "reopened")
    return {k: sum(r[k] for r in run["rules"].values()) for k in keys}


def county_roster(person: int) -> dict[str, Any]:
    return f.roster(person, COUNTY_UNIT, region=COUNTY)


def employment_at(person: int, unit: int, region: str) -> dict[str, Any]:
    return f.employment(person, unit_code=f.unit_code(unit, region=region))


class TestOverlappingRuns:
    def test_a_county_run_leaves_the_city_finding_alone(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        units = [f.unit(COUNTY_UNIT, region=COUNTY), f.unit(CITY_UNIT, region=CITY)]
        assert push("units", units).status_code == 201
        roster = [county_roster(p) for p in (SPANNING, ANCHOR, LOCAL)]
        assert push("roster", roster).status_code == 201
        employment = [
            employment_at(SPANNING, CITY_UNIT, CITY),  # the HR half of SPANNING is in the city
            employment_at(ANCHOR, COUNTY_UNIT, COUNTY),  # HR has records in the county too
        ]
        assert push("employment", employment).status_code == 201
        establishment, audit = headers_for("establishment", CITY), headers_for("audit", CITY)

        run(client, establishment, CITY)
        spanning = findings(client, audit, SPANNING)
        assert set(spanning) == {"UNIT_MISMATCH"}
        mismatch = spanning["UNIT_MISMATCH"]
        # filed under the county unit (the roster entry), yet its evidence reaches the city
        assert (mismatch["region"], mismatch["status"]) == (COUNTY, "open")
        local = findings(client, audit, LOCAL)["ESTABLISHED_NOT_EMPLOYED"]
        assert local["status"] == "open"

        county = run(client, establishment, COUNTY)  # the same data, seen from the county
        after = findings(client, audit, SPANNING)
        assert set(after) == {"UNIT_MISMATCH"}, "no finding filed from half the evidence"
        assert after["UNIT_MISMATCH"]["id"] == mismatch["id"]
        assert after["UNIT_MISMATCH"]["status"] == "open"
        assert after["UNIT_MISMATCH"]["resolved_at"] is None
        assert totals(county)["resolved"] == 0
        assert findings(client, audit, LOCAL)["ESTABLISHED_NOT_EMPLOYED"]["id"] == local["id"]

        # What lies wholly inside the county is the county run's: it resolves and it files.
        assert push("employment", [employment_at(LOCAL, COUNTY_UNIT, COUNTY)]).status_code == 201
        assert push("roster", [county_roster(LATER)]).status_code == 201
        county = run(client, establishment, COUNTY)
        resolved = findings(client, audit, LOCAL)["ESTABLISHED_NOT_EMPLOYED"]
        assert (resolved["id"], resolved["status"]) == (local["id"], "resolved")
        assert findings(client, audit, LATER)["ESTABLISHED_NOT_EMPLOYED"]["status"] == "open"
        assert county["rules"]["ESTABLISHED_NOT_EMPLOYED"]["resolved"] == 1
        assert findings(client, audit, SPANNING)["UNIT_MISMATCH"]["status"] == "open"

        # The city run still owns the spanning finding: found again, the same one.
        city = run(client, establishment, CITY)
        assert city["rules"]["UNIT_MISMATCH"] == {
            "found": 1,
            "new": 0,
            "resolved": 0,
            "reopened": 0,
        }
        assert findings(client, audit, SPANNING)["UNIT_MISMATCH"]["id"] == mismatch["id"]

    def test_the_city_run_resolves_a_spanning_finding(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        units = [f.unit(COUNTY_UNIT, region=COUNTY), f.unit(CITY_UNIT, region=CITY)]
        assert push("units", units).status_code == 201
        assert push("roster", [county_roster(SPANNING)]).status_code == 201
        assert push("employment", [employment_at(SPANNING, CITY_UNIT, CITY)]).status_code == 201
        establishment, audit = headers_for("establishment", CITY), headers_for("audit", CITY)
        run(client, establishment, CITY)
        mismatch = findings(client, audit, SPANNING)["UNIT_MISMATCH"]
        # HR moves the person to the county unit: the city run (which sees both) resolves it
        moved = [employment_at(SPANNING, COUNTY_UNIT, COUNTY)]
        stale = [{"id_number": f.id_number(SPANNING), "unit_code": f.unit_code(CITY_UNIT)}]
        assert push("employment", moved, deletes=stale).status_code == 201
        run(client, establishment, CITY)
        after = findings(client, audit, SPANNING)["UNIT_MISMATCH"]
        assert (after["id"], after["status"]) == (mismatch["id"], "resolved")
