"""The auditor's view of the log: filters by client, department, person and time.

A person is matched by person key (under every key version the keyring holds): entries that
name the person, and batches that wrote or closed one of the person's versions
(``person_batches``, the ids of those batches as a subquery: the dataset tables belong to the
records room, above this one — see ``linkage_hub.records.service.batches_of_persons``). A
person is matched only when they have (or had) a record version in the auditor's region
(``person_here``, likewise a subquery): anyone else is answered like a person the hub never saw.

An entry is in an auditor's view when its region, or one of the regions of the records a read
sent or a write wrote or closed (``audit_log_region``), lies in the auditor's region: a read or
a batch across regions is seen by the actor's auditors and by those of the people concerned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from linkage_hub.audit.models import AuditEntry, AuditPerson, AuditRegion
from linkage_hub.audit.schemas import AuditLogItem, AuditLogPage
from linkage_hub.audit.service import named as logged_name
from linkage_hub.cursors import decode_cursor, encode_cursor

CURSOR_KIND = "audit"


def list_entries(
    session: Session,
    bounds: tuple[str, str],
    *,
    client_id: str | None = None,
    department: str | None = None,
    person_keys: list[str] | None = None,
    person_batches: Any = None,
    person_here: Any = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> AuditLogPage:
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
        named = select(AuditPerson.seq).where(AuditPerson.person_key.in_(person_keys))
        # A person with no record in the auditor's region does not exist for it: a city's read
        # that sent a sibling county's people along with the auditor's must not answer for them.
        if person_here is not None:
            where.append(person_here.subquery().select().exists())
        where.append(
            or_(
                AuditEntry.seq.in_(named),
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
    counts: dict[int, int] = {}
    regions: dict[int, list[str]] = {}
    if entries:
        seqs = [e.seq for e in entries]
        counts = dict(
            session.execute(
                select(AuditPerson.seq, func.count())
                .where(AuditPerson.seq.in_(seqs))
                .group_by(AuditPerson.seq)
            ).all()
        )
        for seq, region in session.execute(
            select(AuditRegion.seq, AuditRegion.region)
            .where(AuditRegion.seq.in_(seqs))
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
            detail=e.detail,
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
