"""Cases the fuzzer found, kept as regression tests (on both databases)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f


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


def test_a_nul_character_in_a_parameter_is_a_422_naming_it(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """Found by schemathesis on PostgreSQL, which cannot compare text holding NUL: a filter
    with one answered 500 (the discrepancy list, the access record) or broke a streamed report
    after its first bytes."""
    for url, field, department in [
        ("/api/v1/discrepancies?unit_code=%C2%97M%00", "unit_code", "audit"),
        ("/api/v1/reports/discrepancies?unit_code=U%00", "unit_code", "audit"),
        ("/api/v1/access-records?client_id=P%009", "client_id", "audit"),
        ("/api/v1/datasets/roster/records/k%00", "record_key", "audit"),
        ("/api/v1/persons/%00", "id_number", "hr"),
        ("/api/v1/datasets/roster/records?region=23%00", "region", "hr"),
    ]:
        response = client.get(url, headers=headers_for(department))
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [
            (field, "nul_character")
        ], url


def test_a_nul_character_in_a_pushed_value_is_refused_and_nothing_applied(
    client: TestClient, headers_for: HeadersFor
) -> None:
    headers = {**headers_for("establishment"), "Content-Type": "application/x-ndjson"}
    for dataset, rows in [
        ("units", [f.unit(1), f.unit(2, name="单\x00位")]),
        ("roster", [f.roster(1), f.roster(2, name="张\x00三")]),
    ]:
        body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
        response = client.post(f"/api/v1/datasets/{dataset}/batches", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(2, "name")]
        listed = client.get(f"/api/v1/datasets/{dataset}/records", headers=headers)
        assert listed.json()["items"] == []


def test_a_nul_character_in_free_text_is_a_422(client: TestClient, headers_for: HeadersFor) -> None:
    """Comments and transition reasons are free text (line breaks allowed), never NUL."""
    headers = headers_for("establishment")
    for path, payload, field in [
        ("comments", {"body": "核实中\x00"}, "body"),
        ("transitions", {"to": "waived", "reason": "已\x00核"}, "reason"),
    ]:
        response = client.post(f"/api/v1/discrepancies/none/{path}", json=payload, headers=headers)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
