"""One delivery POST, with the guards a hub that calls out of a government network needs.

- ``https`` only, except to hosts in ``LINKAGE_WEBHOOK_ALLOW_HOSTS``;
- the host is resolved here and every address checked: only global addresses are accepted
  (not private, loopback, link-local, shared 100.64.0.0/10, multicast, reserved, unspecified,
  nor an IPv6 address mapping such an IPv4 one) unless the host is allowed; the
  connection then goes to the address that was checked (the clients of :func:`client` connect
  to it for the URL's host name, which stays in ``Host`` and in TLS's server name and
  certificate check), so a second DNS answer cannot swap in an internal address between the
  check and the connection. Kept-alive connections are pooled by host name, so one made for
  one name (and its certificate) never carries a POST to another name at the same address;
- no redirect is followed (a 3xx is a failed attempt), and at most :data:`MAX_RESPONSE_BYTES`
  of a response body is read;
- the whole exchange (the DNS lookup, connect, TLS, request, response headers and body) ends
  within ``LINKAGE_WEBHOOK_TIMEOUT_SECONDS`` (15 s by default) of the
  POST's start. httpx's timeout bounds each socket operation, so a receiver answering a byte
  a second could hold a POST open for ever, past the delivery worker's lease; the clients of
  :func:`client` cut every socket operation short at the POST's deadline instead.

:func:`check_target` is also what the API runs when a subscription is made or changed, so a
refused URL is a 422 there and not a string of failed deliveries later.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpcore
import httpx

MAX_RESPONSE_BYTES = 4096
MAX_URL_LENGTH = 2000


class TargetRefused(ValueError):
    """The URL may not be called (the message says why, in words fit for the API)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429 or 503

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _allowed(host: str, allow_hosts: list[str]) -> bool:
    return host.lower() in {h.lower() for h in allow_hosts}


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _public(address: str) -> bool:
    """Whether ``address`` is one the whole Internet routes to (``is_global``), judged as the
    IPv4 address it carries when it is an IPv6 one mapping one (``::ffff:a.b.c.d``, 6to4,
    Teredo, NAT64).

    Refusing what is private, loopback and so on left out what is neither private nor global:
    the shared address space 100.64.0.0/10 (RFC 6598), where Alibaba Cloud and the government
    clouds built on it put their internal services (100.100.100.200 is its instance
    metadata). Accepting only what is global refuses it, and any other special-purpose range,
    without naming each; the checks after ``is_global`` refuse what this Python's tables still
    call global (multicast, IPv4-compatible ``::a.b.c.d`` and local-use NAT64 in ``::/8``,
    site-local ``fec0::/10``)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
        elif ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url(url: str, allow_hosts: list[str]) -> tuple[str, str, int]:
    """The URL's scheme, host and port, or :class:`TargetRefused` (no DNS lookup).

    httpx parses the URL too, when the POST is built, and refuses more than ``urlsplit`` (a
    control character in the path): the URL is refused here if either cannot read it, so a
    subscription cannot hold a URL no delivery could ever be sent to."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise TargetRefused("the URL cannot be parsed") from exc
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise TargetRefused("the URL must be https://host/...")
    if parts.username or parts.password:
        raise TargetRefused("the URL may not carry a user name or password")
    if parts.scheme == "http" and not _allowed(host, allow_hosts):
        raise TargetRefused("plain http is allowed only to hosts in LINKAGE_WEBHOOK_ALLOW_HOSTS")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


class LookupTimedOut(Exception):
    """The host's DNS lookup did not end within the time left."""


# A bounded lookup runs in a thread of its own: a name server the subscriber controls may answer
# slowly, and getaddrinfo takes no timeout. A lookup past its bound is abandoned and ends on its
# own, when the resolver gives up. Threads are not pooled, so one subscriber's silent name
# servers cannot hold the threads another subscriber's lookup would need; a host name with
# :data:`MAX_LOOKUPS_PER_HOST` lookups still running starts no more until one ends, so the
# abandoned threads are bounded by the distinct host names being delivered to; a lookup asked
# for meanwhile waits for the last one started (its answer is the name's too). Refusing it
# failed the third of several subscriptions behind one host name sent to at once
# (``LINKAGE_WEBHOOK_CONCURRENCY``) without a lookup.
MAX_LOOKUPS_PER_HOST = 2
_running: dict[str, tuple[int, concurrent.futures.Future[list[str]]]] = {}
_running_lock = threading.Lock()


