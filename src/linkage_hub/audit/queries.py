"""The auditor's view of the log: filters by client, department, person and time.

A person is matched by person key (under every key version the keyring holds): entries that
name the person for a record of the auditor's region (``audit_log_person_region``: the region
of the record a read sent, of the version a change wrote or closed), and batches that wrote or
closed one of the person's versions in the auditor's region (``person_batches``, the ids of
those batches as a subquery: the dataset tables belong to the records room, above this one —
see ``linkage_hub.records.service.batches_of_persons``). So a person who moved to a sibling
region is not followed there: a later city read that sent the auditor's people and the
mover's new record is in the auditor's view, but does not name the mover to it. A person is
matched only when they have (or had) a record version in the auditor's region (``person_here``,
likewise a subquery): anyone else is answered like a person the hub never saw. Entries logged
before migration 0032 name their persons without a region (``audit_log_person``): such an entry
matches a person who has (or had) a record in the auditor's region, as it did then.

An entry is in an auditor's view when its region, or one of the regions of the records a read
sent or a write wrote or closed (``audit_log_region``), lies in the auditor's region: a read or
a batch across regions is seen by the actor's auditors and by those of the people concerned.

What an auditor is shown of an entry is what concerns its region, and nothing of a region it
cannot read (outside the caller's region, a thing does not exist):

- ``regions`` lists only those inside the auditor's region (a city's read of two counties names,
  to each county's auditor, that county alone);
- an entry filed under a region outside the auditor's (the city's read or batch, the province's
  run that moved a record in) is *foreign*: the county's auditor sees that it happened, who did
  it, when, through which route or batch, and which of its people it named (``persons`` counts
  only those named for a record of its region; in an entry before 0032, those with a record,
  now or before, in its region: ``local_persons``), but not the
  counts in ``detail``, which add up every region the read sent or the batch wrote (a sibling
  county's roster size, say): ``detail`` keeps :data:`SHARED_DETAIL` alone. The chain is
  verified by the hub (``/audit-log/verify``), so the shown entry need not hash to ``hash``.
  ``hash`` and ``prev_hash`` stay, by decision: they are how an auditor ties the entries it
  is shown to an anchor. The chain hash is not keyed, so for a batch whose ``detail`` names no
  person (units, quotas, leader posts) a county could try the few plausible counts against a
  foreign entry's ``hash``; those counts are of a registry the public face discloses anyway.
  A salted chain would close it for new entries only and was not built.

The actor's own ``region`` stays: it says who acted (the city above the county), not what of
another region was read. A ``units.move`` entry is filed in both regions of the move: each
county's copy names the other, the fact of where its own unit went.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from linkage_hub.audit.models import AuditEntry, AuditPerson, AuditPersonRegion, AuditRegion
from linkage_hub.audit.schemas import AuditLogItem, AuditLogPage
from linkage_hub.audit.service import named as logged_name
from linkage_hub.cursors import decode_cursor, encode_cursor

CURSOR_KIND = "audit"

# What a foreign entry's ``detail`` keeps: what was done, never how much (the counts add up
# every region the read sent or the batch wrote). A batch's scope keeps its region and period.
SHARED_DETAIL = frozenset({"dataset", "mode", "status", "batch_id"})
SHARED_SCOPE = ("region", "period")


def shared_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a foreign entry's ``detail`` an auditor of one of its regions is shown."""
    if detail is None:
        return None
    shown = {k: v for k, v in detail.items() if k in SHARED_DETAIL}
    scope = detail.get("scope")
    if isinstance(scope, dict):
        shown["scope"] = {k: scope.get(k) for k in SHARED_SCOPE}
    return shown


