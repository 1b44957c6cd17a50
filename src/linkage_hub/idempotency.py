"""``Idempotency-Key`` for the writes that create things (API.md, Conventions): a retry with the
same key and the same request returns the first answer (header ``Idempotent-Replayed: true``),
the same key with another request is 422 naming ``Idempotency-Key``, a retry while the first is
still running is 409.

Batch pushes keep their own (the key on the batch row, ``records.ingest.Pusher.replay``); every
other create route calls :func:`once` with the work that creates. The first answer is stored in
the work's own transaction, so an answer is stored exactly when its object is made; a write that
fails stores nothing and a retry runs again.

- Scope. A client's keys are its own: an answer is found by (client id, route, key), so one
  client's key never finds another's answer (it just creates). The public (``POST
  /public/v1/reports``, no token) has no identity to scope by: there the key counts only
  together with the request itself, (``public``, route, key + request digest). A reporter's
  retry (same key, same report) gets the first receipt and files no second case; someone who
  reuses or guesses the key gets nothing without the very same report text, and a reused key
  with another report files that report (no 422, which would tell a stranger that the key
  was used).
- Nothing in clear. The key and the request are stored as keyed hashes (a body may quote an ID
  number); the answer is sealed with the current ID key (:meth:`Keyring.seal_id`), since some
  hold a secret shown once (a subscription's ``whsec_``, a 12310 receipt's ``secret``) that a
  retry must see again, or an ID number typed into a comment.
- In flight. On PostgreSQL the request first takes a transaction-scoped advisory lock on (scope,
  route, key) without waiting: a retry while the first is running cannot take it and is 409 at
  once. SQLite runs one writer at a time: a retry waits for the first to commit and then gets
  its answer. The primary key backs both.
- Rights of now. An answer is replayed only to a caller who may still read what it tells:
  each route passes ``still``, which asks the caller's client row as it stands and where the
  object is filed now (a run, meeting or disclosure of a region inside the caller's, a finding
  it may open, a meeting it attends, a subscription of its region and department). A client
  whose region or department was changed since, or whose finding followed its unit to another
  county, is answered as if the key were new: by the rights of now, so a region it left is the
  404 any request naming it gets. A meeting stays its region's, so its convener is answered
  the first record until an agenda finding that record showed has left the caller's region;
  from then on the record as ``GET`` shows it today (that finding withheld). A first answer
  no longer replayed is forgotten only if the new request succeeds (a refusal rolls back, and
  the first is kept for its retention).
- Retention. Answers are kept ``idempotency_retention_hours`` (24 h by default): an older one
  is no longer replayed, and the expired rows are deleted by the writes that store answers (an
  index range on ``created_at``, at most once a minute per process).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import zlib
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Response
from pydantic import BaseModel
from sqlalchemy import Integer, String, Text, delete, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from linkage_hub.clock import aware, utcnow
from linkage_hub.db import Base, UtcDateTime
from linkage_hub.errors import Conflict, FieldError, InvalidInput
from linkage_hub.keys import Keyring
from linkage_hub.settings import Settings

PUBLIC = "public"  # the scope of the routes without a token
LOCK_SPACE = 0x4C48_494B  # "LHIK", first half of a two-int advisory key
PURGE_EVERY_SECONDS = 60.0
REPLAYED = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="A retry with the same key and request returns the first answer (header "
        "`Idempotent-Replayed: true`); the same key with another request is 422; a retry "
        "while the first is still running is 409. First answers are kept 24 hours by default.",
    ),
]

M = TypeVar("M", bound=BaseModel)


class IdempotentAnswer(Base):
    """The first answer to a create with an ``Idempotency-Key``."""

    __tablename__ = "idempotent_answer"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # client id or "public"
    route: Mapped[str] = mapped_column(String(64), primary_key=True)  # the operation id
    key_hash: Mapped[str] = mapped_column(String(32), primary_key=True)  # keyed
    request_digest: Mapped[str] = mapped_column(String(32))  # keyed
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)  # the answer's JSON, sealed
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class _Purge:
    """When this process last deleted expired answers."""

    lock = threading.Lock()
    last = float("-inf")

    @classmethod
    def due(cls) -> bool:
        now = time.monotonic()
        with cls.lock:
            if now - cls.last < PURGE_EVERY_SECONDS:
                return False
            cls.last = now
            return True


def purge(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Delete the answers past retention; returns how many."""
    cutoff = (now or utcnow()) - dt.timedelta(hours=settings.idempotency_retention_hours)
    result = session.execute(delete(IdempotentAnswer).where(IdempotentAnswer.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def lock_key(keyed: str) -> int:
    """The advisory lock's second int for a key named ``scope\\x1froute\\x1fkey`` (and, for the
    public, ``\\x1f`` and the request digest)."""
    return zlib.crc32(keyed.encode()) - 2**31


def named(
    keyring: Keyring, scope: str | None, route: str, key: str, request: Any
) -> tuple[str, str, str]:
    """(owner, the key's full name, the request's digest) of an answer: the name is
    ``scope\x1froute\x1fkey``, and for the public also the digest (see the module)."""
    digest = keyring.keyed_digest(
        json.dumps([route, request], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )
    owner = PUBLIC if scope is None else scope
    keyed = f"{owner}\x1f{route}\x1f{key}" + (f"\x1f{digest}" if scope is None else "")
    return owner, keyed, digest


def _reused() -> InvalidInput:
    return InvalidInput(
        "This Idempotency-Key was used for a different request.",
        errors=[
            FieldError(
                field="Idempotency-Key",
                code="reused",
                message="was first used with another body or parameters",
            )
        ],
        total_errors=1,
    )


def once(
    session: Session,
    keyring: Keyring,
    settings: Settings,
    response: Response,
    *,
    scope: str | None,
    route: str,
    key: str | None,
    request: Any,
    status: int,
    model: type[M],
    make: Callable[[], M],
    wait: bool = False,
    still: Callable[[M], M | None] | None = None,
) -> M:
    """``make()``'s answer, or with ``key`` the first answer to it (see the module).

    ``scope`` is the client id, None for the public; ``route`` the operation id; ``request``
    what the answer depends on (path parameters and the validated body, as JSON values);
    ``status`` the route's status code. ``wait``: a retry while the first is running waits
    for it and gets its answer instead of a 409 (a form sent twice by a double click: the
    browser shows only the second answer). ``still``: the first answer as the caller may read
    it now, or None when it may no longer (see "Rights of now" in the module); without it the
    answer holds nothing the caller's rights could stop covering (the public's receipt)."""
    if key is None:
        return make()
    owner, keyed, digest = named(keyring, scope, route, key, request)
    key_hash = keyring.keyed_digest(keyed)
    if session.get_bind().dialect.name == "postgresql":
        lock = {"space": LOCK_SPACE, "key": lock_key(keyed)}
        if wait:
            session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), lock)
        elif not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:space, :key)"), lock
        ).scalar_one():
            raise Conflict("A request with this Idempotency-Key is still being answered.")
    now = utcnow()
    first = session.get(IdempotentAnswer, (owner, route, key_hash))
    if first is not None:
        expired = aware(first.created_at) < now - dt.timedelta(
            hours=settings.idempotency_retention_hours
        )
        if not expired:
            if first.request_digest != digest:
                raise _reused()
            answer = model.model_validate_json(keyring.reveal_id(first.body))
            kept = answer if still is None else still(answer)
            if kept is not None:
                response.status_code = first.status_code
                response.headers[REPLAYED] = "true"
                return kept
        # Expired, or no longer the caller's to read: the request is answered as a new one.
        session.delete(first)
        session.flush()
    answer = make()
    if _Purge.due():
        purge(session, settings, now)
    session.add(
        IdempotentAnswer(
            scope=owner,
            route=route,
            key_hash=key_hash,
            request_digest=digest,
            status_code=status,
            body=keyring.seal_id(answer.model_dump_json()),
            created_at=now,
        )
    )
    session.flush()
    return answer
