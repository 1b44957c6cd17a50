"""Cases the fuzzer found, kept as regression tests (on both databases)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor


def test_malformed_json_on_a_json_operation_is_a_documented_400_problem(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """Found by schemathesis: FastAPI answers 400 for a body that does not parse, which the
    document did not list for the JSON-body operations."""
    response = client.post(
        "/api/v1/reconciliation/runs",
        content=b"\xff?",
        headers={**headers_for("audit"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "not valid JSON" in response.json()["detail"]
    documented = client.get("/openapi.json").json()
    for path, method in [
        ("/api/v1/reconciliation/runs", "post"),
        ("/api/v1/discrepancies/{finding_id}/comments", "post"),
        ("/api/v1/discrepancies/{finding_id}/transitions", "post"),
        ("/api/v1/datasets/{dataset}/records/{record_key}", "put"),
    ]:
        assert "400" in documented["paths"][path][method]["responses"], (path, method)


def test_an_empty_idempotency_key_is_rejected_not_stored_twice(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """Found by schemathesis: an empty key skipped the replay lookup but was stored, so the
    second push with an empty key hit the unique constraint (500)."""
    headers = {**headers_for("establishment"), "Content-Type": "application/json"}
    for _ in range(2):
        response = client.post(
            "/api/v1/datasets/units/batches",
            content=b"{}",
            headers={**headers, "Idempotency-Key": ""},
        )
        assert response.status_code == 422, response.text
        assert any(e["field"] == "idempotency-key" for e in response.json()["errors"])
    listed = client.get("/api/v1/changes", headers=headers_for("establishment"))
    assert listed.status_code == 200
