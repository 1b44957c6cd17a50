"""Use cases of the auth room: departmental clients, client authentication with throttling.

Throttling lives in the client's row, so every hub process sharing one database sees the same
count: after ``LOCK_AFTER`` consecutive failures the client is locked for
``LOCK_BASE_SECONDS × 2^(failures − LOCK_AFTER)``, at most ``LOCK_MAX_SECONDS``. While locked,
even the right secret is refused (429 with ``Retry-After``) without running the hash. A success
clears the count. Unknown client ids are not stored (nothing there to guess) but cost as much
time as known ones.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linkage_hub.audit.service import record_client_change
from linkage_hub.auth.hashing import burn_time, hash_secret, new_secret, verify_secret
from linkage_hub.auth.models import AuthClient
from linkage_hub.auth.scopes import DEPARTMENT_SCOPES, Scope, format_scopes, parse_scopes
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.identifiers import normalise_region

LOCK_AFTER = 5
LOCK_BASE_SECONDS = 30
LOCK_MAX_SECONDS = 15 * 60
CLIENT_ID_PREFIX = "lhc_"
MAX_NAME_LENGTH = 200


class ClientError(ValueError):
    """A client cannot be created or changed as asked (the message says why)."""


class ClientNotFound(ClientError):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
        failed_attempts=0,
    )
    session.add(client)
    session.flush()
    _audit(session, "client.create", client, actor)
    return CreatedClient(client, secret)


def _audit(session: Session, action: str, client: AuthClient, actor: str | None) -> None:
    record_client_change(
        session,
        action=action,
        client_id=client.client_id,
        region=client.region,
        detail={"department": client.department, "name": client.name, "scopes": client.scopes},
        actor=actor,
    )


def list_clients(session: Session) -> list[AuthClient]:
    return list(session.scalars(select(AuthClient).order_by(AuthClient.created_at)))


def _get(session: Session, client_id: str) -> AuthClient:
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
        _audit(session, "client.revoke", client, actor)
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
    client.failed_attempts = 0
    client.locked_until = None
    session.flush()
    _audit(session, "client.rotate_secret", client, actor)
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


def lock_seconds(failures: int) -> int:
    if failures < LOCK_AFTER:
        return 0
    return min(LOCK_BASE_SECONDS << min(failures - LOCK_AFTER, 20), LOCK_MAX_SECONDS)


def authenticate(
    db: Database, client_id: str, secret: str, *, now: dt.datetime | None = None
) -> Outcome:
    """Check a client's secret, counting failures; commits its own transaction.

    It runs in a transaction of its own because a failure must be recorded even though the
    request fails. The row is locked (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite)
    while the hash runs, so parallel guesses for one client queue instead of racing the count.
    """
    now = now or utcnow()
    with db.transaction() as session:
        client = session.get(AuthClient, client_id, with_for_update=True)
        if client is None:
            burn_time(secret)
            return Rejected()
        if client.locked_until is not None and client.locked_until > now:
            return Locked(math.ceil((client.locked_until - now).total_seconds()))
        if not verify_secret(secret, client.secret_hash) or not client.active:
            client.failed_attempts += 1
            seconds = lock_seconds(client.failed_attempts)
            client.locked_until = now + dt.timedelta(seconds=seconds) if seconds else None
            return Rejected()
        client.failed_attempts = 0
        client.locked_until = None
        client.last_used_at = now
        return Authenticated(ClientState.of(client))


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
