"""The source address and scheme of a request: the one home of "who is on the other end of
the wire".

Behind a reverse proxy every request comes from the proxy. Only when the peer is one of the
proxies the deployment trusts (``LINKAGE_TRUSTED_PROXIES``: addresses or networks) is
``X-Forwarded-For`` believed, read from the right: the first hop that is not a trusted proxy is
the client. A header from anyone else is ignored, so a client cannot choose its own address
(the address feeds throttling and the access record).

Limits per address (the public line's windows, the admission share, sign-in lockouts) count
under :func:`limit_key`: an IPv6 address's /64, not the address, since one subscriber or host
is given a whole /64 and could otherwise take a fresh share with each of 2^64 addresses. The
access record keeps the address itself.

The scheme follows the same rule: a proxy that ends TLS talks plain HTTP to the hub, and only a
trusted one's ``X-Forwarded-Proto`` says the browser used https (the console's origin check
and its cookie's ``Secure`` flag depend on it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


@lru_cache(maxsize=64)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def source_address(scope: Scope, trusted_proxies: Iterable[str] = ()) -> str:
    """The client's address for this ASGI request scope (``"unknown"`` when there is none)."""
    client = scope.get("client")
    peer = str(client[0]) if client else UNKNOWN
    networks = _networks(tuple(trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    for hop in reversed(forwarded):
        if not hop:
            continue
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return UNKNOWN  # a proxy we trust passed on garbage: do not invent an address
    return peer


@lru_cache(maxsize=4096)
def limit_key(address: str) -> str:
    """What a per-address limit counts ``address`` under: an IPv4 address itself (also when
    written IPv4-mapped, ``::ffff:a.b.c.d``); an IPv6 address's /64 network; anything else
    (``"unknown"``, a Unix socket's name) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


SCHEMES = frozenset({"http", "https"})


def forwarded_scheme(scope: Scope, trusted_proxies: Iterable[str] = ()) -> str:
    """The scheme the client used: the request's own, or, when the peer is a trusted proxy,
    the last ``X-Forwarded-Proto`` value (the nearest proxy's word) if it is http or https."""
    own = str(scope.get("scheme", "http"))
    client = scope.get("client")
    networks = _networks(tuple(trusted_proxies))
    if not client or not networks or not _trusted(str(client[0]), networks):
        return own
    said = [
        part.strip().lower()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-proto"
        for part in value.decode("latin-1").split(",")
    ]
    said = [part for part in said if part]
    return said[-1] if said and said[-1] in SCHEMES else own
