"""What stands between the public and the hub: per-address rate limits and a cap on the public
requests in flight, decided before any database work.

- **Per address** (:class:`Window`): ``LINKAGE_PUBLIC_REQUESTS_PER_MINUTE`` requests a minute to
  anything under ``/public``, and ``LINKAGE_PUBLIC_REPORTS_PER_HOUR`` reports filed an hour;
  past either, 429 with ``Retry-After``. The address is :func:`linkage_hub.clientaddr.
  source_address` (``X-Forwarded-For`` only from ``LINKAGE_TRUSTED_PROXIES``), an IPv6 one
  counted by its /64 (:func:`linkage_hub.clientaddr.limit_key`).
- **A report counts when it is filed.** A submission takes a place in the hour's window before
  it runs (so a burst cannot pass the limit together) and gives it back unless it filed a case:
  a form sent back for a typo (422), a retry answered with the first receipt (``Idempotent-
  Replayed``), a refusal. Past the limit a submission still reaches the route, marked
  (:func:`report_limit`): a retry of a report already filed gets its receipt again; anything
  that would file a case is 429. A reporter on a bad line loses neither the receipt nor a
  place.
- **In flight**: at most ``LINKAGE_PUBLIC_CONCURRENCY`` public requests per process at once;
  the next gets a 503 with ``Retry-After: 1`` at once instead of waiting for a worker thread the
  departments' API needs. One address holds a share of them, the hub's own rule
  (:class:`linkage_hub.loadshed.Admission`: at most ``LINKAGE_CALLER_SHARE``, past half full an
  equal split among the addresses in flight) without its newcomers' reserve, so the cap stays a
  cap: one address can no longer take every slot and refuse everyone else.
- **Bodies first**: a ``POST``'s body is read before it takes a slot, up to the route's cap
  (past it the body cap's 413 follows, from what was read) and for at most
  ``LINKAGE_PUBLIC_BODY_SECONDS``; a body still arriving then gets a 408 and the connection is
  closed. A form trickled in byte by byte holds a connection, never a slot.

The counters live in the process (bounded: the least recently seen addresses are forgotten past
:data:`MAX_ADDRESSES`), so with N hub processes an address may get up to N times the limit;
put the same limits on the reverse proxy for an exact cap. The daily cap on stored reports is
global (a count in the database, :mod:`linkage_hub.cases.service`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage_hub import idempotency
from linkage_hub.clientaddr import limit_key, source_address
from linkage_hub.errors import (
    HubError,
    RequestTimeout,
    ServiceUnavailable,
    TooManyRequests,
    problem_response,
)
from linkage_hub.loadshed import Admission
from linkage_hub.public.pages import error_page
from linkage_hub.settings import Settings

MAX_ADDRESSES = 100_000
PREFIX = "/public"
REPORT_PATHS = frozenset({"/public/v1/reports", "/public/12310"})
OVER_LIMIT = "linkage_hub.report_wait"  # in the scope: seconds until this address may file
REPLAYED = idempotency.REPLAYED.lower().encode()  # as an ASGI header name


class Window:
    """At most ``limit`` events per ``seconds`` per key (a sliding log of times per key)."""

    def __init__(self, limit: int, seconds: float, max_keys: int = MAX_ADDRESSES) -> None:
        self.limit, self.seconds, self.max_keys = limit, seconds, max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> int | None:
        """Count one event; ``None`` if allowed, else the seconds until one would be."""
        with self._lock:
            times = self._times.get(key)
            if times is None:
                times = self._times[key] = deque()
                if len(self._times) > self.max_keys:
                    self._times.popitem(last=False)
            else:
                self._times.move_to_end(key)
            while times and times[0] <= now - self.seconds:
                times.popleft()
            if len(times) >= self.limit:
                return max(math.ceil(times[0] + self.seconds - now), 1)
            times.append(now)
            return None

    def forget(self, key: str, when: float) -> None:
        """Give back the event :meth:`hit` counted for ``key`` at ``when``."""
        with self._lock:
            times = self._times.get(key)
            if times is not None and when in times:
                times.remove(when)


class PublicShield:
    """ASGI middleware over ``/public``: limits first, then the body, then a slot, then the
    app."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.requests = Window(settings.public_requests_per_minute, 60.0)
        self.reports = Window(settings.public_reports_per_hour, 3600.0)
        # On the event loop only, as the hub's own admission (loadshed): no lock needed.
        self.slots = Admission(
            settings.public_concurrency, settings.caller_share, newcomers_reserve=False
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        address = limit_key(source_address(scope, self.settings.trusted_proxies))
        now = time.monotonic()
        wait = self.requests.hit(address, now)
        if wait is not None:
            await _refuse(_too_many(wait), scope, receive, send)
            return
        counted: float | None = None  # when this submission took its place in the window
        if scope.get("method") == "POST" and path in REPORT_PATHS:
            wait = self.reports.hit(address, now)
            if wait is None:
                counted = now
            else:
                scope[OVER_LIMIT] = wait
        if counted is None:
            await self._admitted(scope, receive, send, address)
            return
        filed = False

        async def watched(message: Message) -> None:
            nonlocal filed
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                filed = message["status"] == 201 and REPLAYED not in names
            await send(message)

        try:
            await self._admitted(scope, receive, watched, address)
        finally:
            if not filed:
                self.reports.forget(address, counted)

    async def _admitted(self, scope: Scope, receive: Receive, send: Send, address: str) -> None:
        """The body in time, then a slot, then the app."""
        if scope.get("method") == "POST":
            arrived = await _body_in_time(
                receive, self.settings.public_body_bytes, self.settings.public_body_seconds
            )
            if arrived is None:
                late = RequestTimeout(
                    "The body did not arrive in time; please send the form again.",
                    headers={"Connection": "close"},  # the rest of it stays on the wire
                )
                await _refuse(late, scope, receive, send)
                return
            receive = _replay(arrived, receive)
        caller = "address:" + address
        if self.slots.admit(caller) is not None:
            busy = ServiceUnavailable(
                "The public pages are busy; please try again in a moment.",
                headers={"Retry-After": "1"},
            )
            await _refuse(busy, scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release(caller)


def _too_many(wait: int) -> TooManyRequests:
    return TooManyRequests(
        "Too many requests from this address; please wait before trying again.",
        headers={"Retry-After": str(wait)},
    )


def report_limit(request: Request) -> TooManyRequests | None:
    """The 429 a report route raises before it files a case, when the address has filed its
    hour's reports (see the module): a retry answered from its first receipt never asks."""
    wait = request.scope.get(OVER_LIMIT)
    return None if wait is None else _too_many(int(wait))


async def _body_in_time(receive: Receive, cap: int, seconds: float) -> list[Message] | None:
    """The body's messages, read until it ends (or the client leaves) or passes ``cap``;
    ``None`` if it has done neither within ``seconds``."""
    messages: list[Message] = []
    size = 0
    with anyio.move_on_after(seconds):
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if not message.get("more_body", False) or size > cap:
                return messages
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives ``messages`` again first, then the rest from the client."""
    pending = deque(messages)

    async def replayed() -> Message:
        return pending.popleft() if pending else await receive()

    return replayed


async def _refuse(error: HubError, scope: Scope, receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    response: Response
    if scope.get("path", "").startswith(PREFIX + "/v1/"):
        response = problem_response(error, request)
    else:
        response = error_page(request, error)  # the pages' own look
    await response(scope, receive, send)
