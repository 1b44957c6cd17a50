"""Appending to the audit log, verifying it, and the helpers the writing rooms call.

Appends are serialised: on PostgreSQL by a transaction-scoped advisory lock held until commit
(so ``seq`` and the chain follow commit order, like the change feed), on SQLite by its single
writer. Call :func:`append` last in a transaction, to keep the lock short.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hmac
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from linkage_hub.audit.chain import GENESIS, canonical, link, mac
from linkage_hub.audit.keyset import (
    AUDIT_LOCK,
    AuditKeyMismatch,
    appending_version,
    audit_keyring_of,
    record_fingerprints,
    usable,
)
from linkage_hub.audit.models import AuditEntry, AuditPerson, AuditPersonRegion, AuditRegion
from linkage_hub.db import insert_rows
from linkage_hub.domain import Department
from linkage_hub.identifiers import mask_id_numbers_in
from linkage_hub.keys import AuditKeySet
from linkage_hub.observability import current_client_request_id, current_request_id

VERIFY_CHUNK = 5_000
AUDIT_TABLE = cast(Table, AuditEntry.__table__)
AUDIT_PERSON_TABLE = cast(Table, AuditPerson.__table__)  # entries before 0032
AUDIT_PERSON_REGION_TABLE = cast(Table, AuditPersonRegion.__table__)
AUDIT_REGION_TABLE = cast(Table, AuditRegion.__table__)


class Actor(Protocol):
    """Who acted, as the log names them: :class:`linkage_hub.auth.principal.Principal` fits.

    A protocol rather than an import: the audit log sits below auth (auth writes to it), so it
    names only the three facts it records."""

    @property
    def client_id(self) -> str: ...
    @property
    def department(self) -> Department: ...
    @property
    def region(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Entry:
    action: str
    actor: str
    region: str
    department: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    detail: dict[str, Any] | None = None
    # (person key, region of the record the person is named for): a person's records in two
    # regions, a pair each
    persons: frozenset[tuple[str, str]] = frozenset()
    request_id: str | None = None
    client_request_id: str | None = None
    # of the records a read sent or a batch wrote or closed, besides ``region``
    regions: frozenset[str] = frozenset()
    recorded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def typed(text: str | None) -> str | None:
    """Free text a person typed (a reason, a document or minutes number, a name) as an entry's
    detail may keep it: the log is append-only and never purged, so an ID number quoted in it
    is masked on the way in (``2301**********1234``), never kept in clear for good."""
    return None if text is None else mask_id_numbers_in(text)


def named(client_id: str) -> str:
    """A client id as the log keeps it: a console account named by an ID number before such
    names were refused (``user:<number>``) is kept masked like any typed number, in every
    entry it writes from now on; the filter by client id (:mod:`audit.queries`) masks the
    name asked for alike. An API client's id (``lhc_`` and 24 hex characters the hub drew)
    stays as it is: its hex may hold 15 digits in a row, which would read as an ID number."""
    return client_id if _API_CLIENT_ID.fullmatch(client_id) else mask_id_numbers_in(client_id)


_API_CLIENT_ID = re.compile(r"lhc_[0-9a-f]{24}")  # auth.service.create_client's


def operator() -> str:
    """The actor of a command-line change: ``cli:<operating-system user>``."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no user name in some containers
        return "cli"


def append(session: Session, entry: Entry) -> int:
    """Append one entry in the caller's transaction; returns its seq."""
    return append_many(session, [entry])[-1]


