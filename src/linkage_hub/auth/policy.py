"""The access policy: one table maps every route to its permission.

``authorize`` runs on every request (installed app-wide in ``create_app``). It looks up the
matched route template in :data:`ROUTE_POLICY`; a route missing from the table is refused (and a
test walks the app's routes so none can be forgotten). Region containment is *not* decided
here: handlers put ``principal.region_bounds`` into their SQL ``WHERE`` clauses, and anything
outside the caller's region is a 404.

When you add a route, add its row here in the same change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.routing import iter_route_contexts

from linkage_hub.auth.dependencies import get_principal_or_none
from linkage_hub.auth.principal import Principal
from linkage_hub.domain import Dataset, Department
from linkage_hub.errors import Forbidden, HubError, Unauthorized


class Permission(StrEnum):
    public = "public"  # no token (health, metrics, token endpoint, docs)
    read = "read"  # any department, inside its region
    write_own_dataset = "write_own_dataset"  # the department owning {dataset}; never audit
    establishment = "establishment"  # the establishment office only (e.g. reconciliation runs)
    comment = "comment"  # any department, audit included
    transition = "transition"  # any department but the exact rule is the service's
    audit = "audit"  # audit only


ROUTE_POLICY: dict[tuple[str, str], Permission] = {
    ("GET", "/health/live"): Permission.public,
    ("GET", "/health/ready"): Permission.public,
    ("GET", "/metrics"): Permission.public,
    ("GET", "/openapi.json"): Permission.public,
    ("GET", "/docs"): Permission.public,
    ("GET", "/docs/oauth2-redirect"): Permission.public,
    ("GET", "/redoc"): Permission.public,
    # reconciliation (issue 5)
    ("GET", "/api/v1/reconciliation/rules"): Permission.read,
    ("POST", "/api/v1/reconciliation/runs"): Permission.establishment,
    ("GET", "/api/v1/reconciliation/runs/{run_id}"): Permission.read,
    ("GET", "/api/v1/discrepancies"): Permission.read,
    ("GET", "/api/v1/discrepancies/{finding_id}"): Permission.read,
    ("POST", "/api/v1/discrepancies/{finding_id}/comments"): Permission.comment,
    ("POST", "/api/v1/discrepancies/{finding_id}/transitions"): Permission.transition,
}


class RouteNotInPolicy(HubError):
    """A route without a policy row: a bug, refused rather than served unguarded."""


def _check(permission: Permission, principal: Principal, request: Request) -> None:
    if permission in (Permission.read, Permission.comment, Permission.transition):
        return
    if permission is Permission.establishment:
        if principal.department is not Department.establishment:
            raise Forbidden("Only the establishment office may do this.")
        return
    if permission is Permission.audit:
        if principal.department is not Department.audit:
            raise Forbidden("Only audit may do this.")
        return
    if permission is Permission.write_own_dataset:
        raw = str(request.path_params.get("dataset", ""))
        try:
            dataset = Dataset(raw)
        except ValueError:
            return  # the handler answers 404 for an unknown dataset
        if not principal.owns(dataset):
            raise Forbidden(f"The {principal.department} department does not write {dataset}.")
        return
    raise RouteNotInPolicy()


def authorize(
    request: Request,
    principal: Annotated[Principal | None, Depends(get_principal_or_none)],
) -> Principal | None:
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    permission = ROUTE_POLICY.get((request.method, str(template)))
    if permission is None and request.method == "HEAD":
        permission = ROUTE_POLICY.get(("GET", str(template)))
    if permission is None:
        raise RouteNotInPolicy()
    if permission is Permission.public:
        return principal
    if principal is None:
        raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
    _check(permission, principal, request)
    return principal


def get_principal(
    principal: Annotated[Principal | None, Depends(authorize)],
) -> Principal:
    if principal is None:  # only on a public route that asked for a principal anyway
        raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers, HEAD folded into GET."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if context.path
        for method in (context.methods or ())
        if method != "HEAD"
    }
