"""From the outbox to deliveries, and from due deliveries to what a POST carries.

**Fan-out.** Each subscription has a ``cursor``: the last outbox id looked at for it. The
dispatcher takes every active or paused subscription behind the outbox's newest id and, in one
``INSERT ... SELECT`` each, gives the matching events after its cursor the next ``seq`` values
(``ROW_NUMBER()`` over the outbox order). Outbox ids are drawn in commit order
(:mod:`linkage_hub.outbox.write`), so no event is passed over and ``seq`` has no gaps. One
dispatcher at a time: a PostgreSQL advisory lock tried without waiting (a process that does
not get it leaves the work to the one that did); SQLite has one writer at a time.

A subscription matches an event when the event's type is one it chose, the event's region lies
in the subscription's region (itself inside its owner's: a subscriber receives only events
about data it could read) and every filter it set holds where the event has that attribute:
``datasets`` for ``records.changed``, ``rules`` and ``severities`` for findings, ``units`` for
events about one unit (a batch's ``records.changed`` spans units and passes a unit filter;
a case event whose unit is withheld from the owner, :func:`withheld`, matches none).
A ``records.changed`` of up to :data:`MAX_RECORD_KEYS` changes lists their record keys.
A revoked owner's subscriptions get nothing more.

**Today's rights.** A subscription is its owner's, and its owner reads by its client row as it
stands now: the matching also asks that the owner's department be still the subscription's,
that the event's region lie in the owner's region *now*, and that a finding event's finding,
where it is filed now, lie in the subscription's region and the owner's
(:func:`_owner_may_read`). The worker asks it again before each POST (:func:`load`), so a
client moved to another region or department, or a county whose unit (and so its live
findings) moved to its sibling, is not sent afterwards what it was given out before: queued,
retried, or replayed.

**What a reader may open.** A delivery names a batch, a run or a meeting (id and link) only
when its owner could open it through the API: the batch's scope, the run's region, the
meeting's region inside the owner's region (:func:`withheld`). The event is the region's;
the names are the reader's. A county hears that its records changed, or that a finding it
reads was decided, whoever did it; it is not given the id of the city's batch, run or meeting
(a 404 to it), as the runs list and the 409 of a run do not give it.

**What a department may learn.** A subscriber learns of no change it could not read: a
``records.changed`` event of a dataset with hidden fields is written per *audience*, tagged
with the fields that audience cannot read (``data.hidden``, see
:mod:`linkage_hub.records.publish`, which decides once, in SQL, which updates changed only
hidden fields, and leaves them out of the count, the range and the record keys of the events
of those who cannot read them). A subscription matches only the events of its owner's
department's audience (:func:`linkage_hub.records.visibility.audience_tag`); untagged events are
for all. So HR gets no event for a batch that changed only pay, and of a batch that changed
pay on one line and a status on another it gets one change and one record key. The tag itself
is not sent.

**Claim.** Due deliveries (pending, ``next_attempt_at`` passed, no live lease) of active
subscriptions are leased for :data:`LEASE`, a share for each subscription with some due, one
statement a subscription (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so processes claiming
together take different rows): no two processes send one
delivery at the same time, and a process that dies mid-send leaves a lease that runs out.
A delivery waiting to be sent whose event its subscription no longer asks for (its region,
events or filters were changed since the fan-out) is dropped, never sent nor replayed
(:func:`drop_unmatched`, run by the change and again when a claim is loaded).
A claim's outcomes are written, and its unsent deliveries handed back, only where the lease is
still the one that claim set (:func:`record_many`, :func:`release`): a worker that lost its
lease (it stalled past it, and another worker claimed and sent the deliveries) writes nothing
over the other's work.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from linkage_hub.auth.models import AuthClient
from linkage_hub.cases.service import unit_region
from linkage_hub.clock import utcnow
from linkage_hub.cursors import encode_cursor
from linkage_hub.domain import Dataset, Department
from linkage_hub.identifiers import region_contains
from linkage_hub.notifications.models import Attempt, Delivery, Subscription
from linkage_hub.notifications.sender import Outcome
from linkage_hub.outbox.models import OutboxEvent
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.records.datasets import spec_for
from linkage_hub.records.models import Batch, Change
from linkage_hub.records.publish import MAX_RECORD_KEYS
from linkage_hub.records.visibility import audience_tag
from linkage_hub.versioning import region_contains_sql

DISPATCH_LOCK = 0x4C48_4E44  # "LHND"
LEASE = dt.timedelta(seconds=60)
# Seconds before each retry (then the delivery is failed): about three days in all, each
# stretched or shrunk by up to a fifth at random so a receiver that comes back is not hit by
# every subscription's retries at once.
BACKOFF = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200, 43200, 43200)
MAX_RETRY_AFTER = 86400.0


def dispatch(session: Session, now: dt.datetime | None = None) -> int:
    """Fan the outbox out to the subscriptions behind it; returns the deliveries made."""
    if session.get_bind().dialect.name == "postgresql":
        got = session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": DISPATCH_LOCK})
        if not got:
            return 0
    high = session.scalar(select(func.max(OutboxEvent.id)))
    if high is None:
        return 0
    now = now or utcnow()
    behind = session.scalars(
        select(Subscription)
        .join(AuthClient, AuthClient.client_id == Subscription.client_id)
        .where(Subscription.cursor < high, AuthClient.revoked_at.is_(None))
        .order_by(Subscription.id)
    ).all()
    made = 0
    for sub in behind:
        matching = _matching(sub, high)
        rows = select(
            literal(sub.id),
            literal(sub.last_seq) + func.row_number().over(order_by=OutboxEvent.id),
            OutboxEvent.id,
            literal("pending"),
            literal(0),
            literal(now, type_=Delivery.next_attempt_at.type),
        ).where(matching)
        session.execute(
            insert(Delivery).from_select(
                ["subscription_id", "seq", "outbox_id", "status", "attempts", "next_attempt_at"],
                rows,
            )
        )
        # The newest seq from the (subscription, seq) index: an ORM INSERT ... SELECT may
        # report no row count (-1 on PostgreSQL).
        last = session.scalar(
            select(func.max(Delivery.seq)).where(Delivery.subscription_id == sub.id)
        )
        made += (last or 0) - sub.last_seq
        sub.cursor, sub.last_seq = high, last or 0
    return made


def _matching(sub: Subscription, high: int) -> Any:
    """The events after ``sub``'s cursor, up to ``high``, that it asks for."""
    return and_(OutboxEvent.id > sub.cursor, OutboxEvent.id <= high, matches(sub))


