"""Key rotation: every row re-encrypted and re-hashed, resumable, lookups and the log still work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.keys import Keyring, add_key_version
from linkage_hub.privacy.state import rotation_in_progress
from linkage_hub.records import rotation
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push


class Stop(Exception):
    pass


@pytest.fixture
def findings(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A stand-in for a table that holds person keys without ID numbers (findings)."""
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t_finding (id INTEGER PRIMARY KEY, person_key TEXT)"))
    monkeypatch.setattr(
        rotation, "PERSON_KEY_DEPENDANTS", (rotation.Dependant("t_finding", "person_key"),)
    )
    yield "t_finding"
    with database.engine.begin() as conn:
        conn.execute(text("DROP TABLE t_finding"))


def test_rotation_resumes_and_keeps_everything_readable(
    push: Push,
    client: TestClient,
    app: FastAPI,
    headers_for: HeadersFor,
    settings: Settings,
    database: Database,
    findings: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    records = [f.roster(n) for n in range(1, 8)] + [f.roster(8, id_number=f.legacy_id(8))]
    assert push("roster", records).status_code == 201
    assert push("payroll", [f.payroll(1)], scope={"period": "2026-10"}).status_code == 201
    hr = headers_for("hr")
    assert client.get(f"/api/v1/persons/{f.id_number(1)}", headers=hr).status_code == 200
    app.state.auth.recorder.flush()
    before = sorted(
        (r["record_key"], r["id_number"], r["id_number_given"])
        for r in client.get("/api/v1/datasets/roster/records", headers=hr).json()["items"]
    )
    old = Keyring(settings)
    with database.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO t_finding (id, person_key) VALUES (1, :k)"),
            {"k": old.person_key(f.id_number(1))},
        )

    # a rotation stopped after its first batch...
    add_key_version(settings)
    keyring = Keyring(settings)
    rotation_id = rotation.start(database, 2)

    def stop(done: int, total: int) -> None:
        assert done <= total == 9
        if done > 3:  # the payroll row, then a first batch of the roster
            raise Stop

    with pytest.raises(Stop):
        rotation.run(database, keyring, rotation_id, batch_size=3, progress=stop)
    with database.read_sessions() as session:
        assert rotation_in_progress(session)
        assert rotation.rows_not_at(session, 2) == 5  # 9 rows, 4 done
    # ...reads still work half-way (old and new versions side by side)...
    app.state.keyring.reload()
    assert client.get(f"/api/v1/persons/{f.id_number(1)}", headers=hr).status_code == 200
    assert client.get(f"/api/v1/persons/{f.id_number(8)}", headers=hr).status_code == 200

    # ...and `keys rotate` resumes it rather than starting another
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
    assert main(["keys", "rotate", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "resuming the rotation to key version 2" in out and "9 rows" in out

    with database.read_sessions() as session:
        assert not rotation_in_progress(session)
        assert rotation.rows_by_version(session, [1, 2]) == {"v1": 0, "v2": 9, "plain": 0}
    with database.engine.connect() as conn:
        keys = {r[0] for r in conn.execute(text("SELECT person_key FROM records_roster"))}
        moved = conn.execute(text("SELECT person_key FROM t_finding")).scalar_one()
        left = conn.execute(text("SELECT count(*) FROM privacy_person_key_map")).scalar_one()
    new = Keyring(settings)
    assert new.current_version == 2
    assert keys == {new.person_key(f.id_number(n)) for n in range(1, 9)}
    assert not keys & {old.person_key(f.id_number(n)) for n in range(1, 9)}
    assert moved == new.person_key(f.id_number(1)) and left == 0

    after = sorted(
        (r["record_key"], r["id_number"], r["id_number_given"])
        for r in client.get("/api/v1/datasets/roster/records", headers=hr).json()["items"]
    )
    assert after == before  # same records, same numbers, same record keys
    assert client.get(f"/api/v1/persons/{f.id_number(8)}", headers=hr).status_code == 200
    # a push of the same records is unchanged: no new versions from re-encryption
    again = push("roster", records).json()
    assert again["unchanged"] == 8 and again["updated"] == 0
    # the audit log is never rewritten: its old entries are found under the old key version
    app.state.auth.recorder.flush()
    log = client.get(
        "/api/v1/audit-log",
        params={"id_number": f.id_number(1), "action": "read"},
        headers=headers_for("audit"),
    ).json()["items"]
    # before: the person and the list; half-way: the person; after: the list
    assert sorted(e["target_id"].split("/")[-1] for e in log) == [
        "records",
        "records",
        "{id_number}",
        "{id_number}",
    ]

    assert main(["keys", "status"]) == 0
    assert '"current_version": 2' in capsys.readouterr().out


def test_nothing_to_do_with_environment_keys(
    push: Push,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201
    Keyring(settings)
    text_keys = (settings.secrets_dir / "linkage-hub.id-keys.json").read_text()
    given = settings.model_copy(update={"id_keys": SecretStr(text_keys)})
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: given)
    assert main(["keys", "rotate"]) == 0
    assert "under key version 1 already" in capsys.readouterr().out
