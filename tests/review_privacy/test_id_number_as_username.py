"""An ID number as a console username: accepted, then written in clear everywhere.

``check_username`` (auth/users.py) takes 2–58 characters of ``a-z0-9._-``, so a person's
citizen ID number (lower-case ``x``, as the check lower-cases it) is a valid username — and
people do use their ID number as their login name. The username is the person's identity
``user:<username>``: it is the actor of every audit-log entry of theirs (append-only, never
purged), the ``client_id`` of every access-log line and access record, the author of every
comment. None of these can be masked afterwards, so the number must be refused when the
account is made. Likewise a sign-in attempt with an ID number typed in the username field is
kept in clear in ``auth_throttle`` (its ``client_id``) for a day.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.auth.models import AuthThrottle
from linkage_hub.auth.service import ClientError
from linkage_hub.auth.users import create_user
from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.console.conftest import PASSWORD, Console, ConsoleAs

NUMBER = "11010519491231002x"  # valid (DOMAIN.md vector), lower-case x


def test_an_id_number_is_refused_as_a_username(database: Database) -> None:
    """Should: ``users create --username <ID number>`` is refused (ClientError), as the hub
    keeps ID numbers out of logs and the audit log. Does: the account is made."""
    with database.transaction() as session, pytest.raises(ClientError):
        create_user(
            session,
            username=NUMBER,
            name="张三",
            department="audit",
            region="230100",
            password=PASSWORD,
        )


def test_a_person_named_by_id_number_lands_in_clear_in_the_audit_log(
    console_as: ConsoleAs,
    client: TestClient,
    headers_for: HeadersFor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Should: no audit-log entry and no log line holds the ID number in clear.
    Does: the ``user.sign_in`` entry's actor is ``user:11010519491231002x``, and the
    access log's ``client_id`` of the person's requests too."""
    person = console_as("audit", "230100", username=NUMBER)
    assert person.get("/console/").status_code == 200
    log = client.get(
        "/api/v1/audit-log", params={"limit": 1000}, headers=headers_for("audit", "230100")
    )
    assert log.status_code == 200, log.text
    assert NUMBER not in log.text, "the ID number is an actor in the audit log"
    assert NUMBER not in caplog.text, "the ID number is in the access log"


def test_a_sign_in_with_an_id_number_is_not_kept_in_clear(
    client: TestClient, app: FastAPI, database: Database
) -> None:
    """Should: a failed sign-in whose username is an ID number leaves no plain ID number in
    the database. Does: auth_throttle.client_id = 'user:11010519491231002x' for a day."""
    response = Console(app, NUMBER.upper()).sign_in("wrong password here")
    assert response.status_code == 401, response.text
    with database.transaction() as session:
        kept = list(session.scalars(select(AuthThrottle.client_id)))
    assert not [k for k in kept if NUMBER in k.lower()], kept
