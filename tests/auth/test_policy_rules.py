"""The department × scope rules of every permission, on probe routes, and region filters in SQL.

The real routes of each permission arrive with the datasets and reconciliation rooms; these probe
routes pin the rules down now: each probe has a row in the route table, like every real route.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from linkage_hub.auth.models import AccessRecord
from linkage_hub.auth.policy import (
    ROUTE_POLICY,
    CurrentPrincipal,
    Permission,
    ensure_in_region,
    in_region,
)
from linkage_hub.auth.principal import Principal
from linkage_hub.db import Database
from linkage_hub.domain import Department
from tests.auth.helpers import assert_problem, bearer, new_client, token_for
from tests.conftest import HeadersFor

EST, ORG, HR, FIN, AUD = (
    Department.establishment,
    Department.organization,
    Department.hr,
    Department.finance,
    Department.audit,
)

PROBES: dict[tuple[str, str], Permission] = {
    ("GET", "/probe/read"): Permission.read,
    ("POST", "/probe/datasets/{dataset}"): Permission.write_own_dataset,
    ("POST", "/probe/runs"): Permission.establishment,
    ("POST", "/probe/comments"): Permission.comment,
    ("POST", "/probe/transitions"): Permission.transition,
    ("GET", "/probe/audit"): Permission.audit,
    ("GET", "/probe/regions/{region}"): Permission.read,
}


def _probe_router() -> APIRouter:
    router = APIRouter()

    @router.get("/probe/read")
    def read(p: CurrentPrincipal) -> str:
        return p.client_id

    @router.post("/probe/datasets/{dataset}")
    def write(dataset: str, p: CurrentPrincipal) -> str:
        return p.client_id

    @router.post("/probe/runs")
    def runs(p: CurrentPrincipal) -> str:
        return p.client_id

    @router.post("/probe/comments")
    def comments(p: CurrentPrincipal) -> str:
        return p.client_id

    @router.post("/probe/transitions")
    def transitions(p: CurrentPrincipal) -> str:
        return p.client_id

    @router.get("/probe/audit")
    def audit(p: CurrentPrincipal) -> str:
        return p.client_id

    @router.get("/probe/regions/{region}")
    def region(region: str, p: CurrentPrincipal) -> str:
        ensure_in_region(p, region)
        return region

    return router


@pytest.fixture
def probes(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, permission in PROBES.items():
        monkeypatch.setitem(ROUTE_POLICY, key, permission)
    app.include_router(_probe_router())
    yield


EXPECTED: list[tuple[str, str, set[Department]]] = [
    ("GET", "/probe/read", {EST, ORG, HR, FIN, AUD}),
    ("POST", "/probe/datasets/units", {EST}),
    ("POST", "/probe/datasets/roster", {EST}),
    ("POST", "/probe/datasets/cadres", {ORG}),
    ("POST", "/probe/datasets/employment", {HR}),
    ("POST", "/probe/datasets/payroll", {FIN}),
    (
        "POST",
        "/probe/datasets/nonsense",
        {EST, ORG, HR, FIN},
    ),  # the handler's 404; audit never writes
    ("POST", "/probe/runs", {EST}),
    ("POST", "/probe/comments", {EST, ORG, HR, FIN, AUD}),
    ("POST", "/probe/transitions", {EST, ORG, HR, FIN, AUD}),
    ("GET", "/probe/audit", {AUD}),
]


@pytest.mark.usefixtures("probes")
class TestDepartmentRules:
    def test_each_permission_admits_exactly_its_departments(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        wrong = []
        for method, path, allowed in EXPECTED:
            for department in Department:
                response = client.request(method, path, headers=headers_for(department))
                expected = 200 if department in allowed else 403
                if response.status_code != expected:
                    wrong.append(f"{method} {path} {department}: {response.status_code}")
                elif expected == 403:
                    assert response.headers["content-type"] == "application/problem+json"
        assert wrong == []


@pytest.mark.usefixtures("probes")
class TestScopes:
    def test_a_client_holding_only_read_may_only_read(
        self, client: TestClient, database: Database
    ) -> None:
        headers = bearer(token_for(client, *new_client(database, "finance", scopes=["read"])))
        assert client.get("/probe/read", headers=headers).status_code == 200
        for method, path in [
            ("POST", "/probe/datasets/payroll"),
            ("POST", "/probe/comments"),
            ("POST", "/probe/transitions"),
        ]:
            response = client.request(method, path, headers=headers)
            body = assert_problem(response, 403)
            assert "scope" in body["detail"]
            assert 'error="insufficient_scope"' in response.headers["www-authenticate"]

    def test_a_token_may_narrow_what_its_client_holds(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "establishment")
        response = client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "read comment",
            },
        )
        headers = bearer(response.json()["access_token"])
        assert client.post("/probe/comments", headers=headers).status_code == 200
        assert client.post("/probe/runs", headers=headers).status_code == 403


@pytest.mark.usefixtures("probes")
class TestRegionOfARequest:
    @pytest.mark.parametrize(
        ("caller", "region", "status"),
        [
            ("230100", "230100", 200),
            ("230100", "230102", 200),
            ("230000", "230102", 200),
            ("230102", "230100", 404),
            ("230200", "230100", 404),
            ("230100", "240100", 404),
        ],
    )
    def test_outside_the_callers_region_is_not_found(
        self, client: TestClient, headers_for: HeadersFor, caller: str, region: str, status: int
    ) -> None:
        response = client.get(f"/probe/regions/{region}", headers=headers_for("hr", caller))
        assert response.status_code == status


class TestRegionInSql:
    def test_the_where_clause_selects_the_region_and_below(self, database: Database) -> None:
        regions = ["230000", "230100", "230102", "230200", "230202", "240100"]
        now = dt.datetime.now(dt.UTC)
        with database.transaction() as session:
            session.execute(
                insert(AccessRecord),
                [
                    dict(
                        recorded_at=now,
                        client_id="c",
                        department="hr",
                        region=r,
                        method="GET",
                        route="/x",
                        status=200,
                        person_records=0,
                    )
                    for r in regions
                ],
            )

        def seen(region: str) -> set[str]:
            principal = Principal("c", "c", Department.audit, region)
            query = select(AccessRecord.region).where(in_region(AccessRecord.region, principal))
            with database.transaction() as session:
                return set(session.scalars(query))

        assert seen("230000") == {"230000", "230100", "230102", "230200", "230202"}
        assert seen("230100") == {"230100", "230102"}
        assert seen("230102") == {"230102"}
        assert seen("230200") == {"230200", "230202"}
        assert "BETWEEN" in str(in_region(AccessRecord.region, Principal("c", "c", AUD, "230100")))
