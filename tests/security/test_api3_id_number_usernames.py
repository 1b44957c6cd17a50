"""API3: a person's ID number as a console username, or typed at a sign-in.

The username is the person's identity ``user:<username>``: the actor of every audit entry of
theirs (append-only, never purged), the client of every access-log line, the voice of their
comments in a meeting's record and minutes workbook. None of these can mask it afterwards, and
people do use their ID number as a login name. ``users create`` took one (a-z, 0-9: a number with
a lower-case ``x`` passed), and then wrote it in clear in all those places; now it is refused
when the account is made. A failed sign-in (or token request) with an ID number typed as the
name kept ``user:<number>`` in ``auth_throttle`` for a day; now it is counted masked, and still
locks (found by the privacy and meetings reviews, 2026-12-06).
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from linkage_hub.audit.models import AuditEntry
from linkage_hub.auth import users as users_module
from linkage_hub.auth.models import AuthClient, AuthThrottle
from linkage_hub.auth.service import LOCK_AFTER, ClientError
from linkage_hub.auth.users import create_user
from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id, mask_id_numbers_in
from tests.auth.helpers import new_client, request_token
from tests.conftest import HeadersFor
from tests.console.conftest import PASSWORD, Console
from tests.security.test_api2_password_resets import Users, users

__all__ = ["users"]  # the fixture

NUMBER = "11010519491231002x"  # valid (DOMAIN.md vector), lower-case x, as usernames are


def throttled(database: Database) -> list[str]:
    with database.transaction() as session:
        return list(session.scalars(select(AuthThrottle.client_id)))


@pytest.mark.parametrize(
    "username", [NUMBER, NUMBER.upper(), "zhang." + NUMBER, "110105-19491231-002x"]
)
def test_an_id_number_is_refused_as_a_username(database: Database, username: str) -> None:
    with database.transaction() as session, pytest.raises(ClientError, match=r"^username: "):
        create_user(
            session,
            username=username,
            name="张三",
            department="audit",
            region="230100",
            password=PASSWORD,
        )
    with database.transaction() as session:
        assert session.scalars(select(AuthClient.client_id)).all() == []


def test_users_create_refuses_it_in_one_line(users: Users) -> None:
    argv = ["--department", "finance", "--region", "230102", "--name", "张三"]
    code, made, err = users("create", *argv, "--username", NUMBER)
    assert code != 0 and made is None
    assert "username: an ID number cannot be a username" in err and NUMBER not in err
    code, _, err = users("create", *argv, "--username", "zhang.san")  # the same, named
    assert code == 0, err


def test_a_sign_in_with_an_id_number_is_counted_masked_and_locks(
    client: TestClient, app: FastAPI, database: Database
) -> None:
    guesser = Console(app, NUMBER.upper())
    assert guesser.sign_in("wrong password here").status_code == 401
    kept = throttled(database)
    assert f"user:{mask_citizen_id(NUMBER)}" in kept
    assert not [k for k in kept if NUMBER in k.lower()], kept
    for _ in range(4):
        assert guesser.sign_in("wrong password here").status_code == 401
    assert guesser.sign_in().status_code == 429
    assert Console(app, "somebody.else").sign_in().status_code == 401  # the name, not the address


def test_a_token_request_with_an_id_number_as_client_id_is_counted_masked(
    client: TestClient, database: Database
) -> None:
    assert request_token(client, NUMBER, "lhs_guess").status_code == 401
    assert not [k for k in throttled(database) if NUMBER in k.lower()]


def test_an_account_named_by_an_id_number_before_the_rule_is_logged_masked(
    client: TestClient,
    app: FastAPI,
    database: Database,
    headers_for: HeadersFor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An account made before ID numbers were refused as names keeps its name (there is no
    rename), so it went on writing ``user:<number>`` in clear as the actor of every audit
    entry, append-only and never purged. Its new entries are now masked, and an auditor
    asking by the name finds them."""
    monkeypatch.setattr(users_module, "check_new_username", lambda name: name)
    with database.transaction() as session:
        create_user(
            session,
            username=NUMBER,
            name="张三",
            department="audit",
            region="230100",
            password=PASSWORD,
        )
    monkeypatch.undo()
    assert Console(app, NUMBER).sign_in().status_code == 303
    with database.transaction() as session:
        logged = session.execute(
            select(AuditEntry.actor, AuditEntry.target_id).where(
                AuditEntry.action == "user.sign_in"
            )
        ).all()
        everything = session.scalars(select(AuditEntry.actor)).all()
    masked = f"user:{mask_citizen_id(NUMBER)}"
    assert logged == [(masked, masked)]
    assert not [a for a in everything if NUMBER in a.lower()]
    auditor = headers_for("audit", "230100")
    found = client.get("/api/v1/audit-log", params={"client_id": f"user:{NUMBER}"}, headers=auditor)
    assert found.status_code == 200, found.text
    assert sorted(i["action"] for i in found.json()["items"]) == ["user.create", "user.sign_in"]
    assert NUMBER not in found.text.lower()


def test_api_clients_whose_ids_mask_alike_do_not_share_a_lockout(
    client: TestClient, database: Database
) -> None:
    """An API client's id is ``lhc_`` and 24 hex characters the hub drew; about 1 in 300 holds
    15 digits in a row, which read as an old-style ID number. Counted masked, two such clients
    shared one failed-attempt count from an address: guessing one locked the other out. The
    hub's own ids are counted as they are (``audit.service.named``, as the audit log keeps
    them); a typed ID number still is not (the test above)."""
    guessed, other = "lhc_a110105491231002bcdefabc", "lhc_a110106481231002bcdefabc"
    assert mask_id_numbers_in(guessed) == mask_id_numbers_in(other)  # the shape that collided
    client_id, secret = new_client(database)
    with database.transaction() as session:
        session.execute(
            update(AuthClient).where(AuthClient.client_id == client_id).values(client_id=other)
        )
    for _ in range(LOCK_AFTER):
        assert request_token(client, guessed, "lhs_guess").status_code == 401
    assert request_token(client, guessed, "lhs_guess").status_code == 429
    assert request_token(client, other, secret).status_code == 200
    assert guessed in throttled(database)
