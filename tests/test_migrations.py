from pathlib import Path

from sqlalchemy import create_engine, inspect

from linkage_hub.migrations import downgrade, head_revision, upgrade
from linkage_hub.schema import Base
from tests.conftest import make_settings


class TestMigrations:
    def test_upgrade_downgrade_upgrade(self, empty_database_url: str, tmp_path: Path) -> None:
        settings = make_settings(empty_database_url, tmp_path)
        engine = create_engine(empty_database_url)
        try:
            upgrade(settings)
            tables = set(inspect(engine).get_table_names())
            assert {t.name for t in Base.metadata.sorted_tables} <= tables
            downgrade(settings, "base")
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            upgrade(settings)
            assert {t.name for t in Base.metadata.sorted_tables} <= set(
                inspect(engine).get_table_names()
            )
        finally:
            engine.dispose()

    def test_there_is_one_head(self, tmp_path: Path) -> None:
        assert head_revision(make_settings("sqlite://", tmp_path)) is not None


class TestEmbeddedFile:
    def test_a_migrated_sqlite_file_is_already_in_wal_mode(self, tmp_path: Path) -> None:
        # Otherwise the first connections of two processes race to switch the journal mode,
        # and the loser fails at once with "database is locked".
        import sqlite3

        path = tmp_path / "fresh.db"
        upgrade(make_settings(f"sqlite:///{path}", tmp_path))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