def _literal(host: str) -> bool:
    """An IP address, which getaddrinfo answers without asking a name server."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _lookup(host: str, port: int, timeout: float | None) -> list[str]:
    if timeout is None or _literal(host):
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]
    key = host.lower()
    answer: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
    with _running_lock:
        count, last = _running.get(key, (0, answer))
        if count >= MAX_LOOKUPS_PER_HOST:
            return _wait(last, timeout)
        _running[key] = (count + 1, answer)

    def resolve() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.set_result([str(info[4][0]) for info in infos])
        except BaseException as exc:  # handed to the caller, if it still waits
            answer.set_exception(exc)
        finally:
            with _running_lock:
                count, last = _running.pop(key)
                if count > 1:
                    _running[key] = (count - 1, last)

    threading.Thread(target=resolve, name="webhook-dns", daemon=True).start()
    return _wait(answer, timeout)


def _wait(answer: concurrent.futures.Future[list[str]], timeout: float) -> list[str]:
    try:
        return answer.result(timeout=max(timeout, 0.0))
    except concurrent.futures.TimeoutError as exc:
        raise LookupTimedOut from exc


def check_target(url: str, allow_hosts: list[str], timeout: float | None = None) -> str:
    """Check the URL and resolve its host (within ``timeout`` seconds, else
    :class:`LookupTimedOut`); returns the address to connect to."""
    _, host, port = check_url(url, allow_hosts)
    try:
        addresses = _lookup(host, port, timeout)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"the host {host} does not resolve") from exc
    if not addresses:
        raise TargetRefused(f"the host {host} does not resolve")
    if not _allowed(host, allow_hosts):
        for address in addresses:
            if not _public(address):
                raise TargetRefused(f"the host {host} resolves to an address that is not public")
    return addresses[0]


def _retry_after(response: httpx.Response) -> float | None:
    """The seconds a 429's or 503's ``Retry-After`` asks for: ASCII digits or an HTTP date
    (RFC 9110, 10.2.3), anything else ignored. The receiver writes it, so nothing in it may
    raise: ``str.isdigit`` takes '²' for a digit and ``float`` does not, and a date's year
    can overflow; either once stopped the whole claim's deliveries."""
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # an HTTP date is in GMT whatever its form says
            when = when.replace(tzinfo=dt.UTC)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


# The monotonic time by which the POST under way in this thread must be over (None: no bound).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "webhook_deadline", default=None
)
# The POST's host name and the address check_target found for it: a new connection for that
# name goes to that address (no second lookup).
_pinned: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "webhook_pinned", default=None
)


def _left(timeout: float | None, late: type[httpcore.TimeoutException]) -> float | None:
    """``timeout``, cut to what is left of the POST's deadline; ``late`` once it has passed."""
    end = _deadline.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise late("the exchange took longer than the timeout")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's own sockets, every operation bounded by the POST's deadline too."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        pinned = _pinned.get()
        if pinned is None or pinned[0].lower() != host.strip("[]").lower():
            raise httpcore.ConnectError(f"no checked address for {host}")
        address = pinned[1]
        return _Stream(self._inner.connect_tcp(address, port, left, local_address, socket_options))

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=100,  # httpx's defaults
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_Backend(),
        )


def client(timeout: float) -> httpx.Client:
    """A client for :func:`post`: no proxy from the environment (the checks name the target),
    no redirects, and each POST's whole exchange bounded by ``timeout``."""
    return httpx.Client(
        transport=_Transport(),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "linkage-hub-webhooks/1"},
    )


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow_hosts: list[str],
) -> Outcome:
    """One POST, over within the client's timeout (read timeout) from start to end when the
    client is one of :func:`client`."""
    started = time.monotonic()
    limit = client.timeout.read
    token = _deadline.set(None if limit is None else started + limit)
    try:
        return _post(client, url, body, headers, allow_hosts, started)
    finally:
        _deadline.reset(token)


def _post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    allow_hosts: list[str],
    started: float,
) -> Outcome:
    def done(status: int | None, error: str | None = None, retry: float | None = None) -> Outcome:
        return Outcome(status, int((time.monotonic() - started) * 1000), error, retry)

    end = _deadline.get()
    try:
        address = check_target(url, allow_hosts, None if end is None else end - time.monotonic())
    except TargetRefused as exc:
        return done(None, f"refused: {exc}")
    except LookupTimedOut:
        return done(None, "timed out")
    request = client.build_request(
        "POST", url, content=body, headers={**headers, "content-type": "application/json"}
    )
    token = _pinned.set((urlsplit(url).hostname or "", address))
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            read = 0
            for chunk in response.iter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
        finally:
            response.close()
    except httpx.TimeoutException:
        return done(None, "timed out")
    except httpx.HTTPError as exc:
        return done(None, f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        _pinned.reset(token)
    code = response.status_code
    error = None if 200 <= code < 300 else f"answered {code}"
    return done(code, error, _retry_after(response))
