"""Review: a leaked retired audit key rewrote every entry since the rotation, relabelled under
the old version, and verify without an anchor passed: nothing outside the database said where
the new version began. Now ``audit-log rotate-key`` writes the new version's first entry (its
own ``audit.key_rotated``) into the key set file beside the version (``since_seq``), and verify
demands that entry, under that version."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from linkage_hub.audit.chain import mac
from linkage_hub.audit.models import AuditEntry
from linkage_hub.audit.service import verify
from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.keys import AuditKeyError, AuditKeySet, stage_audit_key_version
from linkage_hub.settings import Settings
from tests.audit.test_audit_key_rotation import key_file, rotate, versions, write
from tests.audit.test_audit_log import rehash, tamper
from tests.conftest import HeadersFor


def first_under(db: Database, version: int) -> int:
    with db.read_sessions() as session:
        seq = session.scalar(
            select(func.min(AuditEntry.seq)).where(AuditEntry.key_version == version)
        )
    assert seq is not None
    return seq


def rewrite_under(db: Database, key: bytes, version: int, since: int) -> None:
    """The attack: whoever holds the retired ``key`` and the database alters the entry at
    ``since``, rehashes the chain from it, and re-MACs every entry from it on under ``version``
    (no version goes back along the chain)."""
    rehash(db, f"UPDATE audit_log SET actor = 'someone' WHERE seq = {since}", since)
    with db.read_sessions() as session:
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq >= since)
        ).all()
    for seq, digest in rows:
        tamper(
            db,
            f"UPDATE audit_log SET key_version = {version}, mac = '{mac(key, seq, digest)}' "
            f"WHERE seq = {seq}",
        )


def test_a_leaked_old_key_cannot_rewrite_the_whole_tail_since_the_rotation(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write(database, 1)
    old = database.audit_keys().versions[1]
    assert rotate(settings, monkeypatch) == 0
    database.audit_keyring.reload()
    write(database, 2)  # under version 2, after the rotation's own entry
    first = first_under(database, 2)
    rewrite_under(database, old, 1, first)
    assert versions(database) == [1, 1, 1, 1]  # no version goes back: only the pin shows it
    with database.read_sessions() as session:
        result = verify(session, key_set=database.audit_keys())
    assert not result.ok, "the tail since the rotation was rewritten under the retired key"
    assert result.broken_seq == first
    assert "audit key version 2 begins here" in str(result.reason)
    capsys.readouterr()
    assert main(["audit-log", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"entry {first}: audit key version 2 begins here" in err
    assert "under version 1" in err


def test_the_pinned_entry_alone_resigned_under_the_old_version_is_caught(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned entry relabelled and re-MAC'd under version 1, the later ones left: the chain
    still goes forward (1, then 2), the pin does not."""
    write(database, 1)
    old = database.audit_keys().versions[1]
    assert rotate(settings, monkeypatch) == 0
    database.audit_keyring.reload()
    write(database, 2)
    first = first_under(database, 2)
    with database.read_sessions() as session:
        digest = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == first))
    assert digest is not None
    tamper(
        database,
        f"UPDATE audit_log SET key_version = 1, mac = '{mac(old, first, digest)}' "
        f"WHERE seq = {first}",
    )
    with database.read_sessions() as session:
        result = verify(session, key_set=database.audit_keys())
    assert (result.ok, result.broken_seq) == (False, first)
    assert "audit key version 2 begins here" in str(result.reason)


