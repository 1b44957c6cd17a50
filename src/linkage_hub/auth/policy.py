"""The access policy: one table maps every route to its permission.

``authorize`` runs on every request (installed app-wide in ``create_app``). It looks up the
matched route template in :data:`ROUTE_POLICY`; a route missing from the table is refused (and a
test walks the app's routes so none can be forgotten). For anything but a public route it
verifies the bearer token and checks the permission: the department rule and the scope the
permission needs (:data:`REQUIRED_SCOPE`). A department rule that fails is a 403: it says
nothing about any resource.

Region containment is *not* decided here: handlers put ``principal.region_bounds`` into their SQL
``WHERE`` clauses (:func:`in_region`), and anything outside the caller's region is a 404
(:func:`ensure_in_region` for a region named in a request body).

This table is the single source of a route's permission. Handlers take the caller as
``CurrentPrincipal`` and name no permission in their signature: the check has already run,
app-wide, before any handler dependency, for every route, and a route without a row cannot be
served. A permission named again in a signature (a ``requires(...)`` dependency) would be a
second home for the same fact, able to drift from the table, and a route that forgot it would
still be guarded here. To see what a route needs, read its row; the OpenAPI document shows it
too (each operation's security scope and description, :mod:`linkage_hub.auth.openapi`).

When you add a route, add its row here in the same change (and a sample row to the matrix test
in ``tests/auth/test_matrix.py``).

A route whose response can carry person data (an ID number, a person's name or pay) is also
listed in :data:`PERSON_READS`, and records what it sent through the one door,
:func:`person_reads`: the access record counts the person records and the audit log gets a
``read`` entry naming the persons by person key (so ``GET /api/v1/audit-log?id_number=`` finds
it). A route-walk test (``tests/security/test_api1_person_reads.py``) fails for a route whose
response schema carries person fields, or that is a report download, and is not listed.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import iter_route_contexts
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from linkage_hub.audit.service import Entry, append
from linkage_hub.auth.access import PersonReads
from linkage_hub.auth.dependencies import bearer_challenge, get_principal_or_none
from linkage_hub.auth.principal import Principal
from linkage_hub.auth.scopes import Scope
from linkage_hub.auth.sessions import UNSAFE, session_principal
from linkage_hub.domain import Dataset, Department
from linkage_hub.errors import Forbidden, HubError, NotFound, PreconditionFailed, Unauthorized
from linkage_hub.observability import current_client_request_id, current_request_id

CONSOLE_PREFIX = "/console/"


class Permission(StrEnum):
    public = "public"  # no token (health, metrics, token endpoint, docs)
    read = "read"  # any department, inside its region
    write_own_dataset = "write_own_dataset"  # the department owning {dataset}; never audit
    establishment = "establishment"  # the establishment office only (e.g. reconciliation runs)
    comment = "comment"  # any department, audit included
    transition = "transition"  # any department but the exact rule is the service's
    audit = "audit"  # audit only
    cases = "cases"  # the establishment office and audit (12310 cases: reading)
    convene = "convene"  # the establishment office and audit (joint meetings: the decisions)


REQUIRED_SCOPE: dict[Permission, Scope] = {
    Permission.read: Scope.read,
    Permission.write_own_dataset: Scope.write,
    Permission.establishment: Scope.reconcile,
    Permission.comment: Scope.comment,
    Permission.transition: Scope.transition,
    Permission.audit: Scope.audit,
    Permission.cases: Scope.read,
    Permission.convene: Scope.transition,
}


ROUTE_POLICY: dict[tuple[str, str], Permission] = {
    ("GET", "/health/live"): Permission.public,
    ("GET", "/health/ready"): Permission.public,
    ("GET", "/metrics"): Permission.public,
    ("GET", "/openapi.json"): Permission.public,
    ("GET", "/docs"): Permission.public,
    ("GET", "/docs/oauth2-redirect"): Permission.public,
    ("GET", "/redoc"): Permission.public,
    ("GET", "/"): Permission.public,  # the landing page
    ("GET", "/assets/{name}"): Permission.public,  # the docs' own copies of their scripts
    # auth
    ("POST", "/oauth/token"): Permission.public,  # the client authenticates with its secret
    ("GET", "/oauth/jwks"): Permission.public,
    ("GET", "/api/v1/access-records"): Permission.audit,
    # reports
    ("GET", "/api/v1/reports/staffing"): Permission.read,
    ("GET", "/api/v1/reports/discrepancies"): Permission.read,
    ("GET", "/api/v1/reports/tenure"): Permission.read,
    # datasets (records room)
    ("POST", "/api/v1/datasets/{dataset}/batches"): Permission.write_own_dataset,
    ("GET", "/api/v1/batches/{batch_id}"): Permission.read,
    ("GET", "/api/v1/datasets/{dataset}/records"): Permission.read,
    ("GET", "/api/v1/datasets/{dataset}/records/{record_key}"): Permission.read,
    ("PUT", "/api/v1/datasets/{dataset}/records/{record_key}"): Permission.write_own_dataset,
    ("DELETE", "/api/v1/datasets/{dataset}/records/{record_key}"): Permission.write_own_dataset,
    ("GET", "/api/v1/datasets/{dataset}/records/{record_key}/history"): Permission.read,
    ("GET", "/api/v1/changes"): Permission.read,
    # persons room
    ("GET", "/api/v1/persons/{id_number}"): Permission.read,
    # reconciliation (issue 5)
    ("GET", "/api/v1/reconciliation/rules"): Permission.read,
    ("GET", "/api/v1/reconciliation/runs"): Permission.read,
    ("POST", "/api/v1/reconciliation/runs"): Permission.establishment,
    ("GET", "/api/v1/reconciliation/runs/{run_id}"): Permission.read,
    ("GET", "/api/v1/discrepancies"): Permission.read,
    ("GET", "/api/v1/discrepancies/summary"): Permission.read,
    ("GET", "/api/v1/discrepancies/{finding_id}"): Permission.read,
    ("POST", "/api/v1/discrepancies/{finding_id}/comments"): Permission.comment,
    ("POST", "/api/v1/discrepancies/{finding_id}/transitions"): Permission.transition,
    # notifications (issue 17): a subscription is a way of reading (events of the caller's
    # region, thin payloads), so it needs what reading needs; a client sees only its own.
    ("POST", "/api/v1/subscriptions"): Permission.read,
    ("GET", "/api/v1/subscriptions"): Permission.read,
    ("GET", "/api/v1/subscriptions/{subscription_id}"): Permission.read,
    ("PATCH", "/api/v1/subscriptions/{subscription_id}"): Permission.read,
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): Permission.read,
    ("POST", "/api/v1/subscriptions/{subscription_id}/rotate-secret"): Permission.read,
    ("GET", "/api/v1/subscriptions/{subscription_id}/deliveries"): Permission.read,
    ("POST", "/api/v1/subscriptions/{subscription_id}/replay"): Permission.read,
    ("GET", "/api/v1/bulletins"): Permission.read,
    ("GET", "/api/v1/bulletins/{bulletin_id}"): Permission.read,
    # disclosures (issue 18): the establishment office publishes; an act of office like a run
    ("POST", "/api/v1/disclosures"): Permission.establishment,
    ("GET", "/api/v1/disclosures"): Permission.establishment,
    ("GET", "/api/v1/disclosures/preview"): Permission.establishment,
    # 12310 cases: the establishment office works them, audit reads them
    ("GET", "/api/v1/cases"): Permission.cases,
    ("GET", "/api/v1/cases/{case_id}"): Permission.cases,
    ("POST", "/api/v1/cases/{case_id}/transitions"): Permission.establishment,
    ("POST", "/api/v1/cases/{case_id}/links"): Permission.establishment,
    # the public face: no token, behind the public shield (rate limits, in-flight cap)
    ("GET", "/public/v1/disclosures/{region}"): Permission.public,
    ("GET", "/public/v1/disclosures/{region}/units/{unit_code}"): Permission.public,
    ("POST", "/public/v1/reports"): Permission.public,
    ("GET", "/public/v1/reports/{tracking_code}"): Permission.public,
    ("GET", "/public/"): Permission.public,
    ("GET", "/public/assets/public.css"): Permission.public,
    ("GET", "/public/disclosures/{region}"): Permission.public,
    ("GET", "/public/disclosures/{region}/units/{unit_code}"): Permission.public,
    ("GET", "/public/12310"): Permission.public,
    ("POST", "/public/12310"): Permission.public,
    ("GET", "/public/12310/lookup"): Permission.public,
    ("GET", "/public/12310/{tracking_code}"): Permission.public,
    ("POST", "/public/12310/{tracking_code}"): Permission.public,
    # the console (issue 19): people signed in with a session cookie, on the same rows
    ("GET", "/console/assets/console.css"): Permission.public,
    ("GET", "/console/login"): Permission.public,
    ("POST", "/console/login"): Permission.public,  # the person authenticates with a password
    ("POST", "/console/logout"): Permission.read,
    ("GET", "/console/"): Permission.read,  # the overview
    ("GET", "/console/findings"): Permission.read,
    ("GET", "/console/findings/{finding_id}"): Permission.read,
    ("POST", "/console/findings/{finding_id}/comments"): Permission.comment,
    ("POST", "/console/findings/{finding_id}/transitions"): Permission.transition,
    # 12310 cases: as their API rows (the office handling a case works it, audit reads)
    ("GET", "/console/cases"): Permission.cases,
    ("GET", "/console/cases/{case_id}"): Permission.cases,
    ("POST", "/console/cases/{case_id}/transitions"): Permission.establishment,
    ("POST", "/console/cases/{case_id}/links"): Permission.establishment,
    # joint meetings: as their API rows (deciding: the establishment office or audit)
    ("GET", "/console/meetings"): Permission.read,
    ("GET", "/console/meetings/{meeting_id}"): Permission.read,
    ("POST", "/console/meetings/{meeting_id}/comments"): Permission.comment,
    ("POST", "/console/meetings/{meeting_id}/decisions"): Permission.convene,
    ("GET", "/console/meetings/{meeting_id}/minutes"): Permission.read,
    # disclosures: as their API rows (the establishment office publishes, after the preview)
    ("GET", "/console/disclosures"): Permission.establishment,
    ("GET", "/console/disclosures/preview"): Permission.establishment,
    ("POST", "/console/disclosures"): Permission.establishment,
    ("GET", "/console/runs"): Permission.read,
    ("POST", "/console/runs"): Permission.establishment,  # as POST /api/v1/reconciliation/runs
    ("GET", "/console/runs/{run_id}"): Permission.read,
    ("GET", "/console/reports"): Permission.read,
    # the API's report endpoints mounted for people (console/downloads.py): the API's rows
    ("GET", "/console/reports/staffing"): Permission.read,
    ("GET", "/console/reports/discrepancies"): Permission.read,
    ("POST", "/console/reports/tenure"): Permission.read,
    ("GET", "/console/reports/annual"): Permission.read,
    ("GET", "/console/units/{unit_code}"): Permission.read,
    ("GET", "/console/persons"): Permission.read,  # the search form
    ("POST", "/console/persons"): Permission.read,  # a search: the ID number in the body
    ("GET", "/console/password/{token}"): Permission.public,  # a one-time link is the key
    ("POST", "/console/password/{token}"): Permission.public,
    # joint meetings (issue 21): the establishment office or audit convenes and records the
    # decisions (each a transition: the service applies today's rules to every one); any
    # department of the region reads; the departments attending add to the thread (the service)
    ("POST", "/api/v1/meetings"): Permission.convene,
    ("GET", "/api/v1/meetings"): Permission.read,
    ("GET", "/api/v1/meetings/{meeting_id}"): Permission.read,
    ("POST", "/api/v1/meetings/{meeting_id}/decisions"): Permission.convene,
    ("POST", "/api/v1/meetings/{meeting_id}/comments"): Permission.comment,
    ("GET", "/api/v1/meetings/{meeting_id}/minutes"): Permission.read,
    ("GET", "/api/v1/reports/annual"): Permission.read,
    # audit log
    ("GET", "/api/v1/audit-log"): Permission.audit,
    ("GET", "/api/v1/audit-log/verify"): Permission.audit,
}


# The routes whose responses can carry person data (ID number, name, pay of a person).
PERSON_READS: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v1/reports/discrepancies"),
        ("GET", "/api/v1/reports/tenure"),
        ("GET", "/api/v1/reports/annual"),
        ("GET", "/console/reports/discrepancies"),
        ("POST", "/console/reports/tenure"),
        ("GET", "/console/reports/annual"),
        ("GET", "/api/v1/datasets/{dataset}/records"),
        ("GET", "/api/v1/datasets/{dataset}/records/{record_key}"),
        ("PUT", "/api/v1/datasets/{dataset}/records/{record_key}"),
        ("GET", "/api/v1/datasets/{dataset}/records/{record_key}/history"),
        ("GET", "/api/v1/changes"),
        ("GET", "/api/v1/persons/{id_number}"),
        ("GET", "/api/v1/discrepancies"),
        ("GET", "/api/v1/discrepancies/{finding_id}"),
        ("POST", "/api/v1/discrepancies/{finding_id}/transitions"),
        ("GET", "/console/findings"),
        ("GET", "/console/findings/{finding_id}"),
        ("GET", "/console/units/{unit_code}"),
        ("POST", "/console/persons"),
    }
)


class RouteNotInPolicy(HubError):
    """A route without a policy row: a bug, refused rather than served unguarded."""


def _check(permission: Permission, principal: Principal, request: Request) -> None:
    scope = REQUIRED_SCOPE.get(permission)
    if scope is None:
        raise RouteNotInPolicy()
    if permission is Permission.establishment:
        if principal.department is not Department.establishment:
            raise Forbidden("Only the establishment office may do this.")
    elif permission is Permission.audit:
        if principal.department is not Department.audit:
            raise Forbidden("Only audit may do this.")
    elif permission is Permission.cases:
        if principal.department not in (Department.establishment, Department.audit):
            raise Forbidden("Only the establishment office and audit see 12310 cases.")
    elif permission is Permission.convene:
        if principal.department not in (Department.establishment, Department.audit):
            raise Forbidden("Only the establishment office and audit convene joint meetings.")
    elif permission is Permission.write_own_dataset:
        raw = str(request.path_params.get("dataset", ""))
        try:
            dataset: Dataset | None = Dataset(raw)
        except ValueError:
            dataset = None  # the handler answers 404 for an unknown dataset
        if principal.department is Department.audit:
            raise Forbidden("Audit writes nothing but comments.")
        if dataset is not None and not principal.owns(dataset):
            raise Forbidden(f"The {principal.department} department does not write {dataset}.")
    if scope not in principal.scopes:
        challenge = bearer_challenge("insufficient_scope") + f', scope="{scope}"'
        raise Forbidden(
            f"This needs the '{scope}' scope, which this token does not hold.",
            headers={"WWW-Authenticate": challenge},
        )


# The writes whose resource carries an ETag and which evaluate If-Match themselves (a dataset's
# single record, records.service). Any other write carries no ETag an If-Match could match.
CONDITIONAL: frozenset[tuple[str, str]] = frozenset(
    {
        ("PUT", "/api/v1/datasets/{dataset}/records/{record_key}"),
        ("DELETE", "/api/v1/datasets/{dataset}/records/{record_key}"),
    }
)


def _no_unmatched_condition(request: Request) -> None:
    """RFC 9110 §13.1.1: a write whose If-Match matches no current ETag is not performed. A
    resource without an ETag (a subscription, a finding) matches none but ``*``: a system that
    asks the hub to refuse a stale write is refused (412) rather than silently applied."""
    sent = request.headers.get("if-match")
    if (
        sent is not None
        and sent.strip() != "*"
        and request.method in UNSAFE
        and (request.method, _template(request)) not in CONDITIONAL
    ):
        raise PreconditionFailed(
            "This resource carries no ETag, so no If-Match can match it; "
            "send the request without If-Match."
        )


def _template(request: Request) -> str:
    return str(getattr(request.scope.get("route"), "path", None))


def _permission(request: Request) -> Permission:
    template = _template(request)
    permission = ROUTE_POLICY.get((request.method, template))
    if permission is None and request.method == "HEAD":
        permission = ROUTE_POLICY.get(("GET", template))
    if permission is None:
        raise RouteNotInPolicy()
    return permission


def person_reads(request: Request) -> PersonReads:
    """The one door of a person read: the tally of what this response shows of persons. Add
    to it what is actually sent — a JSON handler its items, a streamed report each row as it is
    written — by person key (the ``person_key`` columns; never recompute from ID numbers what a
    row already holds). Only routes listed in :data:`PERSON_READS` may open it."""
    route = request.scope.get("route")
    template = str(getattr(route, "path", None))
    method = "GET" if request.method == "HEAD" else request.method
    if (method, template) not in PERSON_READS:
        raise RouteNotInPolicy()
    state: dict[str, Any] = request.scope.setdefault("state", {})
    reads = state.get("person_reads")
    if not isinstance(reads, PersonReads):  # no access-record middleware: counted, not kept
        reads = state["person_reads"] = PersonReads()
    return reads


async def authorize(request: Request) -> Principal | None:
    """App-wide: the route's row decides; public routes never look at a token. A console
    route's caller is the person its session cookie names (never a bearer token); any other
    route's is the client its bearer token names (never a cookie)."""
    permission = _permission(request)
    if permission is Permission.public:
        return None
    if _template(request).startswith(CONSOLE_PREFIX):
        principal: Principal | None = await session_principal(request)
    else:
        principal = await get_principal_or_none(request)
    if principal is None:
        raise Unauthorized(
            "A bearer token is required.", headers={"WWW-Authenticate": bearer_challenge()}
        )
    _check(permission, principal, request)
    _no_unmatched_condition(request)
    return principal


