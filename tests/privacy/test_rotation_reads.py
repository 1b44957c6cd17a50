"""Reads while a key rotation is half done.

``keys rotate`` rewrites the dataset tables one after the other, batch by batch, each batch
committing (a province is millions of rows: the window lasts minutes to hours), and re-keys
the findings only at the very end. The hub keeps serving meanwhile. A lookup of one person's
field for a finding (its ID number, its name) follows the rotation's key map, so lists and
reports show what they showed before. A read that joins persons across tables by person key
(the staffing report: roster x employment x payroll) would treat one person as two while the
tables stand under different versions; it is refused (409) until the rotation ends, as runs
are, rather than answering wrong counts.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.keys import Keyring, add_key_version
from linkage_hub.privacy.state import rotation_in_progress
from linkage_hub.records import rotation
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push


class Stop(Exception):
    pass


def _rotate_until(settings: Settings, database: Database, app: FastAPI, rows: int) -> None:
    """Start a rotation to a new key version and stop it once ``rows`` rows are rewritten
    (as a `keys rotate` killed half-way, or simply still running)."""
    add_key_version(settings)
    keyring = Keyring(settings)
    rotation_id = rotation.start(database, keyring.current_version)

    def stop(done: int, total: int) -> None:
        if done >= rows:
            raise Stop

    with pytest.raises(Stop):
        rotation.run(database, keyring, rotation_id, batch_size=3, progress=stop)
    with database.read_sessions() as session:
        assert rotation_in_progress(session)
    app.state.keyring.reload()  # the hub has picked up the new version (as within 2 s)


def _finish(settings: Settings, database: Database) -> None:
    """Resume the stopped rotation and let it end."""
    with database.read_sessions() as session:
        assert rotation_in_progress(session)
    rotation_id = rotation.start(database, Keyring(settings).current_version)
    rotation.run(database, Keyring(settings), rotation_id, batch_size=3, progress=lambda d, t: None)
    with database.read_sessions() as session:
        assert not rotation_in_progress(session)


def _people(push: Push, n: int = 3) -> None:
    assert push("units", [f.unit(1)]).status_code == 201
    assert (
        push(
            "quotas",
            [
                {
                    "unit_code": f.unit_code(1),
                    "establishment_type": "institutional",
                    "approved": 5,
                    "document_no": "哈编〔2020〕1号",
                    "effective_on": "2020-01-01",
                }
            ],
        ).status_code
        == 201
    )
    assert push("roster", [f.roster(k) for k in range(1, n + 1)]).status_code == 201
    assert push("employment", [f.employment(k) for k in range(1, n + 1)]).status_code == 201
    period = {"period": "2026-10"}
    assert push("payroll", [f.payroll(k) for k in range(1, n + 1)], scope=period).status_code == 201


def test_staffing_report_counts_stay_right_during_a_rotation(
    push: Push,
    client: TestClient,
    app: FastAPI,
    headers_for: HeadersFor,
    settings: Settings,
    database: Database,
) -> None:
    _people(push)
    audit = headers_for("audit")
    params = {"as_of": "2026-10-31"}

    def counts() -> list[tuple[int, int, int]]:
        response = client.get("/api/v1/reports/staffing", params=params, headers=audit)
        assert response.status_code == 200, response.text
        return [(r["on_roster"], r["employed"], r["paid"]) for r in response.json()["items"]]

    before = counts()
    assert before == [(3, 3, 3)]
    # Tables go cadres, employment, payroll, roster: stop once employment and payroll are done
    _rotate_until(settings, database, app, rows=6)
    refused = client.get("/api/v1/reports/staffing", params=params, headers=audit)
    assert refused.status_code == 409, refused.text  # not (3, 0, 0)
    assert "rotation is in progress" in refused.json()["detail"]
    _finish(settings, database)
    assert counts() == before


def test_findings_keep_their_id_numbers_during_a_rotation(
    push: Push,
    client: TestClient,
    app: FastAPI,
    headers_for: HeadersFor,
    settings: Settings,
    database: Database,
) -> None:
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(n) for n in (1, 2, 3)]).status_code == 201
    assert push("employment", [f.employment(1)]).status_code == 201  # 2 and 3: 有编无人
    period = {"period": "2026-10"}
    assert push("payroll", [f.payroll(1), f.payroll(4)], scope=period).status_code == 201
    establishment, audit = headers_for("establishment"), headers_for("audit")
    assert run_and_wait(client, establishment)["status"] == "succeeded"

    def shown() -> dict[str, str | None]:
        response = client.get("/api/v1/discrepancies", params={"limit": 200}, headers=audit)
        assert response.status_code == 200, response.text
        return {
            i["id"]: i["id_number"]
            for i in response.json()["items"]
            if i["rule"] in ("ESTABLISHED_NOT_EMPLOYED", "PAID_WITHOUT_ESTABLISHMENT")
        }

    before = shown()
    assert before and all(before.values())
    # Every dataset row rewritten (6 rows), the findings' re-keying (the last step) not yet done
    _rotate_until(settings, database, app, rows=6)
    assert shown() == before
    _finish(settings, database)
    assert shown() == before
