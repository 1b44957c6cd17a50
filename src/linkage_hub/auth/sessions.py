"""Console sessions: from the browser's cookie to a :class:`Principal`, and CSRF.

Decisions (issue 19):

- **Server-side sessions.** The cookie holds 32 random bytes; ``auth_console_session`` holds
  only their SHA-256. Signing out, the idle timeout (``LINKAGE_CONSOLE_IDLE_MINUTES``), the
  absolute lifetime (``LINKAGE_CONSOLE_SESSION_HOURS``), a disabled account and a new password
  end a session at once in every hub process. ``seen_at`` moves at most once a minute, so a busy
  page costs a read, not a write.
- **The cookie** is ``HttpOnly``, ``SameSite=Strict``, ``Path=/console`` and ``Secure`` unless the
  hub is reached as localhost over plain HTTP (``LINKAGE_CONSOLE_SECURE_COOKIE`` overrides). It
  is honoured on ``/console/`` routes only: the API stays bearer-only, so no API route can be
  driven by a browser's ambient cookie.
- **CSRF.** Every console form carries a token derived from the session's (HMAC-SHA256 of it):
  nothing more to store, different for every session, useless without the cookie it is bound
  to. A state-changing console request must carry it, and an ``Origin`` header, when sent, must
  be the hub's own; ``SameSite=Strict`` is the third wall.
- **Behind a proxy that ends TLS** the hub is reached over plain HTTP, so the scheme the browser
  used (for the origin and the ``Secure`` flag) is the trusted proxy's ``X-Forwarded-Proto``
  (:func:`linkage_hub.clientaddr.forwarded_scheme`: from ``LINKAGE_TRUSTED_PROXIES`` only).
- **One policy.** The principal a session yields is the person's account (``user:<username>``)
  with its department, region and scopes, checked by :mod:`linkage_hub.auth.policy` against the
  same table as a token's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from fastapi import Request
from sqlalchemy import select, update
from starlette.concurrency import run_in_threadpool

from linkage_hub.auth.models import AuthClient, ConsoleSession
from linkage_hub.auth.principal import Principal
from linkage_hub.auth.scopes import parse_scopes
from linkage_hub.clientaddr import forwarded_scheme
from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.errors import Forbidden, Unauthorized
from linkage_hub.settings import Settings

COOKIE = "lh_console"
CSRF_FIELD = "csrf_token"
TOUCH_EVERY = dt.timedelta(minutes=1)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "testserver"})


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"console csrf", hashlib.sha256).hexdigest()


def scheme(request: Request) -> str:
    """The scheme the browser used (``X-Forwarded-Proto`` from a trusted proxy only)."""
    settings: Settings = request.app.state.settings
    return forwarded_scheme(request.scope, settings.trusted_proxies)


def secure_cookie(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    if settings.console_secure_cookie is not None:
        return settings.console_secure_cookie
    return scheme(request) == "https" or (request.url.hostname or "") not in LOOPBACK


def open_session(db: Database, client_id: str, secret_version: int, address: str | None) -> str:
    """A new session for a person who has just proved their password; returns its token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as session:
        session.add(
            ConsoleSession(
                token_hash=_hash(token),
                client_id=client_id,
                secret_version=secret_version,
                created_at=now,
                seen_at=now,
                source_address=address,
            )
        )
    return token


def end_session(db: Database, token: str) -> None:
    with db.transaction() as session:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.token_hash == _hash(token), ConsoleSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )


def _resolve(db: Database, settings: Settings, token: str) -> Principal | None:
    now = utcnow()
    with db.read_sessions() as session, session.begin():
        row = session.execute(
            select(ConsoleSession, AuthClient)
            .join(AuthClient, AuthClient.client_id == ConsoleSession.client_id)
            .where(ConsoleSession.token_hash == _hash(token))
        ).first()
    if row is None:
        return None
    held, user = row
    idle = dt.timedelta(minutes=settings.console_idle_minutes)
    lifetime = dt.timedelta(hours=settings.console_session_hours)
    if (
        held.ended_at is not None
        or not user.active
        or user.secret_version != held.secret_version
        or held.seen_at + idle <= now
        or held.created_at + lifetime <= now
    ):
        return None
    if held.seen_at + TOUCH_EVERY <= now:
        with db.transaction() as session:
            session.execute(
                update(ConsoleSession)
                .where(ConsoleSession.token_hash == held.token_hash)
                .values(seen_at=now)
            )
    return Principal(
        client_id=user.client_id,
        name=user.name,
        department=Department(user.department),
        region=user.region,
        scopes=parse_scopes(user.scopes),
    )


def session_token(request: Request) -> str | None:
    token = request.cookies.get(COOKIE)
    return token if token and len(token) <= 100 else None


async def session_principal(request: Request) -> Principal:
    """The signed-in person of a console request (401 without a live session; 403 for a
    state-changing request without this session's CSRF token or from another origin)."""
    token = session_token(request)
    principal = None
    if token is not None:
        principal = await run_in_threadpool(
            _resolve, request.app.state.db, request.app.state.settings, token
        )
    if principal is None or token is None:
        raise Unauthorized("Sign in to the console.")
    if request.method in UNSAFE:
        await check_origin(request)
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(token)):
            raise Forbidden("The form is out of date or not from this console; reload the page.")
    request.state.principal = principal
    request.state.client_id = principal.client_id
    request.state.console_token = token
    request.app.state.auth.remember_console(token, principal.client_id)  # for load shedding
    return principal


async def check_origin(request: Request) -> None:
    """A browser names the page a form was posted from; it must be this hub."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-site form post (those always send Origin)
        return
    own = f"{scheme(request)}://{request.url.netloc}"
    if origin != own:
        raise Forbidden("The form was not sent from this console.")