async def get_principal(
    principal: Annotated[Principal | None, Depends(authorize)],
) -> Principal:
    if principal is None:  # only on a public route that asked for a principal anyway
        raise Unauthorized(
            "A bearer token is required.", headers={"WWW-Authenticate": bearer_challenge()}
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def in_region(column: Any, principal: Principal) -> ColumnElement[bool]:
    """The SQL condition ``column BETWEEN low AND high`` for the caller's region."""
    condition: ColumnElement[bool] = column.between(*principal.region_bounds)
    return condition


def ensure_in_region(principal: Principal, region: str, what: str = "region") -> None:
    """A region named in a request that lies outside the caller's: 404, as if it did not exist."""
    if not principal.contains(region):
        raise NotFound(f"No such {what}.")


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app answers, HEAD folded into GET."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if context.path
        for method in (context.methods or ())
        if method != "HEAD"
    }


def record_read(request: Request, session: Session, entry: Entry) -> None:
    """The audit entry of a read that names no person record (a 12310 case: its facts, its
    reporter). A GET runs on a read-only session and never writes: the entry joins the access
    recorder's next flush, as person reads do; any other method appends it in its own
    transaction."""
    if request.method in ("GET", "HEAD"):
        queued = replace(
            entry,
            request_id=current_request_id.get(),
            client_request_id=current_client_request_id.get(),
        )
        request.app.state.auth.recorder.add(None, read=queued)
    else:
        append(session, entry)
