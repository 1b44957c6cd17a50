import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect, literal, select, text
from sqlalchemy.exc import DBAPIError

from linkage_hub.audit.chain import GENESIS, canonical, link
from linkage_hub.audit.keyset import AuditKeyMismatch
from linkage_hub.audit.queries import list_entries
from linkage_hub.audit.service import (
    AUDIT_PERSON_TABLE,
    AUDIT_REGION_TABLE,
    AUDIT_TABLE,
    Entry,
    append,
    verify,
)
from linkage_hub.clock import aware
from linkage_hub.db import Database
from linkage_hub.keys import AuditKeySet
from linkage_hub.migrations import downgrade, head_revision, upgrade
from linkage_hub.reconciliation.models import Run
from linkage_hub.reconciliation.runs import run_limit
from linkage_hub.schema import Base
from linkage_hub.settings import Settings
from tests.conftest import PostgresServer, make_settings


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

    def test_findings_keep_room_for_updates_in_place(
        self, backend: str, empty_database_url: str, tmp_path: Path
    ) -> None:
        """Every run rewrites the findings it finds again: with room on the page PostgreSQL
        updates in place and leaves the six indexes alone (bench/RESULTS.md)."""
        if backend != "postgres":
            pytest.skip("a table's fillfactor is PostgreSQL's")
        upgrade(make_settings(empty_database_url, tmp_path))
        engine = create_engine(empty_database_url)
        try:
            with engine.connect() as conn:
                options = conn.execute(
                    text("SELECT reloptions FROM pg_class WHERE relname = 'reconciliation_finding'")
                ).scalar()
        finally:
            engine.dispose()
        assert options == ["fillfactor=70"]

    def test_there_is_one_head(self, tmp_path: Path) -> None:
        assert head_revision(make_settings("sqlite://", tmp_path)) is not None


class TestReplicasStartingTogether:
    def test_migrating_one_postgres_at_once_all_succeed(
        self, postgres_server: PostgresServer | None, tmp_path: Path
    ) -> None:
        """The Dockerfile runs `linkage-hub migrate` at every start: replicas started together
        raced through the same migrations, and all but one failed ("duplicate key value",
        "relation ... already exists") and never served."""
        if postgres_server is None:
            pytest.skip("an advisory lock is PostgreSQL's")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
        env["LINKAGE_DATA_DIR"] = str(tmp_path)
        for _round in range(2):  # the race is not lost every time
            url = postgres_server.create("lh_migrate_race")
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "linkage_hub.cli", "migrate"],
                    cwd=tmp_path,
                    env=env | {"LINKAGE_DATABASE_URL": url},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(3)
            ]
            errors = [p.communicate(timeout=120)[1].strip() for p in procs]
            assert [err for p, err in zip(procs, errors, strict=True) if p.returncode] == []
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    versions = conn.execute(text("SELECT version_num FROM alembic_version"))
                    assert versions.scalars().all() == [head_revision(make_settings(url, tmp_path))]
            finally:
                engine.dispose()


class TestEmbeddedFile:
    def test_a_migrated_sqlite_file_is_already_in_wal_mode(self, tmp_path: Path) -> None:
        # Otherwise the first connections of two processes race to switch the journal mode,
        # and the loser fails at once with "database is locked".
        path = tmp_path / "fresh.db"
        upgrade(make_settings(f"sqlite:///{path}", tmp_path))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _file_at(tmp_path: Path, revision: str) -> tuple[Path, Settings]:
    """An embedded database file migrated up to ``revision`` only, and its settings."""
    path = tmp_path / "old.db"
    settings = make_settings(f"sqlite:///{path}", tmp_path)
    upgrade(settings, revision)
    return path, settings


class TestDirectLoadTimes:
    def test_sqlite_times_written_by_the_driver_take_the_usual_text(self, tmp_path: Path) -> None:
        """0016: a first large load on SQLite had stored ``recorded_at`` with ``+00:00``."""
        path, settings = _file_at(tmp_path, "0015_meetings")
        row = "INSERT INTO registry_quota (record_key, version, region, batch_id, client_id, "
        row += "recorded_at, unit_code, establishment_type, approved) "
        row += "VALUES (?, 1, '230100', 'b', 'c', ?, ?, 'institutional', 1)"
        stored = {
            "a": "2026-12-04 20:34:02.217889+00:00",  # the driver's adapter
            "b": "2026-12-04 20:34:02+00:00",  # the same, with no microseconds
            "c": "2026-12-04 20:34:02.217889",  # SQLAlchemy's own: left as it is
        }
        with sqlite3.connect(path) as conn:
            conn.executemany(row, [(key, at, f"unit-{key}") for key, at in stored.items()])
        upgrade(settings)
        with sqlite3.connect(path) as conn:
            got = dict(conn.execute("SELECT record_key, recorded_at FROM registry_quota"))
        assert got == {
            "a": "2026-12-04 20:34:02.217889",
            "b": "2026-12-04 20:34:02.000000",
            "c": "2026-12-04 20:34:02.217889",
        }


