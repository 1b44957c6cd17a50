"""The ID key set is checked against the database once, at start (app.lifespan ->
records.rotation.check_key_set), but made on first use (dependencies.keyring_of ->
Keyring -> keys.load_key_set, which generates a fresh set when no key file is there). A hub
started without its key set while the database held nothing sealed yet (a second replica
without the volume, started with the first on a new deployment; a mistyped
LINKAGE_ID_KEY_FILE) passes the check, and when it first needs a keyring, after the other
process has sealed ID numbers, it generates a fresh "v1" and seals under it: the very thing
the check was added to prevent."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.keys import id_key_path
from linkage_hub.settings import Settings
from tests.records import factory as f
from tests.records.conftest import Push, push  # noqa: F401


def _without_key_set(settings: Settings, backend: str, tmp_path: Path) -> Settings:
    if backend == "postgres":  # a second replica, a container without its volume
        return settings.model_copy(update={"data_dir": tmp_path / "replica"})
    return settings.model_copy(update={"id_key_file": tmp_path / "typo" / "id-keys.json"})


def test_a_hub_started_before_anything_was_sealed_makes_no_key_set_once_something_is(
    push: Push, settings: Settings, backend: str, tmp_path: Path  # noqa: F811
) -> None:
    """Should: once the database holds ID numbers sealed by the other process, the hub
    without their key set seals nothing and makes no key set (503, not ready), as a hub
    started then refuses to start. Does: it generates a fresh key file and files the report
    (201), sealing its facts and the stored receipt under a key no other process has."""
    other = _without_key_set(settings, backend, tmp_path)
    db = Database(other)
    try:
        with TestClient(create_app(other, database=db), raise_server_exceptions=False) as late:
            # started (check passed: nothing sealed yet); now the first hub seals
            assert push("roster", [f.roster(1)]).status_code == 201
            report = {"category": "ghost_pay", "region": "230100", "facts": "举报"}
            filed = late.post(
                "/public/v1/reports", json=report, headers={"Idempotency-Key": "k-1"}
            )
            made = id_key_path(other).exists()
            assert filed.status_code == 503 and not made, (filed.status_code, made, filed.text)
    finally:
        db.dispose()
