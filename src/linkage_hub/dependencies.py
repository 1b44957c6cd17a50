"""What every room's routes take from the app: the settings and the ID keyring.

The one home of these dependencies (a router never imports another router for them). Room
dependencies that need a room's own facts live in that room's ``dependencies.py``
(``records``: the dataset of the path; ``reconciliation``: the discrepancy filters, the run
executor); the principal and the permission come from :mod:`linkage_hub.auth.policy`.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any

from fastapi import Depends, Request

from linkage_hub.errors import ServiceUnavailable, invalid_field
from linkage_hub.identifiers import IdentifierError, normalise_region
from linkage_hub.keys import Keyring, KeySetError
from linkage_hub.settings import Settings

log = logging.getLogger(__name__)
_keyring_lock = threading.Lock()


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def check_keys(state: Any) -> None:
    """Run the check of the ID key set against the database (``state.key_check``:
    :func:`linkage_hub.app.create_app`), until it passes once: before the first keyring is
    made, and at ``/health/ready``. Refused (503) while the key set does not open what the
    database holds: nothing is sealed under a key set made by mistake."""
    check = getattr(state, "key_check", None)
    if check is None:
        return
    try:
        check()
    except KeySetError as exc:
        log.error("%s", exc)
        raise ServiceUnavailable("The hub's ID key set does not match its database.") from None
    state.key_check = None


def record_keys(state: Any, keyring: Keyring) -> None:
    """Record the new keyring's key set in the database (``state.key_record``:
    :func:`linkage_hub.records.rotation.record_key_set`) before it seals anything; 503 when
    another key set is recorded there (a second replica that generated its own on a new
    database), and the keyring is not kept."""
    record = getattr(state, "key_record", None)
    if record is None:
        return
    try:
        record(keyring.keys)
    except KeySetError as exc:
        log.error("%s", exc)
        state.key_check = getattr(state, "key_verify", None)  # /health/ready: mismatch
        raise ServiceUnavailable("The hub's ID key set does not match its database.") from None


def keyring_of(request: Request) -> Keyring:
    """One keyring per app, made on first use (``linkage-hub openapi`` never needs one), after
    the key set's check (:func:`check_keys`)."""
    state = request.app.state
    keyring: Keyring | None = getattr(state, "keyring", None)
    if keyring is None:
        with _keyring_lock:
            keyring = getattr(state, "keyring", None)
            if keyring is None:
                check_keys(state)
                keyring = Keyring(settings_of(request))
                record_keys(state, keyring)
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