def test_the_tail_cut_from_the_pinned_entry_is_caught_without_an_anchor(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every entry from the first under version 2 deleted: a consistent, shorter chain of
    version 1, every MAC valid; the pin says the entry was there."""
    write(database, 2)
    assert rotate(settings, monkeypatch) == 0
    database.audit_keyring.reload()
    write(database, 2)
    first = first_under(database, 2)
    tamper(database, f"DELETE FROM audit_log WHERE seq >= {first}")
    with database.read_sessions() as session:
        result = verify(session, key_set=database.audit_keys())
        anchored = verify(session, key_set=database.audit_keys(), anchor=result.head.hash)
    assert (result.ok, result.broken_seq, result.entries) == (False, first, first - 1)
    assert result.reason == (
        "it is missing, where audit key version 2 begins (its since_seq in the audit key set): "
        "entries were removed from the end"
    )
    # an anchor taken after the cut is in the chain: the pin still catches it
    assert (anchored.ok, anchored.broken_seq) == (False, first)
    capsys.readouterr()
    assert main(["audit-log", "verify"]) == 1
    assert f"entry {first}: it is missing, where audit key version 2 begins" in (
        capsys.readouterr().err
    )


def test_rotate_key_writes_the_pin_of_its_own_entry(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The rotation appends ``audit.key_rotated`` under the new version (its number and
    fingerprint, no secret) and keeps that entry's seq beside the version in the file; a
    process started before it picks the pin up with the file; verify with an anchor passes."""
    monkeypatch.setattr("linkage_hub.keys.REFRESH_SECONDS", 0)
    write(database, 2)
    database.audit_keys()  # this process holds the set from before the rotation
    assert rotate(settings, monkeypatch) == 0
    assert "beginning at entry 3" in capsys.readouterr().out
    saved = AuditKeySet.parse(key_file(settings).read_text())
    assert (saved.current, saved.pins) == (2, {2: 3})
    assert json.loads(key_file(settings).read_text())["versions"][1]["since_seq"] == 3
    with database.read_sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.seq == 3)).one()
        assert (entry.action, entry.key_version, entry.target_id) == ("audit.key_rotated", 2, "2")
        assert entry.detail == {"version": 2, "fingerprint": saved.fingerprints()[2]}
    assert saved.versions[2].hex() not in json.dumps(entry.detail)
    assert database.audit_keys().pins == {2: 3}  # re-read on the file's change

    write(database, 1)
    assert rotate(settings, monkeypatch) == 0  # again: version 3, pinned at its own entry
    assert AuditKeySet.parse(key_file(settings).read_text()).pins == {2: 3, 3: 5}
    assert versions(database) == [1, 1, 2, 2, 3]
    with database.read_sessions() as session:
        head = verify(session, key_set=database.audit_keys()).head
        result = verify(session, key_set=database.audit_keys(), anchor=head.hash)
    assert result.ok and result.anchor_found, result.reason
    capsys.readouterr()
    assert main(["audit-log", "verify"]) == 0
    assert "not pinned" not in capsys.readouterr().out


