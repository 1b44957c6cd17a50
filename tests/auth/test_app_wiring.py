"""How the auth room is wired into the app: startup checks, the OpenAPI security scheme."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.auth.policy import REQUIRED_SCOPE, ROUTE_POLICY, Permission
from linkage_hub.db import Database
from linkage_hub.settings import Settings


class TestStartup:
    def test_a_bad_signing_key_stops_the_start(self, tmp_path: Path) -> None:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", signing_key="short")
        database = Database(settings)
        try:
            app = create_app(settings, database=database)
            with pytest.raises(ValueError, match="LINKAGE_SIGNING_KEY"), TestClient(app):
                pass
        finally:
            database.dispose()


class TestOpenApi:
    def test_protected_operations_name_their_scope(self, app: FastAPI) -> None:
        document = app.openapi()
        scheme = document["components"]["securitySchemes"]["departmentClient"]
        assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
        for (method, path), permission in ROUTE_POLICY.items():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:  # docs routes are not in the document
                continue
            if permission is Permission.public:
                assert "security" not in operation, path
            else:
                scope = str(REQUIRED_SCOPE[permission])
                assert operation["security"] == [{"departmentClient": [scope]}], path
                assert {"401", "403"} <= set(operation["responses"]), path
