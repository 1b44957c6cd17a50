"""The change feed: every change in commit order, never a gap, even with concurrent writers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.auth.principal import Principal
from linkage_hub.db import Database
from linkage_hub.domain import Dataset, Department
from linkage_hub.keys import Keyring
from linkage_hub.records.ingest import push_records
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push


def poll(client: TestClient, headers: dict[str, str], since: str | None, **params: Any) -> Any:
    query = {**params, **({"since": since} if since else {})}
    answer = client.get("/api/v1/changes", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


class TestFeed:
    def test_upserts_and_closes_in_order_with_their_records(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        hr = headers_for("hr")
        first = poll(client, hr, None)
        assert first["items"] == [] and first["next_cursor"]
        push("roster", [f.roster(1), f.roster(2)])
        push(
            "roster",
            [f.roster(1, name="改名")],
            deletes=[{"id_number": f.id_number(2), "unit_code": f.unit_code(1)}],
        )
        push("roster", [f.roster(1, name="改名")])  # unchanged: no change
        page = poll(client, hr, first["next_cursor"])
        ops = [(c["op"], c["record"]["name"], c["version"]) for c in page["items"]]
        assert sorted(ops[:2]) == [("upsert", "张1", 1), ("upsert", "张2", 1)]
        assert sorted(ops[2:]) == [("close", "张2", 1), ("upsert", "改名", 2)]
        seqs = [c["seq"] for c in page["items"]]
        assert seqs == sorted(seqs)
        assert poll(client, hr, page["next_cursor"])["items"] == []

    def test_small_pages_follow_each_other(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(i) for i in range(7)])
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            page = poll(client, headers_for("hr"), cursor, limit=3)
            seen += [c["seq"] for c in page["items"]]
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen)) == 7

    def test_region_dataset_and_salary_filters(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(1), f.roster(2, unit_code=f.unit_code(2, region="230102"))])
        push("payroll", [f.payroll(1)], scope={"period": "2026-10"})
        county = poll(client, headers_for("hr", "230102"), None)["items"]
        assert [c["record"]["id_number"] for c in county] == [f.id_number(2)]
        payroll = poll(client, headers_for("hr"), None, dataset="payroll")["items"]
        assert len(payroll) == 1 and "gross_pay" not in payroll[0]["record"]
        audit = poll(client, headers_for("audit"), None, dataset="payroll")["items"]
        assert audit[0]["record"]["gross_pay"] == "8532.50"
        assert poll(client, headers_for("hr"), None, region="230103")["items"] == []


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


class TestConcurrentWriters:
    def test_a_late_commit_is_never_skipped(
        self,
        backend: str,
        database: Database,
        settings: Settings,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        if backend != "postgres":
            pytest.skip("SQLite admits one writer at a time: there is no concurrency to order")
        keyring = Keyring(settings)
        writer = Principal("writer", "w", Department.establishment, "230100")
        a_has_changes = threading.Event()
        release_a = threading.Event()
        errors: list[BaseException] = []

        def batch_a() -> None:
            try:
                with database.transaction() as session:
                    push_records(
                        session,
                        settings,
                        keyring,
                        writer,
                        Dataset.roster,
                        [f.roster(i) for i in range(1, 4)],
                    )
                    a_has_changes.set()  # its seqs are drawn; it has not committed
                    release_a.wait(30)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                a_has_changes.set()

        def batch_b() -> None:
            try:
                with database.transaction() as session:
                    push_records(
                        session,
                        settings,
                        keyring,
                        writer,
                        Dataset.roster,
                        [f.roster(i) for i in range(11, 13)],
                    )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        reader = headers_for("audit")
        cursor = poll(client, reader, None)["next_cursor"]
        seen: list[dict[str, Any]] = []
        a = threading.Thread(target=batch_a)
        a.start()
        a_has_changes.wait(30)
        b = threading.Thread(target=batch_b)
        b.start()

        def b_waits_for_the_feed_lock() -> bool:
            with database.engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_locks "
                            "WHERE locktype = 'advisory' AND NOT granted"
                        )
                    ).scalar_one()
                )

        # Without the feed lock B would commit now, and a reader polling now would move its
        # cursor past A's (lower, still uncommitted) seqs and never see them.
        _wait_for(
            lambda: b_waits_for_the_feed_lock() or not b.is_alive(),
            "batch B to finish or queue behind batch A",
        )
        for _ in range(3):
            page = poll(client, reader, cursor)
            seen += page["items"]
            cursor = page["next_cursor"]

        release_a.set()
        a.join(30)
        b.join(30)
        assert not errors, errors
        while True:
            page = poll(client, reader, cursor, limit=2)
            if not page["items"]:
                break
            seen += page["items"]
            cursor = page["next_cursor"]
        a_ids = {f.id_number(i) for i in (1, 2, 3)}
        numbers = [c["record"]["id_number"] for c in seen]
        assert sorted(numbers) == sorted([*a_ids, f.id_number(11), f.id_number(12)])
        a_seqs = [c["seq"] for c in seen if c["record"]["id_number"] in a_ids]
        b_seqs = [c["seq"] for c in seen if c["record"]["id_number"] not in a_ids]
        assert max(a_seqs) < min(b_seqs)
