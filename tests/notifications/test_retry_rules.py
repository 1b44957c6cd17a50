"""The retry schedule and when a subscription is given up, unit by unit on both databases:
``dispatch.record`` with the outcomes a receiver can give."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.notifications import dispatch
from linkage_hub.notifications.models import Attempt, Delivery, Subscription
from linkage_hub.notifications.sender import Outcome

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
FIVE_DAYS = dt.timedelta(days=5)


def make(
    database: Database, *, attempts: int = 0, failing_since: dt.datetime | None = None
) -> dispatch.Due:
    sub_id = uuid.uuid4().hex
    with database.transaction() as session:
        session.add(
            Subscription(
                id=sub_id,
                client_id="c",
                department="hr",
                region="230100",
                region_lo="230100",
                region_hi="230199",
                url="https://93.184.216.34/h",
                events=["run.finished"],
                filters={},
                description=None,
                active=True,
                disabled_reason=None,
                secret="v1:x",
                cursor=0,
                last_seq=1,
                failing_since=failing_since,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        delivery = Delivery(
            subscription_id=sub_id,
            seq=1,
            outbox_id=1,
            status="pending",
            attempts=attempts,
            next_attempt_at=NOW,
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
    return dispatch.Due(
        delivery_id=delivery_id,
        subscription_id=sub_id,
        seq=1,
        attempts=attempts,
        url="https://93.184.216.34/h",
        secret="v1:x",
        previous_secret=None,
        previous_until=None,
        event_id="e" * 32,
        type="run.finished",
        created_at=NOW,
        body=b"{}",
    )


def record(
    database: Database, due: dispatch.Due, outcome: Outcome, at: dt.datetime = NOW
) -> tuple[Delivery, Subscription]:
    with database.transaction() as session:
        dispatch.record(session, due, outcome, at, disable_after=FIVE_DAYS)
    with database.transaction() as session:
        delivery = session.get(Delivery, due.delivery_id)
        sub = session.get(Subscription, due.subscription_id)
        assert delivery is not None and sub is not None
        session.expunge_all()
        return delivery, sub


@pytest.mark.parametrize("attempt", range(len(dispatch.BACKOFF)))
def test_each_retry_waits_its_step_give_or_take_a_fifth(database: Database, attempt: int) -> None:
    due = make(database, attempts=attempt)
    delivery, sub = record(database, due, Outcome(500, 3, "answered 500"))
    wait = (delivery.next_attempt_at - NOW).total_seconds()
    step = dispatch.BACKOFF[attempt]
    assert 0.8 * step - 0.001 <= wait <= 1.2 * step + 0.001
    assert delivery.status == "pending" and delivery.attempts == attempt + 1
    assert sub.active and sub.failing_since == NOW


def test_about_three_days_of_retries_then_failed(database: Database) -> None:
    assert 2.5 * 86400 <= sum(dispatch.BACKOFF) <= 3.5 * 86400
    due = make(database, attempts=len(dispatch.BACKOFF))
    delivery, _ = record(database, due, Outcome(None, 15000, "timed out"))
    assert delivery.status == "failed"
    with database.transaction() as session:
        [attempt] = session.scalars(select(Attempt)).all()
        assert (attempt.attempt, attempt.error) == (len(dispatch.BACKOFF) + 1, "timed out")


def test_retry_after_is_honoured_up_to_a_day(database: Database) -> None:
    delivery, _ = record(database, make(database), Outcome(429, 2, "answered 429", 3600.0))
    assert delivery.next_attempt_at == NOW + dt.timedelta(seconds=3600)
    delivery, _ = record(database, make(database), Outcome(503, 2, "answered 503", 10**7))
    assert delivery.next_attempt_at == NOW + dt.timedelta(seconds=dispatch.MAX_RETRY_AFTER)


def test_failing_for_days_disables_and_a_success_forgives(database: Database) -> None:
    since = NOW - dt.timedelta(days=4)
    _, sub = record(database, make(database, failing_since=since), Outcome(502, 1, "answered 502"))
    assert sub.active and sub.failing_since == since  # four days: still trying
    due = make(database, failing_since=NOW - FIVE_DAYS)
    _, sub = record(database, due, Outcome(None, 1, "ConnectError: refused"))
    assert not sub.active
    assert sub.disabled_reason is not None and "5 days" in sub.disabled_reason
    assert "ConnectError" in sub.disabled_reason
    due = make(database, failing_since=since)
    delivery, sub = record(database, due, Outcome(200, 1))
    assert delivery.status == "delivered" and sub.failing_since is None and sub.active


def test_gone_disables_at_once_and_keeps_the_delivery(database: Database) -> None:
    delivery, sub = record(database, make(database), Outcome(410, 1, "answered 410"))
    assert not sub.active and "410" in (sub.disabled_reason or "")
    assert delivery.status == "pending" and delivery.attempts == 0  # sent on resume
