"""A hub or command started without the ID key set its database was sealed with refuses to
start, and generates no key set.

The hub made a fresh key set whenever its key file was missing: a second replica or a container
without its volume (the file is generated beside the database), or a mistyped
``LINKAGE_ID_KEY_FILE``, got a new "v1", reported ready, answered 500 for every stored ID number,
and sealed new ones and hashed person keys under a key no other process has.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from linkage_hub.app import create_app
from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.keys import Keyring, KeySetError, id_key_path, load_key_set
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings
from tests.records import factory as f
from tests.records.conftest import Push


def _without_key_set(settings: Settings, backend: str, tmp_path: Path) -> Settings:
    if backend == "postgres":  # a second replica, a container without its volume
        return settings.model_copy(update={"data_dir": tmp_path / "replica"})
    return settings.model_copy(update={"id_key_file": tmp_path / "typo" / "id-keys.json"})


def test_a_hub_without_its_key_set_refuses_to_start(
    push: Push, settings: Settings, backend: str, tmp_path: Path
) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201
    other = _without_key_set(settings, backend, tmp_path)
    db = Database(other)
    try:
        app = create_app(other, database=db)
        with pytest.raises(KeySetError, match="LINKAGE_ID_KEY_FILE"), TestClient(app):
            pass
    finally:
        db.dispose()
    assert not id_key_path(other).exists()


def test_a_hub_with_another_key_set_refuses_to_start(
    push: Push, settings: Settings, tmp_path: Path
) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201
    other = settings.model_copy(update={"id_key_file": tmp_path / "other.json"})
    load_key_set(other)  # valid, numbered v1, not this database's
    db = Database(other)
    try:
        app = create_app(other, database=db)
        with pytest.raises(KeySetError, match=r"\(key version 1\)"), TestClient(app):
            pass
    finally:
        db.dispose()


@pytest.mark.parametrize("command", [["serve", "--port", "18999"], ["migrate"], ["demo"]])
def test_commands_without_the_key_set_refuse_in_one_line(
    push: Push,
    settings: Settings,
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    import uvicorn

    assert push("roster", [f.roster(1)]).status_code == 201
    other = _without_key_set(settings, backend, tmp_path)
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: other)
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **_k: pytest.fail("serve started"))
    capsys.readouterr()
    assert main(command) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"linkage-hub {command[0]}: no ID key file at"), err
    assert "LINKAGE_ID_KEY_FILE" in err and "\n" not in err
    assert not id_key_path(other).exists()


def test_a_new_database_migrates_starts_and_makes_its_key_set(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(empty_database_url, tmp_path / "new")
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
    assert main(["migrate"]) == 0
    assert not id_key_path(settings).exists()  # migrate seals nothing: it makes no key set
    db = Database(settings)
    try:
        with TestClient(create_app(settings, database=db)) as client:
            assert client.get("/health/ready").status_code == 200
        assert Keyring(settings).current_version == 1  # made on first use, as before
    finally:
        db.dispose()
    assert id_key_path(settings).exists()


def test_a_database_of_plain_id_numbers_starts_without_a_key_set(
    push: Push, database: Database, settings: Settings, backend: str, tmp_path: Path
) -> None:
    """ID numbers stored before encryption (key version 0, as a bulk load or an old hub wrote
    them) need no key to open: the hub starts, and `keys rotate` seals them later. (The first
    version of the check counted them as sealed, and refused.)"""
    from sqlalchemy import text

    assert push("roster", [f.roster(1)]).status_code == 201
    with database.transaction() as session:
        session.execute(text("UPDATE records_roster SET id_number = '110105194912310021'"))
        session.execute(text("DELETE FROM idempotent_answer"))
        # As an old hub or a bulk load left it: no key set's fingerprint recorded (one that is
        # recorded refuses another key set, sealed values or not: see the test below).
        session.execute(text("DELETE FROM privacy_id_key"))
    other = _without_key_set(settings, backend, tmp_path)
    # With the audit key it shares (a replica with another one is not ready, and rightly:
    # tests/security/test_api8_audit_key_mismatch.py).
    audit_key = SecretStr(database.audit_keys().versions[1].decode())
    other = other.model_copy(update={"audit_key": audit_key})
    db = Database(other)
    try:
        with TestClient(create_app(other, database=db)) as client:
            assert client.get("/health/ready").status_code == 200
    finally:
        db.dispose()


def test_a_hub_started_while_its_database_was_down_checks_its_key_set_before_it_seals(
    push: Push, settings: Settings, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process started while the database was down comes up not ready (as before the check)
    and makes the check when the database answers: not ready while the key set does not open
    what is stored, and nothing sealed (a 12310 report is refused, no key file made)."""
    from sqlalchemy.exc import OperationalError

    from linkage_hub.records.rotation import check_key_set

    assert push("roster", [f.roster(1)]).status_code == 201
    other = _without_key_set(settings, backend, tmp_path)
    starts: list[int] = []

    def down_at_start(db: Database, s: Settings) -> None:
        starts.append(1)
        if len(starts) == 1:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("down"))
        check_key_set(db, s)

    monkeypatch.setattr("linkage_hub.app.check_key_set", down_at_start)
    db = Database(other)
    try:
        with TestClient(create_app(other, database=db), raise_server_exceptions=False) as client:
            ready = client.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["id_keys"] == "mismatch"
            report = {"category": "ghost_pay", "region": "230100", "facts": "举报"}
            filed = client.post("/public/v1/reports", json=report)
            assert filed.status_code == 503, filed.text
            assert filed.headers["content-type"] == "application/problem+json"
    finally:
        db.dispose()
    assert not id_key_path(other).exists()