def append_many(
    session: Session, entries: Sequence[Entry], *, key_version: int | None = None
) -> list[int]:
    """Append entries in the caller's transaction; returns their seqs. ``key_version`` MACs
    them under a version the set holds that is not current yet (``audit-log rotate-key``'s
    first entry under the new version, :func:`record_key_rotation`); never under one older
    than the newest entry's."""
    if not entries:
        return []
    keyring = audit_keyring_of(session)
    key_set = usable(keyring)  # before the lock: the first use may read the key file
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash, AuditEntry.key_version)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).one_or_none()
    version = key_set.current
    if last is not None and last.key_version > version:
        keyring.reload()  # rotated by another process since this one last looked
        key_set = usable(keyring)
        version = appending_version(last.key_version, key_set)
    if key_version is not None:
        if key_version not in key_set.versions or key_version < version:
            raise AuditKeyMismatch(
                f"audit key version {key_version} is not held, or older than the log's newest"
            )
        version = key_version
    if keyring.confirmed is not key_set:  # under the lock: one appender records a new version
        record_fingerprints(session, key_set)
    key = key_set.versions[version]
    seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS)
    rows: list[dict[str, Any]] = []
    person_rows: list[tuple[int, str, str]] = []
    regions: list[dict[str, Any]] = []
    default_request = current_request_id.get()
    default_client_request = current_client_request_id.get()
    for entry in entries:
        seq += 1
        values: dict[str, Any] = {
            "seq": seq,
            "recorded_at": entry.recorded_at.astimezone(dt.UTC),
            "action": entry.action,
            "actor": named(entry.actor),
            "department": entry.department,
            "region": entry.region,
            "target_type": entry.target_type,
            "target_id": (
                named(entry.target_id)
                if entry.target_type == "client" and entry.target_id is not None
                else entry.target_id
            ),
            "detail": entry.detail,
            # Both ids from one source: the entry's own request, or the one running now.
            "request_id": entry.request_id or default_request,
            "client_request_id": (
                entry.client_request_id if entry.request_id else default_client_request
            ),
        }
        persons = sorted(entry.persons)
        digest = link(
            prev,
            canonical(
                **values,
                person_keys={k for k, _ in persons},
                regions=entry.regions,
                person_regions=persons,
            ),
        )
        rows.append(
            {
                **values,
                "prev_hash": prev,
                "hash": digest,
                "mac": mac(key, seq, digest),
                "key_version": version,
            }
        )
        person_rows += [(seq, k, r) for k, r in persons]
        regions.extend({"seq": seq, "region": r} for r in sorted(entry.regions))
        prev = digest
    # COPY on PostgreSQL: every read of person data appends here, a list page 100 keys.
    insert_rows(session, AUDIT_TABLE, rows)
    _insert_persons(session, person_rows)
    if regions:
        insert_rows(session, AUDIT_REGION_TABLE, regions)
    return [r["seq"] for r in rows]


def _insert_persons(session: Session, rows: list[tuple[int, str, str]]) -> None:
    """The entries' persons, ``(seq, person key, region)`` a row each, as plain tuples: on
    PostgreSQL by ``COPY``, on SQLite by the driver's ``executemany`` (the keys of a list
    page's read entry are a hundred rows, a report's chunk ten thousand; built as dicts and
    bound column by column they cost a tenth of the page's CPU)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.connection().exec_driver_sql(
            "INSERT INTO audit_log_person_region (seq, person_key, region) VALUES (?, ?, ?)",
            rows,
        )
        return
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    statement = "COPY audit_log_person_region (seq, person_key, region) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)


HUB_REGION = "000000"
"""The region of an entry about the hub as a whole (a key rotation): inside no auditor's."""


def record_key_rotation(session: Session, version: int) -> int:
    """``audit-log rotate-key``'s entry ``audit.key_rotated``, MAC'd under ``version`` (held,
    not current yet) and naming it and its fingerprint (never the key); returns the seq of the
    first entry under ``version``, the pin the key set file keeps (``since_seq``): this one, or
    an earlier one of a rotation cut short after its entry."""
    key_set = usable(audit_keyring_of(session))
    append_many(
        session,
        [
            Entry(
                action="audit.key_rotated",
                actor=operator(),
                region=HUB_REGION,
                target_type="audit_key",
                target_id=str(version),
                detail={"version": version, "fingerprint": key_set.fingerprints()[version]},
            )
        ],
        key_version=version,
    )
    first = session.scalar(
        select(func.min(AuditEntry.seq)).where(AuditEntry.key_version == version)
    )
    assert first is not None
    return int(first)


