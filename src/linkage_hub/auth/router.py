"""HTTP routes of the auth room: the token endpoint, the public key, the access record."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from linkage_hub.auth.dependencies import REALM
from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.principal import Principal
from linkage_hub.auth.queries import AccessRecordFilter, access_records_page
from linkage_hub.auth.runtime import auth_runtime
from linkage_hub.auth.schemas import AccessRecordPage, Jwk, Jwks, TokenResponse
from linkage_hub.auth.scopes import format_scopes, parse_scopes
from linkage_hub.auth.service import Authenticated, Locked, authenticate
from linkage_hub.clientaddr import limit_key, source_address
from linkage_hub.cursors import decode_cursor, encode_cursor
from linkage_hub.db import DatabaseDep, DbSession
from linkage_hub.dependencies import SettingsDep
from linkage_hub.domain import Department
from linkage_hub.errors import (
    BadRequest,
    TooManyRequests,
    Unauthorized,
    problem_responses,
)
from linkage_hub.inputs import BoundedAwareDateTime, has_invalid_unicode

router = APIRouter(tags=["auth"])

CLIENT_CREDENTIALS = "client_credentials"
_BASIC_CHALLENGE = {"WWW-Authenticate": f'Basic realm="{REALM}"'}


def _invalid_client(detail: str) -> Unauthorized:
    return Unauthorized(detail, error="invalid_client", headers=_BASIC_CHALLENGE)


def _client_credentials(
    request: Request, form_id: str | None, form_secret: str | None
) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic or the form body (RFC 6749 §2.3.1)."""
    scheme, _, encoded = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "basic":  # any other scheme (a bearer token) is no client credential
        if form_secret is not None:
            raise BadRequest(
                "Use one way to authenticate the client: HTTP Basic or the form body.",
                error="invalid_request",
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid_client("The Basic credentials are not valid base64.") from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise _invalid_client("The Basic credentials need 'client_id:client_secret'.")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if form_id is not None and form_id != client_id:
            raise BadRequest("Two different client ids were sent.", error="invalid_request")
        return client_id, secret
    if not form_id or not form_secret:
        raise _invalid_client("Send client_id and client_secret (or use HTTP Basic).")
    return form_id, form_secret


async def _scope_sent(request: Request) -> bool:
    """Whether the form holds a ``scope`` field at all, blank or not: FastAPI hands an empty
    one (``scope=``) over as absent, which would grant every scope the client holds to a
    system that asked for none. The form is the one FastAPI already read (Starlette keeps it)."""
    return "scope" in await request.form()


@router.post(
    "/oauth/token",
    operation_id="issue_token",
    response_model=TokenResponse,
    responses=problem_responses(400, 401, 429),
)
def issue_token(
    request: Request,
    response: Response,
    db: DatabaseDep,
    settings: SettingsDep,
    grant_type: Annotated[str | None, Form(description="Always `client_credentials`.")] = None,
    # Lengths are checked in the handler: a token request's errors are OAuth's, not a 422.
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[
        str | None, Form(description="Ask for fewer scopes (space-separated).")
    ] = None,
    scope_sent: Annotated[bool, Depends(_scope_sent)] = False,
) -> TokenResponse:
    """Get an access token for a departmental system (OAuth 2.0 client credentials grant).

    Send `application/x-www-form-urlencoded`: `grant_type=client_credentials`, and the client's
    `client_id` and `client_secret` — in the body, or as HTTP Basic (`Authorization: Basic
    base64(client_id:client_secret)`). The answer's `access_token` is a signed JWT valid for
    `expires_in` seconds (at most 15 minutes): send it as `Authorization: Bearer <token>` and
    ask for a new one when it expires. It names the client, its department, its region and its
    scopes; `scope` asks for fewer scopes than the client holds.

    Errors carry an OAuth `error` code in the problem document: `400 unsupported_grant_type`,
    `400 invalid_request`, `400 invalid_scope`, `401 invalid_client` (unknown client, wrong
    secret or revoked client). After 5 failures in a row for one client id from one address,
    that client id is locked out *from that address* for a while that doubles with every
    further failure (`429` with `Retry-After`), even for the right secret; after 20 failures
    from one address, for any ids, the address is locked out. Unknown and known client ids
    get the same answers. The body is at most 4 KB by default (`413` beyond).
    """
    if not grant_type:
        raise BadRequest("grant_type is required.", error="invalid_request")
    if grant_type != CLIENT_CREDENTIALS:
        raise BadRequest(
            "Only the client_credentials grant is supported.", error="unsupported_grant_type"
        )
    cid, secret = _client_credentials(request, client_id, client_secret)
    # No client id holds a NUL or a non-character, and PostgreSQL cannot compare text with a NUL.
    if not cid or len(cid) > 64 or len(secret) > 200 or "\x00" in cid or has_invalid_unicode(cid):
        raise _invalid_client("The client credentials are not valid.")
    address = limit_key(source_address(request.scope, settings.trusted_proxies))
    outcome = authenticate(db, cid, secret, address)
    if isinstance(outcome, Locked):
        raise TooManyRequests(
            "Too many failed attempts; try again later.",
            error="temporarily_unavailable",
            headers={"Retry-After": str(outcome.retry_after)},
        )
    if not isinstance(outcome, Authenticated):
        raise _invalid_client("The client credentials are not valid.")
    client = outcome.client
    granted = client.scopes
    if scope is not None or scope_sent:
        scope = scope or ""
        wanted = parse_scopes(scope[:200])
        if not wanted or not wanted <= granted or len(scope) > 200:
            raise BadRequest(
                f"The client may ask for: {format_scopes(granted)}.", error="invalid_scope"
            )
        granted = wanted
    issued = auth_runtime(request).keys.issue(
        client_id=client.client_id,
        department=client.department,
        region=client.region,
        scopes=granted,
        secret_version=client.secret_version,
    )
    # The client authenticated: the access record notes the token it was given.
    request.state.principal = Principal(
        client.client_id, client.name, client.department, client.region, granted
    )
    request.state.client_id = client.client_id
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        scope=format_scopes(granted),
    )


