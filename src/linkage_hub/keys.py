"""Secrets the embedded default needs, generated on first start and kept beside the database.

A secret given in the settings always wins; otherwise it is read from (or written once to)
``<secrets_dir>/linkage-hub.<name>.key`` with mode 0600. Nothing secret lives in the repository.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from linkage_hub.settings import Settings


def load_or_create_secret(settings: Settings, name: str, configured: str | None) -> bytes:
    if configured:
        return configured.encode()
    path: Path = settings.secrets_dir / f"linkage-hub.{name}.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