# --- helpers for the writing rooms ----------------------------------------------------------


def by(principal: Actor, action: str, region: str, **fields: Any) -> Entry:
    """An entry made by a departmental client."""
    return Entry(
        action=action,
        actor=principal.client_id,
        department=principal.department.value,
        region=region,
        **fields,
    )


def record_batch(
    session: Session,
    principal: Actor,
    *,
    batch_id: str,
    region: str,
    detail: dict[str, Any],
    regions: Iterable[str] = (),
) -> int:
    """A pushed batch (its persons are found through the versions it wrote or closed).

    ``region`` is the batch's scope; ``regions`` those of the versions it wrote or closed (a
    record moved with its unit: the region it left and the one it entered), so that the
    auditor of each region whose people a city's batch wrote sees the batch, as a read is
    shown to the regions whose records it sent. The entry's ``detail`` holds the counts of
    the whole batch, across every region it wrote: an auditor of one of ``regions`` outside
    ``region`` is shown the entry without them (``queries.shared_detail``). An entry whose
    versions all lie in ``region`` carries no ``regions``."""
    entry = by(
        principal,
        "batch.push",
        region,
        target_type="batch",
        target_id=batch_id,
        detail=detail,
        regions=frozenset(regions) - {region},
    )
    return append(session, entry)


def record_change(
    session: Session,
    principal: Actor,
    *,
    action: str,
    dataset: str,
    record_key: str,
    region: str,
    person_key: str | None,
    detail: dict[str, Any],
    regions: Iterable[str] = (),
) -> int:
    """A single record replaced (``record.replace``) or closed (``record.delete``), filed
    under the record's region and ``regions``, those of the versions the change wrote or
    closed besides it (a unit that a PUT moved: the region it entered, see
    :func:`record_batch`)."""
    target = f"{dataset}/{record_key}"
    return _change(
        session, principal, action, region, "record", target, person_key, detail, regions
    )


def record_unit_moves(
    session: Session, principal: Actor, *, batch_id: str, moves: Iterable[tuple[str, str, str]]
) -> list[int]:
    """Units a batch moved to another region, ``(unit_code, from_region, to_region)``: an
    entry ``units.move`` in each of the two regions, so that the audit clients of both (who
    read only their own region) find it. It names no person."""
    entries = [
        by(
            principal,
            "units.move",
            region,
            target_type="unit",
            target_id=unit_code,
            detail={
                "unit_code": unit_code,
                "from_region": old,
                "to_region": new,
                "batch_id": batch_id,
            },
        )
        for unit_code, old, new in moves
        for region in (old, new)
    ]
    return append_many(session, entries)


def record_client_change(
    session: Session,
    *,
    action: str,
    client_id: str,
    region: str,
    detail: dict[str, Any],
    actor: str | None = None,
) -> int:
    """A client created, revoked or given a new secret (never the secret itself)."""
    entry = Entry(
        action=action,
        actor=actor or operator(),
        region=region,
        target_type="client",
        target_id=client_id,
        detail=detail,
    )
    return append(session, entry)


def record_finding_change(
    session: Session,
    principal: Actor,
    *,
    action: str,
    finding_id: str,
    region: str,
    person_key: str | None,
    detail: dict[str, Any],
) -> int:
    """For reconciliation: a finding's transition (``finding.transition``, detail: from, to,
    reason, document_no) or a comment (``finding.comment``, detail: comment id). Call it in
    the request's transaction, after the change."""
    return _change(session, principal, action, region, "finding", finding_id, person_key, detail)


