"""Short secrets are accepted at start-up, while the signing key of the same README row is
held to 32+ characters (linkage_hub.auth.tokens._derive_key)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings


def _starts(settings: Settings) -> bool:
    db = Database(settings)
    try:
        try:
            app = create_app(settings, database=db)
            with TestClient(app, raise_server_exceptions=False) as client:
                return client.get("/health/ready").status_code == 200
        except (ValueError, RuntimeError):
            return False
    finally:
        db.dispose()


def test_a_short_signing_key_is_refused(settings: Settings) -> None:
    """The contrast: LINKAGE_SIGNING_KEY='short' stops the start (this test passes)."""
    assert not _starts(settings.model_copy(update={"signing_key": "short"}))


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("record_key_secret", "a"),
        ("audit_key", "a"),
        ("webhook_key", "a"),
    ],
)
def test_a_one_character_secret_is_refused(settings: Settings, setting: str, value: str) -> None:
    """Should: a hub configured with LINKAGE_RECORD_KEY_SECRET / LINKAGE_AUDIT_KEY /
    LINKAGE_WEBHOOK_KEY of one character refuses to start, as it does for a short
    LINKAGE_SIGNING_KEY. Does: it starts and /health/ready says 200. The record key secret is
    the HMAC key of the opaque record keys handed to every department and in webhook payloads
    (HMAC over dataset + natural key, which holds the ID number): with a guessable key anyone
    holding a record key can brute-force the ID number behind it. A guessable audit key lets
    whoever can write the database forge the audit log's MACs; a guessable webhook key opens
    every subscription's signing secret at rest. (keys.load_or_create_secret takes any
    non-empty string.)"""
    from pydantic import SecretStr

    update: dict[str, object] = {setting: value if setting == "record_key_secret" else SecretStr(value)}
    assert not _starts(settings.model_copy(update=update)), f"LINKAGE_{setting.upper()}={value!r} accepted"
