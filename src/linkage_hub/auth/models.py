"""Tables of the auth room: departmental clients and the access record.

- ``auth_client``: one departmental system. The secret is kept only as a slow, salted hash
  (see :mod:`linkage_hub.auth.hashing`). ``secret_version`` counts rotations; a token names the
  version it was issued under and stops working when the secret is rotated.
- ``auth_throttle``: failed token requests, counted per (client id as sent, source address) and
  per source address alone (``client_id`` empty), in the database so that several hub processes
  sharing it throttle together (see :mod:`linkage_hub.auth.service`). Client ids that do not
  exist are counted like those that do.
- ``auth_access_record``: who called which route with what result, for audit. It carries the
  route *template*, never the concrete path, so no ID number can reach it.
- ``auth_console_session``: a person's signed-in browser session (issue 19). The cookie holds a
  random token; the table holds only its SHA-256, so a leaked table opens no session. Ending a
  session (sign-out, idle timeout, the account disabled or its password changed) is a row
  update every hub process sees at once.
- ``auth_password_link``: a one-time link to set a person's password, kept as the SHA-256 of
  its token, valid for a day, used once.

A person's account is an ``auth_client`` row whose id is ``user:<username>`` (see
:mod:`linkage_hub.auth.users`): the same department, region, scopes, lockout and revocation as
a departmental system's, so the policy, the SQL region filters and the audit log need no
second notion of "who".
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.db import Base, UtcDateTime


class AuthClient(Base):
    __tablename__ = "auth_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(6))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, RFC 6749 §3.3
    secret_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    secret_rotated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    secret_version: Mapped[int] = mapped_column(Integer, default=1)


class AuthThrottle(Base):
    __tablename__ = "auth_throttle"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" = the address
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    failed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_auth_throttle_failed_at", "failed_at"),)


class AccessRecord(Base):
    __tablename__ = "auth_access_record"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    client_id: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(20))
    region: Mapped[str] = mapped_column(String(6))  # the client's region: audit's filter
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(SmallInteger)
    person_records: Mapped[int] = mapped_column(Integer, default=0)
    request_id: Mapped[str | None] = mapped_column(String(64))  # the hub's own, unique
    client_request_id: Mapped[str | None] = mapped_column(String(64))  # the caller's, if safe
    source_address: Mapped[str | None] = mapped_column(String(64))  # clientaddr.source_address

    __table_args__ = (
        Index("ix_auth_access_record_region_id", "region", "id"),
        Index("ix_auth_access_record_client_id_id", "client_id", "id"),
        Index("ix_auth_access_record_recorded_at", "recorded_at"),
    )


class ConsoleSession(Base):
    __tablename__ = "auth_console_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    secret_version: Mapped[int] = mapped_column(Integer)  # a new password ends older sessions
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    source_address: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_auth_console_session_client_id", "client_id"),)


class PasswordLink(Base):
    __tablename__ = "auth_password_link"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
