"""The OpenAPI document learns the policy: a security scheme, and per route the scope it needs.

Read off :data:`ROUTE_POLICY` when the document is built, so routes of every room are covered
without each handler declaring it, and ``/docs`` gets a working "Authorize" button.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from linkage_hub.auth.policy import REQUIRED_SCOPE, ROUTE_POLICY, Permission
from linkage_hub.auth.scopes import Scope

SCHEME = "departmentClient"
_SCOPE_HELP = {
    Scope.read: "read the shared records, discrepancies and reports of the region",
    Scope.write: "push and change the department's own datasets",
    Scope.comment: "comment on discrepancies",
    Scope.transition: "acknowledge, waive or reopen discrepancies",
    Scope.reconcile: "start reconciliation runs (establishment office)",
    Scope.audit: "audit-only views such as the access record",
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def with_security(
    app: FastAPI, build: Callable[[], dict[str, Any]]
) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        document.setdefault("components", {})["securitySchemes"] = {
            SCHEME: {
                "type": "oauth2",
                "description": "Client credentials of a departmental client "
                "(`linkage-hub clients create`); send the token as `Authorization: Bearer`.",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "/oauth/token",
                        "scopes": {str(s): text for s, text in _SCOPE_HELP.items()},
                    }
                },
            }
        }
        has_problem = "Problem" in document["components"].get("schemas", {})
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in _METHODS:
                    continue
                permission = ROUTE_POLICY.get((method.upper(), path))
                if permission is None or permission is Permission.public:
                    continue
                operation["security"] = [{SCHEME: [str(REQUIRED_SCOPE[permission])]}]
                if has_problem:
                    for status, title in (("401", "Unauthorized"), ("403", "Forbidden")):
                        operation.setdefault("responses", {}).setdefault(
                            status,
                            {
                                "description": title,
                                "content": {
                                    "application/problem+json": {
                                        "schema": {"$ref": "#/components/schemas/Problem"}
                                    }
                                },
                            },
                        )
        app.openapi_schema = document
        return document

    return openapi