def matches(sub: Subscription) -> Any:
    """The condition on an outbox event that ``sub`` asks for it, as it stands now: its event
    types, its region, its filters and its owner's audience. The one home of the matching: the
    fan-out, and what a changed subscription drops (:func:`drop_unmatched`) and replays."""
    e = OutboxEvent
    filters = sub.filters or {}
    conditions: list[Any] = [
        e.type.in_(sub.events),
        e.region.between(sub.region_lo, sub.region_hi),
    ]
    for name, column in (
        ("datasets", e.dataset),
        ("rules", e.rule),
        ("severities", e.severity),
    ):
        values = filters.get(name)
        if values:
            conditions.append(or_(column.is_(None), column.in_(values)))
    units = filters.get("units")
    if units:
        # A unit withheld from the owner (a case event's unit outside its region: withheld)
        # matches no unit filter, or a county naming its sibling's unit would learn from a
        # delivery which unit a case handed to it concerns.
        shown = or_(~e.type.startswith("case."), _unit_readable_by(sub.client_id))
        conditions.append(or_(e.unit_code.is_(None), and_(e.unit_code.in_(units), shown)))
    conditions.append(_audience(Department(sub.department)))
    conditions.append(_owner_may_read(sub))
    return and_(*conditions)


def _owner_may_read(sub: Subscription) -> Any:
    """SQL: the owner of ``sub`` may read the event *now*, by its client row as it stands (the
    row the API checks every token against), not as it stood when it subscribed: its
    department is still the subscription's (the audience and the 12310 events were chosen
    for that one; a client moved to another department gets nothing more from it), the
    event's region lies in its region, and a finding event's finding lies, where it is filed
    now, in the subscription's region and the owner's (a finding follows its unit: the county
    it left no longer opens it, :mod:`linkage_hub.reconciliation.announce`). Part of
    :func:`matches`, so the fan-out, the worker before each POST (:func:`load`) and a replay
    all judge by today's rights."""
    e = OutboxEvent
    owner = select(AuthClient).where(AuthClient.client_id == sub.client_id)
    region = owner.with_only_columns(AuthClient.region).scalar_subquery()
    department = owner.with_only_columns(AuthClient.department).scalar_subquery()
    filed = select(Finding.region).where(Finding.id == e.finding_id).scalar_subquery()
    return and_(
        department == sub.department,
        region_contains_sql(region, e.region),
        or_(
            ~e.type.startswith("finding."),
            and_(
                filed.between(sub.region_lo, sub.region_hi),
                region_contains_sql(region, filed),
            ),
        ),
    )


