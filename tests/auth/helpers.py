"""Helpers of the auth tests: clients in the test database, tokens, JWT pieces."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from linkage_hub.auth.service import create_client
from linkage_hub.db import Database


def new_client(
    database: Database,
    department: str = "audit",
    region: str = "230100",
    scopes: list[str] | None = None,
) -> tuple[str, str]:
    with database.transaction() as session:
        created = create_client(
            session,
            name=f"{department} {region}",
            department=department,
            region=region,
            scopes=scopes,
        )
        return created.client.client_id, created.client_secret


def request_token(client: TestClient, client_id: str, secret: str, **form: str) -> Response:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        | form,
    )


def token_for(client: TestClient, client_id: str, secret: str) -> str:
    response = request_token(client, client_id, secret)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64json(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def token_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return unb64json(header), unb64json(payload)


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
