"""The per-process state of the auth room, kept on ``app.state.auth``.

- ``keys``: the token signing key, loaded when the app starts (so a bad key stops the start) or
  on first use without a lifespan — not when the app is built: rendering the OpenAPI document
  must not create key files.
- ``clients``: a short cache of each client's status, so a token costs a signature check and not
  a query per request. Revocation takes effect within ``LINKAGE_CLIENT_CACHE_SECONDS`` (≤ 60).
  Only client ids from tokens whose signature verified reach it, so it holds real clients only.
- ``recorder``: the access record's buffer (see :mod:`linkage_hub.auth.access`).
- ``console_callers``: the console session cookies this process has resolved to a person, so
  that :mod:`linkage_hub.loadshed` counts people, not their office's address (a whole office
  behind one NAT address would otherwise share one caller's slots). Bounded like the verified
  tokens; for telling callers apart, never for trust.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import cached_property

from fastapi import Request
from starlette.requests import cookie_parser
from starlette.types import Scope

from linkage_hub.auth.access import AccessRecorder
from linkage_hub.auth.service import ClientState, client_state
from linkage_hub.auth.sessions import COOKIE
from linkage_hub.auth.tokens import VERIFIED_CACHE_SIZE, TokenKeys
from linkage_hub.db import Database
from linkage_hub.settings import Settings


class ClientCache:
    def __init__(self, db: Database, ttl_seconds: float) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self.clock: Callable[[], float] = time.monotonic
        self._entries: dict[str, tuple[ClientState | None, float]] = {}

    def fresh(self, client_id: str) -> tuple[ClientState | None] | None:
        """The cached state while it is fresh (a 1-tuple, so a cached "no such client" is
        ``(None,)``); ``None`` when the database must be asked."""
        hit = self._entries.get(client_id)
        if hit is not None and self.clock() - hit[1] < self.ttl_seconds:
            return (hit[0],)
        return None

    def get(self, client_id: str) -> ClientState | None:
        """The client's state, from the cache or (blocking) from the database."""
        cached = self.fresh(client_id)
        if cached is not None:
            return cached[0]
        return self.load(client_id)

    def load(self, client_id: str) -> ClientState | None:
        """The client's state read from the database (blocking), and cached."""
        now = self.clock()
        with self.db.read_sessions() as session:
            state = client_state(session, client_id)
        self._entries[client_id] = (state, now)
        return state


class AuthRuntime:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.clients = ClientCache(db, settings.client_cache_seconds)
        self.recorder = AccessRecorder(db, flush_seconds=settings.access_record_flush_seconds)
        self._keys_lock = threading.Lock()
        self.console_callers: dict[str, str] = {}

    def remember_console(self, token: str, client_id: str) -> None:
        """A session cookie that resolved to ``client_id`` (a person) in this process."""
        if token not in self.console_callers and len(self.console_callers) >= VERIFIED_CACHE_SIZE:
            self.console_callers.clear()
        self.console_callers[token] = client_id

    @cached_property
    def keys(self) -> TokenKeys:
        with self._keys_lock:
            return TokenKeys.from_settings(self.settings)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: a bad signing key stops the start; records flush meanwhile."""
        _ = self.keys
        async with self.recorder.running():
            yield


def auth_runtime(request: Request) -> AuthRuntime:
    runtime: AuthRuntime = request.app.state.auth
    return runtime


def known_caller(scope: Scope) -> str | None:
    """``client:<id>`` for a request whose console session cookie this process has resolved
    to a person, or else whose bearer token it has verified before; else ``None``: how
    :mod:`linkage_hub.loadshed` tells callers apart before authentication, with dictionary
    lookups and nothing a forged token or cookie could claim.

    The cookie comes first, whatever else the request carries: console routes authenticate by
    it alone, so a person's request with an ``Authorization`` header added (or a second
    ``Cookie`` header) is still that person's, and not counted by address past their share."""
    runtime: AuthRuntime = scope["app"].state.auth
    cookies: dict[str, str] = {}
    authorization = None
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            # read as Starlette reads them, so this is the cookie the session check will read
            # (every Cookie header; the last of two with one name)
            cookies.update(cookie_parser(value.decode("latin-1")))
        elif name == b"authorization" and authorization is None:
            authorization = value
    token = cookies.get(COOKIE)
    person = None if token is None else runtime.console_callers.get(token)
    if person is not None:
        return "client:" + person
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None
    client = runtime.keys.known_client(authorization[7:].decode("latin-1").strip())
    return None if client is None else "client:" + client
