"""What a browser's GET form sends, read the way the API reads a query.

A form without scripts sends every named field, the empty ones too (``?rule=&as_of=``). The API
reads ``rule=`` as an empty rule code and answers 422, and it should: a program that sends an
empty value made a mistake. A person who left a filter empty asked for no filter. The console's
GET routes therefore drop blank query parameters before FastAPI reads them, so the very same
endpoint functions (the report downloads are the API's own) see an absent parameter and apply
its default.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.routing import APIRoute


class BlankFieldsAbsent(APIRoute):
    """A route whose GET query parameters with an empty value count as not sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def without_blanks(request: Request) -> Response:
            if request.method == "GET":
                items = request.query_params.multi_items()
                kept = [(name, value) for name, value in items if value != ""]
                if len(kept) != len(items):
                    request.scope["query_string"] = urlencode(kept).encode("ascii")
                    request = Request(request.scope, request.receive)
            return await handler(request)

        return without_blanks
