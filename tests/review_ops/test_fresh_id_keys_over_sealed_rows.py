"""A hub that starts without the ID key set its database was sealed with makes a new one and
serves on it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, push  # noqa: F401 (fixture)


def _second_hub(settings: Settings, backend: str, tmp_path: Path) -> Settings:
    if backend == "postgres":
        # A second replica / a container restarted without a volume: its own data directory,
        # where the hub generates its ID key set (README: "generated beside the database").
        return settings.model_copy(update={"data_dir": tmp_path / "replica"})
    # A mistyped LINKAGE_ID_KEY_FILE (the case keys_cli._keyring refuses).
    return settings.model_copy(update={"id_key_file": tmp_path / "typo" / "id-keys.json"})


def test_a_hub_without_the_key_set_refuses_to_serve(
    settings: Settings, backend: str, tmp_path: Path, push: Push, headers_for: HeadersFor
) -> None:
    """Should: a hub whose ID key set does not open the stored ID numbers refuses to start
    (or at least /health/ready says 503), as `linkage-hub keys status|rotate` refuse
    (records/keys_cli.py:_keyring). Does: keys.load_key_set makes a fresh set, numbered v1 like
    the real one, writes it beside the second hub, /health/ready answers 200 and reading a
    record answers 500; the new hub seals new ID numbers as 'v1:' under a different key and
    hashes person keys under it, so one database holds two incompatible 'v1's."""
    assert push("roster", [f.roster(1)]).status_code in (200, 201, 202)
    audit = headers_for("audit")
    other = _second_hub(settings, backend, tmp_path)
    db = Database(other)
    try:
        refused = False
        try:
            app = create_app(other, database=db)
            with TestClient(app, raise_server_exceptions=False) as client:
                ready = client.get("/health/ready")
                listed = client.get("/api/v1/datasets/roster/records", headers=audit)
        except (ValueError, RuntimeError):
            refused = True
        if not refused:
            assert ready.status_code == 503 and listed.status_code != 500, (
                f"second hub serves: ready {ready.status_code}, roster list "
                f"{listed.status_code} {listed.text[:200]}"
            )
    finally:
        db.dispose()
