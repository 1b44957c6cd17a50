"""Faults on PostgreSQL: the database lost mid-batch and mid-reconciliation, the hub killed
mid-batch. Afterwards nothing of the batch is there, its Idempotency-Key retries to success,
the cut-off run is failed with the previous findings intact, and readiness follows the
database without a restart.

How a fault is made without stopping the shared server: a side connection locks the table the
operation writes last (``records_batch``, ``reconciliation_finding``), so the operation stops
*mid-way* (its other writes done, uncommitted) and waits; the test then cuts it off, either by
``pg_terminate_backend()`` of the waiting connection, by cutting a TCP proxy between the hub
and PostgreSQL (``proxy.py``: the database "goes down" for that hub), or by SIGKILL of a
hub process. Only the PostgreSQL backend runs these (SQLite has no server to lose).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import make_url

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.records.models import Batch, Change, RosterRecord
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.net import free_port
from tests.reconciliation.conftest import World, factory, world  # noqa: F401 - fixtures
from tests.reconciliation.factory import citizen_id
from tests.records import factory as f
from tests.robustness.proxy import CuttableProxy

ROSTER = "/api/v1/datasets/roster/batches"
WAIT = 60.0


@pytest.fixture(autouse=True)
def _postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("faults need a PostgreSQL server")


def batch_body(count: int, start: int = 0) -> bytes:
    return "\n".join(json.dumps(f.roster(start + i)) for i in range(count)).encode()


def stored(database: Database) -> tuple[int, int, int]:
    with database.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (RosterRecord, Batch, Change)
        )


class TableLock:
    """Holds ``LOCK TABLE … IN EXCLUSIVE MODE`` on a side connection until released."""

    def __init__(self, url: str, table: str) -> None:
        self.engine = create_engine(url)
        self.conn: Connection = self.engine.connect()
        self.conn.execute(text(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE'))

    def waiting_pid(self) -> int:
        """The backend (not this one) waiting for a lock in this database.

        This connection holds the lock, so it stays in one transaction, and PostgreSQL keeps
        the first read of ``pg_stat_activity`` for the rest of a transaction: without
        ``pg_stat_clear_snapshot()`` a poll made before the request reached the lock would
        be all the loop ever saw (CI failed so once, under three test workers).
        """
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            self.conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            pid = self.conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1"
                )
            ).scalar()
            if pid is not None:
                return int(pid)
            time.sleep(0.05)
        raise AssertionError("nothing came to wait on the lock")

    def terminate(self, pid: int) -> None:
        self.conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()
        self.engine.dispose()


def in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``call`` in a thread; the returned function joins it and gives its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(WAIT)
        assert not thread.is_alive(), "the request never finished"
        if "error" in box:
            raise box["error"]
        return box.get("value")

    return join


def push(client: TestClient | httpx.Client, headers: dict[str, str], body: bytes) -> Any:
    return client.post(
        ROSTER,
        content=body,
        headers={**headers, "Content-Type": "application/x-ndjson", "Idempotency-Key": "b-1"},
    )


def assert_retry_succeeds(client: TestClient, headers: dict[str, str], body: bytes) -> None:
    answer = push(client, headers, body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["inserted"] == 40
    again = push(client, headers, body)
    assert again.status_code in (200, 201) and again.json() == answer.json()


def test_connection_killed_mid_batch_applies_nothing_and_the_key_retries(
    client: TestClient, headers_for: HeadersFor, database: Database, settings: Settings
) -> None:
    headers = headers_for("establishment")
    body = batch_body(40)
    lock = TableLock(settings.database_url, "records_batch")
    try:
        answer = in_thread(lambda: push(client, headers, body))
        lock.terminate(lock.waiting_pid())
    finally:
        lock.release()
    response = answer()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert stored(database) == (0, 0, 0)
    assert_retry_succeeds(client, headers, body)
    assert stored(database) == (40, 1, 40)


@pytest.fixture
def proxied(settings: Settings) -> Iterator[tuple[CuttableProxy, TestClient]]:
    """A second hub whose every database connection goes through a cuttable proxy."""
    url = make_url(settings.database_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied_settings = settings.model_copy(
        update={"database_url": url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)}
    )
    db = Database(proxied_settings)
    try:
        with TestClient(
            create_app(proxied_settings, database=db), raise_server_exceptions=False
        ) as c:
            yield proxy, c
    finally:
        db.dispose()
        proxy.close()


def test_database_down_mid_batch_then_back_without_a_restart(
    proxied: tuple[CuttableProxy, TestClient],
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
) -> None:
    proxy, hub = proxied
    headers = headers_for("establishment")
    body = batch_body(40)
    assert hub.get("/health/ready").status_code == 200
    lock = TableLock(settings.database_url, "records_batch")
    try:
        answer = in_thread(lambda: push(hub, headers, body))
        lock.waiting_pid()
        proxy.cut()
    finally:
        lock.release()
    response = answer()
    assert response.status_code == 503, response.text
    ready = hub.get("/health/ready")
    assert ready.status_code == 503, ready.text
    assert push(hub, headers, body).status_code == 503
    listing = hub.get(ROSTER.replace("/batches", "/records"), headers=headers)
    assert listing.status_code == 503 and listing.headers["retry-after"] == "5", listing.text
    paths = hub.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path, method in (
        ("/datasets/{dataset}/batches", "post"),
        ("/datasets/{dataset}/records", "get"),
    ):
        assert "503" in paths["/api/v1" + path][method]["responses"], (method, path)
    assert stored(database) == (0, 0, 0)
    proxy.restore()
    assert hub.get("/health/ready").status_code == 200
    assert_retry_succeeds(hub, headers, body)


def _serve(settings: Settings, port: int, log: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    """``linkage-hub serve`` on ``port`` with the test's database and keys (and ``extra_env``),
    once it answers ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env.update(
        LINKAGE_DATABASE_URL=str(settings.database_url),
        LINKAGE_DATA_DIR=str(settings.data_dir),
        LINKAGE_SIGNING_KEY=str(settings.signing_key),
        LINKAGE_RECORD_KEY_SECRET=str(settings.record_key_secret),
        **extra_env,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(log.read_text()[-2000:])


def test_hub_killed_mid_batch_applies_nothing_and_the_key_retries(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    tmp_path: Path,
) -> None:
    headers = headers_for("establishment")
    body = batch_body(40)
    port = free_port()
    proc = _serve(settings, port, tmp_path / "hub.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as http:
            lock = TableLock(settings.database_url, "records_batch")
            try:
                answer = in_thread(lambda: push(http, headers, body))
                lock.waiting_pid()
                proc.send_signal(signal.SIGKILL)
                proc.wait(WAIT)
            finally:
                lock.release()
            with pytest.raises(httpx.TransportError):
                answer()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    # PostgreSQL notices the dead client and rolls its transaction back.
    deadline = time.monotonic() + WAIT
    while stored(database) != (0, 0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored(database) == (0, 0, 0)
    assert_retry_succeeds(client, headers, body)


# --- Mid-reconciliation -----------------------------------------------------------------------

RUN = {"region": "230100", "period": "2026-10", "as_of": "2026-10-31"}


def findings(database: Database) -> list[tuple[str, str, str]]:
    from linkage_hub.reconciliation.models import Finding

    with database.sessions() as session:
        rows = session.execute(select(Finding.id, Finding.rule, Finding.status)).all()
    return sorted((str(r[0]), str(r[1]), str(r[2])) for r in rows)


def wait_run(client: TestClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/reconciliation/runs/{run_id}", headers=headers).json()
        if run["status"] in ("succeeded", "failed"):
            return dict(run)
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never finished")


def test_run_cut_off_is_failed_and_the_previous_findings_stay(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    world: World,  # noqa: F811
) -> None:
    headers = headers_for("establishment")
    world.f.roster(citizen_id(1), world.organ)  # on the roster, paid nowhere: a finding
    first = client.post("/api/v1/reconciliation/runs", json=RUN, headers=headers)
    assert first.status_code == 202, first.text
    assert wait_run(client, headers, first.json()["run_id"])["status"] == "succeeded"
    before = findings(database)
    assert before

    world.f.roster(citizen_id(2), world.organ)  # the second run would find more
    lock = TableLock(settings.database_url, "reconciliation_finding")
    try:
        second = client.post("/api/v1/reconciliation/runs", json=RUN, headers=headers)
        assert second.status_code == 202, second.text
        lock.terminate(lock.waiting_pid())
    finally:
        lock.release()
    run = wait_run(client, headers, second.json()["run_id"])
    assert run["status"] == "failed"
    assert findings(database) == before
    third = client.post("/api/v1/reconciliation/runs", json=RUN, headers=headers)
    assert third.status_code == 202, third.text
    assert wait_run(client, headers, third.json()["run_id"])["status"] == "succeeded"
    assert len(findings(database)) > len(before)
