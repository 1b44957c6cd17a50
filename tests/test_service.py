"""The service shell: errors as problem+json, request ids, health, metrics, OpenAPI drift."""

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.cli import openapi_document
from linkage_hub.db import Database
from linkage_hub.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


class TestProblems:
    def test_unknown_path_is_problem_json(self, client: TestClient) -> None:
        response = client.get("/nowhere")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 404 and body["title"] == "Not Found"
        assert body["type"].startswith("https://")

    def test_wrong_method_is_problem_json(self, client: TestClient) -> None:
        response = client.post("/health/live")
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert "GET" in response.headers["allow"]

    def test_unexpected_error_reveals_nothing(self, app: FastAPI, client: TestClient) -> None:
        @app.get("/boom-test")
        def boom() -> None:
            raise RuntimeError("secret detail 11010519491231002X")

        response = client.get("/boom-test")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body.pop("request_id") == response.headers["x-request-id"]
        # The request id is random hex: it may hold "1101" by chance, so it is not searched.
        text = json.dumps(body, ensure_ascii=False)
        assert "secret" not in text and "11010519491231002X" not in text and "1101" not in text


class TestRequestId:
    def test_every_response_has_one(self, client: TestClient) -> None:
        first = client.get("/health/live").headers["x-request-id"]
        second = client.get("/nowhere").headers["x-request-id"]
        assert first and second and first != second

    def test_a_safe_incoming_id_is_kept_beside_the_hubs_own(self, client: TestClient) -> None:
        response = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-client-request-id"] == "abc-123"
        assert response.headers["x-request-id"] != "abc-123"

    def test_an_unsafe_incoming_id_is_replaced(self, client: TestClient) -> None:
        response = client.get("/health/live", headers={"X-Request-ID": "a b;" * 40})
        assert response.headers["x-request-id"] != "a b;" * 40
        assert "x-client-request-id" not in response.headers


class TestHealth:
    def test_live(self, client: TestClient) -> None:
        assert client.get("/health/live").json() == {
            "status": "ok",
            "database": None,
            "schema_revision": None,
            "expected_revision": None,
            "id_keys": None,
            "audit_keys": None,
        }

    def test_ready_when_migrated(self, client: TestClient) -> None:
        response = client.get("/health/ready")
        assert response.status_code == 200
        body = response.json()
        assert body["schema_revision"] == body["expected_revision"] is not None

    def test_not_ready_when_schema_behind(self, client: TestClient, database: Database) -> None:
        with database.engine.begin() as conn:
            original = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        try:
            response = client.get("/health/ready")
            assert response.status_code == 503
            assert response.json()["schema_revision"] == "0001"
        finally:
            with database.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": original})

    def test_not_ready_when_database_unreachable(self, tmp_path: Path) -> None:
        from linkage_hub.app import create_app

        settings = Settings(
            database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", data_dir=tmp_path
        )
        with TestClient(create_app(settings)) as client:
            response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"


class TestMetrics:
    def test_counts_by_route_template(self, client: TestClient) -> None:
        client.get("/health/live")
        client.get("/nowhere")
        text_body = client.get("/metrics").text
        assert 'linkage_http_requests_total{method="GET",route="/health/live",status="200"}' in (
            text_body
        )
        assert 'route="<unmatched>",status="404"' in text_body
        assert "linkage_http_request_duration_seconds_bucket" in text_body


class TestAccessLog:
    def test_one_json_line_per_request_with_template(
        self, client: TestClient, capsys: object
    ) -> None:
        client.get("/health/live")
        err = capsys.readouterr().err  # type: ignore[attr-defined]
        lines = [json.loads(line) for line in err.splitlines() if '"request"' in line]
        assert lines, err
        entry = lines[-1]
        assert entry["route"] == "/health/live"
        assert entry["status"] == 200
        assert entry["duration_ms"] >= 0


class TestOpenAPI:
    def test_committed_document_matches_the_app(self, tmp_path: Path) -> None:
        committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
        generated = json.loads(openapi_document(Settings(data_dir=tmp_path)))
        assert committed == generated, "run `linkage-hub openapi` and commit the result"

    def test_operation_ids_are_unique_and_explicit(self, tmp_path: Path) -> None:
        doc = json.loads(openapi_document(Settings(data_dir=tmp_path)))
        ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
        assert len(ids) == len(set(ids))
        assert all("__" not in i for i in ids)


class TestRequestIdNeverCarriesAnIdNumber:
    def test_an_id_number_as_request_id_is_replaced(self, client: TestClient) -> None:
        for given in ("11010519491231002X", "prefix-612127760403123", "110105194912310021"):
            response = client.get("/health/live", headers={"X-Request-ID": given})
            assert response.headers["x-request-id"] != given
