"""``GET /api/v1/audit-log`` and ``GET /api/v1/audit-log/verify``: for audit only.

The auditor's reading of the log lives with the reports, not in the audit room: the audit log
sits below every room that writes to it (auth among them), while this view takes a principal
and matches batches to persons through the dataset tables.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from linkage_hub.audit import keyset, queries, service
from linkage_hub.audit.schemas import AuditLogPage, ChainHead, ChainVerification, KeyVersionStart
from linkage_hub.auth.policy import CurrentPrincipal
from linkage_hub.db import DatabaseDep, DbSession
from linkage_hub.dependencies import KeyringDep, SettingsDep
from linkage_hub.domain import Department
from linkage_hub.errors import problem_responses
from linkage_hub.inputs import BoundedDateTime
from linkage_hub.records.service import (
    MAX_LIMIT,
    batches_of_persons,
    person_keys_of,
    persons_in_region,
    read_bounds,
)

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get(
    "/audit-log",
    operation_id="list_audit_log",
    name="list_audit_log",
    response_model=AuditLogPage,
    responses=problem_responses(401, 403, 404, 422),
)
def list_audit_log(
    principal: CurrentPrincipal,
    session: DbSession,
    settings: SettingsDep,
    keyring: KeyringDep,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    department: Department | None = None,
    region: Annotated[
        str | None,
        Query(description="Narrow to a region inside yours (a division code; else 404)."),
    ] = None,
    id_number: Annotated[
        str | None,
        Query(description="A person (any accepted form), matched through the keyed hash."),
    ] = None,
    action: Annotated[str | None, Query(max_length=40)] = None,
    from_: Annotated[BoundedDateTime | None, Query(alias="from", description="RFC 3339")] = None,
    to: Annotated[BoundedDateTime | None, Query(description="RFC 3339, exclusive")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AuditLogPage:
    """The audit log of your region in chain order: every write (batches, single records,
    client changes, finding transitions and comments) and every read of person records.

    `client_id` matches what a client did and what was done to it; `department` the acting
    department; `id_number` the entries naming the person for a record of your region and the
    batches that wrote or closed one of the person's records in your region (a person who left
    your region is not followed into the next one; entries logged before the hub kept the
    region each person was named for match a person with a record, now or before, in your
    region) — a person with no record (now or before) in your region is answered like a
    number the hub never saw, an empty page; `region` a region inside yours (one outside yours,
    a sibling's or one above, is a 404 as for the cases, not an empty page). A read is in the
    view of the reader's region and of every region whose records it sent, a
    write (`batch.push`, `record.replace`, `record.delete`) in the view of its scope's region
    and of every region whose records it wrote or closed (`regions`; a record moved with its
    unit: both): a region's auditor sees every read and write of its people, whoever made
    them, as it concerns your region: `regions` lists those inside yours, and an entry filed
    under a region outside yours (a city's read or batch, seen by a county) counts in `persons`
    only the people it names for records of your region and keeps no counts in `detail` (they
    add up every region). Entries never hold ID numbers: persons are named by keyed hash.
    Each entry carries its `hash` and the `prev_hash` it covers (see `/audit-log/verify`);
    `request_id` is the hub's own id of the request, `client_request_id` the caller's
    `X-Request-ID` when it sent a safe one.
    """
    bounds = read_bounds(principal, region)  # a region outside yours: 404, as for the cases
    keys = None
    if id_number is not None:
        keys = person_keys_of(keyring, id_number, settings.today())
    zone = settings.zone
    return queries.list_entries(
        session,
        bounds,
        client_id=client_id,
        department=department.value if department else None,
        person_keys=keys,
        person_batches=batches_of_persons(keys, bounds) if keys is not None else None,
        person_here=persons_in_region(keys, bounds) if keys is not None else None,
        local_persons=lambda named: persons_in_region(named, bounds),
        action=action,
        since=from_ if from_ is None or from_.tzinfo else from_.replace(tzinfo=zone),
        until=to if to is None or to.tzinfo else to.replace(tzinfo=zone),
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/audit-log/verify",
    operation_id="verify_audit_log",
    name="verify_audit_log",
    response_model=ChainVerification,
    responses=problem_responses(401, 403),
)
def verify_audit_log(
    principal: CurrentPrincipal, session: DbSession, db: DatabaseDep
) -> ChainVerification:
    """Recompute the whole hash chain (every region: the chain is one) and every entry's MAC
    under the hub's audit key (the version it was made under), and name the first entry that
    does not fit — altered, inserted or missing, or with a MAC that does not match (altered by
    someone who recomputed the hashes without the key), or of a key version the hub does not
    hold — with the reason. Compare `head` with a head hash kept outside the hub
    (`linkage-hub audit-log head`) to see that no entry was removed from the end."""
    keys = keyset.key_set_of(db)
    return verification_of(service.verify(session, key_set=keys), keys.pins)


def verification_of(result: service.Verification, pins: dict[int, int]) -> ChainVerification:
    head = result.head
    return ChainVerification(
        ok=result.ok,
        entries=result.entries,
        head=ChainHead(
            seq=head.seq, hash=head.hash, recorded_at=head.recorded_at, count=head.count
        ),
        first_broken_seq=result.broken_seq,
        reason=result.reason,
        key_versions=[
            KeyVersionStart(version=v, first_seq=seq, pinned=seq == 1 or v in pins)
            for v, seq in sorted(result.starts.items())
        ],
    )
