"""The auth throttle is now keyed by the client id with any ID number masked
(auth/service.py:throttle_key), and usernames that are ID numbers are refused for new accounts
only. No migration carries over the rows the hub wrote before, keyed by the id in clear: an
account made earlier with an ID number as its username, locked out at the upgrade, is unlocked
by it (and the clear rows stay in auth_throttle)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.auth import users as users_module
from linkage_hub.auth.models import AuthThrottle
from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from tests.console.conftest import PASSWORD, Console

NUMBER = "11010519491231002x"  # valid (DOMAIN.md vector), lower-case x, as usernames are


def test_a_lockout_written_before_the_upgrade_still_locks(
    client: TestClient, app: FastAPI, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should: an account locked out (auth_throttle row ``user:<number>`` for the address,
    locked for an hour, as the hub before this change wrote it) is still refused (429) with
    the right password. Does: the lock is not seen (the row is looked up masked): 303, signed
    in."""
    with monkeypatch.context() as m:  # an account made before usernames were checked
        m.setattr(users_module, "check_new_username", users_module.check_username)
        with database.transaction() as session:
            users_module.create_user(
                session,
                username=NUMBER,
                name="张三",
                department="audit",
                region="230100",
                password=PASSWORD,
            )
    person = Console(app, NUMBER)
    assert person.sign_in("wrong password here").status_code == 401
    with database.transaction() as session:
        [row] = session.scalars(
            select(AuthThrottle).where(AuthThrottle.client_id.like("user:%"))
        ).all()
        address = row.address
        now = utcnow()
        session.delete(row)
        session.add(  # the row the hub wrote before the change: the id in clear, locked
            AuthThrottle(
                client_id=f"user:{NUMBER}",
                address=address,
                failures=6,
                failed_at=now,
                locked_until=now + dt.timedelta(hours=1),
            )
        )
    answer = person.sign_in()
    assert answer.status_code == 429, answer.status_code
