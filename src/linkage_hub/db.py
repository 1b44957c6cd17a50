"""Database access: the declarative base, engines for SQLite and PostgreSQL, the session.

One transaction per request or job: :func:`get_session` commits once when the handler returns
and rolls back on any error. Application code calls ``flush()``, never ``commit()``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy import DateTime, Engine, MetaData, Table, create_engine, event, insert, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.concurrency import run_in_threadpool

from linkage_hub.clock import local_day
from linkage_hub.keys import AuditKeyring, AuditKeySet
from linkage_hub.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on both databases.

    SQLite keeps no zone: values are stored as naive UTC (so text comparison orders them) and
    read back with ``UTC`` attached. PostgreSQL uses ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("UtcDateTime takes aware datetimes only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Python's sqlite3 opens transactions lazily and lets reads slip outside them; we want
        # BEGIN on every transaction so a request sees one snapshot (SQLAlchemy recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # WAL is a property of the file: set it once. Asking again while another connection
        # writes can fail at once with "database is locked" (no busy wait for that lock).
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function("hub_day", 2, local_day, deterministic=True)

    return on_connect


def _sqlite_begin(immediate: bool) -> Any:
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    return on_begin


SQLITE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for an in-memory database)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite_files(url: str) -> None:
    """Keep the SQLite database and its WAL and shared-memory files readable by the owner only
    (0600, like the key files): they hold names, pay, client secret hashes and the audit log.

    SQLite creates ``-wal``, ``-shm`` and ``-journal`` with the mode of the database file, so the
    file is created 0600 before SQLite would create it 0644. Files an older hub left looser are
    tightened, with a warning (once: the next start finds them tight).
    """
    path = sqlite_file(url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))
    except FileExistsError:
        pass
    except FileNotFoundError:  # no such folder: SQLite will say so
        return
    for file in (path, *(path.with_name(path.name + side) for side in SQLITE_SIDE_FILES)):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & ~SQLITE_FILE_MODE:
            os.chmod(file, SQLITE_FILE_MODE)
            log.warning("tightened %s from %04o to %04o", file.name, mode, SQLITE_FILE_MODE)


def make_engine(settings: Settings, *, read_only: bool = False) -> Engine:
    """An engine; on SQLite ``read_only`` engines open deferred transactions.

    Writers use ``BEGIN IMMEDIATE``: they take the write lock up front and queue on the busy
    timeout, instead of failing with "database is locked" when a read upgrades to a write.
    Readers use a plain ``BEGIN`` so that, under WAL, they never wait for a writer.
    """
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        secure_sqlite_files(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin(immediate=not read_only))
        return engine
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        hide_parameters=True,  # SQL parameters hold ID numbers: keep them out of errors and logs
    )
    _ping_when_idle(engine)
    return engine


# A pooled connection is tested before use only when it has sat idle this long. SQLAlchemy's
# ``pool_pre_ping`` tests it on every checkout: a round trip to the server on every request
# (13 % of a single-record GET's wall time, bench/throughput.py). A connection in steady use
# is known to be alive; one that dies in use fails that request (503) and SQLAlchemy then
# invalidates the whole pool, so a server restart costs at most the requests then in flight.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    def checkin(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi.execute("SELECT 1")  # psycopg: in autocommit or as an idle transaction's
            if not dbapi.autocommit:  # first statement, rolled back at once
                dbapi.rollback()
        except Exception as exc:  # the driver's own error classes: any means "gone"
            raise DisconnectionError("the pooled connection is gone") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


# pg_advisory_xact_lock key of commit order: change-feed seqs (records.feed) and outbox event
# ids (outbox.write) are drawn under it, held until commit.
FEED_LOCK = 0x4C48_4346  # "LHCF"
# A new 32-hex id in SQL.
NEW_ID = {
    "postgresql": "replace(CAST(gen_random_uuid() AS VARCHAR(36)), '-', '')",
    "sqlite": "lower(hex(randomblob(16)))",
}

CHANGES_PUBLISHED = "linkage.changes_published"  # session.info: this transaction wrote the feed
EVENTS_WRITTEN = "linkage.events_written"  # session.info: it appended to the outbox
# session.info: the audit log's keyring (keys.AuditKeyring; every session of a Database has it)
AUDIT_KEY = "linkage.audit_key"


class Database:
    """The engine and session factory of one hub process.

    ``change_listeners`` are called (with no argument, in the committing thread; they must not
    block) after a transaction that wrote change-feed rows commits: the hook of incremental
    reconciliation (:mod:`linkage_hub.reconciliation.onwrite`). ``event_listeners`` likewise
    after a transaction that appended outbox events (the delivery worker,
    :mod:`linkage_hub.notifications.worker`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        # The audit keys are loaded when first needed: a command may make the data directory after.
        self.audit_keyring = AuditKeyring(settings)
        info = {AUDIT_KEY: self.audit_keyring}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.change_listeners: list[Callable[[], None]] = []
        self.event_listeners: list[Callable[[], None]] = []
        event.listen(self.sessions, "after_commit", self._after_commit)
        event.listen(self.sessions, "after_rollback", _forget_changes)
        if self.engine.dialect.name == "sqlite":
            self.read_engine = make_engine(settings, read_only=True)
            statement_engine = self.read_engine
        else:
            self.read_engine = self.engine
            # Same pool; psycopg's autocommit is a flag on the connection, no round trip.
            statement_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False, info=info)
        self.statement_sessions = sessionmaker(statement_engine, expire_on_commit=False, info=info)

    def audit_keys(self) -> AuditKeySet:
        """The audit log's MAC keys by version (``LINKAGE_AUDIT_KEYS``, ``LINKAGE_AUDIT_KEY``
        or their key files: :func:`linkage_hub.keys.configured_audit_key_set`)."""
        return self.audit_keyring.key_set()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(CHANGES_PUBLISHED, False):
            for listener in list(self.change_listeners):
                listener()
        if session.info.pop(EVENTS_WRITTEN, False):
            for listener in list(self.event_listeners):
                listener()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work for jobs and the CLI: commit on success, roll back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def _forget_changes(session: Session) -> None:
    session.info.pop(CHANGES_PUBLISHED, None)
    session.info.pop(EVENTS_WRITTEN, None)


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def _finish(session: Session, *, commit: bool) -> None:
    # Shielded, so a cancelled request still returns its connection; with a limiter of its
    # own, so ending a session never waits behind handlers that wait for a connection (the
    # deadlock FastAPI's own ``contextmanager_in_threadpool`` avoids the same way).
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(_end, session, commit, limiter=anyio.CapacityLimiter(1))


