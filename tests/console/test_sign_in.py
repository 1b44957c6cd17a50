"""Signing in to the console: accounts, sessions, CSRF, lockout, the one-time password link,
and the wall between people and departmental systems."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from linkage_hub.app import create_app
from linkage_hub.audit.models import AuditEntry
from linkage_hub.auth.models import ConsoleSession
from linkage_hub.auth.sessions import COOKIE
from linkage_hub.auth.users import create_user, disable_user, password_link
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.console.conftest import PASSWORD, Console, ConsoleAs


def test_signed_out_pages_lead_to_the_sign_in_page_and_back(
    client: TestClient, console_as: ConsoleAs, app: FastAPI
) -> None:
    person = console_as("establishment", "230100")
    stranger = Console(app, person.username)
    answer = stranger.get("/console/logout")
    assert answer.status_code == 405
    answer = stranger.browser.post("/console/logout", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/"
    assert stranger.sign_in().headers["location"] == "/console/"


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_console(
    client: TestClient, console_as: ConsoleAs, app: FastAPI
) -> None:
    person = console_as("audit", "230100")
    again = Console(app, person.username)
    cookie = again.sign_in().headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # reached as 127.0.0.1
    remote = Console(app, person.username)
    remote.browser.base_url = "https://hub.example.gov.cn"  # type: ignore[assignment]
    assert "Secure" in remote.sign_in().headers["set-cookie"]


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer_and_lock_out(
    client: TestClient, console_as: ConsoleAs, app: FastAPI
) -> None:
    person = console_as("hr", "230100")
    guesser = Console(app, person.username)
    wrong = guesser.sign_in("not the password")
    unknown = Console(app, "nobody").sign_in("not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text
    for _ in range(4):
        guesser.sign_in("not the password")
    locked = guesser.sign_in()  # even the right password, while locked
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert COOKIE not in locked.headers.get("set-cookie", "")


def test_a_form_without_the_sessions_csrf_token_is_refused(
    client: TestClient, console_as: ConsoleAs
) -> None:
    person = console_as("establishment", "230100")
    forged = person.browser.post(
        "/console/logout", data={"csrf_token": "0" * 64}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")
    other_site = person.browser.post(
        "/console/logout",
        data={"csrf_token": person.csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert other_site.status_code == 403
    assert person.get("/console/login").status_code == 200  # still signed in
    assert person.post("/console/logout").status_code == 303


def test_behind_a_trusted_proxy_that_ends_tls_the_console_takes_https_forms(
    settings: Settings, database: Database
) -> None:
    """`serve` speaks plain HTTP, so TLS ends in a proxy in front. The browser's forms come with
    `Origin: https://<host>`; the hub, reached over http, refused every one of them (sign-in
    first). A trusted proxy's `X-Forwarded-Proto` now names the scheme; anyone else's is
    ignored."""
    host = "hub.example.gov.cn"
    proxied = settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    app = create_app(proxied, database=database)
    with database.transaction() as session:
        create_user(
            session,
            username="wang",
            name="王",
            department="audit",
            region="230100",
            password=PASSWORD,
        )
    through_tls = {
        "Origin": f"https://{host}",
        "X-Forwarded-For": "198.51.100.7",
        "X-Forwarded-Proto": "https",
    }
    form = {"username": "wang", "password": PASSWORD}

    def browser(peer: str) -> TestClient:
        return TestClient(
            app, base_url=f"http://{host}", raise_server_exceptions=False, client=(peer, 40000)
        )

    stranger = browser("203.0.113.9")  # served while the proxy's client runs the app
    with browser("127.0.0.1") as proxy:
        signed_in = proxy.post(
            "/console/login", data=form, headers=through_tls, follow_redirects=False
        )
        assert signed_in.status_code == 303
        assert "Secure" in signed_in.headers["set-cookie"]
        # The Secure cookie, as the browser sends it over https to the proxy.
        session = {**through_tls, "Cookie": f"{COOKIE}={signed_in.cookies[COOKIE]}"}
        csrf = Console.csrf_of(proxy.get("/console/", headers=session).text)
        out = proxy.post(
            "/console/logout", data={"csrf_token": csrf}, headers=session, follow_redirects=False
        )
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        # Not from a trusted proxy: the header is the caller's own word, the scheme stays http.
        claimed = stranger.post(
            "/console/login", data=form, headers=through_tls, follow_redirects=False
        )
        assert claimed.status_code == 403 and "请从本站登录页登录" in claimed.text


def test_signing_out_ends_the_session_on_the_server(
    client: TestClient, console_as: ConsoleAs, app: FastAPI
) -> None:
    person = console_as("finance", "230100")
    token = person.browser.cookies[COOKIE]
    assert person.post("/console/logout").headers["location"] == "/console/login"
    replay = Console(app, person.username)
    replay.browser.cookies.set(COOKIE, token, path="/console")
    answer = replay.browser.post("/console/logout", follow_redirects=False)
    assert answer.headers["location"].startswith("/console/login?next=")


def test_idle_and_disabled_sessions_end(
    client: TestClient, console_as: ConsoleAs, database: Database, settings: Settings
) -> None:
    idle, disabled = console_as("hr", "230100"), console_as("hr", "230102")
    with database.transaction() as session:
        then = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=settings.console_idle_minutes + 1)
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.client_id == f"user:{idle.username}")
            .values(seen_at=then)
        )
        disable_user(session, disabled.username)
    for person in (idle, disabled):
        answer = person.browser.post(
            "/console/logout", data={"csrf_token": person.csrf}, follow_redirects=False
        )
        assert answer.headers["location"].startswith("/console/login?next="), person.username
    assert Console(client.app, disabled.username).sign_in().status_code == 401  # type: ignore[arg-type]


def test_people_get_no_api_token_and_clients_cannot_sign_in(
    client: TestClient, console_as: ConsoleAs, app: FastAPI, client_id_for
) -> None:
    person = console_as("establishment", "230100")
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": f"user:{person.username}",
            "client_secret": PASSWORD,
        },
    )
    assert token.status_code == 401
    # The session cookie opens no API route.
    api = person.browser.get("/api/v1/discrepancies")
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"
    # A departmental client's id is not a username (the form prefixes "user:").
    assert Console(app, client_id_for("hr")).sign_in("whatever it is").status_code == 401


def test_a_one_time_link_sets_the_password_once(
    client: TestClient, database: Database, app: FastAPI
) -> None:
    with database.transaction() as session:
        created = create_user(
            session, username="zhao", name="赵", department="audit", region="230100"
        )
    assert created.link_token is not None
    link = f"/console/password/{created.link_token}"
    page = client.get(link)
    assert page.status_code == 200 and "zhao" in page.text
    mismatch = client.post(link, data={"password": PASSWORD, "confirm": PASSWORD + "!"})
    assert mismatch.status_code == 422
    short = client.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422
    assert client.post(link, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 200
    assert Console(app, "zhao").sign_in().status_code == 303
    used = client.post(link, data={"password": PASSWORD, "confirm": PASSWORD})
    assert used.status_code == 404
    with database.transaction() as session:
        newer = password_link(session, "zhao")
    assert client.get(f"/console/password/{newer}").status_code == 200


def test_sign_in_and_user_changes_are_in_the_audit_log(
    client: TestClient, console_as: ConsoleAs, database: Database
) -> None:
    person = console_as("finance", "230100", username="qian")
    with database.transaction() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.department).where(
                AuditEntry.target_id == "user:qian"
            )
        ).all()
    # Under the person's department, as their other entries: a filter by department finds it.
    assert ("user.sign_in", "user:qian", "finance") in entries
    assert "user.create" in {action for action, _, _ in entries}
    assert person.username == "qian"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_users_command(settings: Settings, database: Database) -> None:
    env = {
        "LINKAGE_DATABASE_URL": settings.sqlalchemy_url,
        "LINKAGE_DATA_DIR": str(settings.data_dir),
    }
    command = [sys.executable, "-m", "linkage_hub.cli", "users"]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], input=stdin, capture_output=True, text=True, env=env, check=False
        )

    made = run(
        "create",
        "--department",
        "hr",
        "--region",
        "230102",
        "--name",
        "孙",
        "--username",
        "sun",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["actor"] == "user:sun"
    linked = run(
        "create",
        "--department",
        "hr",
        "--region",
        "230102",
        "--name",
        "周",
        "--username",
        "zhou",
        "--base-url",
        "https://hub.example",
    )
    assert json.loads(linked.stdout)["password_link"].startswith(
        "https://hub.example/console/password/"
    )
    taken = run(
        "create",
        "--department",
        "hr",
        "--region",
        "230102",
        "--name",
        "孙",
        "--username",
        "sun",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert taken.returncode != 0 and "taken" in taken.stderr
    assert run("disable", "sun").returncode == 0
    listed = json.loads(run("list").stdout)
    assert [u["username"] for u in listed] == ["zhou"]
    everyone = json.loads(run("list", "--all").stdout)
    assert {u["username"] for u in everyone} == {"sun", "zhou"}
    assert PASSWORD not in made.stdout + linked.stdout


def test_a_password_links_token_is_cut_from_the_access_log() -> None:
    from linkage_hub.observability import masked_target

    scope = {"path": "/console/password/AbCdEf123_secret", "query_string": b""}
    assert masked_target(scope) == "/console/password/***"
    assert masked_target({"path": "/console/findings", "query_string": b"rule=X"}) == (
        "/console/findings?rule=X"
    )


def test_console_pages_are_guarded_and_load_nothing_from_elsewhere(
    client: TestClient, console_as: ConsoleAs
) -> None:
    person = console_as("audit", "230100")
    for response in (
        client.get("/console/login"),
        person.get("/console/"),
        person.get("/console/findings/no-such-finding"),  # an error page
    ):
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "<script" not in response.text
        assert "http://" not in response.text and "https://" not in response.text
