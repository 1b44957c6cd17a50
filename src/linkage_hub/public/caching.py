"""HTTP caching of published data: a publication never changes, so its pages and JSON carry a
strong ETag derived from the publication and the view (the hidden units' set among it).
``If-None-Match`` with the same tag gets a 304 before anything is rendered.

They are ``Cache-Control: public, no-cache``: a browser or a shared cache may keep them but asks
again each time (a 304 costs no body). A ``max-age`` would let a cache serve a unit classified
since for that long, and a newer publication replaces "the latest" at any time; a classified
unit is withdrawn at once, from caches too."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL = "public, no-cache"


def publication_etag(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f'"{digest}"'


def not_modified(request: Request, etag: str) -> bool:
    asked = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") == etag for tag in asked.split(",")) or (
        asked.strip() == "*"
    )


def with_cache_headers(response: Response, etag: str) -> Response:
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def private(response: Response) -> Response:
    """Pages of one reporter (a receipt, a case's status): never stored anywhere."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def cached(request: Request, etag: str, build: Callable[[], Response]) -> Response:
    """A 304 when the caller holds ``etag``; else the response ``build`` makes, tagged."""
    if not_modified(request, etag):
        return with_cache_headers(Response(status_code=304), etag)
    return with_cache_headers(build(), etag)
