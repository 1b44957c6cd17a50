"""A unit that moves to another region takes its live findings along, and the runs of the
region it entered settle them.

A unit finding (OVER_QUOTA at the unit) and a person finding filed under the unit (a person on
its roster whom HR does not list) in county A; the city moves the unit, records and all, to the
sibling county B or to a county of another city, and what made the finding goes. All the
evidence now lies in the new region: a run over it must resolve the finding (DOMAIN.md: runs
over the region the evidence belongs to create, update or resolve it). Before, the finding kept
A's region: B's runs passed over it (filed outside B), A's runs left it alone (its unit and
records outside A), so it stayed open — and shown to A — until a run over a region holding
both. Now the move itself files the unit's live findings where the unit went; a resolved
finding stays where it was resolved (its region's past, as the records' old versions are).

Through the HTTP API, on both databases.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f

A, B, OTHER = "230102", "230103", "230202"  # two counties of Harbin, a county of Qiqihar
PROVINCE = "230000"
OWNER = {"units": "establishment", "quotas": "establishment", "roster": "establishment"}
OWNER |= {"employment": "hr"}
MOVING, STAYS = f.unit_code(1, region=A, kind="11"), f.unit_code(2, region=A, kind="11")


def unit_row(code: str, region: str) -> dict[str, Any]:
    return {"unit_code": code, "name": "单位", "region": region, "kind": "organ"} | {
        "funding": "full",
        "status": "active",
    }


def roster_row(n: int, code: str) -> dict[str, Any]:
    return f.roster(n) | {"unit_code": code, "establishment_type": "administrative"}


def employment_row(n: int, code: str) -> dict[str, Any]:
    return f.employment(n) | {"unit_code": code, "category": "civil_servant"}


class Hub:
    def __init__(self, client: TestClient, headers_for: HeadersFor) -> None:
        self.client, self.headers_for = client, headers_for

    def push(self, dataset: str, records: list[dict[str, Any]], **body: Any) -> None:
        answer = self.client.post(
            f"/api/v1/datasets/{dataset}/batches",
            json={"records": records, **body},
            headers=self.headers_for(OWNER[dataset], PROVINCE),
        )
        assert answer.status_code == 201, answer.text

    def run(self, region: str) -> None:
        headers = self.headers_for("establishment", region)
        assert run_and_wait(self.client, headers, region=region)["status"] == "succeeded"

    def findings(self, region: str) -> dict[str, dict[str, Any]]:
        """Every finding ``region``'s audit lists, live or resolved, by rule."""
        answer = self.client.get(
            "/api/v1/discrepancies",
            params={"limit": 1000},
            headers=self.headers_for("audit", region),
        )
        assert answer.status_code == 200, answer.text
        return {i["rule"]: i for i in answer.json()["items"]}

    def status(self, region: str, finding_id: str) -> str | None:
        answer = self.client.get(
            f"/api/v1/discrepancies/{finding_id}", headers=self.headers_for("audit", region)
        )
        return str(answer.json()["status"]) if answer.status_code == 200 else None


@pytest.fixture
def hub(client: TestClient, headers_for: HeadersFor) -> Hub:
    """County A: OVER_QUOTA at MOVING (two on a roster of one) and ESTABLISHED_NOT_EMPLOYED
    for person 1 there; STAYS keeps A covered. A's full run files both."""
    hub = Hub(client, headers_for)
    hub.push("units", [unit_row(MOVING, A), unit_row(STAYS, A)])
    quota = {"establishment_type": "administrative", "approved": 1}
    hub.push("quotas", [quota | {"unit_code": u} for u in (MOVING, STAYS)])
    hub.push("roster", [roster_row(1, MOVING), roster_row(2, MOVING), roster_row(3, STAYS)])
    hub.push("employment", [employment_row(2, MOVING), employment_row(3, STAYS)])
    hub.run(A)
    return hub


RULES = {"OVER_QUOTA", "ESTABLISHED_NOT_EMPLOYED"}
TO = pytest.mark.parametrize("to", [B, OTHER], ids=["sibling-county", "another-city"])


def _fix(hub: Hub) -> None:
    """What made both findings goes: one of the two leaves the roster, HR lists person 1."""
    hub.push("roster", [], deletes=[{"id_number": f.id_number(2), "unit_code": MOVING}])
    hub.push("employment", [employment_row(1, MOVING)])


@TO
def test_the_live_findings_follow_the_unit(hub: Hub, to: str) -> None:
    before = hub.findings(A)
    assert set(before) >= RULES
    hub.push("units", [unit_row(MOVING, to)])
    there = hub.findings(to)
    for rule in RULES:
        assert (there[rule]["id"], there[rule]["region"]) == (before[rule]["id"], to)
        assert there[rule]["status"] == "open"
        assert hub.status(A, before[rule]["id"]) is None  # not A's any more
    assert RULES.isdisjoint(hub.findings(A))


@TO
def test_a_run_of_the_region_it_entered_resolves_them(hub: Hub, to: str) -> None:
    ids = {rule: hub.findings(A)[rule]["id"] for rule in RULES}
    hub.push("units", [unit_row(MOVING, to)])
    _fix(hub)
    hub.run(to)
    assert {rule: hub.status(to, ids[rule]) for rule in RULES} == dict.fromkeys(RULES, "resolved")
    hub.run(A)  # the county it left has nothing to say about them
    assert {rule: hub.status(to, ids[rule]) for rule in RULES} == dict.fromkeys(RULES, "resolved")


@TO
def test_the_findings_found_again_stay_where_the_unit_is(hub: Hub, to: str) -> None:
    ids = {rule: hub.findings(A)[rule]["id"] for rule in RULES}
    hub.push("units", [unit_row(MOVING, to)])
    hub.run(A)
    hub.run(to)
    assert {rule: hub.status(to, ids[rule]) for rule in RULES} == dict.fromkeys(RULES, "open")


def test_a_resolved_finding_stays_with_the_region_that_resolved_it(hub: Hub) -> None:
    ids = {rule: hub.findings(A)[rule]["id"] for rule in RULES}
    _fix(hub)
    hub.run(A)
    hub.push("units", [unit_row(MOVING, B)])
    assert {rule: hub.status(A, ids[rule]) for rule in RULES} == dict.fromkeys(RULES, "resolved")
    assert {rule: hub.status(B, ids[rule]) for rule in RULES} == dict.fromkeys(RULES)
