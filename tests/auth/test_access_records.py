"""The access record: every authenticated request is stored, and audit can list them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from linkage_hub.app import create_app
from linkage_hub.auth import access, policy
from linkage_hub.auth.models import AccessRecord, AuthClient
from linkage_hub.auth.policy import ROUTE_POLICY, CurrentPrincipal, Permission, person_reads
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.auth.helpers import assert_problem, bearer, new_client, token_for
from tests.conftest import HeadersFor

LIST = "/api/v1/access-records"
ID_NUMBER = "11010519491231002X"


def _rows(database: Database) -> list[AccessRecord]:
    with database.transaction() as session:
        return list(session.scalars(select(AccessRecord).order_by(AccessRecord.id)))


def _items(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get(LIST, headers=headers, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
def person_route(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    router = APIRouter()

    @router.get("/probe/persons/{id_number}")
    def person(id_number: str, request: Request, p: CurrentPrincipal) -> dict[str, int]:
        person_reads(request).add("probe-person-key", "230102", records=3)
        return {"found": 3}

    route = ("GET", "/probe/persons/{id_number}")
    monkeypatch.setitem(ROUTE_POLICY, route, Permission.read)
    monkeypatch.setattr(policy, "PERSON_READS", policy.PERSON_READS | {route})
    app.include_router(router)
    yield


class TestRecording:
    def test_reads_and_writes_are_recorded_with_their_route_template(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit", "230102")
        token = token_for(client, client_id, secret)
        response = client.get(LIST, headers=bearer(token) | {"X-Request-ID": "req-1"})
        assert response.status_code == 200
        client.get(LIST, headers=bearer(token))  # flushes the first GET's record
        rows = [r for r in _rows(database) if r.client_id == client_id]
        assert [(r.method, r.route, r.status) for r in rows[:2]] == [
            ("POST", "/oauth/token", 200),
            ("GET", LIST, 200),
        ]
        first = rows[1]
        assert (first.department, first.region, first.person_records) == ("audit", "230102", 0)
        assert first.client_request_id == "req-1"
        assert first.request_id == response.headers["x-request-id"] != "req-1"
        assert first.recorded_at <= dt.datetime.now(dt.UTC)

    def test_refusals_of_a_known_caller_are_recorded(
        self, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        assert client.get(LIST, headers=headers_for("hr")).status_code == 403
        client.get(LIST, headers=headers_for("audit"))
        assert ("hr", LIST, 403) in [(r.department, r.route, r.status) for r in _rows(database)]

    @pytest.mark.usefixtures("person_route")
    def test_person_counts_are_kept_and_id_numbers_never(
        self, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        response = client.get(f"/probe/persons/{ID_NUMBER}", headers=headers_for("finance"))
        assert response.status_code == 200
        client.get(LIST, headers=headers_for("audit"))
        (row,) = [r for r in _rows(database) if r.route.startswith("/probe")]
        assert (row.route, row.person_records) == ("/probe/persons/{id_number}", 3)
        with database.transaction() as session:
            dump = repr(session.execute(text("SELECT * FROM auth_access_record")).all())
        assert ID_NUMBER not in dump and ID_NUMBER[:14] not in dump

    def test_a_request_id_that_could_be_an_id_number_is_replaced(
        self, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        headers = headers_for("audit")
        client.get(LIST, headers=headers | {"X-Request-ID": f"req-{ID_NUMBER}"})
        client.get(LIST, headers=headers | {"X-Request-ID": "612127760403123"})
        client.get(LIST, headers=headers | {"X-Request-ID": "batch-2026-0001"})
        client.get(LIST, headers=headers)
        kept = [r.client_request_id for r in _rows(database) if r.route == LIST][:3]
        assert kept == [None, None, "batch-2026-0001"]

    def test_requests_without_a_verified_token_are_not_recorded(
        self, client: TestClient, database: Database
    ) -> None:
        client.get(LIST)
        client.get(LIST, headers={"Authorization": "Bearer junk"})
        client.get("/health/live")
        assert _rows(database) == []

    def test_a_failed_write_never_breaks_a_response_and_is_retried(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        headers = headers_for("audit")

        def broken(*args: object, **kwargs: object) -> Any:
            raise RuntimeError("database gone")

        monkeypatch.setattr(access, "insert_rows", broken)
        assert client.get(LIST, headers=headers).status_code == 200
        assert client.get(LIST, headers=headers).status_code == 200
        monkeypatch.undo()
        items = _items(client, headers)
        assert [i["route"] for i in items[:3]] == [LIST, LIST, "/oauth/token"]

    def test_last_used_moves_with_the_clients_requests(
        self, client: TestClient, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit")
        headers = bearer(token_for(client, client_id, secret))
        client.get(LIST, headers=headers)
        last = _items(client, headers)[0]["recorded_at"]
        with database.transaction() as session:
            used = session.get(AuthClient, client_id)
            assert used is not None and used.last_used_at is not None
            assert used.last_used_at == dt.datetime.fromisoformat(last)


class TestWriting:
    def test_an_app_with_a_lifespan_writes_what_is_left_at_shutdown(
        self, settings: Settings, database: Database
    ) -> None:
        slow = settings.model_copy(update={"access_record_flush_seconds": 60})
        client_id, secret = new_client(database, "audit")
        with TestClient(create_app(slow, database=database)) as client:
            assert client.app.state.auth.recorder.background  # type: ignore[attr-defined]
            token = token_for(client, client_id, secret)
            client.get("/api/v1/access-records?limit=1", headers=bearer(token))
            assert [r.route for r in _rows(database)] == ["/oauth/token"]  # flushed by the list
        assert [r.route for r in _rows(database)] == ["/oauth/token", LIST]

    def test_an_app_without_a_lifespan_writes_after_each_response(
        self, settings: Settings, database: Database
    ) -> None:
        client_id, secret = new_client(database, "audit")
        client = TestClient(create_app(settings, database=database))
        token_for(client, client_id, secret)
        assert [r.route for r in _rows(database)] == ["/oauth/token"]


class TestListing:
    def _traffic(
        self, client: TestClient, headers_for: HeadersFor, regions: list[str]
    ) -> dict[str, str]:
        ids = {}
        for region in regions:
            headers = headers_for("hr", region)
            client.get(LIST, headers=headers)
            ids[region] = client.get(LIST, headers=headers).headers["x-request-id"]
        return ids

    def test_audit_sees_its_region_and_below_only(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        self._traffic(client, headers_for, ["230100", "230102", "230200"])

        def regions(caller: str) -> set[str]:
            return {i["region"] for i in _items(client, headers_for("audit", caller))}

        assert regions("230000") == {"230000", "230100", "230102", "230200"}
        assert regions("230100") == {"230100", "230102"}
        assert regions("230102") == {"230102"}

    def test_filters(self, client: TestClient, headers_for: HeadersFor) -> None:
        self._traffic(client, headers_for, ["230100", "230102"])
        audit = headers_for("audit", "230000")
        everything = _items(client, audit)
        hr = [i for i in everything if i["department"] == "hr"]
        assert hr and _items(client, audit, department="hr") == hr
        one = hr[0]["client_id"]
        assert {i["client_id"] for i in _items(client, audit, client_id=one)} == {one}
        assert {i["route"] for i in _items(client, audit, route="/oauth/token")} == {"/oauth/token"}
        middle = everything[len(everything) // 2]["recorded_at"]
        newer = _items(client, audit, **{"from": middle})
        older = _items(client, audit, to=middle)
        assert newer and older
        assert all(i["recorded_at"] >= middle for i in newer)
        assert all(i["recorded_at"] < middle for i in older)

    def test_keyset_pages_cover_everything_once(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        self._traffic(client, headers_for, ["230100", "230102"])
        audit = headers_for("audit", "230000")
        # Only HR's records: audit's own listing requests must not add to what is paged.
        everything = [i["id"] for i in _items(client, audit, department="hr", limit=1000)]
        assert len(everything) >= 5
        seen: list[int] = []
        cursor = None
        while True:
            params = {"department": "hr", "limit": 2} | ({"cursor": cursor} if cursor else {})
            page = client.get(LIST, headers=audit, params=params).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == everything == sorted(everything, reverse=True)

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"cursor": "nonsense"}, "cursor"),
            ({"from": "2026-11-27T10:00:00"}, "from"),
            ({"limit": "0"}, "limit"),
            ({"limit": "1001"}, "limit"),
            ({"department": "police"}, "department"),
        ],
    )
    def test_bad_parameters(
        self, client: TestClient, headers_for: HeadersFor, params: dict[str, str], field: str
    ) -> None:
        response = client.get(LIST, headers=headers_for("audit"), params=params)
        body = assert_problem(response, 422)
        assert [e["field"] for e in body["errors"]] == [field]
