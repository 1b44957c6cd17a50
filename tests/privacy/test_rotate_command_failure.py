"""``linkage-hub keys rotate`` that fails must not leave the database half-changed.

An operator runs ``keys rotate`` with a wrong ``LINKAGE_ID_KEY_FILE`` (a typo, another
machine's path): the command makes a fresh key set there, records a rotation to its version 2
in the database (``privacy_key_rotation``, committed at once), then fails on the first row it
cannot open. It exits 1, but the database now holds an unfinished rotation to a key version
the real key set does not have:

- reconciliation is refused ("An ID key rotation is in progress") from then on, and
- ``keys rotate`` with the right key file only "resumes" the rotation to version 2 and fails
  again ("no key version 2"): no command gets the hub out of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from linkage_hub.cli import main
from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.keys import load_key_set
from linkage_hub.privacy.models import KeyRotation
from linkage_hub.privacy.state import pending_rotation
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

RUNS = "/api/v1/reconciliation/runs"


def test_a_rotate_that_fails_leaves_no_rotation_behind(
    push: Push,
    client: TestClient,
    headers_for: HeadersFor,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(n) for n in (1, 2, 3)]).status_code == 201

    wrong = settings.model_copy(update={"id_key_file": tmp_path / "elsewhere" / "keys.json"})
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: wrong)
    assert main(["keys", "rotate"]) != 0  # it cannot open the stored numbers: it fails
    capsys.readouterr()

    # Nothing was rotated, so nothing should stand in the way of a reconciliation run...
    response = client.post(
        RUNS,
        json={"region": "230100", "period": "2026-10", "as_of": "2026-10-31"},
        headers=headers_for("establishment"),
    )
    assert response.status_code == 202, response.text

    # ...and the operator, with the right key file, can rotate.
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
    code = main(["keys", "rotate"])
    assert code == 0, capsys.readouterr().err
    assert "now under key version 2" in capsys.readouterr().out


def test_status_with_a_missing_key_file_makes_no_key_set(
    push: Push,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201
    missing = tmp_path / "elsewhere" / "keys.json"
    wrong = settings.model_copy(update={"id_key_file": missing})
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: wrong)
    assert main(["keys", "status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the pushes' access lines
    assert err.startswith("linkage-hub keys: no ID key file at")
    assert not missing.exists()


def test_a_rotation_stuck_on_a_version_the_key_set_lacks_is_cancelled_if_it_wrote_nothing(
    push: Push,
    client: TestClient,
    headers_for: HeadersFor,
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A database left so by the command before it checked the key set first."""
    assert push("roster", [f.roster(1)]).status_code == 201
    with database.transaction() as session:
        session.add(KeyRotation(target_version=7, started_at=utcnow(), table_name="records_cadre"))
    refused = client.post(RUNS, json={"region": "230100"}, headers=headers_for("establishment"))
    assert refused.status_code == 409
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: settings)
    assert main(["keys", "rotate"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "key version 7" in out and "cancelled" in out and "now under key version 2" in out
    with database.transaction() as session:
        assert pending_rotation(session) is None


def test_another_key_set_is_refused_before_anything_is_written(
    push: Push,
    settings: Settings,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201
    other = settings.model_copy(update={"id_key_file": tmp_path / "other.json"})
    load_key_set(other)  # another machine's key set, valid but not this database's
    before = (tmp_path / "other.json").read_text(encoding="utf-8")
    monkeypatch.setattr("linkage_hub.cli.get_settings", lambda: other)
    assert main(["keys", "rotate"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("linkage-hub keys: the ID key set does not open the stored ID numbers")
    assert "(key version 1)" in err
    assert (tmp_path / "other.json").read_text(encoding="utf-8") == before  # no version added
    with database.transaction() as session:
        assert pending_rotation(session) is None
