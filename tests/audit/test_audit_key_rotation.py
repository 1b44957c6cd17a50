"""Rotating the audit key: ``linkage-hub audit-log rotate-key`` adds a version to the key set
file and makes it current; each entry records the version its MAC was made under and verify
checks it under that version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from linkage_hub.audit.chain import mac
from linkage_hub.audit.keyset import AuditKeyMismatch, check_key_set
from linkage_hub.audit.models import AuditEntry, AuditKeyFingerprint
from linkage_hub.audit.service import Entry, append, verify
from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.keys import AuditKeySet
from linkage_hub.settings import Settings
from tests.audit.test_audit_log import rehash, tamper
from tests.conftest import make_settings


def write(db: Database, n: int) -> list[int]:
    with db.transaction() as session:
        return [
            append(session, Entry(action="test.entry", actor="cli:test", region="230000"))
            for _ in range(n)
        ]


def versions(db: Database) -> list[int]:
    with db.read_sessions() as session:
        return list(session.scalars(select(AuditEntry.key_version).order_by(AuditEntry.seq)))


def rotate(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
    return main(["audit-log", "rotate-key"])


def key_file(settings: Settings) -> Path:
    return settings.secrets_dir / "linkage-hub.audit-keys.json"


class TestRotation:
    def test_entries_before_and_after_a_rotation_all_verify(
        self,
        database: Database,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A hub on its single generated key (version 1, no operator action on upgrade) rotates:
        the running process picks the new version up from the file, a restarted one too, and
        every entry of either version verifies, by the command as by the API's service."""
        monkeypatch.setattr("linkage_hub.keys.REFRESH_SECONDS", 0)  # no waiting in a test
        write(database, 2)
        single = (settings.secrets_dir / "linkage-hub.audit.key").read_bytes().strip()

        assert rotate(settings, monkeypatch) == 0
        out = capsys.readouterr().out
        assert "version 2 is current" in out and single.decode() not in out
        saved = AuditKeySet.parse(key_file(settings).read_text())
        assert saved.current == 2 and saved.versions[1] == single  # the old key kept as v1
        assert key_file(settings).stat().st_mode & 0o077 == 0

        write(database, 2)  # this process, started before the rotation
        restarted = Database(settings)
        try:
            write(restarted, 1)
        finally:
            restarted.dispose()
        assert versions(database)[:2] == [1, 1] and versions(database)[-3:] == [2, 2, 2]
        with database.read_sessions() as session:
            result = verify(session, key_set=database.audit_keys())
            assert result.ok, result.reason
            rows = session.execute(
                select(AuditKeyFingerprint.version, AuditKeyFingerprint.fingerprint)
            )
            fingerprints = {version: fingerprint for version, fingerprint in rows}
        assert fingerprints == saved.fingerprints()
        assert main(["audit-log", "verify"]) == 0
        assert "chain intact" in capsys.readouterr().out

        assert rotate(settings, monkeypatch) == 0  # and again: three versions, all verify
        write(database, 1)
        assert versions(database)[-1] == 3
        assert main(["audit-log", "verify"]) == 0

    def test_an_entry_altered_after_a_rotation_is_caught(
        self,
        database: Database,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        write(database, 2)
        assert rotate(settings, monkeypatch) == 0
        database.audit_keyring.reload()
        first, *_ = write(database, 3)
        rehash(database, f"UPDATE audit_log SET actor = 'someone' WHERE seq = {first}", first)
        with database.read_sessions() as session:
            broken = verify(session, key_set=database.audit_keys())
        assert (broken.ok, broken.broken_seq) == (False, first)
        assert "mac does not match" in str(broken.reason)
        assert main(["audit-log", "verify"]) == 1
        assert f"entry {first}: its mac does not match" in capsys.readouterr().err

    def test_an_entry_moved_to_another_key_version_is_caught(
        self, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The key version is not a way around the MAC: claimed under another version, the
        entry's MAC does not match that version's key."""
        (seq,) = write(database, 1)
        assert rotate(settings, monkeypatch) == 0
        database.audit_keyring.reload()
        write(database, 1)
        # forward, as a version going back is refused before its MAC is checked
        tamper(database, f"UPDATE audit_log SET key_version = 2 WHERE seq = {seq}")
        with database.read_sessions() as session:
            broken = verify(session, key_set=database.audit_keys())
        assert (broken.ok, broken.broken_seq) == (False, seq)
        assert "mac does not match" in str(broken.reason)

    def test_a_hub_without_an_old_version_fails_verify_naming_the_entry(
        self,
        database: Database,
        settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A key set that dropped version 1 (a secret store given only the new key) cannot
        check the older entries: verify names the first one and the version, never a key."""
        write(database, 2)
        assert rotate(settings, monkeypatch) == 0
        database.audit_keyring.reload()
        write(database, 1)
        saved = AuditKeySet.parse(key_file(settings).read_text())
        only_new = AuditKeySet(2, {2: saved.versions[2]})
        with database.read_sessions() as session:
            broken = verify(session, key_set=only_new)
        assert (broken.ok, broken.broken_seq) == (False, 1)
        assert broken.reason == (
            "its mac was made under audit key version 1, which this hub's audit key set does "
            "not hold"
        )

        without = settings.model_copy(update={"audit_keys": SecretStr(only_new.dumps())})
        assert rotate(without, monkeypatch) == 1  # (refused: from the environment)
        capsys.readouterr()
        assert main(["audit-log", "verify"]) == 1
        err = capsys.readouterr().err
        assert "entry 1: its mac was made under audit key version 1" in err
        assert saved.dumps() not in err and "secret" not in err

    def test_a_leaked_old_key_cannot_take_back_the_later_entries(
        self, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Whoever holds the retired version (the leak the rotation answers) and the database
        re-MACs an entry of the new version under the old one: verify refuses a version that
        goes back along the chain, so rewriting needs the new key."""
        write(database, 1)
        old = database.audit_keys().versions[1]
        assert rotate(settings, monkeypatch) == 0
        database.audit_keyring.reload()
        _, seq = write(database, 2)
        with database.read_sessions() as session:
            digest = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq))
        assert digest is not None
        forged = mac(old, seq, digest)
        tamper(
            database, f"UPDATE audit_log SET key_version = 1, mac = '{forged}' WHERE seq = {seq}"
        )
        with database.read_sessions() as session:
            broken = verify(session, key_set=database.audit_keys())
        assert (broken.ok, broken.broken_seq) == (False, seq)
        assert "older than the previous entry's (2)" in str(broken.reason)

    def test_a_process_behind_the_log_appends_nothing(
        self, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A process still on version 1 once the log holds an entry under version 2 (its host
        never got the new key set file, its secret store was not updated) appends nothing
        (503 in the API), and says what to do."""
        write(database, 1)
        single = database.audit_keys().versions[1]
        assert rotate(settings, monkeypatch) == 0
        database.audit_keyring.reload()
        write(database, 1)
        stale_keys = SecretStr(AuditKeySet(1, {1: single}).dumps())
        stale = Database(settings.model_copy(update={"audit_keys": stale_keys}))
        try:
            with pytest.raises(AuditKeyMismatch) as refused, stale.transaction() as session:
                append(session, Entry(action="test.entry", actor="cli:test", region="230000"))
            assert "newest entry is under audit key version 2" in refused.value.reason
            with pytest.raises(AuditKeyMismatch):
                check_key_set(stale)
        finally:
            stale.dispose()
        assert versions(database) == [1, 2, 2]  # the rotation's own entry, then the write

    def test_a_process_that_holds_the_newer_version_appends_under_it(
        self, database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A secret store rolled out in two steps: version 2 added to every process with 1
        still current, then made current one process at a time. Once a switched process has
        written under 2, one not switched yet appends under 2 as well, instead of being
        refused for the rest of the roll-out; the chain never goes back to 1."""
        write(database, 1)
        assert rotate(settings, monkeypatch) == 0
        database.audit_keyring.reload()
        write(database, 1)  # the first process switched: another entry under version 2
        both = database.audit_keys()
        added = SecretStr(AuditKeySet(1, dict(both.versions)).dumps())  # 2 held, 1 current
        behind = Database(settings.model_copy(update={"audit_keys": added}))
        try:
            check_key_set(behind)  # ready
            write(behind, 2)
        finally:
            behind.dispose()
        assert versions(database) == [1, 2, 2, 2, 2]
        with database.transaction() as session:
            assert verify(session, key_set=both).ok


class TestConfiguration:
    @pytest.mark.parametrize("variable", ["audit_key", "audit_keys"])
    def test_rotate_key_refuses_keys_from_the_environment(
        self,
        database: Database,
        settings: Settings,
        variable: str,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Keys injected by a secret store are the operator's to change there: the command
        writes no file beside them (a process reading the file would never use it)."""
        value = "k" * 40 if variable == "audit_key" else AuditKeySet(1, {1: b"k" * 40}).dumps()
        configured = settings.model_copy(update={variable: SecretStr(value)})
        assert rotate(configured, monkeypatch) == 1
        err = capsys.readouterr().err
        name = "LINKAGE_AUDIT_KEY" if variable == "audit_key" else "LINKAGE_AUDIT_KEYS"
        assert f"the audit key comes from {name}:" in err
        assert "add a new version to LINKAGE_AUDIT_KEYS in the secret store" in err
        assert not key_file(settings).exists()

    def test_a_key_set_from_the_environment_is_used_by_version(
        self, database: Database, settings: Settings
    ) -> None:
        """``LINKAGE_AUDIT_KEYS`` as the secret store gives it: entries MAC'd under its current
        version, with the version recorded."""
        keys = AuditKeySet(7, {6: b"6" * 32, 7: b"7" * 32})
        configured = settings.model_copy(update={"audit_keys": SecretStr(keys.dumps())})
        db = Database(configured)
        try:
            write(db, 2)
            assert versions(db) == [7, 7]
            with db.read_sessions() as session:
                assert verify(session, key_set=keys).ok
        finally:
            db.dispose()

    def test_both_the_single_key_and_the_key_set_are_refused(self, tmp_path: Path) -> None:
        keys = json.dumps({"current": 1, "versions": []})
        with pytest.raises(ValidationError, match="together with LINKAGE_AUDIT_KEY"):
            make_settings("sqlite://", tmp_path, audit_key="a" * 40, audit_keys=keys)
