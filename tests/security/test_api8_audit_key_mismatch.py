"""API8:2023 Security Misconfiguration — a replica started with another audit key set.

Every audit entry carries a MAC under the audit key; verify (the command and
``GET /api/v1/audit-log/verify``) demands it of every entry. A replica started with another
key (its own generated ``linkage-hub.audit.key``: a container without its volume; another
``LINKAGE_AUDIT_KEY``) appended entries the other replicas' verify rejects: the log could no
longer be shown intact, by anyone. Now each version's fingerprint (a keyed hash of a fixed
label, never the key) is recorded with the first entry under it, and a process whose key set
disagrees refuses to append: the write answers 503 (nothing of it committed) and
``/health/ready`` says ``audit_keys: mismatch``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select, text

from linkage_hub.app import create_app
from linkage_hub.audit.models import AuditEntry
from linkage_hub.audit.service import verify
from linkage_hub.db import Database
from linkage_hub.keys import AuditKeySet
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import OWNER, Push


@pytest.fixture
def replica(settings: Settings) -> Iterator[TestClient]:
    """A second process on the same database, its audit key another one."""
    other = settings.model_copy(update={"audit_key": SecretStr("another-replica-key-" * 3)})
    db = Database(other)
    with TestClient(create_app(other, database=db), raise_server_exceptions=False) as client:
        yield client
    db.dispose()


def entries(database: Database) -> int:
    with database.read_sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def batch(client: TestClient, headers: dict[str, str]) -> int:
    response = client.post(
        "/api/v1/datasets/roster/batches",
        json={"records": [f.roster(2)]},
        headers=headers,
    )
    return response.status_code


def test_a_replica_with_another_audit_key_refuses_to_append(
    push: Push,
    client: TestClient,
    replica: TestClient,
    headers_for: HeadersFor,
    database: Database,
) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201  # the first process's key recorded
    assert client.get("/health/ready").json()["status"] == "ok"
    before = entries(database)

    refused = replica.post(
        "/api/v1/datasets/roster/batches",
        json={"records": [f.roster(2)]},
        headers=headers_for(OWNER["roster"]),
    )
    assert refused.status_code == 503, refused.text
    assert refused.json()["detail"] == "The hub's audit key set does not match its database."
    ready = replica.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["audit_keys"] == "mismatch"
    assert entries(database) == before  # the batch and its entry rolled back together

    with database.read_sessions() as session:
        assert verify(session, key_set=database.audit_keys()).ok
    assert batch(client, headers_for(OWNER["roster"])) == 201  # the right key still writes


def test_a_log_from_before_fingerprints_checks_the_newest_entry(
    push: Push,
    client: TestClient,
    replica: TestClient,
    headers_for: HeadersFor,
    database: Database,
) -> None:
    """A log upgraded from before the fingerprints (none recorded yet): the first replica to
    append must hold the key of its newest entry, or it would record its own."""
    assert push("roster", [f.roster(1)]).status_code == 201
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log_key"))
    assert replica.get("/health/ready").json()["audit_keys"] == "mismatch"
    assert batch(replica, headers_for(OWNER["roster"])) == 503
    assert batch(client, headers_for(OWNER["roster"])) == 201


def test_two_replicas_on_a_new_database_cannot_each_keep_their_own_key(
    settings: Settings, database: Database
) -> None:
    """An empty log: the first append records its set; a second set sharing no version with
    it (or another secret under one) is refused, at append and at readiness."""
    from linkage_hub.audit.keyset import AuditKeyMismatch, check_key_set
    from linkage_hub.audit.service import Entry, append

    with database.transaction() as session:
        append(session, Entry(action="test.entry", actor="cli:test", region="230000"))
    for keys in (AuditKeySet(2, {2: b"2" * 32}), AuditKeySet(1, {1: b"1" * 32})):
        other = Database(settings.model_copy(update={"audit_keys": SecretStr(keys.dumps())}))
        try:
            with pytest.raises(AuditKeyMismatch), other.transaction() as session:
                append(session, Entry(action="test.entry", actor="cli:test", region="230000"))
            with pytest.raises(AuditKeyMismatch) as refused:
                check_key_set(other)
            assert "b'" not in refused.value.reason and "1111" not in refused.value.reason
        finally:
            other.dispose()
    assert entries(database) == 1
