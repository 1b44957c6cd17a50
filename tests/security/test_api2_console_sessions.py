"""API2:2023 Broken Authentication — console sessions, attacked where they could keep rights
they should not (reviewed 2026-12-07; sound, kept as guards):

- session fixation: a cookie in the browser before sign-in (the attacker's own live session,
  planted by a sibling host, or a made-up value) is replaced by a new one; the planted session
  still names the attacker and a made-up value never becomes a session;
- a person's row changed under a live session (region, department, scopes): the next request
  acts with the row as it is now, the session carries no rights of its own;
- a one-time link past its day: its page says it no longer works, a post sets nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from linkage_hub.auth.models import AuthClient, ConsoleSession, PasswordLink
from linkage_hub.auth.sessions import COOKIE
from linkage_hub.auth.users import create_user
from linkage_hub.db import Database
from tests.console.conftest import PASSWORD, Console, ConsoleAs, console_as

__all__ = ["console_as"]  # the fixture


def _holder(database: Database, token: str) -> str | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with database.transaction() as session:
        return session.scalar(
            select(ConsoleSession.client_id).where(ConsoleSession.token_hash == digest)
        )


def test_a_cookie_from_before_sign_in_is_not_kept(
    client: TestClient, app: FastAPI, console_as: ConsoleAs, database: Database
) -> None:
    attacker = console_as("hr", "230102", username="mallory")
    planted = attacker.browser.cookies[COOKIE]
    victim = console_as("hr", "230102", username="alice")
    for before in (planted, "made-up-session-value-" + "x" * 30):
        browser = Console(app, victim.username)
        browser.browser.cookies.set(COOKIE, before, path="/console")
        signed_in = browser.sign_in()
        assert signed_in.status_code == 303
        after = signed_in.cookies[COOKIE]
        assert after != before
        assert _holder(database, after) == "user:alice"
    assert _holder(database, planted) == "user:mallory"  # not upgraded to the victim
    assert _holder(database, "made-up-session-value-" + "x" * 30) is None
    assert attacker.get("/console/").status_code == 200  # the attacker's own, still theirs


def test_a_live_session_acts_with_the_persons_row_as_it_is_now(
    client: TestClient, console_as: ConsoleAs, database: Database
) -> None:
    person = console_as("establishment", "230102")
    assert person.get("/console/findings?region=230103").status_code == 404
    assert person.get("/console/runs").status_code == 200
    with database.transaction() as session:
        session.execute(
            update(AuthClient)
            .where(AuthClient.client_id == f"user:{person.username}")
            .values(region="230100")
        )
    assert person.get("/console/findings?region=230103").status_code == 200  # the city's now
    with database.transaction() as session:
        session.execute(
            update(AuthClient)
            .where(AuthClient.client_id == f"user:{person.username}")
            .values(region="230103", department="hr", scopes="read")
        )
    assert person.get("/console/findings?region=230102").status_code == 404  # moved out
    assert person.get("/console/disclosures").status_code == 403  # no longer the office
    assert person.get("/console/runs").status_code == 200  # read: still held


def test_a_link_past_its_day_sets_nothing(
    client: TestClient, app: FastAPI, database: Database
) -> None:
    with database.transaction() as session:
        created = create_user(
            session, username="zhou", name="周", department="audit", region="230100"
        )
        session.execute(
            update(PasswordLink)
            .where(PasswordLink.client_id == "user:zhou")
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    link = f"/console/password/{created.link_token}"
    page = client.get(link)
    assert page.status_code == 200 and "此链接已失效" in page.text
    assert "zhou" not in page.text
    post = client.post(link, data={"password": PASSWORD, "confirm": PASSWORD})
    assert post.status_code == 404
    assert Console(app, "zhou").sign_in().status_code == 401
