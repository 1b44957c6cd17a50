"""Database access: the declarative base, engines for SQLite and PostgreSQL, the session.

One transaction per request or job: :func:`get_session` commits once when the handler returns
and rolls back on any error. Application code calls ``flush()``, never ``commit()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from linkage_hub.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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

    return on_connect


def _sqlite_begin(immediate: bool) -> Any:
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(statement)

    return on_begin


def make_engine(settings: Settings, *, read_only: bool = False) -> Engine:
    """An engine; on SQLite ``read_only`` engines open deferred transactions.

    Writers use ``BEGIN IMMEDIATE``: they take the write lock up front and queue on the busy
    timeout, instead of failing with "database is locked" when a read upgrades to a write.
    Readers use a plain ``BEGIN`` so that, under WAL, they never wait for a writer.
    """
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin(immediate=not read_only))
        return engine
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        hide_parameters=True,  # SQL parameters hold ID numbers: keep them out of errors and logs
    )


class Database:
    """The engine and session factory of one hub process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        if self.engine.dialect.name == "sqlite":
            self.read_engine = make_engine(settings, read_only=True)
        else:
            self.read_engine = self.engine
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work for jobs and the CLI: commit on success, roll back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    db = get_database(request)
    factory = db.read_sessions if request.method in SAFE_METHODS else db.sessions
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the caller instead of being hidden behind an already-sent 2xx.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
