"""API3: an API client's id is logged as it is, even when its hex holds 15 digits in a row.

Every audit entry's actor (and a client target's id) went through the ID number masker
(``audit.service.named``), for console accounts named by an ID number before such names were
refused. An API client's id is ``lhc_`` and 24 hex characters the hub drew itself; about one
in three hundred holds a run of 15 or more decimal digits, which the masker reads as an ID
number: that client's entries named ``lhc_0123******2345...``, an actor no client has, in a
log that is append-only (found by the session review, 2026-12-07). Only a person's name
(``user:...``) is masked now.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.audit.models import AuditEntry
from linkage_hub.auth import service as auth_service
from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.records.factory import unit

HEX = "0123456789012345abcdef01"  # 16 decimal digits in a row, as token_hex may draw


def test_a_client_id_with_a_run_of_digits_is_logged_as_it_is(
    client: TestClient,
    database: Database,
    headers_for: HeadersFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth_service.secrets, "token_hex", lambda n: HEX)
    with database.transaction() as session:
        created = auth_service.create_client(
            session, name="establishment system", department="establishment", region="230100"
        )
    monkeypatch.undo()
    client_id = created.client.client_id
    assert client_id == "lhc_" + HEX
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": created.client_secret,
        },
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    pushed = client.post(
        "/api/v1/datasets/units/batches", json={"records": [unit(1)]}, headers=headers
    )
    assert pushed.status_code == 201, pushed.text

    with database.transaction() as session:
        actors = set(
            session.scalars(select(AuditEntry.actor).where(AuditEntry.actor.like("lhc_%")))
        )
    assert actors == {client_id}
    auditor = headers_for("audit", "230100")
    found = client.get("/api/v1/audit-log", params={"client_id": client_id}, headers=auditor)
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert {i["actor"] for i in items if i["actor"].startswith("lhc_")} == {client_id}
    assert "*" not in found.text  # the client's creation names it as its target too
