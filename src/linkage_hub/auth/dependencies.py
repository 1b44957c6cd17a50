"""Token verification: from ``Authorization: Bearer <jwt>`` to a :class:`Principal`.

``get_principal_or_none`` returns ``None`` when the request carries no ``Authorization`` header
and raises 401 (problem+json with ``WWW-Authenticate``) for anything that does not verify: a
header that is not ``Bearer``, a malformed token, another algorithm than the pinned one, a bad
signature, wrong ``iss``/``aud``, ``exp``/``nbf`` outside the window, or a client that has been
revoked or has rotated its secret since (seen within the client cache window, ≤ 60 s).

It is a coroutine, like the other dependencies that do no blocking I/O: each synchronous
dependency costs a trip through the worker-thread pool, which on a small GET cost more than
the query itself.

Handlers never call it directly: they take ``principal: CurrentPrincipal`` from
:mod:`linkage_hub.auth.policy`.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from linkage_hub.auth.principal import Principal
from linkage_hub.auth.runtime import auth_runtime
from linkage_hub.auth.tokens import TokenError
from linkage_hub.errors import Unauthorized

REALM = "linkage-hub"


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """The ``WWW-Authenticate`` value of RFC 6750 §3."""
    parts = [f'Bearer realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        safe = "".join(c for c in description if c.isascii() and c not in '"\\')
        parts.append(f'error_description="{safe}"')
    return ", ".join(parts)


def _invalid(detail: str, error: str = "invalid_token") -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": bearer_challenge(error, detail)})


async def get_principal_or_none(request: Request) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    token = credentials.strip()
    if scheme.lower() != "bearer" or not token:
        raise _invalid("Send the token as 'Authorization: Bearer <token>'.", "invalid_request")
    runtime = auth_runtime(request)
    try:
        claims = runtime.keys.verify(token)
    except TokenError as exc:
        raise _invalid(str(exc)) from None
    cached = runtime.clients.fresh(claims.client_id)
    # On the event loop while the cache answers; a miss (once a minute per client) asks the
    # database from a worker thread. So does a token newer than the cache: the hub signed it
    # after a secret rotation this process has not seen yet, and the new secret's tokens work
    # at once (the old one's stop within the cache's seconds). A cached "no such client" is
    # not re-read: the hub issues no token before the client exists.
    behind = (
        cached is not None
        and cached[0] is not None
        and cached[0].secret_version < claims.secret_version
    )
    client = (
        cached[0]
        if cached is not None and not behind
        else await run_in_threadpool(runtime.clients.load, claims.client_id)
    )
    if client is None or not client.active or client.secret_version != claims.secret_version:
        raise _invalid("The client was revoked or its secret rotated; request a new token.")
    if client.department != claims.department or client.region != claims.region:
        raise _invalid("The token does not match its client.")
    principal = Principal(
        client_id=claims.client_id,
        name=client.name,
        department=claims.department,
        region=claims.region,
        scopes=claims.scopes & client.scopes,
    )
    request.state.principal = principal
    request.state.client_id = principal.client_id
    return principal
