"""People's accounts for the console: create, list, disable, and set a password.

A person is an ``auth_client`` row with the id ``user:<username>``. That one decision gives a
person exactly what a departmental system of the same department and region has — the policy
table, the SQL region filters, the lockout of :func:`linkage_hub.auth.service.authenticate`,
revocation — and puts ``user:<username>`` in the audit log as the actor, with no second notion
of "who" anywhere. The two kinds never cross: the token endpoint refuses people (they sign in
to the console) and the console's sign-in refuses departmental clients (it prefixes the name).

A person holds the department's scopes except ``write``: datasets are pushed by departmental
systems, not typed in a browser.

Passwords: at least 12 characters, hashed with scrypt at the password cost
(:func:`linkage_hub.auth.hashing.hash_password`). An operator sets one from standard input, or
hands the person a one-time link (valid a day, used once, kept only as a SHA-256) through which
they choose it themselves. A new password ends the person's open sessions (``secret_version``),
clears their lockout and retires every outstanding link, however it was set: a link that went
astray must not take the account over after the password was set another way. A new link ends
the sessions too, and the old password with them: an operator resetting a stolen account must
not leave the thief a password to sign in again with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from linkage_hub.auth.hashing import hash_password
from linkage_hub.auth.models import AuthClient, AuthThrottle, ConsoleSession, PasswordLink
from linkage_hub.auth.scopes import DEPARTMENT_SCOPES, Scope, format_scopes
from linkage_hub.auth.service import (
    PERSON_ID_PREFIX,
    ClientError,
    ClientNotFound,
    audit_client_change,
    checked_identity,
    throttle_key,
)
from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.identifiers import mask_id_numbers_in

USER_PREFIX = PERSON_ID_PREFIX
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,57}")
MIN_PASSWORD = 12
MAX_PASSWORD = 200
LINK_LIFETIME = dt.timedelta(days=1)


def user_id(username: str) -> str:
    return USER_PREFIX + username


def is_user(client_id: str) -> bool:
    return client_id.startswith(USER_PREFIX)


def check_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise ClientError(
            "username: 2 to 58 characters of a-z, 0-9, '.', '_' and '-', starting with a "
            "letter or digit"
        )
    return username


def check_new_username(username: str) -> str:
    """A new account's username: no ID number in it. The username is the person's identity,
    ``user:<username>``, the actor of every audit entry of theirs (kept for good), the client of
    every access-log line, the voice in a meeting's record and minutes: none of these can mask
    it afterwards, and people do use their ID number as a login name."""
    username = check_username(username)
    if mask_id_numbers_in(username) != username:
        raise ClientError(
            "username: an ID number cannot be a username (it would be written in the audit log "
            "and the logs in clear); choose another"
        )
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ClientError(f"password: give {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if len(set(password)) < 5:
        raise ClientError("password: use at least 5 different characters")
    return password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkNotValid(ClientError):
    """The one-time link is used, retired, expired or another account's."""


@dataclass(frozen=True, slots=True)
class CreatedUser:
    user: AuthClient
    link_token: str | None  # the one-time link's token, when no password was given


