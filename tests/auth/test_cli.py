"""``linkage-hub clients ...`` in-process against the test database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.auth.hashing import verify_secret
from linkage_hub.auth.models import AuthClient
from linkage_hub.auth.users import create_user
from linkage_hub.cli import main
from linkage_hub.db import Database
from linkage_hub.settings import Settings, get_settings
from tests.auth.helpers import assert_problem, request_token
from tests.console.conftest import PASSWORD

Run = Callable[..., tuple[int, Any, str]]


@pytest.fixture
def run(
    settings: Settings,
    database: Database,  # cleans the PostgreSQL test database afterwards
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Run]:
    assert settings.database_url is not None
    monkeypatch.setenv("LINKAGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[int, Any, str]:
        capsys.readouterr()
        code = main(["clients", *argv])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    yield run
    get_settings.cache_clear()


class TestCreate:
    def test_prints_one_json_object_with_the_secret(self, run: Run, client: TestClient) -> None:
        code, created, _ = run(
            "create", "--department", "finance", "--region", "230100", "--name", "哈尔滨 payroll"
        )
        assert code == 0
        assert created["client_id"].startswith("lhc_")
        assert created["client_secret"].startswith("lhs_") and len(created["client_secret"]) >= 47
        assert (created["department"], created["region"], created["name"]) == (
            "finance",
            "230100",
            "哈尔滨 payroll",
        )
        assert created["active"] is True and created["created_at"]
        response = request_token(client, created["client_id"], created["client_secret"])
        assert response.status_code == 200

    def test_narrower_scopes(self, run: Run) -> None:
        _, created, _ = run(
            "create", "--department", "hr", "--region", "230102", "--name", "n", "--scope", "read"
        )
        assert created["scopes"] == ["read"]

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--department", "hr", "--region", "2301", "--name", "n"], "region"),
            (["--department", "hr", "--region", "230012", "--name", "n"], "region"),
            (["--department", "hr", "--region", "230100", "--name", "  "], "name"),
            (
                ["--department", "audit", "--region", "230100", "--name", "n", "--scope", "write"],
                "cannot hold scope write",
            ),
        ],
    )
    def test_refuses_bad_input_in_one_line(self, run: Run, argv: list[str], message: str) -> None:
        code, out, err = run("create", *argv)
        assert code == 1 and out is None
        assert message in err and len(err.strip().splitlines()) == 1

    def test_an_unknown_department_is_an_argument_error(self, run: Run) -> None:
        with pytest.raises(SystemExit) as exit_info:
            run("create", "--department", "police", "--region", "230100", "--name", "n")
        assert exit_info.value.code == 2


class TestListRevokeRotate:
    def _create(self, run: Run, name: str = "n") -> dict[str, Any]:
        _, created, _ = run("create", "--department", "audit", "--region", "230100", "--name", name)
        assert isinstance(created, dict)
        return created

    def test_list_shows_clients_but_never_secrets(self, run: Run) -> None:
        first, second = self._create(run, "first"), self._create(run, "second")
        code, listed, _ = run("list")
        assert code == 0
        assert [c["client_id"] for c in listed] == [first["client_id"], second["client_id"]]
        text = json.dumps(listed)
        assert first["client_secret"] not in text and "scrypt" not in text
        assert "client_secret" not in text and "secret_hash" not in text

    def test_revoke(self, run: Run, client: TestClient) -> None:
        created = self._create(run)
        code, revoked, _ = run("revoke", created["client_id"])
        assert code == 0 and revoked["active"] is False and revoked["revoked_at"]
        response = request_token(client, created["client_id"], created["client_secret"])
        assert_problem(response, 401)
        assert run("list")[1] == []
        assert [c["client_id"] for c in run("list", "--all")[1]] == [created["client_id"]]

    def test_rotate_secret(self, run: Run, client: TestClient) -> None:
        created = self._create(run)
        code, rotated, _ = run("rotate-secret", created["client_id"])
        assert code == 0 and rotated["client_secret"] != created["client_secret"]
        assert rotated["secret_rotated_at"]
        old = request_token(client, created["client_id"], created["client_secret"])
        assert_problem(old, 401)
        new = request_token(client, created["client_id"], rotated["client_secret"])
        assert new.status_code == 200

    def test_rotating_a_revoked_client_fails(self, run: Run) -> None:
        created = self._create(run)
        run("revoke", created["client_id"])
        code, _, err = run("rotate-secret", created["client_id"])
        assert code == 1 and "revoked" in err

    @pytest.mark.parametrize("action", ["revoke", "rotate-secret"])
    def test_an_unknown_client(self, run: Run, action: str) -> None:
        code, _, err = run(action, "lhc_nobody")
        assert code == 1 and "no client lhc_nobody" in err

    @pytest.mark.parametrize("action", ["revoke", "rotate-secret"])
    def test_a_persons_account_is_no_client(
        self, run: Run, database: Database, action: str
    ) -> None:
        """The two kinds never cross: `rotate-secret user:<name>` replaced the person's password
        with a client secret (hashed at the client cost, not the password cost) and printed it
        to the operator, and it signed in to the console as the person; `revoke` disabled the
        account as a client (`users disable` is the person's door)."""
        with database.transaction() as session:
            create_user(
                session,
                username="chen",
                name="陈",
                department="establishment",
                region="230000",
                password=PASSWORD,
            )
        code, out, err = run(action, "user:chen")
        assert code == 1 and out is None and "no client user:chen" in err
        with database.transaction() as session:
            person = session.get(AuthClient, "user:chen")
            assert person is not None
            assert person.active and person.secret_version == 1
            assert verify_secret(PASSWORD, person.secret_hash)
