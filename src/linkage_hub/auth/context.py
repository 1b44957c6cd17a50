"""The request context: who is calling, and what a use case works with on their behalf.

Handlers that write (and the services behind them) take one :class:`RequestContext` rather
than the same four arguments in a row. The command line and the demo loader build one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.auth.principal import Principal
from linkage_hub.db import DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.keys import Keyring
from linkage_hub.settings import Settings


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    session: Session
    settings: Settings
    keyring: Keyring


async def request_context(
    principal: CurrentPrincipal, session: DbSession, settings: SettingsDep, keyring: KeyringDep
) -> RequestContext:
    return RequestContext(principal, session, settings, keyring)


Context = Annotated[RequestContext, Depends(request_context)]
