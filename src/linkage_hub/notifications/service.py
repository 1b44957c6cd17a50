"""What the API does with subscriptions. A client sees and changes only its own.

A subscription starts at the outbox's newest event: it receives what happens after it was made,
with ``seq`` from 1. Its region lies inside its owner's (a region outside is a 404, as for any
region the caller cannot see). Pausing (``active: false``) stops sending, not counting: events
keep their ``seq`` while paused and are sent on resume, so a receiver sees no gap. Changing
the region, events or filters drops the waiting deliveries the subscription no longer asks for
(their ``seq`` skipped, the reason in ``/deliveries``). Every change is in the audit log (the
URL's host only: a query string may carry the receiver's token).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete as delete_rows
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linkage_hub.audit import service as audit
from linkage_hub.auth.policy import ensure_in_region
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import utcnow
from linkage_hub.cursors import (
    decode_cursor,
    decode_pair_cursor,
    encode_cursor,
    encode_pair_cursor,
)
from linkage_hub.domain import Department
from linkage_hub.errors import FieldError, Forbidden, InvalidInput, NotFound
from linkage_hub.notifications import dispatch
from linkage_hub.notifications.models import Attempt, Delivery, Subscription
from linkage_hub.notifications.schemas import (
    CASE_EVENTS,
    AttemptOut,
    EventType,
    Filters,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from linkage_hub.notifications.sender import TargetRefused, check_target
from linkage_hub.notifications.signing import Sealer, new_secret
from linkage_hub.outbox.models import OutboxEvent
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

CASE_READERS = (Department.establishment, Department.audit)


def out(sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        url=sub.url,
        events=[EventType(e) for e in sub.events],
        filters=Filters.model_validate({"region": sub.region, **(sub.filters or {})}),
        description=sub.description,
        active=sub.active,
        disabled_reason=sub.disabled_reason,
        last_seq=sub.last_seq,
        failing_since=sub.failing_since,
        created_at=sub.created_at,
        updated_at=sub.updated_at,
    )


def _checked_url(url: str, settings: Settings) -> str:
    try:
        check_target(url, list(settings.webhook_allow_hosts))
    except TargetRefused as exc:
        raise InvalidInput(
            f"This URL cannot be subscribed: {exc}.",
            errors=[FieldError(field="url", code="refused", message=str(exc))],
        ) from exc
    return url


def _region(principal: Principal, filters: Filters) -> str:
    region = filters.region or principal.region
    ensure_in_region(principal, region)
    return region


def _stored_filters(filters: Filters) -> dict[str, Any]:
    return filters.model_dump(mode="json", exclude={"region"}, exclude_none=True)


def _audit(
    session: Session, principal: Principal, action: str, sub: Subscription, **detail: Any
) -> None:
    entry = audit.by(
        principal,
        action,
        sub.region,
        target_type="subscription",
        target_id=sub.id,
        detail={"host": urlsplit(sub.url).hostname, "events": sub.events, **detail},
    )
    audit.append(session, entry)


def _events(principal: Principal, events: list[EventType]) -> list[str]:
    """The events, once each; 12310 case events only for those who may read cases."""
    if CASE_EVENTS & set(events) and principal.department not in CASE_READERS:
        raise Forbidden("Only the establishment office and audit may follow 12310 cases.")
    return [e.value for e in dict.fromkeys(events)]


def create(
    session: Session, settings: Settings, principal: Principal, body: SubscriptionIn
) -> tuple[Subscription, str]:
    """The new subscription and its secret (shown once)."""
    events = _events(principal, body.events)
    region = _region(principal, body.filters)
    url = _checked_url(body.url, settings)
    secret = new_secret()
    now = utcnow()
    lo, hi = region_bounds(region)
    sub = Subscription(
        id=uuid.uuid4().hex,
        client_id=principal.client_id,
        department=principal.department.value,
        region=region,
        region_lo=lo,
        region_hi=hi,
        url=url,
        events=events,
        filters=_stored_filters(body.filters),
        description=body.description,
        active=True,
        disabled_reason=None,
        secret=Sealer(settings).seal(secret),
        cursor=int(session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0))) or 0),
        last_seq=0,
        created_at=now,
        updated_at=now,
    )
    session.add(sub)
    session.flush()
    _audit(session, principal, "subscription.create", sub)
    return sub, secret


def still_fits(session: Session, principal: Principal, subscription_id: str) -> bool:
    """Whether a subscription made by the caller is still one it could make: its department
    and a region inside the caller's (:func:`create`'s check), by the client's row as it
    stands (a replayed create answers with its secret only then; a subscription deleted since
    is not asked about). This judges the subscription as a whole, as :func:`create` did;
    :func:`linkage_hub.notifications.dispatch._owner_may_read` judges each event it carries
    (a client moved from the city to a county still gets that county's events of its city
    subscription, but a retried create of it no longer shows the secret)."""
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.client_id != principal.client_id:
        return True
    return sub.department == principal.department.value and principal.contains(sub.region)


def get(session: Session, principal: Principal, subscription_id: str) -> Subscription:
    sub = session.get(Subscription, subscription_id)
    if sub is None or sub.client_id != principal.client_id:
        raise NotFound("No such subscription.")
    return sub


def page(
    session: Session, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[Subscription], str | None]:
    query = select(Subscription).where(Subscription.client_id == principal.client_id)
    if cursor:
        _, after = decode_pair_cursor(cursor)
        query = query.where(Subscription.id > after)
    subs = list(session.scalars(query.order_by(Subscription.id).limit(limit + 1)))
    more = len(subs) > limit
    subs = subs[:limit]
    return subs, encode_pair_cursor(0, subs[-1].id) if more else None


def change(
    session: Session,
    settings: Settings,
    principal: Principal,
    subscription_id: str,
    body: SubscriptionPatch,
) -> Subscription:
    sub = get(session, principal, subscription_id)
    given = body.model_fields_set
    for name in ("url", "events", "filters", "active"):
        if name in given and getattr(body, name) is None:
            raise InvalidInput(
                f"{name} cannot be null.",
                errors=[FieldError(field=name, code="null", message="leave it out instead")],
            )
    if "url" in given and body.url is not None:
        sub.url = _checked_url(body.url, settings)
    if "events" in given and body.events is not None:
        sub.events = _events(principal, body.events)
    if "filters" in given and body.filters is not None:
        region = _region(principal, body.filters)
        sub.region = region
        sub.region_lo, sub.region_hi = region_bounds(region)
        sub.filters = _stored_filters(body.filters)
    dropped = 0
    if {"events", "filters"} & given:
        # Before the subscription's row is written: rows are locked in the worker's order
        # (its deliveries, then the subscription), so a change and a worker recording an
        # outcome never wait on each other.
        with session.no_autoflush:
            dropped = dispatch.drop_unmatched(session, sub, utcnow())
    if "description" in given:
        sub.description = body.description
    if "active" in given and body.active is not None:
        sub.active = body.active
        if body.active:
            sub.disabled_reason, sub.failing_since = None, None
    sub.updated_at = utcnow()
    extra = {"dropped": dropped} if dropped else {}
    _audit(session, principal, "subscription.change", sub, changed=sorted(given), **extra)
    return sub


def delete(session: Session, principal: Principal, subscription_id: str) -> None:
    sub = get(session, principal, subscription_id)
    _audit(session, principal, "subscription.delete", sub)
    session.execute(delete_rows(Delivery).where(Delivery.subscription_id == sub.id))
    session.delete(sub)


def rotate(
    session: Session, settings: Settings, principal: Principal, subscription_id: str
) -> tuple[Subscription, str]:
    """A new secret; the old one signs too for ``LINKAGE_WEBHOOK_SECRET_OVERLAP_HOURS``."""
    sub = get(session, principal, subscription_id)
    secret = new_secret()
    now = utcnow()
    sub.previous_secret, sub.secret = sub.secret, Sealer(settings).seal(secret)
    sub.previous_until = now + dt.timedelta(hours=settings.webhook_secret_overlap_hours)
    sub.updated_at = now
    _audit(session, principal, "subscription.rotate_secret", sub)
    return sub, secret


def replay(session: Session, principal: Principal, subscription_id: str, from_seq: int) -> int:
    """Queue every delivery from ``from_seq`` on again (same event ids and seq) whose event the
    subscription asks for now: one given out before its region, events or filters were
    narrowed, sent then or dropped since, is not sent again.

    A replay is a new send, judged by today's rights (:func:`dispatch.matches`, and again by
    the worker before the POST), not a copy of what went before: the payload is built anew
    (the batch, run and meeting ids its owner may open now), and a delivery whose event its
    owner may no longer read is not queued. So a county whose unit moved to its sibling does
    not get its old deliveries of the unit's findings again (the findings followed the unit
    and are 404 to it now; the county they entered was told of each as ``finding.opened``,
    ``kind: moved``), nor does a client whose region or department changed since it
    subscribed get its old region's or department's events. "It was sent once" is no
    licence: a delivery that failed, or waited paused, was never read, and what the receiver
    keeps of a sent one is its own; the hub sends only what its owner may read when it
    sends."""
    sub = get(session, principal, subscription_id)
    if from_seq > sub.last_seq:
        raise InvalidInput(
            f"This subscription's newest seq is {sub.last_seq}.",
            errors=[
                FieldError(field="from_seq", code="out_of_range", message=f"at most {sub.last_seq}")
            ],
        )
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.subscription_id == sub.id,
            Delivery.seq >= from_seq,
            select(OutboxEvent.id)
            .where(OutboxEvent.id == Delivery.outbox_id, dispatch.matches(sub))
            .exists(),
        )
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    _audit(session, principal, "subscription.replay", sub, from_seq=from_seq, replayed=count)
    return count


def attempts(
    session: Session,
    principal: Principal,
    subscription_id: str,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[AttemptOut], str | None]:
    """Every attempt, newest first."""
    sub = get(session, principal, subscription_id)
    before = decode_cursor(cursor, kind="attempt")
    query = select(Attempt).where(Attempt.subscription_id == sub.id)
    if before:
        query = query.where(Attempt.id < before)
    rows = list(session.scalars(query.order_by(Attempt.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        AttemptOut(
            event_id=a.event_id,
            seq=a.seq,
            attempt=a.attempt,
            at=a.at,
            status_code=a.status_code,
            latency_ms=a.latency_ms,
            error=a.error,
        )
        for a in rows
    ]
    return items, encode_cursor(rows[-1].id, "attempt") if more else None