class TestUnitCounts:
    def test_the_upgrade_counts_the_records_already_stored(self, tmp_path: Path) -> None:
        """0017: the units' head counts start from the stored records (records.tally)."""
        path, settings = _file_at(tmp_path, "0016_direct_load_times")
        row = "INSERT INTO records_roster (record_key, version, region, batch_id, client_id, "
        row += "recorded_at, person_key, id_number, unit_code, name, name_norm, "
        row += "establishment_type, status, closed_at) "
        row += "VALUES (?, 1, ?, 'b', 'c', '2026-12-01 00:00:00.000000', ?, 'x', ?, 'n', 'n', "
        row += "?, ?, ?)"
        closed = "2026-12-02 00:00:00.000000"
        stored = [
            ("k1", "230100", "p1", "U1", "institutional", "active", None),
            ("k2", "230100", "p2", "U1", "institutional", "active", None),
            ("k3", "230102", "p3", "U1", "institutional", "active", None),
            ("k4", "230100", "p4", "U1", "worker", "active", None),
            ("k5", "230100", "p5", "U1", "institutional", "exited", None),  # not counted
            ("k6", "230100", "p6", "U1", "institutional", "active", closed),  # not current
        ]
        with sqlite3.connect(path) as conn:
            conn.executemany(row, stored)
        upgrade(settings)
        with sqlite3.connect(path) as conn:
            got = conn.execute(
                "SELECT dataset, unit_code, region, category, n FROM records_unit_count"
            ).fetchall()
        assert sorted(got) == [
            ("roster", "U1", "230100", "institutional", 2),
            ("roster", "U1", "230100", "worker", 1),
            ("roster", "U1", "230102", "institutional", 1),
        ]


class TestAuditMacs:
    @pytest.mark.parametrize("configured", [None, "an-audit-key-from-the-secret-store"])
    def test_the_upgrade_gives_every_entry_already_logged_its_mac(
        self, empty_database_url: str, tmp_path: Path, configured: str | None
    ) -> None:
        """0024 adds the MAC and fills it for the whole log, under the key the hub will use
        (``LINKAGE_AUDIT_KEY``, else the generated key file): verify then passes, demanding a
        MAC of every entry, and the log is append-only again."""
        # With the generated key, more than one chunk of the backfill (CHUNK is 50,000), so
        # that the ranges are seen to join up.
        entries = 50_003 if configured is None else 5
        settings = make_settings(empty_database_url, tmp_path, audit_key=configured)
        upgrade(settings, "0023_closed_person_index")
        engine = create_engine(empty_database_url)
        try:
            with engine.begin() as conn:
                _log_as_before_0024(conn, entries)
        finally:
            engine.dispose()
        upgrade(settings)

        db = Database(settings)
        try:
            key_file = settings.secrets_dir / "linkage-hub.audit.key"
            if configured:
                assert db.audit_keys().versions[1] == configured.encode()
                assert not key_file.exists()
            else:
                assert key_file.read_bytes().strip() == db.audit_keys().versions[1]
            with db.read_sessions() as session:
                result = verify(session, key_set=db.audit_keys())
                assert result.ok, result.reason
                assert result.entries == entries
                assert not verify(session, key_set=AuditKeySet(1, {1: b"not the key"})).ok
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text("UPDATE audit_log SET mac = NULL WHERE seq = 2"))
            downgrade(settings, "0023_closed_person_index")
            upgrade(settings)
        finally:
            db.dispose()

    def test_0030_puts_every_entry_already_logged_under_key_version_1(
        self, empty_database_url: str, tmp_path: Path
    ) -> None:
        """0030 versions the audit key: the entries logged before were all MAC'd under the one
        key there was, and are version 1 after it (the single key is version 1: nothing for the
        operator to do). The first append after the upgrade checks that version 1 is the log's
        key before it records its fingerprint: a replica started with another key refuses."""
        settings = make_settings(empty_database_url, tmp_path, audit_key="k" * 40)
        upgrade(settings, "0023_closed_person_index")
        engine = create_engine(empty_database_url)
        try:
            with engine.begin() as conn:
                _log_as_before_0024(conn, 5)
        finally:
            engine.dispose()
        upgrade(settings, "0029_run_error_code")
        upgrade(settings)

        other = Database(make_settings(empty_database_url, tmp_path / "b", audit_key="o" * 40))
        db = Database(settings)
        try:
            with db.read_sessions() as session:
                got = session.execute(text("SELECT key_version FROM audit_log ORDER BY seq"))
                assert [v for (v,) in got] == [1] * 5
                assert verify(session, key_set=db.audit_keys()).ok
            with pytest.raises(AuditKeyMismatch), other.transaction() as session:
                append(session, Entry(action="test.entry", actor="cli:test", region="230000"))
            with db.transaction() as session:
                append(session, Entry(action="test.entry", actor="cli:test", region="230000"))
            with db.read_sessions() as session:
                recorded = session.execute(text("SELECT version, fingerprint FROM audit_log_key"))
                assert dict(recorded.all()) == db.audit_keys().fingerprints()
                result = verify(session, key_set=db.audit_keys())
                assert result.ok and result.entries == 6
            downgrade(settings, "0029_run_error_code")
            upgrade(settings)
        finally:
            other.dispose()
            db.dispose()


