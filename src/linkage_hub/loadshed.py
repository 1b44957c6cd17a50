"""Backpressure: a bounded amount of work in flight per process, a fair share of it per caller,
and a fast 503 past either, decided before authentication and before any database work.

Without a bound a busy hub queues without limit: every request is answered, late, and under an
open-loop load (departments' systems keep sending whether or not the last answer came) the
queue never drains (bench/RESULTS.md, "Load"). With one, a request that cannot be served soon is
told so at once (``503``, ``Retry-After: 1``, a problem body) and costs the process only the
parsing of its head; the requests admitted keep their latency.

**The bound** (``LINKAGE_MAX_IN_FLIGHT`` per process, ``0`` turns shedding off): requests being
worked on, from admission until the response's last byte (a streamed report holds its slot
while it streams). Liveness, readiness and metrics are never shed, so a load balancer does not
take a busy hub for a dead one.

**The fair share.** The caller is known before authentication only cheaply and unforgeably:
a bearer token this process has verified before maps to its client id (the token cache, one
dictionary lookup), a console session cookie it has resolved before to its person (so a whole
office behind one NAT address is not one caller); anything else (a new or forged token or
cookie, no credentials) counts by its source address. A caller may hold at most
``LINKAGE_CALLER_SHARE`` of the slots, and once half the slots are taken no caller may hold
more than an equal split among the callers in flight. So a department's nightly bulk sync
can use half of an idle hub, and a second department arriving finds room at once; a flood of
forged tokens from one address is one caller.

**The newcomers' reserve.** Two callers at their shares fill the bound (an auditor's GETs and
finance's list pages, four each of eight): a third, holding nothing, would be refused however
small its request — a department's push shed by other departments' reads (bench/load.py saw
it). A caller with nothing in flight is therefore admitted past the bound, into a reserve of
a quarter of it (at least one): every caller gets its first request in while the reserve
lasts, and no caller holds more than one slot of it.

The counters are per process (each uvicorn worker has its own), kept on the event loop only, so
no lock is needed.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from linkage_hub.clientaddr import limit_key, source_address
from linkage_hub.errors import PROBLEM_JSON, ServiceUnavailable

NEVER_SHED = frozenset({"/health/live", "/health/ready", "/metrics"})
RETRY_AFTER_SECONDS = 1
PAGE_PREFIXES = ("/console", "/public/")  # people's pages: a page, not a problem body

CallerOf = Callable[[Scope], str | None]


@dataclass
class Admission:
    """The in-flight count per caller and in all, and the admission rule (module docstring)."""

    limit: int
    share: float = 0.5
    held: dict[str, int] = field(default_factory=dict)
    total: int = 0
    newcomers_reserve: bool = True  # False: the bound is a hard cap (the public shield's)

    @property
    def reserve(self) -> int:
        """Slots past the bound for callers that hold none (module docstring)."""
        return max(1, self.limit // 4) if self.newcomers_reserve else 0

    def cap(self, caller: str) -> int:
        """How many slots ``caller`` may hold now."""
        hard = max(1, math.floor(self.limit * self.share))
        if self.total * 2 < self.limit:
            return hard
        callers = len(self.held) + (caller not in self.held)
        return min(hard, max(1, self.limit // callers))

    def admit(self, caller: str) -> str | None:
        """Take a slot for ``caller``; ``None`` if taken, else why not (``capacity`` or
        ``share``)."""
        held = self.held.get(caller, 0)
        if self.total >= self.limit and (held or self.total >= self.limit + self.reserve):
            return "capacity"
        if held >= self.cap(caller):
            return "share"
        self.held[caller] = self.held.get(caller, 0) + 1
        self.total += 1
        return None

    def release(self, caller: str) -> None:
        left = self.held[caller] - 1
        if left:
            self.held[caller] = left
        else:
            del self.held[caller]
        self.total -= 1


class ShedMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.shed = Counter(
            "linkage_http_requests_shed",
            "Requests refused with 503 before any work, by reason (capacity or share)",
            ["reason"],
            registry=registry,
        )
        self.admitted = Gauge(
            "linkage_http_admitted_in_flight",
            "Requests holding an admission slot",
            registry=registry,
        )


class LoadShedMiddleware:
    """Admission before everything but the request id and the log line (Observability, outside
    it, adds the security headers and counts the 503 by route)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        share: float,
        caller_of: CallerOf,
        trusted_proxies: tuple[str, ...],
        registry: CollectorRegistry,
    ) -> None:
        self.app = app
        self.admission = Admission(limit, share) if limit > 0 else None
        self.caller_of = caller_of
        self.trusted_proxies = trusted_proxies
        self.metrics = ShedMetrics(registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        admission = self.admission
        if admission is None or scope["type"] != "http" or scope.get("path") in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        caller = self.caller_of(scope) or "address:" + limit_key(
            source_address(scope, self.trusted_proxies)
        )
        reason = admission.admit(caller)
        if reason is not None:
            self.metrics.shed.labels(reason).inc()
            await _send_busy(scope, send, reason)
            return
        self.metrics.admitted.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            admission.release(caller)
            self.metrics.admitted.dec()


_DETAILS = {
    "capacity": "The hub is at capacity; retry after the seconds in Retry-After.",
    "share": "Your requests in flight already hold the largest share of the hub one caller may "
    "(it keeps room for the other departments); retry after the seconds in Retry-After.",
}
_PAGE = (
    "<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>服务繁忙</title>"
    "<p>服务繁忙，请稍后再试。The hub is busy; please try again in a moment.</p></html>"
).encode()


async def _send_busy(scope: Scope, send: Send, reason: str) -> None:
    path = str(scope.get("path", ""))
    if path.startswith(PAGE_PREFIXES) and not path.startswith("/public/v1/"):
        body, media = _PAGE, b"text/html; charset=utf-8"
    else:
        state = scope.get("state") or {}
        problem = ServiceUnavailable(_DETAILS[reason]).problem()
        problem["request_id"] = state.get("request_id") or uuid.uuid4().hex
        body, media = json.dumps(problem).encode(), PROBLEM_JSON.encode()
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
