"""Signing secrets: made, sealed at rest, and used to sign (Standard Webhooks).

A secret is ``whsec_`` and 32 random bytes in base64; it is shown once, when the subscription
is made or rotated, and stored sealed with AES-256-GCM under a key of the hub
(``LINKAGE_WEBHOOK_KEY``, else generated once into the data directory's secrets, as the token
signing key is). The signature of a delivery is ``v1,`` and the base64 HMAC-SHA256, keyed by
the secret's bytes, of ``{webhook-id}.{webhook-timestamp}.{body}``; during a rotation's
overlap both secrets sign, space-separated, so a receiver holding either verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linkage_hub.keys import load_or_create_secret
from linkage_hub.settings import Settings

PREFIX = "whsec_"
_SEALED = "v1:"
_AAD = b"linkage-hub webhook secret"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class Sealer:
    def __init__(self, settings: Settings) -> None:
        configured = settings.webhook_key.get_secret_value() if settings.webhook_key else None
        material = load_or_create_secret(settings, "webhook", configured)
        self._aead = AESGCM(hashlib.sha256(material).digest())

    def seal(self, secret: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), _AAD)
        return _SEALED + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(_SEALED):
            raise ValueError("not a sealed webhook secret")
        raw = base64.b64decode(stored[len(_SEALED) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], _AAD).decode()
        except InvalidTag as exc:  # another hub's key: say so, never show the value
            raise ValueError("a webhook secret sealed under another key") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signatures(secrets_in_use: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_in_use)