def test_a_hub_started_before_anything_was_sealed_checks_again_before_it_seals(
    push: Push, settings: Settings, backend: str, tmp_path: Path
) -> None:
    """A replica started without its key set while the database held nothing sealed (a new
    deployment, both started together) passed the start's check; once the other had sealed,
    its first report generated a fresh "v1" and sealed under it (201). The check runs again
    before the first keyring is made. (Found by the review of this session's changes.)"""
    other = _without_key_set(settings, backend, tmp_path)
    db = Database(other)
    try:
        with TestClient(create_app(other, database=db), raise_server_exceptions=False) as late:
            assert push("roster", [f.roster(1)]).status_code == 201  # the first hub seals
            report = {"category": "ghost_pay", "region": "230100", "facts": "举报"}
            filed = late.post("/public/v1/reports", json=report, headers={"Idempotency-Key": "k"})
            assert filed.status_code == 503, filed.text
            assert late.get("/health/ready").json()["id_keys"] == "mismatch"
    finally:
        db.dispose()
    assert not id_key_path(other).exists()


def test_two_hubs_started_together_on_a_new_database_seal_under_one_key_set(
    client: TestClient,
    push: Push,
    headers_for: HeadersFor,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Two replicas (each with its own volume) start on a new database: nothing is sealed yet,
    so both pass the start-up check. The first to make its keyring records its key set's
    fingerprint; the second, which generated another key set, refuses to seal (503) instead of
    sealing ID numbers the first cannot open under person keys that never join."""
    # Its own volume: on PostgreSQL the key file is kept in the data dir; on SQLite beside the
    # database file, so there another LINKAGE_ID_KEY_FILE is what makes another key set.
    replica = settings.model_copy(
        update={"data_dir": tmp_path / "replica", "id_key_file": tmp_path / "replica.json"}
    )
    db = Database(replica)
    try:
        with TestClient(create_app(replica, database=db), raise_server_exceptions=False) as other:
            assert other.get("/health/ready").status_code == 200  # nothing sealed: both ready
            assert push("roster", [f.roster(1)]).status_code == 201  # the first seals
            answer = other.post(
                "/api/v1/datasets/roster/batches",
                json={"records": [f.roster(2)]},
                headers=headers_for("establishment"),
            )
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert other.get("/health/ready").json()["id_keys"] == "mismatch"
        records = client.get("/api/v1/datasets/roster/records", headers=headers_for("audit"))
        assert records.status_code == 200, records.text
        assert len(records.json()["items"]) == 1
    finally:
        db.dispose()


def test_a_hub_with_another_key_set_refuses_to_start_before_anything_is_sealed(
    client: TestClient, headers_for: HeadersFor, settings: Settings, tmp_path: Path
) -> None:
    """The first keyring records its key set's fingerprint: a process started later with
    another key set refuses to start although nothing is sealed yet."""
    lookup = client.get("/api/v1/datasets/roster/records", headers=headers_for("audit"))
    assert lookup.status_code == 200, lookup.text  # the hub's keyring: its fingerprint recorded
    other = settings.model_copy(update={"id_key_file": tmp_path / "other.json"})
    load_key_set(other)
    db = Database(other)
    try:
        app = create_app(other, database=db)
        with (
            pytest.raises(
                KeySetError, match=r"not the one this database seals under \(key version 1\)"
            ),
            TestClient(app),
        ):
            pass
    finally:
        db.dispose()


def test_processes_recording_key_sets_at_once_agree_on_one(
    database: Database, settings: Settings
) -> None:
    """Four processes' first keyrings at the same moment, each with its own key set: one is
    recorded, the other three are refused as another key set (not a duplicate-key 500)."""
    import threading

    from linkage_hub.ciphers import KeyVersion
    from linkage_hub.keys import KeySet
    from linkage_hub.records.rotation import record_key_set

    sets = [KeySet(1, {1: KeyVersion(1, settings.id_cipher, bytes([i]) * 32)}) for i in range(4)]
    barrier = threading.Barrier(len(sets))
    outcomes: list[str] = []

    def first_keyring(keys: KeySet) -> None:
        barrier.wait()
        try:
            record_key_set(database, keys)
        except KeySetError:
            outcomes.append("refused")
        except Exception as exc:  # the outcome is what the test asserts
            outcomes.append(type(exc).__name__)
        else:
            outcomes.append("recorded")

    threads = [threading.Thread(target=first_keyring, args=(k,)) for k in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["recorded", "refused", "refused", "refused"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_key_set_already_recorded_is_checked_without_the_write_lock(
    database: Database, settings: Settings
) -> None:
    """Every start after the first finds its key set recorded: the check reads, and a writer
    holding SQLite's write lock (a long push) does not make the process's first request wait
    past the busy timeout into a 503. Another key set is still refused."""
    from sqlalchemy import text

    from linkage_hub.ciphers import KeyVersion
    from linkage_hub.keys import KeySet
    from linkage_hub.records.rotation import record_key_set

    mine = KeySet(1, {1: KeyVersion(1, settings.id_cipher, b"\x01" * 32)})
    other = KeySet(1, {1: KeyVersion(1, settings.id_cipher, b"\x02" * 32)})
    record_key_set(database, mine)
    with database.transaction() as session:
        session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock, held
        record_key_set(database, mine)  # answered from a read
        with pytest.raises(KeySetError):
            record_key_set(database, other)
