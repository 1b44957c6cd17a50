"""One home for each ID number: the dataset column; never JSON, history, idempotency, logs."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from linkage_hub.db import Database
from linkage_hub.keys import Keyring
from linkage_hub.settings import Settings
from tests.records import factory as f
from tests.records.conftest import Push, Read


class TestOneHome:
    def test_no_id_number_outside_its_column(
        self,
        push: Push,
        read: Read,
        database: Database,
        settings: Settings,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        number = f.id_number(42, born="19760403")
        legacy = number[:6] + number[8:17]
        key = {"Idempotency-Key": "k"}
        assert push("roster", [f.roster(42, id_number=legacy)], headers=key).status_code == 201
        push("roster", [f.roster(42, name="王")], headers=key)  # reused key: 422
        rejected = push("roster", [f.roster(42), f.roster(42, status="x")])
        assert rejected.status_code == 422
        push("roster", [], deletes=[{"id_number": number, "unit_code": f.unit_code(1)}])
        read("roster", id_number=legacy)

        needles = (number, legacy, number[6:14] + number[14:17])
        with database.engine.connect() as conn:
            for table in ("records_batch", "records_change"):
                for row in conn.execute(text(f"SELECT * FROM {table}")):
                    flat = " ".join(str(v) for v in row)
                    assert not any(n in flat for n in needles), table
            for row in conn.execute(
                text("SELECT record_key, person_key, name, name_norm, batch_id FROM records_roster")
            ):
                flat = " ".join(str(v) for v in row)
                assert not any(n in flat for n in needles)
            homes = list(
                conn.execute(text("SELECT id_number, id_number_given FROM records_roster"))
            )
            # the home holds them encrypted (never in plain) and they open to what was sent
            assert not any(n in " ".join(map(str, r)) for r in homes for n in needles)
            keyring = Keyring(settings)
            assert {(keyring.reveal_id(a), keyring.reveal_id(b)) for a, b in homes} == {
                (number, legacy)
            }
        logged = capsys.readouterr()
        assert not any(n in logged.err + logged.out for n in needles)
        assert not any(n in rejected.text for n in needles)
