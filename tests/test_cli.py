"""The command line: one-line failures, non-zero exits, migrate and openapi."""

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from linkage_hub import cli
from linkage_hub.app import create_app
from linkage_hub.settings import get_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LINKAGE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


class TestMigrate:
    def test_migrates_the_embedded_default(
        self, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert cli.main(["migrate"]) == 0
        engine = create_engine(f"sqlite:///{tmp_path / 'linkage-hub.db'}")
        assert "records_roster" in inspect(engine).get_table_names()
        engine.dispose()
        assert "migrated" in capsys.readouterr().out

    def test_unreachable_database_is_one_line_and_non_zero(
        self, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        env.setenv("LINKAGE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
        get_settings.cache_clear()
        assert cli.main(["migrate"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("linkage-hub migrate:") and "\n" not in err


class TestServe:
    def test_refuses_postgres_with_pending_migrations(
        self,
        env: pytest.MonkeyPatch,
        backend: str,
        empty_database_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        if backend != "postgres":
            pytest.skip("the embedded default migrates itself")
        env.setenv("LINKAGE_DATABASE_URL", empty_database_url)
        get_settings.cache_clear()
        assert cli.main(["serve", "--port", "1"]) == 1
        err = capsys.readouterr().err.strip()
        assert "run `linkage-hub migrate`" in err and "\n" not in err

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("LINKAGE_EXIT_GRACE_WORKING_DAYS", "-1"),
            ("LINKAGE_EXIT_GRACE_WORKING_DAYS", "100000"),
            ("LINKAGE_HOLIDAYS", '["2026-10-01", "not a date"]'),
            # A typed-wrong proxy started a hub that was ready, then answered 500 to every
            # request that needed the client's address (tokens, the API, the public pages).
            ("LINKAGE_TRUSTED_PROXIES", '["10.0.0.0/8", "127.0.0.l"]'),
            # An unknown zone raised ZoneInfoNotFoundError, a KeyError pydantic let through as
            # a traceback; an unknown level failed later, in logging or uvicorn.
            ("LINKAGE_TIMEZONE", "Asia/Shangai"),
            ("LINKAGE_LOG_LEVEL", "banana"),
            ("LINKAGE_DB_POOL_SIZE", "0"),
            # Parsed only when `serve`'s lifespan started its schedulers: a traceback there,
            # and every other command took them.
            ("LINKAGE_BULLETIN_CRON", "0 8 1 * * *"),
            ("LINKAGE_SCHEDULE_CRON", "0 24 * * *"),
            ("LINKAGE_SCHEDULE_CRON", "0 0 30 2 *"),
            # A schedule without regions started, reconciled nothing and said nothing; a
            # mistyped region failed only at the scheduled hour.
            ("LINKAGE_SCHEDULE_REGIONS", '["230100", "23O100"]'),
        ],
    )
    def test_a_setting_out_of_bounds_is_named_in_one_line(
        self, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
    ) -> None:
        """A negative exit grace walked the working-day clock back to year 1: every run of
        every door failed with "OverflowError: date value out of range", naming nothing."""
        env.setenv(name, value)
        get_settings.cache_clear()
        assert cli.main(["reconcile", "--region", "230100"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"linkage-hub reconcile: setting {name}: ") and "\n" not in err

    def test_a_schedule_without_regions_is_refused(
        self, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        env.setenv("LINKAGE_SCHEDULE_CRON", "0 2 * * *")
        env.delenv("LINKAGE_SCHEDULE_REGIONS", raising=False)
        get_settings.cache_clear()
        assert cli.main(["reconcile", "--region", "230100"]) == 1
        err = capsys.readouterr().err.strip()
        assert err == (
            "linkage-hub reconcile: setting LINKAGE_SCHEDULE_REGIONS: Value error, is empty, "
            "so LINKAGE_SCHEDULE_CRON would reconcile no region"
        )

    def test_connection_limits_come_from_the_settings(
        self, env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        import uvicorn

        env.setenv("LINKAGE_MAX_CONNECTIONS", "250")
        env.setenv("LINKAGE_KEEP_ALIVE_SECONDS", "3")
        get_settings.cache_clear()
        seen: dict[str, object] = {}
        env.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
        assert cli.main(["serve", "--port", "18999"]) == 0
        assert seen["limit_concurrency"] == 250 and seen["timeout_keep_alive"] == 3

    def test_the_log_level_is_read_in_any_case(
        self, env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        import uvicorn

        env.setenv("LINKAGE_LOG_LEVEL", "warning")
        get_settings.cache_clear()
        seen: dict[str, object] = {}
        env.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
        assert cli.main(["serve", "--port", "18999"]) == 0
        assert get_settings().log_level == "WARNING" and seen["log_level"] == "warning"


DATABASE_COMMANDS = pytest.mark.parametrize(
    "command",
    [
        ["clients", "create", "--department", "finance", "--region", "230100", "--name", "F"],
        ["users", "list"],
        ["keys", "status"],
        ["audit-log", "head"],
    ],
    ids=lambda command: "-".join(command[:2]),
)


class TestServeDemo:
    @pytest.mark.parametrize(
        ("module", "step", "runs"),
        [
            ("linkage_hub.reconciliation.cli", "reconcile_demo", 1),
            ("linkage_hub.records.demo", "demo_finished", 2),  # after the accounts were made
        ],
    )
    def test_a_start_cut_short_is_finished_by_the_next(
        self, env: pytest.MonkeyPatch, tmp_path: Path, module: str, step: str, runs: int
    ) -> None:
        """A newcomer's Ctrl-C after the city was loaded: the next `serve --demo` found a
        database that was not empty and skipped the rest, so the first look showed no findings
        and there were no console accounts (or none whose passwords anyone had)."""
        import importlib

        import uvicorn

        env.setattr(uvicorn, "run", lambda app, **options: None)
        target = importlib.import_module(module)
        real = getattr(target, step)

        def interrupted(*args: object) -> None:
            raise KeyboardInterrupt

        env.setattr(target, step, interrupted)
        assert cli.main(["serve", "--demo", "--port", "18997"]) == 130
        assert (tmp_path / "demo-pending").exists()

        env.setattr(target, step, real)
        assert cli.main(["serve", "--demo", "--port", "18997"]) == 0
        engine = create_engine(f"sqlite:///{tmp_path / 'linkage-hub.db'}")
        with engine.connect() as conn:
            statuses = conn.exec_driver_sql(
                "SELECT status FROM reconciliation_run WHERE requested_by = 'demo'"
            ).all()
            found = conn.exec_driver_sql("SELECT COUNT(*) FROM reconciliation_finding").scalar()
        engine.dispose()
        assert statuses == [("succeeded",)] * runs and found
        accounts = json.loads((tmp_path / "demo-accounts.json").read_text())
        assert {a["username"] for a in accounts} >= {"demo.audit", "demo.county"}
        assert not (tmp_path / "demo-pending").exists()
        app = create_app(get_settings())
        with TestClient(app) as client:
            [audit] = [a for a in accounts if a["username"] == "demo.audit"]
            signed = client.post(
                "/console/login",
                data={"username": "demo.audit", "password": audit["password"]},
                follow_redirects=False,
            )
            assert signed.status_code == 303, signed.text

        # Finished: a third start leaves the database alone (no further run).
        assert cli.main(["serve", "--demo", "--port", "18997"]) == 0
        engine = create_engine(f"sqlite:///{tmp_path / 'linkage-hub.db'}")
        with engine.connect() as conn:
            again = conn.exec_driver_sql("SELECT COUNT(*) FROM reconciliation_run").scalar()
        engine.dispose()
        assert again == runs


class TestDatabaseCommands:
    """`clients`, `users`, `keys` and `audit-log` opened the database directly: on a new
    embedded hub the first `clients create` failed with "no such table", and on PostgreSQL
    they ran against a schema behind."""

    @DATABASE_COMMANDS
    def test_a_new_embedded_hub_is_migrated_first(
        self, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
    ) -> None:
        assert cli.main(command) == 0, capsys.readouterr().err

    @DATABASE_COMMANDS
    def test_a_postgres_schema_behind_is_refused(
        self,
        env: pytest.MonkeyPatch,
        backend: str,
        empty_database_url: str,
        capsys: pytest.CaptureFixture[str],
        command: list[str],
    ) -> None:
        if backend != "postgres":
            pytest.skip("the embedded default migrates itself")
        env.setenv("LINKAGE_DATABASE_URL", empty_database_url)
        get_settings.cache_clear()
        assert cli.main(command) == 1
        err = capsys.readouterr().err.strip()
        assert "run `linkage-hub migrate`" in err and "\n" not in err


class TestOpenAPI:
    def test_writes_the_document(self, env: pytest.MonkeyPatch, tmp_path: Path) -> None:
        out = tmp_path / "o.json"
        assert cli.main(["openapi", "-o", str(out)]) == 0
        assert json.loads(out.read_text(encoding="utf-8"))["info"]["title"] == "linkage-hub"


class TestUsage:
    def test_help_lists_commands(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            cli.main(["--help"])
        assert exited.value.code == 0
        assert "migrate" in capsys.readouterr().out

    def test_unknown_command_is_an_error(self) -> None:
        with pytest.raises(SystemExit) as exited:
            cli.main(["frobnicate"])
        assert exited.value.code == 2


def test_token_key_prints_the_key_that_verifies_the_hubs_tokens(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from jose.utils import base64url_decode

    from linkage_hub.auth.tokens import TokenKeys
    from linkage_hub.domain import Department

    assert cli.main(["token-key"]) == 0
    key = serialization.load_pem_public_key(capsys.readouterr().out.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    token = (
        TokenKeys.from_settings(get_settings())
        .issue(
            client_id="c1",
            department=Department.audit,
            region="230100",
            scopes=frozenset(),
            secret_version=1,
        )
        .access_token
    )
    signed, _, signature = token.rpartition(".")
    raw = base64url_decode(signature.encode())
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, signed.encode(), ec.ECDSA(hashes.SHA256()))  # raises if it is another key
    with pytest.raises(InvalidSignature):
        key.verify(der, signed.encode() + b"x", ec.ECDSA(hashes.SHA256()))


def test_unit_counts_finds_a_count_changed_past_the_hub_and_repairs_it(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    assert cli.main(["migrate"]) == 0
    assert cli.main(["unit-counts"]) == 0
    path = tmp_path / "linkage-hub.db"
    with sqlite3.connect(path) as conn:  # a restore, a hand edit: two counts now disagree
        conn.execute(
            "INSERT INTO records_roster (record_key, version, region, batch_id, client_id, "
            "recorded_at, person_key, id_number, unit_code, name, name_norm, "
            "establishment_type, status) VALUES ('k1', 1, '230100', 'b', 'c', "
            "'2026-12-01 00:00:00.000000', 'p1', 'x', 'U1', 'n', 'n', 'institutional', 'active')"
        )
        conn.execute(
            "INSERT INTO records_unit_count VALUES ('roster', 'U2', '230100', 'worker', 3)"
        )
    capsys.readouterr()
    assert cli.main(["unit-counts"]) == 1
    assert "2 unit head counts differ from the records" in capsys.readouterr().err
    assert cli.main(["unit-counts", "--repair"]) == 0
    with sqlite3.connect(path) as conn:
        stored = conn.execute(
            "SELECT dataset, unit_code, region, category, n FROM records_unit_count"
        )
        assert stored.fetchall() == [("roster", "U1", "230100", "institutional", 1)]
    assert cli.main(["unit-counts"]) == 0
