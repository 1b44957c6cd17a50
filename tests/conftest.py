"""Test harness: every test that takes ``database`` runs on SQLite and, when
``LINKAGE_TEST_POSTGRES_URL`` is set, on PostgreSQL too.

Isolation: SQLite tests get a copy of a migrated template file; PostgreSQL tests share one
migrated database per session (named uniquely, so parallel runs do not collide) and every table
is truncated after each test. Schemas are built by running the real migrations.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.migrations import upgrade
from linkage_hub.schema import Base
from linkage_hub.settings import Settings

PG_URL = os.environ.get("LINKAGE_TEST_POSTGRES_URL")
# The suite signs in hundreds of console accounts: at the production password cost (2^17,
# ~0.4 s a hash) that alone was minutes of CI. Set here, so `serve` processes started by tests
# inherit it; tests/auth/test_units.py checks the production default.
os.environ.setdefault("LINKAGE_PASSWORD_HASH_COST", "14")
BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]


def hub_today() -> dt.date:
    """Today where the hub is (its default time zone, Asia/Shanghai), not on the test machine's
    clock: between 16:00 and 24:00 UTC the two dates differ."""
    return dt.datetime.now(ZoneInfo(Settings.model_fields["timezone"].default)).date()


def make_settings(url: str, data_dir: Path, **overrides: object) -> Settings:
    # Tests that count what a run found start runs themselves: incremental runs after each
    # write are on only where a test asks for them (tests/reconciliation/test_incremental.py).
    overrides.setdefault("reconcile_on_write", False)
    # Bulletins are published by the tests that want them (tests/notifications/test_bulletins.py).
    overrides.setdefault("bulletin_cron", None)
    # One test client is one address: the public limits are tested where a test sets them
    # (tests/public/test_abuse.py); elsewhere they would only count the suite's own requests.
    overrides.setdefault("public_requests_per_minute", 1_000_000)
    overrides.setdefault("public_reports_per_hour", 1_000_000)
    return Settings(
        database_url=url,
        data_dir=data_dir,
        signing_key="test-signing-key-" + "x" * 32,
        record_key_secret="test-record-key-secret-" + "x" * 32,
        **overrides,  # type: ignore[arg-type]
    )


class PostgresServer:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self, prefix: str = "lh_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    if not PG_URL:
        yield None
        return
    server = PostgresServer(PG_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    upgrade(make_settings(f"sqlite:///{path}", folder))
    return path


@pytest.fixture(scope="session")
def postgres_migrated(
    postgres_server: PostgresServer | None, tmp_path_factory: pytest.TempPathFactory
) -> str | None:
    if postgres_server is None:
        return None
    url = postgres_server.create()
    upgrade(make_settings(url, tmp_path_factory.mktemp("pg")))
    return url


def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        # The audit log refuses TRUNCATE unless the session says it is doing maintenance.
        conn.execute(text("SET LOCAL linkage.audit_maintenance = 'on'"))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(
    backend: str,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_migrated: str | None,
) -> Settings:
    if backend == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copyfile(sqlite_template, path)
        return make_settings(f"sqlite:///{path}", tmp_path)
    assert postgres_migrated is not None
    return make_settings(postgres_migrated, tmp_path)


@pytest.fixture
def database(settings: Settings, backend: str) -> Iterator[Database]:
    db = Database(settings)
    yield db
    if backend == "postgres":
        _truncate_all(db)
    db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, postgres_server: PostgresServer | None) -> str:
    """A URL of a database with no schema at all, for migration tests."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    assert postgres_server is not None
    return postgres_server.create("lh_empty")


# --- Acting as a department -----------------------------------------------------------------
# Tests call ``headers_for(department, region)`` and send the headers it returns: a real client is
# created in the test database and a real token fetched through ``POST /oauth/token`` (once per
# department and region within a test).

HeadersFor = Callable[..., dict[str, str]]


@pytest.fixture
def headers_for(client: TestClient, database: Database) -> HeadersFor:
    from linkage_hub.auth.service import create_client

    tokens: dict[tuple[str, str], str] = {}

    def make(department: str, region: str = "230100") -> dict[str, str]:
        key = (str(department), region)
        if key not in tokens:
            with database.transaction() as session:
                created = create_client(
                    session,
                    name=f"test {department} {region}",
                    department=department,
                    region=region,
                )
                client_id = created.client.client_id
            response = client.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": created.client_secret,
                },
            )
            assert response.status_code == 200, response.text
            tokens[key] = response.json()["access_token"]
        return {"Authorization": f"Bearer {tokens[key]}"}

    return make


@pytest.fixture
def client_id_for(headers_for: HeadersFor) -> Callable[..., str]:
    """The client id behind ``headers_for(department, region)`` (the token's ``sub``)."""
    import base64
    import json

    def client_id(department: str, region: str = "230100") -> str:
        token = headers_for(department, region)["Authorization"].removeprefix("Bearer ")
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])

    return client_id
