"""A city (230100) with two counties (230102, 230103) whose findings span regions.

Shared by the person-read tests of this suite (import the ``regions`` fixture). Everything is
pushed through the HTTP API and reconciled by ``POST /api/v1/reconciliation/runs`` as the city's
establishment office:

- ``city`` (region 230100), ``county`` (230102) and ``other`` (230103): one institution each;
- ``leader``: on the roster, a principal cadre and paid in ``county`` — the tenure report's leader;
- ``spread``: on ``county``'s roster and paid by ``county`` and ``other`` (多头饷,
  ``DUPLICATE_PAYROLL``), so the finding's evidence holds a payroll line of 230103;
- ``citywide``: on ``county``'s roster and paid by ``city`` and ``county``: a
  ``DUPLICATE_PAYROLL`` filed under the city unit (region 230100), which a county client cannot
  open — yet ``citywide`` has a current record in ``county``, the leader's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push

CITY, COUNTY, OTHER = "230100", "230102", "230103"
LEADER, SPREAD, CITYWIDE = f.id_number(1), f.id_number(2), f.id_number(3)


@dataclass
class Regions:
    client: TestClient
    app: FastAPI
    headers_for: HeadersFor
    city: str
    county: str
    other: str

    def get(self, path: str, department: str, region: str, **params: Any) -> Any:
        response = self.client.get(
            path, params=params, headers=self.headers_for(department, region)
        )
        return response

    def findings(self, department: str, region: str, **params: Any) -> list[dict[str, Any]]:
        response = self.get("/api/v1/discrepancies", department, region, limit=1000, **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def finding(self, rule: str, id_number: str) -> dict[str, Any]:
        """The finding as the city's audit sees it (it sees every one)."""
        (found,) = self.findings("audit", CITY, rule=rule, id_number=id_number)
        return found

    def reads(self, id_number: str) -> list[dict[str, Any]]:
        """The audit log's read entries naming the person (province audit, after a flush)."""
        self.app.state.auth.recorder.flush()
        response = self.get(
            "/api/v1/audit-log", "audit", "230000", id_number=id_number, action="read", limit=1000
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def _payroll(n: int, unit: str) -> dict[str, Any]:
    return f.payroll(n) | {"unit_code": unit}


@pytest.fixture
def regions(push: Push, client: TestClient, app: FastAPI, headers_for: HeadersFor) -> Regions:
    city, county, other = (
        f.unit_code(1, region=CITY),
        f.unit_code(2, region=COUNTY),
        f.unit_code(3, region=OTHER),
    )
    units = [f.unit(1, region=CITY), f.unit(2, region=COUNTY), f.unit(3, region=OTHER)]
    assert push("units", units).status_code == 201
    roster = [f.roster(n) | {"unit_code": county} for n in (1, 2, 3)]
    assert push("roster", roster).status_code == 201
    leader = f.cadre(1, leader_level="principal", position="局长", appointed_on="2026-01-01")
    assert push("cadres", [leader | {"unit_code": county}]).status_code == 201
    lines = [
        _payroll(1, county),
        _payroll(2, county),
        _payroll(2, other),
        _payroll(3, city),
        _payroll(3, county),
    ]
    scope = {"region": CITY, "period": "2026-10"}
    assert push("payroll", lines, scope=scope).status_code == 201
    run = run_and_wait(client, headers_for("establishment", CITY), region=CITY)
    assert run["status"] == "succeeded", run
    return Regions(client, app, headers_for, city, county, other)
