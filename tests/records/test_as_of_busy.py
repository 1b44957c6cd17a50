"""A read ``as_of`` on SQLite waits for the writer in flight (``queries.settle``) no longer
than the busy timeout: then it is a 503 with ``Retry-After``, like any statement that finds
the database locked that long, not a 500 from the driver's own error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings


@pytest.fixture
def settings(backend: str, tmp_path: Path, sqlite_template: Path) -> Settings:
    if backend != "sqlite":
        pytest.skip("PostgreSQL: the read waits on a lock, with no busy timeout")
    path = tmp_path / "hub.db"
    path.write_bytes(sqlite_template.read_bytes())
    return make_settings(f"sqlite:///{path}", tmp_path, sqlite_busy_timeout_ms=200)


def test_a_writer_past_the_busy_timeout_is_a_503(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    headers = headers_for("audit")
    # The hub has served before: its key set's fingerprint is recorded (the one write a new
    # database's first read makes, rotation.record_key_set), and reads then write nothing.
    assert client.get("/api/v1/datasets/roster/records", headers=headers).status_code == 200
    moment = dt.datetime.now(dt.UTC).isoformat()
    with database.transaction() as session:
        session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock, held
        answer = client.get(
            "/api/v1/datasets/roster/records", params={"as_of": moment}, headers=headers
        )
        current = client.get("/api/v1/datasets/roster/records", headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "retry-after" in answer.headers
    assert current.status_code == 200, current.text  # a current read never waits
    again = client.get("/api/v1/datasets/roster/records", params={"as_of": moment}, headers=headers)
    assert again.status_code == 200, again.text