class TestRunDeadline:
    def test_0031_leaves_the_runs_already_stored_to_the_setting(
        self, empty_database_url: str, tmp_path: Path
    ) -> None:
        """0031 adds ``reconciliation_run.deadline_at``; the runs stored before keep NULL (a
        run running across the upgrade is judged by the judging process's setting, as before),
        the rest of the row as it was, and a run started after it stores its own."""
        settings = make_settings(empty_database_url, tmp_path)
        upgrade(settings, "0030_audit_key_version")
        engine = create_engine(empty_database_url)
        started = "2026-12-07 08:00:00"
        try:
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO reconciliation_run (id, seq, kind, region, region_lo, "
                        "region_hi, period, as_of, parameters, status, requested_by, "
                        "created_at, started_at) VALUES ('r1', 1, 'full', '230100', '230100', "
                        "'230199', '2026-11', '2026-12-07', '{}', 'running', 'schedule', "
                        f"'{started}', '{started}')"
                    )
                )
        finally:
            engine.dispose()
        upgrade(settings)

        db = Database(settings)
        try:
            with db.transaction() as session:
                run = session.get(Run, "r1")
                assert run is not None
                assert (run.status, run.region, run.deadline_at) == ("running", "230100", None)
                assert aware(run.started_at) == dt.datetime(2026, 12, 7, 8, tzinfo=dt.UTC)
                assert run_limit(run, 1800) == dt.timedelta(seconds=1800)
                run.deadline_at = aware(run.started_at) + dt.timedelta(seconds=60)
            with db.transaction() as session:
                run = session.get(Run, "r1")
                assert run is not None and run_limit(run, 1800) == dt.timedelta(seconds=60)
            downgrade(settings, "0030_audit_key_version")
            upgrade(settings)
        finally:
            db.dispose()