def list_entries(
    session: Session,
    bounds: tuple[str, str],
    *,
    client_id: str | None = None,
    department: str | None = None,
    person_keys: list[str] | None = None,
    person_batches: Any = None,
    person_here: Any = None,
    local_persons: Callable[[Any], Any] | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> AuditLogPage:
    """One page of the auditor's view of region ``bounds`` (see the module docstring).
    ``local_persons(keys)`` is, of the person keys selected by ``keys``, those that have (or
    had) a record in ``bounds`` (a subquery over the dataset tables, from the records room):
    a foreign entry before 0032 counts them alone in ``persons`` (without it, none); one since
    counts the persons it names for records of ``bounds``."""
    lo, hi = bounds
    after = decode_cursor(cursor, kind=CURSOR_KIND)
    read_there = select(AuditRegion.seq).where(
        AuditRegion.region.between(*bounds), AuditRegion.seq > after
    )
    where: list[ColumnElement[bool]] = [
        or_(AuditEntry.region.between(*bounds), AuditEntry.seq.in_(read_there)),
        AuditEntry.seq > after,
    ]
    if client_id is not None:
        names = {client_id, logged_name(client_id)}  # a name that is an ID number: masked
        where.append(
            or_(
                AuditEntry.actor.in_(names),
                and_(AuditEntry.target_type == "client", AuditEntry.target_id.in_(names)),
            )
        )
    if department is not None:
        where.append(AuditEntry.department == department)
    if action is not None:
        where.append(AuditEntry.action == action)
    if since is not None:
        where.append(AuditEntry.recorded_at >= since.astimezone(dt.UTC))
    if until is not None:
        where.append(AuditEntry.recorded_at < until.astimezone(dt.UTC))
    if person_keys is not None:
        named_here = select(AuditPersonRegion.seq).where(
            AuditPersonRegion.person_key.in_(person_keys),
            AuditPersonRegion.region.between(*bounds),
            AuditPersonRegion.seq > after,
        )
        named_before = select(AuditPerson.seq).where(  # no region: "had a record here" holds
            AuditPerson.person_key.in_(person_keys), AuditPerson.seq > after
        )
        # A person with no record in the auditor's region does not exist for it: a city's read
        # that sent a sibling county's people along with the auditor's must not answer for them.
        if person_here is not None:
            where.append(person_here.subquery().select().exists())
        where.append(
            or_(
                AuditEntry.seq.in_(named_here),
                AuditEntry.seq.in_(named_before),
                and_(
                    AuditEntry.target_type == "batch",
                    AuditEntry.target_id.in_(person_batches),
                ),
            )
        )
    entries = list(
        session.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.seq).limit(limit + 1))
    )
    more = len(entries) > limit
    entries = entries[:limit]
    foreign = {e.seq for e in entries if not lo <= e.region <= hi}
    counts: dict[int, int] = {}
    regions: dict[int, list[str]] = {}
    if entries:
        # An entry names its persons in one of the two tables (before 0032, or since): the
        # counts of the two add up.
        own = [e.seq for e in entries if e.seq not in foreign]
        if own:
            counts = dict(
                session.execute(
                    select(AuditPerson.seq, func.count())
                    .where(AuditPerson.seq.in_(own))
                    .group_by(AuditPerson.seq)
                ).all()
            )
            counts |= dict(
                session.execute(
                    select(
                        AuditPersonRegion.seq, func.count(AuditPersonRegion.person_key.distinct())
                    )
                    .where(AuditPersonRegion.seq.in_(own))
                    .group_by(AuditPersonRegion.seq)
                ).all()
            )
        if foreign:
            counts |= dict(
                session.execute(
                    select(
                        AuditPersonRegion.seq, func.count(AuditPersonRegion.person_key.distinct())
                    )
                    .where(
                        AuditPersonRegion.seq.in_(foreign),
                        AuditPersonRegion.region.between(lo, hi),
                    )
                    .group_by(AuditPersonRegion.seq)
                ).all()
            )
        if foreign and local_persons is not None:
            named_there = select(AuditPerson.person_key).where(AuditPerson.seq.in_(foreign))
            counts |= dict(
                session.execute(
                    select(AuditPerson.seq, func.count())
                    .where(
                        AuditPerson.seq.in_(foreign),
                        AuditPerson.person_key.in_(local_persons(named_there)),
                    )
                    .group_by(AuditPerson.seq)
                ).all()
            )
        seqs = [e.seq for e in entries]
        for seq, region in session.execute(
            select(AuditRegion.seq, AuditRegion.region)
            .where(AuditRegion.seq.in_(seqs), AuditRegion.region.between(lo, hi))
            .order_by(AuditRegion.seq, AuditRegion.region)
        ):
            regions.setdefault(seq, []).append(region)
    items = [
        AuditLogItem(
            seq=e.seq,
            recorded_at=e.recorded_at,
            action=e.action,
            actor=e.actor,
            department=e.department,
            region=e.region,
            regions=regions.get(e.seq, []),
            target_type=e.target_type,
            target_id=e.target_id,
            detail=shared_detail(e.detail) if e.seq in foreign else e.detail,
            persons=counts.get(e.seq, 0),
            request_id=e.request_id,
            client_request_id=e.client_request_id,
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in entries
    ]
    return AuditLogPage(
        items=items, next_cursor=encode_cursor(entries[-1].seq, CURSOR_KIND) if more else None
    )