@router.get("/oauth/jwks", operation_id="token_keys", response_model=Jwks)
def token_keys(request: Request, response: Response) -> Jwks:
    """The public key that signs access tokens (JSON Web Key Set, ES256).

    For systems that want to check a token themselves: verify with ES256 only, match the `kid`,
    and check `iss`, `aud`, `exp` and `nbf`. The hub itself also refuses tokens of revoked
    clients, which a signature check alone cannot see.
    """
    response.headers["Cache-Control"] = "public, max-age=300"
    return Jwks(keys=[Jwk(**auth_runtime(request).keys.public_jwk())])


@router.get(
    "/api/v1/access-records",
    operation_id="list_access_records",
    response_model=AccessRecordPage,
    responses=problem_responses(401, 403, 422),
)
def list_access_records(
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    department: Department | None = None,
    route: Annotated[
        str | None, Query(max_length=200, description="A route template, exactly.")
    ] = None,
    recorded_from: Annotated[
        BoundedAwareDateTime | None, Query(alias="from", description="Inclusive, RFC 3339.")
    ] = None,
    recorded_to: Annotated[
        BoundedAwareDateTime | None, Query(alias="to", description="Exclusive, RFC 3339.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> AccessRecordPage:
    """Who called the hub: every authenticated request of the clients in your region (audit).

    Newest first. Each item names the client and its department and region, the method, the
    route *template* (never the concrete path, so no ID number appears), the status, the
    number of person records the response carried, the request id (the hub's own, and the
    caller's `client_request_id` when it sent one) and the source address. Filter by `client_id`,
    `department`, `route`, and a time range `from` (inclusive) / `to` (exclusive). Records reach
    this list within about a second of the request.
    """
    auth_runtime(request).recorder.flush()
    items, next_id = access_records_page(
        session,
        AccessRecordFilter(
            region_bounds=principal.region_bounds,
            client_id=client_id,
            department=str(department) if department else None,
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            route=route,
        ),
        limit=limit,
        before_id=decode_cursor(cursor, kind="ar") if cursor else None,
    )
    return AccessRecordPage(
        items=items, next_cursor=encode_cursor(next_id, "ar") if next_id is not None else None
    )
