"""API2:2023 Broken Authentication — taking a person's console account back with `linkage-hub
users password U`, whose help promises: "Print a new one-time link for the person to choose a
password (earlier links stop working), or set it from standard input. Their sessions end."

- A password set from standard input (or through a link) used up only the link it came
  through: an account made with a link, whose link the operator then thought went astray and
  replaced by `--password-stdin`, could still be taken over by whoever held the stray link, for
  the rest of its day. Now every outstanding link of the account is retired, however the
  password is set.
- The link form wrote a new link and ended nothing: an operator resetting a stolen account
  this way left the thief's session open until the link was used (up to a day, or for ever).
  Now a new link ends the person's sessions, and the old password: the thief, signed out,
  signed in again with it until the link was used.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.settings import Settings, get_settings
from tests.console.conftest import PASSWORD, Console, ConsoleAs, console_as

__all__ = ["console_as"]  # the fixture

Users = Callable[..., tuple[int, Any, str]]


@pytest.fixture
def users(
    settings: Settings,
    database: Database,  # cleans the PostgreSQL test database afterwards
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Users]:
    """``users(*argv, stdin=...)``: ``linkage-hub users ...`` in-process on the test database."""
    monkeypatch.setenv("LINKAGE_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()

    def run(*argv: str, stdin: str = "") -> tuple[int, Any, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(["users", *argv])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    yield run
    get_settings.cache_clear()


def _path(link: str) -> str:
    return link.split("127.0.0.1:8000", 1)[1]


class TestAStrayLink:
    def test_a_password_set_from_standard_input_retires_it(
        self, client: TestClient, app: FastAPI, users: Users
    ) -> None:
        code, made, err = users(
            "create",
            "--department",
            "audit",
            "--region",
            "230100",
            "--name",
            "赵",
            "--username",
            "zhao",
        )
        assert code == 0, err
        stray = _path(made["password_link"])
        code, _, err = users("password", "zhao", "--password-stdin", stdin=PASSWORD + "\n")
        assert code == 0, err
        assert Console(app, "zhao").sign_in().status_code == 303
        stolen = "somebody else's password"
        taken = client.post(stray, data={"password": stolen, "confirm": stolen})
        assert taken.status_code == 404
        assert Console(app, "zhao").sign_in(stolen).status_code == 401
        assert Console(app, "zhao").sign_in().status_code == 303


class TestANewLink:
    def test_ends_the_persons_sessions_as_the_help_says(
        self,
        console_as: ConsoleAs,
        users: Users,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        thief = console_as("audit", "230100", username="li")
        assert thief.get("/console/").status_code == 200
        with pytest.raises(SystemExit):
            main(["users", "password", "--help"])
        assert "Their sessions end" in " ".join(capsys.readouterr().out.split())
        code, reset, err = users("password", "li")
        assert code == 0, err
        assert "/console/password/" in reset["password_link"]
        after = thief.get("/console/")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/console/login")

    def test_ends_the_old_password_too(
        self, app: FastAPI, client: TestClient, console_as: ConsoleAs, users: Users
    ) -> None:
        """The thief, signed out, signed in again with the stolen password: the link form left
        it working until the person used the link (up to a day). Now it stops at once, and the
        password chosen through the link is the one that works."""
        console_as("audit", "230100", username="wu")
        assert Console(app, "wu").sign_in().status_code == 303
        code, reset, err = users("password", "wu")
        assert code == 0, err
        assert Console(app, "wu").sign_in().status_code == 401
        chosen = "a new password of wu's own"
        done = client.post(
            _path(reset["password_link"]), data={"password": chosen, "confirm": chosen}
        )
        assert done.status_code in (200, 303), done.text
        assert Console(app, "wu").sign_in(chosen).status_code == 303
        assert Console(app, "wu").sign_in().status_code == 401
