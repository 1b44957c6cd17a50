"""API8:2023 Security Misconfiguration — guessable secrets taken at start.

``LINKAGE_RECORD_KEY_SECRET``, ``LINKAGE_AUDIT_KEY`` and ``LINKAGE_WEBHOOK_KEY`` took any
non-empty string, while the signing key beside them is held to 32 characters. The record key
secret is the HMAC key of the opaque record keys every department and webhook payload carries
(over the dataset and the natural key, which holds the ID number): a guessable one lets anyone
holding a record key brute-force the ID number behind it. A guessable audit key lets whoever
writes the database forge the audit log's MACs; a guessable webhook key opens every
subscription's signing secret at rest. An empty one fell back to a generated file unsaid.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from linkage_hub import cli
from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings, get_settings

SECRETS = ("LINKAGE_RECORD_KEY_SECRET", "LINKAGE_AUDIT_KEY", "LINKAGE_WEBHOOK_KEY")


@pytest.mark.parametrize("value", ["a", "x" * 31, ""])
@pytest.mark.parametrize("name", SECRETS)
def test_a_short_or_empty_secret_stops_every_command_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LINKAGE_DATABASE_URL", raising=False)
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 1
        with pytest.raises(ValidationError, match=name.removeprefix("LINKAGE_").lower()):
            create_app()  # a uvicorn worker's start
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"linkage-hub migrate: setting {name}: ") and "\n" not in err
    assert "32 characters" in err
    assert not list(tmp_path.glob("linkage-hub.*.key"))  # no generated file stood in for it


def test_secrets_of_32_characters_and_generated_ones_start_a_hub(
    settings: Settings, tmp_path: Path
) -> None:
    given = {"record_key_secret": "r" * 32, "audit_key": "a" * 32, "webhook_key": "w" * 32}
    for configured in (given, {}):  # {}: generated beside the database, the default
        hub = Settings(
            database_url=settings.sqlalchemy_url,
            data_dir=tmp_path,
            signing_key=settings.signing_key,
            **configured,  # type: ignore[arg-type]
        )
        db = Database(hub)
        try:
            with TestClient(create_app(hub, database=db)) as client:
                assert client.get("/health/ready").status_code == 200
        finally:
            db.dispose()
