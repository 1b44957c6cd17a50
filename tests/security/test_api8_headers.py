"""API8:2023 Security Misconfiguration — response headers.

Every response, errors and downloads included, tells a browser not to sniff, frame or cache it
and sends no referrer: person data must not linger in a proxy or a shared computer's cache.
Public documents (the JWKS) keep the caching they ask for.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import HeadersFor


def assert_guarded(response: Response, *, cache: str = "no-store") -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == cache
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


class TestEveryResponse:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/datasets/roster/records",
            "/api/v1/discrepancies",
            "/api/v1/datasets/roster/records/no-such-key",
            "/api/v1/reports/discrepancies?format=csv",
            "/api/v1/no-such-route",
        ],
    )
    def test_api_answers_are_guarded(
        self, client: TestClient, headers_for: HeadersFor, path: str
    ) -> None:
        response = client.get(path, headers=headers_for("audit"))
        assert_guarded(response)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")

    def test_refusals_before_authentication_are_guarded(self, client: TestClient) -> None:
        assert_guarded(client.get("/api/v1/discrepancies"))  # 401, no token
        assert_guarded(client.post("/oauth/token", data={"grant_type": "client_credentials"}))

    def test_public_keys_keep_their_own_caching(self, client: TestClient) -> None:
        response = client.get("/oauth/jwks")
        assert response.status_code == 200
        assert_guarded(response, cache="public, max-age=300")

    def test_the_api_docs_load_their_scripts_from_the_hub_only(self, client: TestClient) -> None:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            response = client.get(path)
            assert response.headers["content-type"].startswith("text/html")
            assert_guarded(response)
            csp = response.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src 'self' 'unsafe-inline'" in csp
            assert "http" not in response.text.replace("https://", "").split("<body>")[0]
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            assert client.get(f"/assets/{asset}").status_code == 200
        assert client.get("/assets/..%2Fsettings.py").status_code == 404
