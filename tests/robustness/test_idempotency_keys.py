# ruff: noqa: F811 - the fixtures imported below are parameters of the tests
"""API.md, Conventions:

    "Writes that create things accept an `Idempotency-Key` header: a retry with the same key and
    the same body returns the first result; the same key with a different body is `422`; a retry
    while the first is still running is `409`."

Only `POST /api/v1/datasets/{dataset}/batches` honours the header. Every other route that creates
something (a subscription, a comment, a disclosure, a run, a meeting, a 12310 report) ignores it:
a departmental system that retries after a lost answer creates a second object (two
subscriptions each delivering every event, a comment twice in the 会商 thread, a second run), or
gets a 409 instead of the first result.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from linkage_hub import idempotency
from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.idempotency import IdempotentAnswer
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.notifications.conftest import receiver, settings  # noqa: F401 - fixtures
from tests.records import factory as f
from tests.records.conftest import Push, push, read  # noqa: F401 - fixtures
from tests.security.regions import Regions, regions  # noqa: F401 - fixture


def _twice(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[Any, Any]:
    first = client.post(path, json=body, headers={**headers, "Idempotency-Key": "retry-1"})
    again = client.post(path, json=body, headers={**headers, "Idempotency-Key": "retry-1"})
    return first, again


def test_a_retried_subscription_returns_the_first_and_makes_one(
    client: TestClient, headers_for: HeadersFor, receiver: Any
) -> None:
    # API.md: "a retry with the same key and the same body returns the first result"
    h = headers_for("establishment")
    body = {"url": receiver.url, "events": ["finding.opened"], "filters": {"region": "230100"}}
    first, again = _twice(client, "/api/v1/subscriptions", body, h)
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    listed = client.get("/api/v1/subscriptions", headers=h).json()["items"]
    assert len(listed) == 1, [s["id"] for s in listed]


def test_a_subscription_key_reused_with_another_body_is_422(
    client: TestClient, headers_for: HeadersFor, receiver: Any
) -> None:
    # API.md: "the same key with a different body is `422`"
    h = {**headers_for("establishment"), "Idempotency-Key": "retry-2"}
    body = {"url": receiver.url, "events": ["finding.opened"], "filters": {"region": "230100"}}
    assert client.post("/api/v1/subscriptions", json=body, headers=h).status_code == 201
    other = {**body, "events": ["finding.resolved"]}
    assert client.post("/api/v1/subscriptions", json=other, headers=h).status_code == 422


def test_a_retried_comment_is_posted_once(regions: Regions, client: TestClient) -> None:
    # API.md: "a retry with the same key and the same body returns the first result"
    h = regions.headers_for("establishment", "230100")
    finding = regions.findings("establishment", "230100")[0]["id"]
    path = f"/api/v1/discrepancies/{finding}/comments"
    first, again = _twice(client, path, {"body": "请财政局核实"}, h)
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    comments = client.get(f"/api/v1/discrepancies/{finding}", headers=h).json()["comments"]
    assert len(comments) == 1, comments


def test_a_retried_meeting_returns_the_first_not_409(regions: Regions, client: TestClient) -> None:
    # API.md: "a retry with the same key and the same body returns the first result"
    h = regions.headers_for("establishment", "230100")
    finding = regions.findings("establishment", "230100")[0]["id"]
    body = {
        "region": "230100", "held_on": "2026-10-01", "title": "联席会议",
        "minutes_no": "纪要〔2026〕1号", "departments": ["establishment", "finance"],
        "finding_ids": [finding],
    }  # fmt: skip
    first, again = _twice(client, "/api/v1/meetings", body, h)
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]


def test_a_retried_disclosure_is_published_once(
    client: TestClient, headers_for: HeadersFor, push: Push
) -> None:
    # API.md: "a retry with the same key and the same body returns the first result"
    assert push("units", [f.unit(1)]).status_code == 201
    h = headers_for("establishment")
    first, again = _twice(client, "/api/v1/disclosures", {"region": "230100"}, h)
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/api/v1/disclosures", headers=h).json()["items"]) == 1


def test_a_retried_run_request_returns_the_first_run(
    client: TestClient, headers_for: HeadersFor, push: Push
) -> None:
    # API.md: "a retry with the same key and the same body returns the first result"
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    h = {**headers_for("establishment"), "Idempotency-Key": "retry-1"}
    body = {"region": "230100", "period": "2026-10", "as_of": "2026-10-31"}
    first = client.post("/api/v1/reconciliation/runs", json=body, headers=h)
    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/reconciliation/runs/{run_id}", headers=h).json()["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The answer to the first POST was lost; the scheduler retries with the same key.
    again = client.post("/api/v1/reconciliation/runs", json=body, headers=h)
    assert again.status_code == 202, again.text
    assert again.json()["run_id"] == run_id
    runs = client.get("/api/v1/reconciliation/runs", headers=h).json()["items"]
    assert [r["run_id"] for r in runs] == [run_id]


def test_a_retried_12310_report_is_filed_once(client: TestClient, push: Push) -> None:
    # API.md: "a retry with the same key and the same body returns the first result"
    assert push("units", [f.unit(1)]).status_code == 201
    body = {"category": "ghost_pay", "region": "230100", "facts": "某单位有人长期不上班仍领工资"}
    first, again = _twice(client, "/public/v1/reports", body, {})
    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["tracking_code"] == first.json()["tracking_code"]


# --- beyond the reviewer's cases ------------------------------------------------------------

SUBS = "/api/v1/subscriptions"


def _subscription(receiver: Any, region: str = "230100") -> dict[str, Any]:
    return {"url": receiver.url, "events": ["finding.opened"], "filters": {"region": region}}


def _stored(database: Database) -> list[IdempotentAnswer]:
    with database.transaction() as session:
        return list(session.scalars(select(IdempotentAnswer)))


def test_a_replay_says_so_and_the_stored_answer_is_sealed(
    client: TestClient, headers_for: HeadersFor, receiver: Any, database: Database
) -> None:
    h = {**headers_for("establishment"), "Idempotency-Key": "sealed-1"}
    first = client.post(SUBS, json=_subscription(receiver), headers=h)
    again = client.post(SUBS, json=_subscription(receiver), headers=h)
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    # The signing secret is shown once, and again to the retry of that once.
    assert again.json()["secret"] == first.json()["secret"]
    [row] = _stored(database)
    assert first.json()["secret"] not in row.body
    assert first.json()["id"] not in row.body
    assert "sealed-1" not in row.key_hash


def test_a_key_reused_with_another_body_is_a_422_naming_the_header(
    client: TestClient, headers_for: HeadersFor, receiver: Any
) -> None:
    h = {**headers_for("establishment"), "Idempotency-Key": "reused-1"}
    assert client.post(SUBS, json=_subscription(receiver), headers=h).status_code == 201
    other = client.post(SUBS, json=_subscription(receiver, "230102"), headers=h)
    assert other.status_code == 422, other.text
    assert other.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]


def test_one_clients_key_never_returns_another_clients_answer(
    client: TestClient, headers_for: HeadersFor, receiver: Any
) -> None:
    # Attack: a client that learns (or guesses) another's Idempotency-Key replays it with the
    # same body to read the other's answer (its subscription's signing secret). Keys are the
    # client's own: the second client makes its own subscription.
    body = _subscription(receiver)
    mine = client.post(
        SUBS, json=body, headers={**headers_for("establishment"), "Idempotency-Key": "k"}
    )
    theirs = client.post(
        SUBS, json=body, headers={**headers_for("finance"), "Idempotency-Key": "k"}
    )
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["secret"] != mine.json()["secret"]


def test_a_public_key_counts_only_with_its_own_report(client: TestClient, push: Push) -> None:
    # Attack: someone sends a reporter's key (or a common one like "1") with a report of their
    # own to get the first reporter's receipt (tracking code and secret). The key counts only
    # with the very same report: another report is filed as its own case.
    assert push("units", [f.unit(1)]).status_code == 201
    h = {"Idempotency-Key": "1"}
    one = {"category": "ghost_pay", "region": "230100", "facts": "某单位有人长期不上班仍领工资"}
    two = {**one, "facts": "另一单位超编进人"}
    first = client.post("/public/v1/reports", json=one, headers=h)
    other = client.post("/public/v1/reports", json=two, headers=h)
    again = client.post("/public/v1/reports", json=one, headers=h)
    assert first.status_code == other.status_code == again.status_code == 201, other.text
    assert "idempotent-replayed" not in other.headers
    assert other.json()["tracking_code"] != first.json()["tracking_code"]
    assert other.json()["secret"] != first.json()["secret"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


@pytest.mark.postgres_only
def test_a_retry_while_the_first_is_running_is_409(
    client: TestClient,
    headers_for: HeadersFor,
    client_id_for: Callable[..., str],
    receiver: Any,
    database: Database,
    backend: str,
) -> None:
    h = {**headers_for("establishment"), "Idempotency-Key": "busy-1"}
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: a retry waits for the first")
    name = f"{client_id_for('establishment')}\x1fcreate_subscription\x1fbusy-1"
    held = {"space": idempotency.LOCK_SPACE, "key": idempotency.lock_key(name)}
    with database.engine.connect() as conn:  # the first request, still running
        conn.execute(text("SELECT pg_advisory_lock(:space, :key)"), held)
        busy = client.post(SUBS, json=_subscription(receiver), headers=h)
        conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"), held)
    assert busy.status_code == 409, busy.text
    assert client.post(SUBS, json=_subscription(receiver), headers=h).status_code == 201


def test_an_answer_past_retention_is_not_replayed_and_is_purged(
    client: TestClient,
    headers_for: HeadersFor,
    receiver: Any,
    database: Database,
    settings: Settings,
) -> None:
    h = {**headers_for("establishment"), "Idempotency-Key": "old-1"}
    first = client.post(SUBS, json=_subscription(receiver), headers=h)
    past = utcnow() - dt.timedelta(hours=settings.idempotency_retention_hours + 1)
    with database.transaction() as session:
        session.execute(update(IdempotentAnswer).values(created_at=past))
    again = client.post(SUBS, json=_subscription(receiver), headers=h)
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert len(_stored(database)) == 1  # the expired answer made room for the new one
    with database.transaction() as session:
        session.execute(update(IdempotentAnswer).values(created_at=past))
        assert idempotency.purge(session, settings) == 1
    assert _stored(database) == []