def _change(
    session: Session,
    principal: Actor,
    action: str,
    region: str,
    target_type: str,
    target_id: str,
    person_key: str | None,
    detail: dict[str, Any],
    regions: Iterable[str] = (),
) -> int:
    """A change by a departmental client to one target concerning at most one person (named
    for ``region`` and ``regions``)."""
    written = frozenset(regions) | {region}
    entry = by(
        principal,
        action,
        region,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
        # named for the record's region, and for any other its change wrote (a moved unit's)
        persons=frozenset((person_key, r) for r in written) if person_key else frozenset(),
        regions=written - {region},
    )
    return append(session, entry)


def read_entry(
    principal: Actor,
    *,
    method: str,
    route: str,
    status: int,
    person_records: int,
    persons: Iterable[tuple[str, str]],
    regions: Iterable[str],
    request_id: str | None,
    client_request_id: str | None,
    recorded_at: dt.datetime,
) -> Entry:
    """A read of person data (appended by the access recorder's flush). ``region`` is the
    reader's; ``regions`` those of the records sent, so that the auditors of each of them see
    the read too (an entry with only the reader's own region carries none); ``persons`` the
    person key of each record sent with the record's region."""
    read = frozenset(regions) - {principal.region}
    return by(
        principal,
        "read",
        principal.region,
        target_type="route",
        target_id=f"{method} {route}"[:120],
        detail={"status": status, "person_records": person_records},
        persons=frozenset(persons),
        request_id=request_id,
        client_request_id=client_request_id,
        regions=read,
        recorded_at=recorded_at,
    )


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str
    recorded_at: dt.datetime | None
    count: int


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    entries: int
    head: Head
    broken_seq: int | None = None
    reason: str | None = None
    anchor_found: bool | None = None
    # each key version's first entry in the chain, as far as it was read
    starts: dict[int, int] = field(default_factory=dict)


def head(session: Session) -> Head:
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash, AuditEntry.recorded_at)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).one_or_none()
    count = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    if last is None:
        return Head(0, GENESIS, None, 0)
    return Head(last.seq, last.hash, last.recorded_at, int(count))


def _chunks(
    session: Session,
) -> Iterator[list[tuple[AuditEntry, list[str], list[str], list[tuple[str, str]]]]]:
    after = 0
    while True:
        entries = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > after)
                .order_by(AuditEntry.seq)
                .limit(VERIFY_CHUNK)
            )
        )
        if not entries:
            return
        lo, hi = entries[0].seq, entries[-1].seq
        keys: dict[int, list[str]] = {}
        for seq, key in session.execute(
            select(AuditPerson.seq, AuditPerson.person_key).where(AuditPerson.seq.between(lo, hi))
        ):
            keys.setdefault(seq, []).append(key)
        persons: dict[int, list[tuple[str, str]]] = {}
        for seq, key, region in session.execute(
            select(
                AuditPersonRegion.seq, AuditPersonRegion.person_key, AuditPersonRegion.region
            ).where(AuditPersonRegion.seq.between(lo, hi))
        ):
            persons.setdefault(seq, []).append((key, region))
        regions: dict[int, list[str]] = {}
        for seq, region in session.execute(
            select(AuditRegion.seq, AuditRegion.region).where(AuditRegion.seq.between(lo, hi))
        ):
            regions.setdefault(seq, []).append(region)
        yield [
            (
                e,
                sorted({*keys.get(e.seq, []), *(k for k, _ in persons.get(e.seq, []))}),
                regions.get(e.seq, []),
                persons.get(e.seq, []),
            )
            for e in entries
        ]
        session.expunge_all()
        after = hi


