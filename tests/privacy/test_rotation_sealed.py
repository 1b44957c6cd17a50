"""``keys rotate`` and what was sealed before it outside the dataset tables.

The README promises that ``keys rotate`` makes a "new key version; re-encrypt and re-hash every
row", and ``keys status`` reports the rows under each version so that an operator knows when
an old version (say, one that leaked) protects nothing any more. A 12310 report's facts (which
may name people and their ID numbers) and a named reporter's name and phone are sealed with the
same ID keys (cases/models.py) — the most sensitive identity the hub keeps (DOMAIN.md: seen only
by the office handling the case). The rotation never rewrites them: after it, they stay under
the old version for good, while ``keys status`` says no row is left under it.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import String, Text, func, select

from linkage_hub.cases.models import Case
from linkage_hub.ciphers import version_of
from linkage_hub.db import Base, Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.privacy.test_rotation_command import COMMAND, command_env, rotate
from tests.records import factory as f
from tests.records.conftest import Push


def test_rotation_reseals_the_12310_reports(
    push: Push,
    client: TestClient,
    app: FastAPI,
    headers_for: HeadersFor,
    settings: Settings,
    database: Database,
) -> None:
    served = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(77, region="230104")]},
        headers=headers_for("establishment", "230000"),
    )
    assert served.status_code == 201, served.text
    assert push("roster", [f.roster(1)]).status_code == 201
    report: dict[str, Any] = {
        "category": "ghost_pay",
        "region": "230100",
        "facts": f"身份证号 {f.id_number(9)} 的人长期不上班仍领工资。",
        "contact": {"name": "李四", "phone": "13800000000"},
    }
    # with a key, so its answer (the receipt and its secret) is stored, sealed, for a retry
    receipt = client.post(
        "/public/v1/reports", json=report, headers={"Idempotency-Key": "before-rotation"}
    )
    assert receipt.status_code == 201, receipt.text

    done = rotate(settings)
    assert done.returncode == 0, done.stderr
    assert "now under key version 2" in done.stdout
    status = subprocess.run(
        [str(COMMAND), "keys", "status"],
        env=command_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = json.loads(status.stdout)["rows"]
    assert rows["v1"] == 0  # what the operator is told: nothing is left under version 1

    with database.transaction() as session:
        case = session.scalars(select(Case)).one()
        sealed = {"facts": version_of(case.facts), "contact": version_of(case.contact or "")}
    # ... so the reporter's identity and the ID number in the facts must be under version 2 too
    assert sealed == {"facts": 2, "contact": 2}
    # and so must every other value in every table (the audit log's too: it seals none)
    with database.transaction() as session:
        left = {
            f"{table.name}.{column.name}": n
            for table in Base.metadata.sorted_tables
            for column in table.c
            if isinstance(column.type, String | Text)
            and (
                n := session.scalar(
                    select(func.count()).select_from(table).where(column.like("v1:%"))
                )
                or 0
            )
        }
    assert left == {}
    assert rows["v2"] >= 4  # the roster row, the facts, the contact, the idempotent answer

    # and opens: the office reads the report, a retry gets the first receipt back
    app.state.keyring.reload()
    office = headers_for("establishment", "230100")
    case = client.get(f"/api/v1/cases/{_case_id(database)}", headers=office)
    assert case.status_code == 200, case.text
    assert case.json()["contact"] == report["contact"]
    assert f.id_number(9) in case.json()["facts"]
    again = client.post(
        "/public/v1/reports", json=report, headers={"Idempotency-Key": "before-rotation"}
    )
    assert again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == receipt.json()


def _case_id(database: Database) -> str:
    with database.transaction() as session:
        return session.scalars(select(Case.id)).one()