def test_rotate_key_on_an_empty_log_pins_its_first_entry(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert rotate(settings, monkeypatch) == 0
    assert AuditKeySet.parse(key_file(settings).read_text()).pins == {2: 1}
    database.audit_keyring.reload()
    with database.read_sessions() as session:
        assert verify(session, key_set=database.audit_keys()).ok


def test_a_pin_beyond_an_empty_log_fails_verify(database: Database) -> None:
    """A key set that pins an entry the log does not hold (a database emptied, or another
    hub's): verify names the entry rather than calling an empty chain intact."""
    keys = AuditKeySet(2, {1: b"1" * 32, 2: b"2" * 32}, {2: 4})
    with database.read_sessions() as session:
        result = verify(session, key_set=keys)
    assert (result.ok, result.broken_seq, result.entries) == (False, 4, 0)


def test_a_rotation_cut_short_is_taken_up_again(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version added to the file but never made current (the command stopped): the next
    rotate-key makes that version current and pins it, rather than adding another."""
    write(database, 1)
    staged, version = stage_audit_key_version(settings)
    assert (staged.current, version) == (1, 2)
    write(database, 1)  # appended meanwhile under the version still current
    assert rotate(settings, monkeypatch) == 0
    saved = AuditKeySet.parse(key_file(settings).read_text())
    assert (saved.current, sorted(saved.versions), saved.pins) == (2, [1, 2], {2: 3})
    assert saved.versions[2] == staged.versions[2]
    database.audit_keyring.reload()
    with database.read_sessions() as session:
        assert verify(session, key_set=database.audit_keys()).ok


def test_a_key_set_without_pins_still_verifies(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A key set file written before pins (or a secret store's set rolled out in two steps):
    verify checks as before, and says where each later version begins, for the operator to
    pin it by hand (``since_seq``). A secret store's set carries the pin the same way."""
    keys = AuditKeySet(7, {6: b"6" * 32, 7: b"7" * 32})
    before = AuditKeySet(6, dict(keys.versions))
    rolled_out = settings.model_copy(update={"audit_keys": SecretStr(before.dumps())})
    first = Database(rolled_out)
    try:
        write(first, 2)
    finally:
        first.dispose()
    current = settings.model_copy(update={"audit_keys": SecretStr(keys.dumps())})
    second = Database(current)
    try:
        write(second, 2)
        assert versions(second) == [6, 6, 7, 7]
        with second.read_sessions() as session:
            result = verify(session, key_set=second.audit_keys())
        assert result.ok and result.starts == {6: 1, 7: 3}, result.reason
    finally:
        second.dispose()
    capsys.readouterr()
    assert rotate(current, monkeypatch) == 1  # refused (a secret store's), and says to pin
    assert 'then pin it: add "since_seq"' in capsys.readouterr().err
    assert main(["audit-log", "verify"]) == 0
    out = capsys.readouterr().out
    assert 'audit key version 7 begins at entry 3, not pinned: add "since_seq": 3' in out

    pinned = AuditKeySet.parse(
        keys.dumps().replace('"version": 7,', '"version": 7, "since_seq": 3,')
    )
    assert pinned.pins == {7: 3}
    with_pin = settings.model_copy(update={"audit_keys": SecretStr(pinned.dumps())})
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: with_pin)
    assert main(["audit-log", "verify"]) == 0
    assert "not pinned" not in capsys.readouterr().out


@pytest.mark.parametrize("since", ["0", "-1", '"3"', "3.5", "true"])
def test_a_since_seq_that_is_no_seq_is_refused(since: str) -> None:
    text = (
        AuditKeySet(1, {1: b"1" * 32})
        .dumps()
        .replace('"version": 1,', f'"version": 1, "since_seq": {since},')
    )
    with pytest.raises(AuditKeyError, match="not valid"):
        AuditKeySet.parse(text)


def test_two_rotations_at_once_do_not_lose_the_version_the_log_is_under(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two operators run rotate-key at once: the second reads the file before the first has
    written its staged version. Before, both made a version 2 with its own secret; the one
    whose file was replaced had already appended its audit.key_rotated (and recorded its
    fingerprint), so the log held an entry under a secret no file kept: verify failed for
    ever and every process appended nothing. Now the second is refused while the first runs,
    and the first completes."""
    import linkage_hub.keys as keys_module

    write(database, 1)
    real_write = keys_module._write_owner_only
    others: list[int] = []
    began: list[bool] = []

    def write_after_another(path, text, *, exclusive):  # type: ignore[no-untyped-def]
        if not began and path.name.endswith(".json"):
            began.append(True)
            others.append(main(["audit-log", "rotate-key"]))  # read the file as it was
        return real_write(path, text, exclusive=exclusive)

    monkeypatch.setattr(keys_module, "_write_owner_only", write_after_another)
    first = rotate(settings, monkeypatch)
    assert others == [1] and first == 0  # the second refused, the first done
    assert "another audit-log rotate-key" in capsys.readouterr().err
    saved = AuditKeySet.parse(key_file(settings).read_text())
    assert (saved.current, saved.pins) == (2, {2: 2})
    with database.read_sessions() as session:
        result = verify(session, key_set=saved)
    assert result.ok, result.reason


def test_the_api_says_where_each_version_begins_and_whether_it_is_pinned(
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    client: TestClient,
    headers_for: HeadersFor,
) -> None:
    """``GET /audit-log/verify`` lists each key version's first entry and whether the key set
    pins it, as ``audit-log verify`` prints: an auditor without a shell sees an unpinned
    rotation too."""
    monkeypatch.setattr("linkage_hub.keys.REFRESH_SECONDS", 0)
    write(database, 2)
    assert rotate(settings, monkeypatch) == 0
    database.audit_keyring.reload()
    audit = headers_for("audit", "230000")
    body = client.get("/api/v1/audit-log/verify", headers=audit).json()
    assert body["ok"], body
    assert body["key_versions"] == [
        {"version": 1, "first_seq": 1, "pinned": True},
        {"version": 2, "first_seq": 3, "pinned": True},
    ]
    doc = json.loads(key_file(settings).read_text())
    del doc["versions"][1]["since_seq"]
    key_file(settings).write_text(json.dumps(doc))
    database.audit_keyring.reload()
    body = client.get("/api/v1/audit-log/verify", headers=audit).json()
    assert body["ok"], body
    assert body["key_versions"][1] == {"version": 2, "first_seq": 3, "pinned": False}