def verify(session: Session, *, key_set: AuditKeySet, anchor: str | None = None) -> Verification:
    """Recompute the whole chain and every entry's MAC under the version of ``key_set`` (the
    audit key set) it records; the first entry that does not fit is named with the reason (an
    entry of a version the set lacks too). The chain alone shows a change made by someone who
    did not recompute the later hashes; the MAC, one who did but has no key. With ``anchor``
    (a head hash kept outside the hub), also check that it is still in the chain: removing
    the newest entries leaves a consistent but shorter chain.

    Where the set pins the first entry of a version (``since_seq``, kept outside the database),
    that entry must be there and under that version; versions never going back, none after it
    is under an older one. Whoever holds a retired version's key and the database cannot then
    rewrite the entries since the rotation under the old version, nor cut them off."""
    current = head(session)
    prev, expected, count, version = GENESIS, 1, 0, 1
    found = anchor is None
    begins = {seq: v for v, seq in key_set.pins.items()}
    starts: dict[int, int] = {}
    for chunk in _chunks(session):
        for entry, keys, regions, persons in chunk:
            reason = None
            if entry.seq != expected:
                reason = f"entries {expected}..{entry.seq - 1} are missing"
            elif entry.key_version < version:
                reason = (
                    f"its audit key version {entry.key_version} is older than the previous "
                    f"entry's ({version}): versions never go back"
                )
            elif entry.seq in begins and entry.key_version != begins[entry.seq]:
                reason = (
                    f"audit key version {begins[entry.seq]} begins here (its since_seq in the "
                    f"audit key set), but the entry is under version {entry.key_version}: "
                    "the entries since were rewritten under another key"
                )
            elif entry.prev_hash != prev:
                reason = "its prev_hash is not the previous entry's hash"
            else:
                body = canonical(
                    seq=entry.seq,
                    recorded_at=entry.recorded_at,
                    action=entry.action,
                    actor=entry.actor,
                    department=entry.department,
                    region=entry.region,
                    target_type=entry.target_type,
                    target_id=entry.target_id,
                    detail=entry.detail,
                    request_id=entry.request_id,
                    person_keys=keys,
                    client_request_id=entry.client_request_id,
                    regions=regions,
                    person_regions=persons,
                )
                if link(prev, body) != entry.hash:
                    reason = "its contents do not match its hash (the entry was altered)"
                elif entry.mac is None:
                    reason = "it has no mac"
                elif (key := key_set.versions.get(entry.key_version)) is None:
                    reason = (
                        f"its mac was made under audit key version {entry.key_version}, "
                        "which this hub's audit key set does not hold"
                    )
                elif not hmac.compare_digest(entry.mac, mac(key, entry.seq, entry.hash)):
                    reason = "its mac does not match: altered by someone without the audit key"
            if reason is not None:
                return Verification(False, count, current, entry.seq, reason, starts=starts)
            count += 1
            prev, expected, version = entry.hash, entry.seq + 1, entry.key_version
            starts.setdefault(version, entry.seq)
            found = found or entry.hash == anchor
    cut = min((seq for seq in begins if seq >= expected), default=None)
    if cut is not None:  # an empty log too: the key set says entries were there
        return Verification(
            False,
            count,
            current,
            cut,
            f"it is missing, where audit key version {begins[cut]} begins (its since_seq in the "
            "audit key set): entries were removed from the end",
            starts=starts,
        )
    if not found:
        return Verification(
            False,
            count,
            current,
            None,
            "the anchored hash is not in the chain (entries were removed)",
            anchor_found=False,
            starts=starts,
        )
    found_anchor = None if anchor is None else True
    return Verification(True, count, current, anchor_found=found_anchor, starts=starts)


def record_run(
    session: Session,
    *,
    run_id: str,
    actor: str,
    department: str | None,
    region: str,
    detail: dict[str, Any],
) -> int:
    """For reconciliation: a run ended (``reconciliation.run``). ``actor`` is who or what
    started it (a client id, ``cli:<user>``, ``schedule``); ``detail`` its kind, period, as-of
    date, status and counts. Call it in the transaction that merges the run's findings."""
    entry = Entry(
        action="reconciliation.run",
        actor=actor,
        department=department,
        region=region,
        target_type="run",
        target_id=run_id,
        detail=detail,
    )
    return append(session, entry)