def _unit_readable_by(client_id: str) -> Any:
    """SQL: the unit a case event names lies in the region of the client ``client_id`` (the
    subscription's owner), as :func:`withheld` decides it per delivery: the unit's region
    (:func:`linkage_hub.cases.service.unit_region`; none known: not readable) lies inside the
    owner's."""
    owner = select(AuthClient.region).where(AuthClient.client_id == client_id).scalar_subquery()
    return region_contains_sql(owner, unit_region(OutboxEvent.unit_code))


#: What ``/deliveries`` says of a delivery dropped unsent (``attempt`` 0, no status code).
DROPPED = (
    "not sent: the subscription was changed (region, events or filters) "
    "and no longer asks for this event"
)
#: What ``/deliveries`` says of a delivery the worker dropped before its POST: the event no
#: longer matches (the subscription was changed beside the fan-out), or its owner may no
#: longer read it (:func:`_owner_may_read`).
UNREADABLE = (
    "not sent: the subscription no longer asks for this event, or its owner may no longer "
    "read it (its region or department changed, or the finding moved out of its region)"
)


def drop_unmatched(
    session: Session, sub: Subscription, now: dt.datetime, reason: str = DROPPED
) -> int:
    """Drop the deliveries of ``sub`` still waiting to be sent (paused, due or retrying) whose
    event it no longer asks for, after a change of its region, events or filters; returns how
    many. The dispatcher gave them out under the old criteria and the worker sends what it is
    given, so a subscription narrowed to one county would otherwise still receive its
    sibling's queued events. Each is left ``dropped`` (never claimed; replayed only if the
    subscription asks for it again) with an entry in the attempt log (``attempt`` 0,
    :data:`DROPPED`), so a receiver that sees its ``seq`` skipped finds why in
    ``/deliveries``. A POST already under way ends as it may, but its lease is taken, so its
    outcome is not written over the drop."""
    e = OutboxEvent
    ids = list(
        session.scalars(
            update(Delivery)
            .where(
                Delivery.subscription_id == sub.id,
                Delivery.status == "pending",
                ~select(e.id).where(e.id == Delivery.outbox_id, matches(sub)).exists(),
            )
            .values(status="dropped", lease_until=None)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )
    if ids:
        logged = (
            select(
                Delivery.subscription_id,
                Delivery.id,
                e.event_id,
                Delivery.seq,
                literal(0),
                literal(now, type_=Attempt.at.type),
                literal(0),
                literal(reason),
            )
            .join(e, e.id == Delivery.outbox_id)
            .where(Delivery.id.in_(ids))
        )
        columns = ["subscription_id", "delivery_id", "event_id", "seq", "attempt", "at"]
        session.execute(insert(Attempt).from_select([*columns, "latency_ms", "error"], logged))
    return len(ids)


def _audience(department: Department) -> Any:
    """The events meant for ``department``: untagged ones, and of each dataset with hidden
    fields those tagged with the fields it cannot read."""
    e = OutboxEvent
    tag = e.data["hidden"].as_string()
    own = [
        and_(e.dataset == dataset.value, tag == mine)
        for dataset in Dataset
        if (mine := audience_tag(spec_for(dataset), department)) is not None
    ]
    return or_(tag.is_(None), *own)


@dataclass(frozen=True, slots=True)
class Due:
    delivery_id: int
    subscription_id: str
    seq: int
    attempts: int
    url: str
    secret: str
    previous_secret: str | None
    previous_until: dt.datetime | None
    event_id: str
    type: str
    created_at: dt.datetime
    body: bytes
    lease_until: dt.datetime | None = None  # as the claim set it


def claim(
    session: Session, limit: int, now: dt.datetime | None = None, *, lease: dt.timedelta = LEASE
) -> list[int]:
    """Lease up to ``limit`` due deliveries for ``lease``; returns their ids (commit to hold
    the lease).

    Shared out among the subscriptions with deliveries due (each its oldest first), so the
    worker sends to several receivers at once (:mod:`worker`): taking the oldest ``limit``
    of all, a claim held one subscription's backlog (its fan-out comes in one block) and its
    receiver's pace set everyone's. A subscription with fewer due than its share leaves the
    rest to the others.
    A revoked owner's deliveries stay pending and unsent, retries and replays too: revoking a
    client takes its system (or a leaked URL and secret) out of the hub at once."""
    now = now or utcnow()
    due = (
        select(Delivery.id)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(AuthClient, AuthClient.client_id == Subscription.client_id)
        .where(
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            Subscription.active.is_(True),
            AuthClient.revoked_at.is_(None),
        )
    )
    waiting = session.execute(
        due.with_only_columns(Delivery.subscription_id, func.count())
        .group_by(Delivery.subscription_id)
        .order_by(func.min(Delivery.next_attempt_at), Delivery.subscription_id)
        .limit(limit)
    ).all()
    ids: list[int] = []
    left = limit
    # The fewest due first: what one does not need goes to the others (water-filling).
    for n, (subscription_id, count) in enumerate(sorted(waiting, key=lambda row: row[1])):
        share = min(count, -(-left // (len(waiting) - n)))
        taken = session.scalars(
            update(Delivery)
            .where(
                Delivery.id.in_(
                    due.where(Delivery.subscription_id == subscription_id)
                    .order_by(Delivery.next_attempt_at, Delivery.id)
                    .limit(share)
                    .with_for_update(skip_locked=True, of=Delivery)
                    .scalar_subquery()
                )
            )
            .values(lease_until=now + lease)
            .returning(Delivery.id)
        ).all()
        ids += taken
        left -= len(taken)
    return sorted(ids)


def release(session: Session, dues: list[Due], *, after: int | None = None) -> None:
    """Hand claimed deliveries back unsent: due again for any worker (those whose lease is
    still this claim's; another worker's lease is left alone). ``after``: a delivery whose
    receiver did not answer (recorded in this transaction); the deliveries handed back wait
    for its next attempt too, their own attempts uncounted."""
    if not dues:
        return
    values: dict[str, Any] = {"lease_until": None}
    if after is not None:
        retry = session.scalar(select(Delivery.next_attempt_at).where(Delivery.id == after))
        if retry is not None:
            values["next_attempt_at"] = case(
                (Delivery.next_attempt_at < retry, retry), else_=Delivery.next_attempt_at
            )
    session.execute(
        update(Delivery)
        .where(_leased(dues))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _leased(dues: list[Due]) -> Any:
    """The deliveries of ``dues`` still under the lease their claim set."""
    by_lease: dict[dt.datetime | None, list[int]] = {}
    for due in dues:
        by_lease.setdefault(due.lease_until, []).append(due.delivery_id)
    return or_(
        *(
            and_(
                Delivery.id.in_(ids),
                Delivery.lease_until.is_(None) if lease is None else Delivery.lease_until == lease,
            )
            for lease, ids in by_lease.items()
        )
    )


def _still_leased(session: Session, dues: list[Due]) -> set[int]:
    """The ids of ``dues`` whose lease is still their claim's, each locked until the
    transaction ends (a no-op UPDATE: the row on PostgreSQL, the database on SQLite), so no
    worker claims it before its outcome is written."""
    return set(
        session.scalars(
            update(Delivery)
            .where(_leased(dues))
            .values(lease_until=Delivery.lease_until)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    )


def load(session: Session, ids: list[int]) -> list[Due]:
    """What to send for each claimed delivery: the URL, the secrets (sealed) and the body.
    A delivery whose event its subscription no longer asks for is dropped, not sent
    (:func:`drop_unmatched`): the change drops those queued before it, this those a fan-out
    running beside the change gave out under the old criteria. So is one whose event its
    owner may no longer read (:func:`_owner_may_read`): its client row's region or department
    changed since it subscribed, or the finding the event names moved out of its region while
    the delivery waited (paused, retrying, replayed). A POST is judged by the rights of the
    moment it goes, not those of the moment the event was given out."""
    rows = session.execute(
        select(Delivery, Subscription, OutboxEvent, AuthClient.region)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(OutboxEvent, OutboxEvent.id == Delivery.outbox_id)
        .join(AuthClient, AuthClient.client_id == Subscription.client_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()
    subs = {sub.id: sub for _, sub, _, _ in rows}
    if subs:
        wanted = set(
            session.scalars(
                select(Delivery.id)
                .join(OutboxEvent, OutboxEvent.id == Delivery.outbox_id)
                .where(
                    Delivery.id.in_(ids),
                    or_(
                        *(
                            and_(Delivery.subscription_id == sub.id, matches(sub))
                            for sub in subs.values()
                        )
                    ),
                )
            )
        )
        now = utcnow()
        for sub_id in {sub.id for delivery, sub, _, _ in rows if delivery.id not in wanted}:
            drop_unmatched(session, subs[sub_id], now, UNREADABLE)
        rows = [row for row in rows if row[0].id in wanted]
    events = [event for _, _, event, _ in rows]
    keys = _record_keys(session, events)
    places = _places(session, events)
    out = []
    for delivery, sub, event, reader in rows:
        data = payload(event, withheld(event, reader, places))
        if event.id in keys:
            data["record_keys"] = keys[event.id]
        body = {
            "type": event.type,
            "timestamp": event.created_at.isoformat(),
            "seq": delivery.seq,
            "data": data,
        }
        out.append(
            Due(
                delivery_id=delivery.id,
                subscription_id=sub.id,
                seq=delivery.seq,
                attempts=delivery.attempts,
                url=sub.url,
                secret=sub.secret,
                previous_secret=sub.previous_secret,
                previous_until=sub.previous_until,
                event_id=event.event_id,
                type=event.type,
                created_at=event.created_at,
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                lease_until=delivery.lease_until,
            )
        )
    return out


def _record_keys(session: Session, events: list[OutboxEvent]) -> dict[int, list[str]]:
    """The record keys of each ``records.changed`` event of at most :data:`MAX_RECORD_KEYS`
    changes (the feed rows of its dataset in its range and region, by the feed's primary
    key), in one query; a larger batch gives the range and the ``changes`` link instead. A
    units batch that moves a unit writes rows of its records' datasets into the same range
    (``records.publish.announce_batch``: an event per dataset), so the dataset is matched
    too. An event that carries its keys (the changes of an audience with hidden fields, see
    ``records.publish``) is sent with those."""
    ranges = {
        event.id: (
            int(event.data["from_seq"]),
            int(event.data["to_seq"]),
            event.region,
            event.dataset or "",
        )
        for event in events
        if event.type == "records.changed"
        and "record_keys" not in (event.data or {})
        and int((event.data or {}).get("changes", MAX_RECORD_KEYS + 1)) <= MAX_RECORD_KEYS
    }
    if not ranges:
        return {}
    rows = session.execute(
        select(Change.seq, Change.region, Change.dataset, Change.record_key)
        .where(
            or_(
                *(
                    and_(
                        Change.seq.between(lo, hi),
                        Change.region == region,
                        Change.dataset == dataset,
                    )
                    for lo, hi, region, dataset in ranges.values()
                )
            )
        )
        .order_by(Change.seq)
    ).all()
    out: dict[int, list[str]] = {}
    for event_id, (lo, hi, region, dataset) in ranges.items():
        out[event_id] = [
            r.record_key
            for r in rows
            if lo <= r.seq <= hi and r.region == region and r.dataset == dataset
        ]
    return out


# What an event's ``data`` holds for the hub, never sent: which audience the event is for
# (``hidden``, records.publish) and where the meeting it names sits (``meeting_region``).
PRIVATE = frozenset({"hidden", "meeting_region"})


def _places(session: Session, events: list[OutboxEvent]) -> dict[tuple[str, str], str]:
    """The region of each batch (its scope) and run the events name, and of the unit a case
    event names (:func:`linkage_hub.cases.service.unit_region`), in one query each."""
    batches = {e.batch_id for e in events if e.batch_id}
    runs = {e.run_id for e in events if e.run_id}
    cases = [e.id for e in events if e.type.startswith("case.") and e.unit_code]
    places: dict[tuple[str, str], str] = {}
    if cases:
        found = select(OutboxEvent.unit_code, unit_region(OutboxEvent.unit_code)).where(
            OutboxEvent.id.in_(cases)
        )
        places |= {("unit_code", u): region for u, region in session.execute(found) if region}
    if batches:
        found = select(Batch.batch_id, Batch.scope_region).where(Batch.batch_id.in_(batches))
        places |= {("batch_id", b): region for b, region in session.execute(found)}
    if runs:
        found = select(Run.id, Run.region).where(Run.id.in_(runs))
        places |= {("run_id", r): region for r, region in session.execute(found)}
    return places


def withheld(event: OutboxEvent, reader: str, places: dict[tuple[str, str], str]) -> frozenset[str]:
    """The ids in ``event`` (``batch_id``, ``run_id``, ``meeting_id``, a case event's
    ``unit_code``) that a reader of region ``reader`` cannot open; one whose place is unknown
    (gone) is withheld too. A case keeps the unit the report named when it is handed down to
    a county, as the API reads it (:func:`linkage_hub.cases.service.readable_units`)."""
    named = {"batch_id": event.batch_id, "run_id": event.run_id}
    if event.type.startswith("case."):
        named["unit_code"] = event.unit_code
    out = {
        name
        for name, value in named.items()
        if value and not region_contains(reader, places.get((name, value), "?"))
    }
    meeting = (event.data or {}).get("meeting_region")
    if meeting is not None and not region_contains(reader, meeting):
        out.add("meeting_id")
    return frozenset(out)


def payload(event: OutboxEvent, withheld: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The ``data`` of a delivery: ids, keys, rule, severity, region, unit, links; never an
    ID number, a name or pay (no outbox column holds one). The ids in ``withheld`` (those the
    reader cannot open) are left out, with their links."""
    data: dict[str, Any] = {"event_id": event.event_id, "region": event.region}
    extra = {
        k: v
        for k, v in (event.data or {}).items()
        if v is not None and k not in PRIVATE and k not in withheld
    }
    if event.type == "records.changed":
        data |= {"dataset": event.dataset, **extra}
        since = encode_cursor(max(int(extra.get("from_seq", 1)) - 1, 0))
        data["links"] = {
            "changes": f"/api/v1/changes?since={since}&dataset={event.dataset}"
            f"&region={event.region}",
        }
        if "batch_id" not in withheld:
            data["batch_id"] = event.batch_id
            data["links"]["batch"] = f"/api/v1/batches/{event.batch_id}"
    elif event.type.startswith("finding."):
        if isinstance(extra.get("departments"), str):  # stored as the findings table holds it
            extra["departments"] = [d for d in extra["departments"].split(",") if d]
        data |= {
            "finding_id": event.finding_id,
            "rule": event.rule,
            "severity": event.severity,
            "unit_code": event.unit_code,
            "run_id": event.run_id,
            "batch_id": event.batch_id,  # of a move (kind moved): the units batch
            **extra,
        }
        data["links"] = {"finding": f"/api/v1/discrepancies/{event.finding_id}"}
    elif event.type.startswith("meeting."):
        data |= extra
        data["links"] = {"meeting": f"/api/v1/meetings/{extra.get('meeting_id')}"}
    elif event.type.startswith("case."):
        data |= {"unit_code": event.unit_code, **extra}
        data["links"] = {"case": f"/api/v1/cases/{extra.get('case_id')}"}
    else:
        data |= {"run_id": event.run_id, "unit_code": event.unit_code, **extra}
        if event.run_id and "run_id" not in withheld:
            data["links"] = {"run": f"/api/v1/reconciliation/runs/{event.run_id}"}
    return {k: v for k, v in data.items() if v is not None and k not in withheld}


def record(
    session: Session,
    due: Due,
    outcome: Outcome,
    now: dt.datetime,
    *,
    disable_after: dt.timedelta,
) -> None:
    """Log the attempt and move the delivery (and, on 410 or long failure, the subscription)."""
    record_many(session, [(due, outcome, now)], disable_after=disable_after)


def record_many(
    session: Session,
    outcomes: list[tuple[Due, Outcome, dt.datetime]],
    *,
    disable_after: dt.timedelta,
) -> int:
    """:func:`record` for a claim's outcomes: the attempts and the successes in one statement
    each (most outcomes are successes), each failure on its own. Only the outcomes of
    deliveries whose lease is still their claim's are written (another worker has them
    now); returns how many were."""
    if not outcomes:
        return 0
    mine = _still_leased(session, [due for due, _, _ in outcomes])
    outcomes = [(due, outcome, at) for due, outcome, at in outcomes if due.delivery_id in mine]
    if not outcomes:
        return 0
    session.execute(
        insert(Attempt),
        [
            {
                "subscription_id": due.subscription_id,
                "delivery_id": due.delivery_id,
                "event_id": due.event_id,
                "seq": due.seq,
                "attempt": due.attempts + 1,
                "at": at,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error,
            }
            for due, outcome, at in outcomes
        ],
    )
    done = [(due, at) for due, outcome, at in outcomes if outcome.ok]
    if done:
        table = Delivery.__table__
        assert isinstance(table, Table)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status="delivered",
                delivered_at=bindparam("b_at"),
                attempts=bindparam("b_attempts"),
                lease_until=None,
            ),
            [
                {"b_id": due.delivery_id, "b_at": at, "b_attempts": due.attempts + 1}
                for due, at in done
            ],
        )
        session.execute(
            update(Subscription)
            .where(
                Subscription.id.in_({due.subscription_id for due, _ in done}),
                Subscription.failing_since.is_not(None),
            )
            .values(failing_since=None)
            .execution_options(synchronize_session=False)
        )
    for due, outcome, at in outcomes:
        if not outcome.ok:
            _failed(session, due, outcome, at, disable_after)
    return len(outcomes)


def _failed(
    session: Session,
    due: Due,
    outcome: Outcome,
    now: dt.datetime,
    disable_after: dt.timedelta,
) -> None:
    sub = session.get(Subscription, due.subscription_id)
    delivery = session.get(Delivery, due.delivery_id)
    if sub is None or delivery is None:  # deleted meanwhile
        return
    attempt = due.attempts + 1
    delivery.attempts, delivery.lease_until = attempt, None
    if outcome.status_code == 410:
        # Gone: the receiver asks for no more. The delivery waits, unsent, should the owner
        # resume the subscription.
        delivery.attempts = due.attempts
        _disable(sub, now, "the endpoint answered 410 Gone")
        return
    if attempt > len(BACKOFF):
        delivery.status = "failed"
    else:
        wait = BACKOFF[attempt - 1] * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)
        if outcome.retry_after is not None:
            wait = max(wait, min(outcome.retry_after, MAX_RETRY_AFTER))
        delivery.next_attempt_at = now + dt.timedelta(seconds=wait)
    sub.failing_since = sub.failing_since or now
    if now - sub.failing_since >= disable_after:
        days = disable_after.total_seconds() / 86400
        _disable(
            sub,
            now,
            f"every attempt failed for {days:g} days (last: {outcome.error or 'no answer'})",
        )


def _disable(sub: Subscription, now: dt.datetime, reason: str) -> None:
    sub.active, sub.disabled_reason, sub.updated_at = False, reason, now
