"""Authentication dependencies for handlers (placeholder until issue 3 lands).

Handlers take the caller as ``principal: CurrentPrincipal``; region filters use
``principal.region_bounds`` inside the SQL ``WHERE`` clause.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from linkage_hub.auth.principal import Principal
from linkage_hub.errors import Unauthorized


def get_principal(request: Request) -> Principal:
    raise Unauthorized("A bearer token is required.", headers={"WWW-Authenticate": "Bearer"})


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
