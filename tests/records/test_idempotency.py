"""Idempotency-Key: a retry returns the first answer; another body with the key is refused."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import pytest
from sqlalchemy import text

from linkage_hub.db import Database
from linkage_hub.records.queries import IDEMPOTENCY_LOCK_SPACE
from tests.records import factory as f
from tests.records.conftest import Push, Read
from tests.records.test_push import table_counts


class TestIdempotencyKey:
    def test_a_replay_returns_the_first_answer_and_applies_nothing(
        self, push: Push, read: Read, database: Database
    ) -> None:
        key = {"Idempotency-Key": "payroll-2026-10-run-1"}
        first = push("roster", [f.roster(1), f.roster(2)], headers=key)
        assert first.status_code == 201
        push("roster", [f.roster(1, name="改名")])  # someone changes the record meanwhile
        before = table_counts(database)
        again = push("roster", [f.roster(1), f.roster(2)], headers=key)
        assert again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert table_counts(database) == before
        assert {r["name"] for r in read("roster")} == {"改名", "张2"}

    def test_the_same_key_with_another_body_is_422(self, push: Push, database: Database) -> None:
        key = {"Idempotency-Key": "k1"}
        assert push("roster", [f.roster(1)], headers=key).status_code == 201
        before = table_counts(database)
        answer = push("roster", [f.roster(2)], headers=key)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
        assert table_counts(database) == before

    def test_keys_belong_to_their_client(self, push: Push) -> None:
        key = {"Idempotency-Key": "shared-name"}
        one = push("roster", [f.roster(1)], headers=key)
        other = push("roster", [f.roster(1, 1, region="230102")], headers=key, region="230102")
        assert one.status_code == other.status_code == 201
        assert one.json()["batch_id"] != other.json()["batch_id"]

    def test_a_rejected_batch_does_not_spend_the_key(self, push: Push) -> None:
        key = {"Idempotency-Key": "k2"}
        assert push("roster", [f.roster(1, status="x")], headers=key).status_code == 422
        assert push("roster", [f.roster(1)], headers=key).status_code == 201

    @pytest.mark.postgres_only
    def test_a_retry_while_the_first_runs_is_409(
        self, backend: str, push: Push, database: Database, client_id_for: Callable[..., str]
    ) -> None:
        if backend != "postgres":
            pytest.skip("SQLite queues writers: the retry waits and then replays")
        client_id, key = client_id_for("establishment"), "slow-one"
        lock = zlib.crc32(f"{client_id}\x1f{key}".encode()) - 2**31
        with database.engine.connect() as other:
            # Stands for the first request, still inside its transaction.
            other.execute(
                text("SELECT pg_advisory_xact_lock(:s, :k)"),
                {"s": IDEMPOTENCY_LOCK_SPACE, "k": lock},
            )
            answer = push("roster", [f.roster(1)], headers={"Idempotency-Key": key})
            assert answer.status_code == 409
            other.rollback()
        assert push("roster", [f.roster(1)], headers={"Idempotency-Key": key}).status_code == 201
