"""``linkage-hub keys rotate`` as an operator runs it: a process of its own that imports only what
the command imports. The findings must come through with their ids: re-keyed, not resolved by
the next run and opened again under new ids, and still shown on the person view."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.records import rotation
from linkage_hub.schema import Base
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push

LIST = "/api/v1/discrepancies"
COMMAND = Path(sys.executable).with_name("linkage-hub")


def findings(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """Every finding's id → status."""
    items = client.get(LIST, params={"limit": 200}, headers=headers).json()["items"]
    return {item["id"]: item["status"] for item in items}


def command_env(settings: Settings) -> dict[str, str]:
    """The environment of a ``linkage-hub`` command on the test's database and key file."""
    env = {
        **os.environ,
        "LINKAGE_DATABASE_URL": settings.database_url,
        "LINKAGE_DATA_DIR": str(settings.data_dir),
        "LINKAGE_SIGNING_KEY": "test-signing-key-" + "x" * 32,
        "LINKAGE_RECORD_KEY_SECRET": "test-record-key-secret-" + "x" * 32,
    }
    env.pop("LINKAGE_ID_KEYS", None)
    return env


def rotate(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), "keys", "rotate", "--batch-size", "2"],
        env=command_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_rotation_by_the_command_keeps_the_findings(
    push: Push, client: TestClient, app: FastAPI, headers_for: HeadersFor, settings: Settings
) -> None:
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(n) for n in (1, 2, 3)]).status_code == 201
    assert push("employment", [f.employment(1)]).status_code == 201  # 2 and 3: 有编无人
    period = {"period": "2026-10"}
    assert push("payroll", [f.payroll(1), f.payroll(4)], scope=period).status_code == 201
    establishment, audit, hr = (headers_for(d) for d in ("establishment", "audit", "hr"))
    assert run_and_wait(client, establishment)["status"] == "succeeded"
    before = findings(client, audit)
    person = f"/api/v1/persons/{f.id_number(2)}"
    shown = {d["id"] for d in client.get(person, headers=hr).json()["discrepancies"]}
    assert len(before) >= 3 and set(before.values()) == {"open"} and shown

    done = rotate(settings)
    assert done.returncode == 0, done.stderr
    assert "now under key version 2" in done.stdout
    app.state.keyring.reload()

    run = run_and_wait(client, establishment)
    assert run["status"] == "succeeded", run["error"]
    totals = {k: sum(r[k] for r in run["rules"].values()) for k in ("new", "resolved")}
    assert totals == {"new": 0, "resolved": 0}
    assert findings(client, audit) == before
    after = {d["id"] for d in client.get(person, headers=hr).json()["discrepancies"]}
    assert after == shown


def test_every_table_with_person_keys_is_rekeyed_or_meant_not_to_be() -> None:
    datasets = {t.name for t in rotation.PERSON_TABLES}
    never_rewritten = {"audit_log_person", "audit_log_person_region"}  # keys of their time
    named = {d.table for d in rotation.PERSON_KEY_DEPENDANTS}
    holding = {t.name for t in Base.metadata.tables.values() if "person_key" in t.c}
    assert holding == datasets | never_rewritten | named
