"""What every room's routes take from the app: the settings and the ID keyring.

The one home of these dependencies (a router never imports another router for them). Room
dependencies that need a room's own facts live in that room's ``dependencies.py``
(``records``: the dataset of the path; ``reconciliation``: the discrepancy filters, the run
executor); the principal and the permission come from :mod:`linkage_hub.auth.policy`.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from linkage_hub.errors import invalid_field
from linkage_hub.identifiers import IdentifierError, normalise_region
from linkage_hub.keys import Keyring
from linkage_hub.settings import Settings

_keyring_lock = threading.Lock()


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def keyring_of(request: Request) -> Keyring:
    """One keyring per app, made on first use (``linkage-hub openapi`` never needs one)."""
    state = request.app.state
    keyring: Keyring | None = getattr(state, "keyring", None)
    if keyring is None:
        with _keyring_lock:
            keyring = getattr(state, "keyring", None)
            if keyring is None:
                keyring = Keyring(settings_of(request))
                state.keyring = keyring
    keyring.refresh()  # a key version added by `linkage-hub keys rotate`
    return keyring


# The dependency forms are coroutines: they do no blocking I/O (the keyring checks its file's
# stamp at most every few seconds), and a plain function would cost a worker-thread trip.
async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_keyring(request: Request) -> Keyring:
    return keyring_of(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
KeyringDep = Annotated[Keyring, Depends(get_keyring)]


def region_input(value: str, field: str = "region") -> str:
    """A division code a caller sent, normalised; a 422 naming ``field`` when it is not one."""
    try:
        return normalise_region(value)
    except IdentifierError as exc:
        raise invalid_field(field, exc.code, exc.message) from None
