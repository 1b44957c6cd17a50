"""API8:2023 Security Misconfiguration — what the hub echoes and what its records can tell.

A problem's ``instance`` is the route template or nothing, never the path a caller sent (it may
hold an ID number). A caller's ``X-Request-ID`` never becomes the hub's request id (two callers
could otherwise share one ``request_id`` in the audit log): the hub's own id is unique, the
caller's is kept beside it as ``client_request_id`` and echoed as ``X-Client-Request-ID``.
Access records hold the source address (behind trusted proxies only, the forwarded one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f

ID_NUMBER = "11010519491231002X"
RECORDS = "/api/v1/access-records"


def _no_id(body: str) -> None:
    assert ID_NUMBER not in body and ID_NUMBER[:14] not in body and "1101051949" not in body


class TestProblemInstance:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", f"/api/v1/nothing/{ID_NUMBER}"),
            ("GET", f"/{ID_NUMBER}"),
            ("GET", f"/api/v1/persons/{ID_NUMBER}/more"),
            ("POST", f"/api/v1/nothing/{ID_NUMBER}"),
            ("DELETE", f"/api/v1/persons/{ID_NUMBER}"),  # a path that matches, a wrong method
            ("GET", f"/public/{ID_NUMBER}%2F..%2Fx"),
        ],
    )
    def test_an_unmatched_request_echoes_no_path(
        self, client: TestClient, headers_for: HeadersFor, method: str, path: str
    ) -> None:
        for headers in ({}, headers_for("audit")):
            response = client.request(method, path, headers=headers)
            assert response.status_code in (401, 404, 405), response.text
            assert response.headers["content-type"] == "application/problem+json"
            _no_id(response.text)
            instance = response.json().get("instance")
            assert instance is None or "{" in instance or instance.startswith("/api/v1/persons")
            assert instance is None or ID_NUMBER not in instance

    def test_a_matched_route_names_its_template(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(f"/api/v1/persons/{ID_NUMBER}", headers=headers_for("hr"))
        assert response.status_code == 404
        assert response.json()["instance"] == "/api/v1/persons/{id_number}"
        _no_id(response.text)

    def test_an_unknown_dataset_segment_is_not_echoed(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """A department system that puts the person's ID number in the dataset's place (a URL
        template filled in the wrong order) got a 404 whose `detail` repeated the segment,
        ID number and all ("There is no dataset '2301…'"). Now the detail names the datasets
        there are, not the segment sent."""
        number = f.id_number(7)
        for path in (f"/api/v1/datasets/{number}/records", f"/api/v1/datasets/{ID_NUMBER}/x"):
            response = client.get(path, headers=headers_for("hr"))
            assert response.status_code == 404
            assert number not in response.text and number[:17] not in response.text
            _no_id(response.text)


def _items(client: TestClient, headers_for: HeadersFor, **params: Any) -> list[dict[str, Any]]:
    client.app.state.auth.recorder.flush()  # type: ignore[attr-defined]
    response = client.get(RECORDS, params={"limit": 1000, **params}, headers=headers_for("audit"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestRequestIds:
    def test_callers_cannot_share_the_hubs_request_id(
        self, client: TestClient, headers_for: HeadersFor, push: Any
    ) -> None:
        assert push("roster", [f.roster(1)]).status_code == 201
        path = f"/api/v1/persons/{f.id_number(1)}"
        ids = []
        for department in ("hr", "finance"):
            response = client.get(
                path, headers=headers_for(department) | {"X-Request-ID": "same-id"}
            )
            assert response.status_code == 200
            assert response.headers["x-client-request-id"] == "same-id"
            ids.append(response.headers["x-request-id"])
        assert len(set(ids)) == 2 and "same-id" not in ids
        records = [
            r for r in _items(client, headers_for) if r["route"] == "/api/v1/persons/{id_number}"
        ]
        assert {r["request_id"] for r in records} == set(ids)
        assert {r["client_request_id"] for r in records} == {"same-id"}
        client.app.state.auth.recorder.flush()  # type: ignore[attr-defined]
        log = client.get(
            "/api/v1/audit-log",
            params={"action": "read", "id_number": f.id_number(1)},
            headers=headers_for("audit"),
        ).json()["items"]
        assert {e["request_id"] for e in log} == set(ids)
        assert {e["client_request_id"] for e in log} == {"same-id"}

    @pytest.mark.parametrize(
        "given",
        [
            *(ID_NUMBER, "x" * 65, "a b", f"req-{ID_NUMBER[:15]}"),
            # in groups, with the separators a request id may hold: it was echoed, logged and
            # kept in the access records and the audit log (found by a review, 2026-12-07)
            *("110105-19491231-002X", "req.110105.19491231.002X", "110105_19491231_002X"),
        ],
    )
    def test_an_unsafe_one_is_not_kept(
        self, client: TestClient, headers_for: HeadersFor, given: str
    ) -> None:
        response = client.get(RECORDS, headers=headers_for("audit") | {"X-Request-ID": given})
        assert "x-client-request-id" not in response.headers
        assert response.headers["x-request-id"] != given
        assert not [r for r in _items(client, headers_for) if r["client_request_id"] == given]

    def test_the_log_line_keeps_both(
        self, client: TestClient, capsys: pytest.CaptureFixture[str]
    ) -> None:
        import json

        capsys.readouterr()
        response = client.get("/health/live", headers={"X-Request-ID": "trace-7"})
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        (line,) = [x for x in lines if x.get("route") == "/health/live"]
        assert line["request_id"] == response.headers["x-request-id"]
        assert line["client_request_id"] == "trace-7"


@pytest.fixture
def proxied(settings: Settings, database: Database) -> Iterator[TestClient]:
    """The hub behind a reverse proxy at 10.0.0.5, which it trusts."""
    trusting = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    app = create_app(trusting, database=database)
    with TestClient(app, raise_server_exceptions=False, client=("10.0.0.5", 50000)) as client:
        yield client


class TestSourceAddress:
    def test_the_access_record_holds_the_peer(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        client.get(RECORDS, headers=headers_for("audit") | {"X-Forwarded-For": "203.0.113.9"})
        records = _items(client, headers_for)
        assert records and all(r["source_address"] == "testclient" for r in records)

    def test_behind_a_trusted_proxy_the_forwarded_client(
        self, proxied: TestClient, database: Database
    ) -> None:
        from linkage_hub.auth.service import create_client

        with database.transaction() as session:
            made = create_client(session, name="audit", department="audit", region="230100")
        token = proxied.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": made.client.client_id,
                "client_secret": made.client_secret,
            },
            headers={"X-Forwarded-For": "198.51.100.7"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.7"}
        proxied.get(RECORDS, headers=headers)
        proxied.app.state.auth.recorder.flush()  # type: ignore[attr-defined]
        items = proxied.get(RECORDS, headers=headers).json()["items"]
        assert items and {r["source_address"] for r in items} == {"198.51.100.7"}
