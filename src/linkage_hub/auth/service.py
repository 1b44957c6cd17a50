"""Use cases of the auth room: departmental clients, client authentication with throttling.

Throttling (decided in issue 12): failed token requests are counted in ``auth_throttle``, in the
database so that every hub process sharing it sees the same counts, under two keys:

- **(client id as sent, source address)** (an ID number in the id masked: :func:`throttle_key`):
  after ``LOCK_AFTER`` consecutive failures that pair
  is locked for ``LOCK_BASE_SECONDS × 2^(failures − LOCK_AFTER)``, at most ``LOCK_MAX_SECONDS``;
  while locked even the right secret is refused (429 with ``Retry-After``) without running the
  hash. A stranger guessing from elsewhere therefore locks only himself out: the department's
  own system, at its own address, keeps getting tokens. A success clears its pair's count.
- **the source address alone**: after ``ADDRESS_LOCK_AFTER`` failures (for any ids) the address
  is locked the same way, so one address cannot spray ids or secrets.

The source address is :func:`linkage_hub.clientaddr.source_address` (``X-Forwarded-For`` only
from trusted proxies). Unknown client ids are hashed against a dummy (same cost), counted and
locked exactly like known ones, and get the same 401 and 429: the answer never tells whether an
id exists. Rows of pairs that have not failed for ``FORGET_AFTER`` are deleted as failures come.

Order of work, so that a token request never holds SQLite's write lock (or a PostgreSQL row
lock) while the slow hash runs: read the client and the locks in a read transaction, hash
outside any transaction, then write the outcome in a short write transaction, and only when
it changes something (a failure; a success that clears a count). Guesses sent in parallel for
one pair may each pass the lock check before the first is counted; each is counted, and the
secrets (256 bits) are not guessable anyway.

A person's password is guessable, and guesses sent together — to one process, or to each of
several in front of one database — must not be checked past the lock. So a person's attempt
is **charged to its pair before its hash** (:func:`_charge`): one short write transaction
counts it as a failure of (name, address), by an ``UPDATE`` that applies only while the pair
is not locked (on PostgreSQL a concurrent attempt waits for the row and sees the lock the one
before set), and sets the lock when the count reaches it. An attempt the lock refuses is not
counted and gets the 429. A right password clears the pair, as any success does; a wrong one
is then counted under the address alone. At most ``LOCK_AFTER`` wrong passwords are checked
for a name from an address, however the guesses are spread. The address's own count is kept
after the hash, as for clients: a right password never touches it (charging it too would make
an office's right passwords lock its colleagues out, or keep its old failures from being
forgotten); a burst spread over many names may pass its limit by what one address may have in
flight.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from linkage_hub.audit.service import named, record_client_change, typed
from linkage_hub.auth.hashing import (
    dummy_hash,
    dummy_password_hash,
    hash_secret,
    new_secret,
    verify_secret,
)
from linkage_hub.auth.models import AuthClient, AuthThrottle
from linkage_hub.auth.scopes import DEPARTMENT_SCOPES, Scope, format_scopes, parse_scopes
from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.identifiers import normalise_region

LOCK_AFTER = 5
ADDRESS_LOCK_AFTER = 20
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 15 * 60
FORGET_AFTER = dt.timedelta(days=1)
ADDRESS = ""  # the client_id of an address's own row in auth_throttle
CLIENT_ID_PREFIX = "lhc_"
PERSON_ID_PREFIX = "user:"  # people's console accounts: linkage_hub.auth.users
MAX_NAME_LENGTH = 200


class ClientError(ValueError):
    """A client cannot be created or changed as asked (the message says why)."""


class ClientNotFound(ClientError):
    pass


@dataclass(frozen=True, slots=True)
class ClientState:
    """What verification needs to know about a client, cached per process for a short while."""

    client_id: str
    name: str
    department: Department
    region: str
    scopes: frozenset[str]
    active: bool
    secret_version: int

    @classmethod
    def of(cls, row: AuthClient) -> ClientState:
        return cls(
            client_id=row.client_id,
            name=row.name,
            department=Department(row.department),
            region=row.region,
            scopes=parse_scopes(row.scopes),
            active=row.active,
            secret_version=row.secret_version,
        )


@dataclass(frozen=True, slots=True)
class CreatedClient:
    client: AuthClient
    client_secret: str


def checked_identity(
    department: Department | str, region: str, name: str
) -> tuple[Department, str, str]:
    """A new client's (or person's) department, region and name, checked and normalised."""
    try:
        department = Department(department)
    except ValueError:
        raise ClientError(
            f"unknown department {department!r}: one of {', '.join(Department)}"
        ) from None
    try:
        region = normalise_region(region)
    except ValueError as exc:
        raise ClientError(f"region: {exc}") from None
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ClientError(f"name: give 1 to {MAX_NAME_LENGTH} characters")
    return department, region, name


def create_client(
    session: Session,
    *,
    name: str,
    department: Department | str,
    region: str,
    scopes: list[str] | None = None,
    now: dt.datetime | None = None,
    actor: str | None = None,
) -> CreatedClient:
    department, region, name = checked_identity(department, region, name)
    allowed = DEPARTMENT_SCOPES[department]
    granted = frozenset(scopes) if scopes else frozenset(str(s) for s in allowed)
    outside = granted - {str(s) for s in allowed}
    if outside:
        raise ClientError(
            f"the {department} department cannot hold scope {', '.join(sorted(outside))}; "
            f"allowed: {format_scopes({str(s) for s in allowed})}"
        )
    secret = new_secret()
    client = AuthClient(
        client_id=CLIENT_ID_PREFIX + secrets.token_hex(12),
        name=name,
        department=str(department),
        region=region,
        scopes=format_scopes(granted),
        secret_hash=hash_secret(secret),
        active=True,
        secret_version=1,
        created_at=now or utcnow(),
    )
    session.add(client)
    session.flush()
    audit_client_change(session, "client.create", client, actor)
    return CreatedClient(client, secret)


def audit_client_change(
    session: Session, action: str, client: AuthClient, actor: str | None
) -> None:
    record_client_change(
        session,
        action=action,
        client_id=client.client_id,
        region=client.region,
        detail={
            "department": client.department,
            "name": typed(client.name),
            "scopes": client.scopes,
        },
        actor=actor,
    )


def list_clients(session: Session) -> list[AuthClient]:
    """Departmental systems (people's accounts are :func:`linkage_hub.auth.users.list_users`)."""
    query = select(AuthClient).where(AuthClient.client_id.startswith(CLIENT_ID_PREFIX))
    return list(session.scalars(query.order_by(AuthClient.created_at)))


def _get(session: Session, client_id: str) -> AuthClient:
    """A departmental client, locked for a change. A person's account is none: its secret is a
    password, set and revoked by :mod:`linkage_hub.auth.users` alone."""
    if client_id.startswith(PERSON_ID_PREFIX):
        raise ClientNotFound(f"no client {client_id} (people's accounts: linkage-hub users)")
    client = session.get(AuthClient, client_id, with_for_update=True)
    if client is None:
        raise ClientNotFound(f"no client {client_id}")
    return client


def revoke_client(
    session: Session, client_id: str, *, now: dt.datetime | None = None, actor: str | None = None
) -> AuthClient:
    """Revoke for good: no new tokens, and its tokens stop working within the cache window."""
    client = _get(session, client_id)
    if client.active:
        now = now or utcnow()
        client.active = False
        client.revoked_at = now
        session.flush()
        audit_client_change(session, "client.revoke", client, actor)
    return client


def rotate_secret(
    session: Session, client_id: str, *, now: dt.datetime | None = None, actor: str | None = None
) -> CreatedClient:
    """A new secret; the old one stops working at once and tokens issued with it soon after."""
    client = _get(session, client_id)
    if not client.active:
        raise ClientError(f"client {client_id} is revoked")
    now = now or utcnow()
    secret = new_secret()
    client.secret_hash = hash_secret(secret)
    client.secret_rotated_at = now
    client.secret_version += 1  # tokens name the version they were issued under
    session.execute(delete(AuthThrottle).where(AuthThrottle.client_id == throttle_key(client_id)))
    session.flush()
    audit_client_change(session, "client.rotate_secret", client, actor)
    return CreatedClient(client, secret)


def client_state(session: Session, client_id: str) -> ClientState | None:
    row = session.get(AuthClient, client_id)
    return ClientState.of(row) if row is not None else None


# --- Authentication ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authenticated:
    client: ClientState


@dataclass(frozen=True, slots=True)
class Rejected:
    pass


@dataclass(frozen=True, slots=True)
class Locked:
    retry_after: int


Outcome = Authenticated | Rejected | Locked


def lock_seconds(failures: int, lock_after: int = LOCK_AFTER) -> int:
    if failures < lock_after:
        return 0
    return min(LOCK_BASE_SECONDS << min(failures - lock_after, 20), LOCK_MAX_SECONDS)


def throttle_key(client_id: str) -> str:
    """The id an attempt is counted under in ``auth_throttle``: as sent, with an ID number in it
    masked. The id is whatever was typed, and people type their ID number as a username (their
    login name in other systems); a failure is kept for a day, and not in clear. Two numbers
    masked alike share a count, from one address only. An API client's own id (``lhc_`` and
    24 hex characters) is kept as it is, as the audit log keeps it (:func:`named`): its hex
    may hold 15 digits in a row, and two clients would share a lockout."""
    return named(client_id)


def authenticate(
    db: Database,
    client_id: str,
    secret: str,
    address: str,
    *,
    person: bool = False,
    now: dt.datetime | None = None,
) -> Outcome:
    """Check a client's secret (``person``: a person's password, their id ``user:<name>``)
    from a source address, with the throttle described above. An id of the other kind is
    checked like an unknown one: the token endpoint serves no person, the console's sign-in
    no departmental system.

    Commits its own (short) write transaction when the outcome changes the throttle, because a
    failure must be recorded even though the request fails.
    """
    now = now or utcnow()
    key = throttle_key(client_id)
    own_kind = client_id.startswith(PERSON_ID_PREFIX) == person
    with db.read_sessions() as session, session.begin():
        client = session.get(AuthClient, client_id) if own_kind else None
        stored = client.secret_hash if client is not None else None
        active = client is not None and client.active
        state = ClientState.of(client) if client is not None else None
        locks = session.execute(
            select(AuthThrottle.client_id, AuthThrottle.failures, AuthThrottle.locked_until)
            .where(AuthThrottle.address == address)
            .where(AuthThrottle.client_id.in_((key, ADDRESS)))
        ).all()
    until = max((row.locked_until for row in locks if row.locked_until is not None), default=None)
    if until is not None and until > now:
        return Locked(math.ceil((until - now).total_seconds()))
    if person:
        try:
            _charge(db, key, address, now)
        except _LockedMeanwhile as locked:
            return Locked(locked.seconds)
    dummy = dummy_password_hash() if person else dummy_hash()
    verified = verify_secret(secret, stored if stored is not None else dummy)
    if not (verified and active and state is not None):
        # A person's attempt was counted against its pair before the hash.
        _count_failure(db, key, address, now, keys=(ADDRESS,) if person else None)
        return Rejected()
    if person or any(row.client_id == key and row.failures for row in locks):
        with db.transaction() as session:
            session.execute(
                delete(AuthThrottle)
                .where(AuthThrottle.client_id == key)
                .where(AuthThrottle.address == address)
            )
    return Authenticated(state)


class _LockedMeanwhile(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _count_failure(
    db: Database,
    client_id: str,
    address: str,
    now: dt.datetime,
    *,
    keys: tuple[str, ...] | None = None,
    unless_locked: bool = False,
) -> None:
    """Count a failure under the pair and the address (``keys``: under these only: the
    client id for the pair, :data:`ADDRESS` for the address), locking a key that reaches its
    limit. ``unless_locked``: count only keys not locked at this moment, and raise
    :class:`_LockedMeanwhile` (rolling the whole count back) when one is."""
    limits = {client_id: LOCK_AFTER, ADDRESS: ADDRESS_LOCK_AFTER}
    with db.transaction() as session:
        session.execute(
            delete(AuthThrottle)
            .where(AuthThrottle.failed_at < now - FORGET_AFTER)
            .where((AuthThrottle.locked_until.is_(None)) | (AuthThrottle.locked_until < now))
        )
        for key in keys or (client_id, ADDRESS):
            lock_after = limits[key]
            _insert_if_missing(session, key, address, now)
            row = (AuthThrottle.client_id == key) & (AuthThrottle.address == address)
            open_ = AuthThrottle.locked_until.is_(None) | (AuthThrottle.locked_until <= now)
            failures = session.execute(
                update(AuthThrottle)
                .where(row & open_ if unless_locked else row)
                .values(failures=AuthThrottle.failures + 1, failed_at=now)
                .returning(AuthThrottle.failures)
            ).scalar_one_or_none()
            if failures is None:
                until = session.scalar(select(AuthThrottle.locked_until).where(row))
                wait = (until - now).total_seconds() if until is not None else 1
                raise _LockedMeanwhile(max(1, math.ceil(wait)))
            seconds = lock_seconds(failures, lock_after)
            if seconds:
                session.execute(
                    update(AuthThrottle)
                    .where(row)
                    .values(locked_until=now + dt.timedelta(seconds=seconds))
                )


def _charge(db: Database, client_id: str, address: str, now: dt.datetime) -> None:
    """Count a person's attempt against its pair before its hash runs (see the module)."""
    _count_failure(db, client_id, address, now, keys=(client_id,), unless_locked=True)


def _insert_if_missing(session: Session, client_id: str, address: str, now: dt.datetime) -> None:
    values = {"client_id": client_id, "address": address, "failures": 0, "failed_at": now}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(AuthThrottle).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(AuthThrottle).values(values).on_conflict_do_nothing())


def touch_last_used(session: Session, last_used: dict[str, dt.datetime]) -> None:
    """Move ``last_used_at`` forward for the clients of a batch of access records."""
    for client_id, at in last_used.items():
        session.execute(
            update(AuthClient)
            .where(AuthClient.client_id == client_id)
            .where((AuthClient.last_used_at.is_(None)) | (AuthClient.last_used_at < at))
            .values(last_used_at=at)
        )


def known_scopes() -> frozenset[str]:
    return frozenset(str(s) for s in Scope)
