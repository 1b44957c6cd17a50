"""A person's sign-in is charged to its (name, address) pair before the hash
(``auth.service._charge``); a right password must leave the office's address as it was. The
first version charged the address too and took it back on success, which locked colleagues
out (the charge set a fresh address lock the refund kept) and kept an office's old failures
from being forgotten (the charge moved ``failed_at``). Now the address is counted after the
hash, on a failure only."""

from __future__ import annotations

import datetime as dt

from linkage_hub.auth.service import (
    ADDRESS_LOCK_AFTER,
    FORGET_AFTER,
    Authenticated,
    Locked,
    Rejected,
    authenticate,
)
from linkage_hub.auth.users import create_user, user_id
from linkage_hub.db import Database

PASSWORD = "a long test password"
OFFICE = "10.9.8.7"
T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def _people(database: Database, *names: str) -> None:
    with database.transaction() as session:
        for name in names:
            create_user(
                session,
                username=name,
                name=f"测试 {name}",
                department="hr",
                region="230100",
                password=PASSWORD,
            )


def test_a_right_password_does_not_lock_the_office_address(database: Database) -> None:
    """The office's address has reached its limit once (20 wrong passwords for names nobody
    has, a morning's typos) and its lock ran out. Alice signs in with her right password: she
    is in. Bob, at the next desk, signs in right after with his right password. The charge
    taken before Alice's hash counted a 21st failure and set a fresh address lock, and the
    refund leaves it (it clears a lock only below the limit): Bob gets a 429."""
    _people(database, "alice", "bob")
    for n in range(ADDRESS_LOCK_AFTER):
        out = authenticate(database, user_id(f"ghost{n}"), "wrong", OFFICE, person=True, now=T0)
        assert isinstance(out, Rejected), out
    later = T0 + dt.timedelta(minutes=10)  # the 20th failure's lock (30 s) is long over
    alice = authenticate(database, user_id("alice"), PASSWORD, OFFICE, person=True, now=later)
    assert isinstance(alice, Authenticated), alice
    bob = authenticate(
        database,
        user_id("bob"),
        PASSWORD,
        OFFICE,
        person=True,
        now=later + dt.timedelta(seconds=1),
    )
    assert not isinstance(bob, Locked), f"a colleague's right password locked the office: {bob}"
    assert isinstance(bob, Authenticated), bob


def test_right_passwords_do_not_keep_the_address_count_alive(database: Database) -> None:
    """Failures are forgotten a day after the last one (FORGET_AFTER). An office with 19
    failures yesterday morning, whose people sign in rightly all day: a right password moves
    the address row's ``failed_at`` forward (the charge writes it, the refund leaves it), so
    the count is never forgotten and one typo today locks the whole office."""
    _people(database, "carol")
    for n in range(ADDRESS_LOCK_AFTER - 1):
        authenticate(database, user_id(f"ghost{n}"), "wrong", OFFICE, person=True, now=T0)
    # Carol signs in rightly a few times while the failures are still remembered...
    for hours in (6, 12, 18, 23):
        at = T0 + dt.timedelta(hours=hours)
        out = authenticate(database, user_id("carol"), PASSWORD, OFFICE, person=True, now=at)
        assert isinstance(out, Authenticated), out
    # ... and, more than a day after the last failure, mistypes once, then gets it right.
    today = T0 + FORGET_AFTER + dt.timedelta(hours=2)
    typo = authenticate(database, user_id("carol"), "typo", OFFICE, person=True, now=today)
    assert isinstance(typo, Rejected), typo
    again = authenticate(
        database,
        user_id("carol"),
        PASSWORD,
        OFFICE,
        person=True,
        now=today + dt.timedelta(seconds=5),
    )
    assert isinstance(again, Authenticated), (
        f"yesterday's 19 failures, kept alive by right passwords, locked the office: {again}"
    )
