"""What a browser's forms send, read the way the API reads a query or a body.

A form without scripts sends every named field, the empty ones too (``?rule=&as_of=``). The API
reads ``rule=`` as an empty rule code and answers 422, and it should: a program that sends an
empty value made a mistake. A person who left a filter empty asked for no filter. The console's
GET routes therefore drop blank query parameters before FastAPI reads them, so the very same
endpoint functions (the report downloads are the API's own) see an absent parameter and apply
its default.

No ID number goes into a console address: it would stay in the browser's history and in a
``next=`` after a session ends. The pages and downloads that read the API's discrepancy filters
(which take ``id_number``) refuse it with :func:`no_id_number`; a person's findings are on the
person search, a posted form.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError

from linkage_hub.errors import FieldError, InvalidInput


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


def invalid_form(exc: ValidationError) -> InvalidInput:
    """A posted form that does not make the API's input model: 422 naming the fields (the
    value is not echoed: it may hold anything)."""
    errors = [
        FieldError(
            field=".".join(str(p) for p in err["loc"]) or "form",
            code=err["type"],
            message=err["msg"],
        )
        for err in exc.errors()
    ]
    named = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return InvalidInput(f"The form is not valid ({named}).", errors=errors)


def no_id_number(id_number: Annotated[str | None, Query(include_in_schema=False)] = None) -> None:
    """A route dependency of every console GET that reads the discrepancy filters: ``?id_number=``
    is a 422 naming the field (never the value), checked before the filters turn it into a
    person key."""
    if id_number is not None:
        raise InvalidInput(
            "ID numbers do not go into console addresses; search on /console/persons.",
            errors=[FieldError(field="id_number", code="not_here", message="not accepted here")],
        )