class TestAuditPersonRegion:
    def test_0032_leaves_the_persons_already_logged_to_the_old_rule(
        self, empty_database_url: str, tmp_path: Path
    ) -> None:
        """0032 names each person of a new entry with the region of the record it was named
        for (``audit_log_person_region``); the entries logged before keep their persons
        without a region in ``audit_log_person``, untouched: their hashes still verify, and
        the person search matches them by the old rule (the person has, or had, a record in
        the auditor's region), while a new entry matches only where it named the person for a
        record of the auditor's region. The new table is append-only too."""
        settings = make_settings(empty_database_url, tmp_path, audit_key="k" * 40)
        upgrade(settings, "0023_closed_person_index")
        engine = create_engine(empty_database_url)
        try:
            with engine.begin() as conn:
                _log_as_before_0024(conn, 8)  # k6 named in entry 6, which read 230102
        finally:
            engine.dispose()
        upgrade(settings, "0031_run_deadline")
        upgrade(settings)

        db = Database(settings)
        try:
            with db.transaction() as session:
                for region in ("230103", "230102"):  # entries 9 and 10
                    append(
                        session,
                        Entry(
                            action="read",
                            actor="client-1",
                            department="hr",
                            region="230100",
                            persons=frozenset({("k6", region), ("k2", "230103")}),
                            regions=frozenset({region, "230103"}),
                        ),
                    )
            with db.read_sessions() as session:
                result = verify(session, key_set=db.audit_keys())
                assert result.ok and result.entries == 10, result.reason
                rows = session.execute(text("SELECT seq FROM audit_log_person ORDER BY seq"))
                assert [seq for (seq,) in rows] == list(range(1, 9))  # as they were
                had_a_record_here = select(literal("k6"))  # the records room's answer
                page = list_entries(
                    session,
                    ("230102", "230102"),
                    person_keys=["k6"],
                    person_batches=select(literal("no batch")),
                    person_here=had_a_record_here,
                    local_persons=lambda named: named,
                )
                assert [(e.seq, e.persons) for e in page.items] == [(6, 1), (10, 1)]
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text("UPDATE audit_log_person_region SET region = '230102'"))
            downgrade(settings, "0031_run_deadline")
            upgrade(settings)
        finally:
            db.dispose()


def _log_as_before_0024(conn: Connection, n: int) -> None:
    """Entries as the hub appended them before 0024: chained, with persons and regions."""
    recorded_at = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    rows: list[dict[str, Any]] = []
    persons: list[dict[str, Any]] = []
    regions: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        values: dict[str, Any] = {
            "seq": seq,
            "recorded_at": recorded_at + dt.timedelta(seconds=seq),
            "action": "read",
            "actor": "client-1",
            "department": "hr",
            "region": "230100",
            "target_type": "route",
            "target_id": "GET /api/v1/persons/{id_number}",
            "detail": {"status": 200, "person_records": 1},
            "request_id": f"r{seq}",
            "client_request_id": None,
        }
        keys, read = [f"k{seq % 7}"], ["230102"] if seq % 3 == 0 else []
        digest = link(prev, canonical(**values, person_keys=keys, regions=read))
        rows.append({**values, "prev_hash": prev, "hash": digest})
        persons += [{"seq": seq, "person_key": k} for k in keys]
        regions += [{"seq": seq, "region": r} for r in read]
        prev = digest
    conn.execute(AUDIT_TABLE.insert(), rows)
    conn.execute(AUDIT_PERSON_TABLE.insert(), persons)
    conn.execute(AUDIT_REGION_TABLE.insert(), regions)


class TestThrottleMasked:
    def test_a_lockout_written_in_clear_still_locks_masked(self, tmp_path: Path) -> None:
        """0026: failed sign-ins are counted under the id masked (auth.service.throttle_key);
        the rows written before, under a username that is an ID number, are carried over, so a
        lockout standing at the upgrade still locks and no clear number stays. (Found by the
        review of 2026-12-06's changes: the upgrade unlocked such an account.)"""
        path, settings = _file_at(tmp_path, "0025_watermark_dropped")
        row = "INSERT INTO auth_throttle (client_id, address, failures, locked_until, failed_at) "
        row += "VALUES (?, ?, ?, ?, ?)"
        at, later = "2026-12-07 00:00:00.000000", "2026-12-07 01:00:00.000000"
        with sqlite3.connect(path) as conn:
            conn.executemany(
                row,
                [
                    ("user:11010519491231002x", "10.0.0.1", 6, later, at),  # locked, in clear
                    ("user:11010519491231002x", "10.0.0.2", 2, None, at),
                    ("user:1101**********002x", "10.0.0.2", 3, None, later),  # merged into
                    ("user:zhang.san", "10.0.0.1", 1, None, at),  # untouched
                    ("lhc_a110105491231002bcdefabc", "10.0.0.1", 2, None, at),  # the hub's id
                ],
            )
        upgrade(settings)
        with sqlite3.connect(path) as conn:
            got = sorted(conn.execute("SELECT * FROM auth_throttle").fetchall())
        assert got == [
            ("lhc_a110105491231002bcdefabc", "10.0.0.1", 2, None, at),
            ("user:1101**********002x", "10.0.0.1", 6, later, at),
            ("user:1101**********002x", "10.0.0.2", 3, None, later),
            ("user:zhang.san", "10.0.0.1", 1, None, at),
        ]
