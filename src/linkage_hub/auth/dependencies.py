"""Token verification (placeholder until issue 3 lands).

``get_principal_or_none`` returns ``None`` when the request carries no ``Authorization``
header and raises 401 for a token that does not verify. Handlers never call it directly: they
take ``principal: CurrentPrincipal`` from :mod:`linkage_hub.auth.policy`.
"""

from __future__ import annotations

from fastapi import Request

from linkage_hub.auth.principal import Principal
from linkage_hub.errors import Unauthorized


def get_principal_or_none(request: Request) -> Principal | None:
    if "authorization" not in request.headers:
        return None
    raise Unauthorized("The token could not be verified.", headers={"WWW-Authenticate": "Bearer"})
