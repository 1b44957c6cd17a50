"""API3:2023 Broken Object Property Level Authorization — mass assignment.

What the hub owns about a record (its key, version, batch, recording time, person key, the
region it derives from the unit) can never be set by a caller: every write body refuses fields
it does not define, with a 422 naming the row and field, and a refused batch applies nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory
from tests.records.conftest import Push, Read

SERVER_OWNED = ["record_key", "version", "batch_id", "recorded_at", "person_key", "closed_at"]


class TestBatchRows:
    @pytest.mark.parametrize("field", [*SERVER_OWNED, "region"])
    def test_a_roster_row_cannot_set_what_the_hub_owns(
        self, push: Push, read: Read, field: str
    ) -> None:
        assert push("units", [factory.unit(1)]).status_code == 201
        good = factory.roster(1)
        bad = {**factory.roster(2), field: "230102"}
        response = push("roster", [good, bad])
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert {"row": 2, "field": field, "code": "unknown_field"} in [
            {k: e.get(k) for k in ("row", "field", "code")} for e in errors
        ]
        assert read("roster") == []  # the good row was not applied either

    def test_a_csv_header_cannot_name_what_the_hub_owns(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = "unit_code,name,region,kind,funding,status,version\n"
        unit = factory.unit(1)
        body += f"{unit['unit_code']},单位1,230100,institution,full,active,7\n"
        response = client.post(
            "/api/v1/datasets/units/batches",
            content=body.encode(),
            params={"mode": "upsert", "region": "230100"},
            headers={**headers_for("establishment"), "content-type": "text/csv"},
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["header[6]"]  # version


class TestSingleRecord:
    def test_a_replacement_cannot_set_what_the_hub_owns(
        self, client: TestClient, push: Push, read: Read, headers_for: HeadersFor
    ) -> None:
        assert push("units", [factory.unit(1)]).status_code == 201
        assert push("roster", [factory.roster(1)]).status_code == 201
        (current,) = read("roster")
        key = current["record_key"]
        url = f"/api/v1/datasets/roster/records/{key}"
        tag = client.get(url, headers=headers_for("establishment")).headers["ETag"]
        body: dict[str, Any] = {**factory.roster(1, name="李四"), "version": 99}
        response = client.put(
            url,
            content=json.dumps(body, ensure_ascii=False),
            headers={
                **headers_for("establishment"),
                "If-Match": tag,
                "content-type": "application/json",
            },
        )
        assert response.status_code == 422, response.text
        assert "version" in {e["field"] for e in response.json()["errors"]}
        (after,) = read("roster")
        assert (after["name"], after["version"]) == (current["name"], current["version"])


class TestOtherBodies:
    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("/api/v1/reconciliation/runs", {"region": "230100", "status": "succeeded"}),
            ("/api/v1/reconciliation/runs", {"region": "230100", "kind": "incremental"}),
            ("/api/v1/discrepancies/f_missing/comments", {"body": "会商", "author": "audit"}),
            (
                "/api/v1/discrepancies/f_missing/transitions",
                {"to": "acknowledged", "status": "resolved"},
            ),
            (
                "/api/v1/discrepancies/f_missing/transitions",
                {"to": "waived", "reason": "r", "departments": ["hr"]},
            ),
        ],
    )
    def test_unknown_fields_are_refused(
        self, client: TestClient, headers_for: HeadersFor, path: str, body: dict[str, Any]
    ) -> None:
        response = client.post(path, json=body, headers=headers_for("establishment"))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