def create_user(
    session: Session,
    *,
    username: str,
    name: str,
    department: Department | str,
    region: str,
    password: str | None = None,
    now: dt.datetime | None = None,
    actor: str | None = None,
) -> CreatedUser:
    username = check_new_username(username)
    department, region, name = checked_identity(department, region, name)
    if session.get(AuthClient, user_id(username)) is not None:
        raise ClientError(f"username {username} is taken (usernames are never reused)")
    now = now or utcnow()
    scopes = {str(s) for s in DEPARTMENT_SCOPES[department] - {Scope.write}}
    user = AuthClient(
        client_id=user_id(username),
        name=name,
        department=str(department),
        region=region,
        scopes=format_scopes(scopes),
        # No password yet: a hash of a random secret nobody holds, so nothing signs in.
        secret_hash=hash_password(check_password(password) if password else secrets.token_hex()),
        active=True,
        secret_version=1,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit_client_change(session, "user.create", user, actor)
    link = None
    if not password:
        link = password_link(session, username, now=now, actor=actor, void_password=False)
    return CreatedUser(user, link)


def list_users(session: Session) -> list[AuthClient]:
    query = select(AuthClient).where(AuthClient.client_id.startswith(USER_PREFIX))
    return list(session.scalars(query.order_by(AuthClient.client_id)))


def _user(session: Session, username: str) -> AuthClient:
    """The person's row, locked and read afresh: a row the session loaded before the lock (the
    link form reads the link's holder first) would otherwise keep the values it had then."""
    user = session.get(
        AuthClient,
        user_id(username.strip().lower()),
        with_for_update=True,
        populate_existing=True,
    )
    if user is None:
        raise ClientNotFound(f"no user {username}")
    return user


def disable_user(
    session: Session, username: str, *, now: dt.datetime | None = None, actor: str | None = None
) -> AuthClient:
    """For good: no sign-in, and every open session ends now."""
    user = _user(session, username)
    now = now or utcnow()
    if user.active:
        user.active = False
        user.revoked_at = now
        audit_client_change(session, "user.disable", user, actor)
    _end_sessions(session, user.client_id, now)
    return user


def password_link(
    session: Session,
    username: str,
    *,
    now: dt.datetime | None = None,
    actor: str | None = None,
    void_password: bool = True,
) -> str:
    """A one-time token for ``/console/password/{token}``; earlier unused links stop working,
    the person's sessions end and their password stops working (an operator resetting a stolen
    account must not leave the thief signed in, nor able to sign in again). ``void_password``
    is false only for a new account, whose password is already one nobody holds."""
    user = _user(session, username)
    if not user.active:
        raise ClientError(f"user {username} is disabled")
    now = now or utcnow()
    _retire_links(session, user.client_id, now)
    if void_password:
        user.secret_hash = hash_password(secrets.token_hex())
        user.secret_rotated_at = now
        user.secret_version += 1
    _end_sessions(session, user.client_id, now)
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordLink(
            token_hash=token_hash(token),
            client_id=user.client_id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    session.flush()
    audit_client_change(session, "user.password_link", user, actor)
    return token


def link_holder(session: Session, token: str, now: dt.datetime | None = None) -> AuthClient | None:
    """The active person a valid, unused, unexpired link belongs to."""
    now = now or utcnow()
    link = session.get(PasswordLink, token_hash(token[:100]))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    user = session.get(AuthClient, link.client_id)
    return user if user is not None and user.active else None


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    link_token: str | None = None,
    now: dt.datetime | None = None,
    actor: str | None = None,
) -> AuthClient:
    """Set a person's password (through a link or not, every outstanding link is used up);
    their sessions end."""
    password = check_password(password)
    now = now or utcnow()
    user = _user(session, username)
    if not user.active:
        raise ClientError(f"user {username} is disabled")
    if link_token is not None:
        # Claimed in one UPDATE, so two uses of one link sent together cannot both pass: the
        # second finds it used (PostgreSQL re-checks the row once the first commits), where a
        # link read before the first committed would still look unused.
        claimed = session.execute(
            update(PasswordLink)
            .where(
                PasswordLink.token_hash == token_hash(link_token[:100]),
                PasswordLink.client_id == user.client_id,
                PasswordLink.used_at.is_(None),
                PasswordLink.expires_at > now,
            )
            .values(used_at=now)
            .returning(PasswordLink.token_hash)
        ).scalar_one_or_none()
        if claimed is None:
            raise LinkNotValid("the link is not valid any more; ask for a new one")
    _retire_links(session, user.client_id, now)
    user.secret_hash = hash_password(password)
    user.secret_rotated_at = now
    user.secret_version += 1
    session.execute(
        delete(AuthThrottle).where(AuthThrottle.client_id == throttle_key(user.client_id))
    )
    _end_sessions(session, user.client_id, now)
    audit_client_change(session, "user.password", user, actor)
    return user


def _retire_links(session: Session, client_id: str, now: dt.datetime) -> None:
    session.execute(
        update(PasswordLink)
        .where(PasswordLink.client_id == client_id, PasswordLink.used_at.is_(None))
        .values(used_at=now)
    )


def _end_sessions(session: Session, client_id: str, now: dt.datetime) -> None:
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.client_id == client_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    session.flush()


DEMO_ACCOUNTS_FILE = "demo-accounts.json"
DEMO_ACCOUNTS = (  # (username, department, region, name): the demo city is 230100 in 230000
    ("demo.establishment", Department.establishment, "230000", "省编办（演示）"),
    ("demo.audit", Department.audit, "230000", "省审计厅（演示）"),
    ("demo.hr", Department.hr, "230100", "市人社局（演示）"),
    ("demo.county", Department.establishment, "230102", "区编办（演示）"),
)


def create_demo_accounts(db: Database, secrets_dir: Path) -> Path:
    """``serve --demo``: console accounts to try the console with, each with a random password,
    saved (mode 0600) beside the database as the demo clients' secrets are — never a password
    written in code."""
    accounts = []
    with db.transaction() as session:
        for username, department, region, name in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            if session.get(AuthClient, user_id(username)) is not None:  # a start cut short
                set_password(session, username, password, actor="demo")
            else:
                create_user(
                    session,
                    username=username,
                    name=name,
                    department=department,
                    region=region,
                    password=password,
                    actor="demo",
                )
            accounts.append(
                {
                    "username": username,
                    "password": password,
                    "department": department.value,
                    "region": region,
                }
            )
    path = secrets_dir / DEMO_ACCOUNTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(accounts, handle, ensure_ascii=False, indent=2)
    return path