async def get_statement_session(request: Request) -> AsyncIterator[Session]:
    """A session for reads in which each statement stands alone: on PostgreSQL without a
    transaction (autocommit), so a read is one round trip instead of three (``BEGIN``, the
    query, ``COMMIT``). Each statement still sees one consistent snapshot; two statements may
    see two. Only for the hot reads whose answer is one statement (a record, a page of
    records) or whose later statements read versions that never change (``as_seen``); on
    SQLite, the read session."""
    db: Database = request.app.state.db
    session = db.statement_sessions()
    try:
        yield session
    finally:
        if session.in_transaction():  # a failure: return the connection off the loop
            await _finish(session, commit=False)
        else:
            session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Making one does no I/O, so it is made on the event loop; the
    handler (a plain function, run in a worker thread) uses it, and the commit or rollback
    and the return of the connection happen in one more trip to a worker thread. A
    synchronous generator here would cost two trips, one each way."""
    db: Database = request.app.state.db
    factory = db.read_sessions if request.method in SAFE_METHODS else db.sessions
    session = factory()
    try:
        yield session
    except BaseException:
        await _finish(session, commit=False)
        raise
    if session.in_transaction():
        await _finish(session, commit=True)
    else:  # the handler committed (``run_in_session``): nothing is left to do, no I/O
        session.close()


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows of one shape (the keys of the first row): ``COPY`` on PostgreSQL,
    ``executemany`` elsewhere. Values go through each column's own bind processing, so they
    are stored exactly as an ``INSERT`` would store them.

    For the writes that follow reads: the access record and the audit log's read entries are
    flushed every second under read load, and through ``executemany`` 10,000 person keys
    took ~100 ms of Python holding the GIL, a stall every request of the process waited out.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        write = copy.write_row
        for row in rows:
            write(
                [
                    value if process is None or value is None else process(value)
                    for value, process in zip((row[n] for n in names), processors, strict=True)
                ]
            )


async def run_in_session(session: Session, work: Callable[[], T]) -> T:
    """For ``async def`` handlers: their database work and its commit in one worker-thread
    trip (so a read costs one trip in all). A failure leaves the transaction open for the
    session dependency to roll back."""

    def work_and_commit() -> T:
        result = work()
        session.commit()
        return result

    return await run_in_threadpool(work_and_commit)


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the caller instead of being hidden behind an already-sent 2xx.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
StatementSession = Annotated[Session, Depends(get_statement_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
