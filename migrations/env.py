"""Alembic environment: the URL comes from the hub's settings, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from linkage_hub.db import make_engine
from linkage_hub.schema import Base
from linkage_hub.settings import Settings, get_settings

config = context.config
settings: Settings = config.attributes.get("settings") or get_settings()
target_metadata = Base.metadata

# The PostgreSQL advisory lock every `linkage-hub migrate` holds while it migrates ("linkage" in
# ASCII): replicas that start together (the Dockerfile migrates at every start) take turns.
MIGRATION_LOCK = 0x6C696E6B616765


def run_migrations_offline() -> None:
    context.configure(
        url=settings.sqlalchemy_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # The hub's own engine: a SQLite file is created in WAL mode with the hub's pragmas, so no
    # later connection has to switch the journal mode while another one writes.
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: Connection) -> None:
    locked = connection.dialect.name == "postgresql"
    if locked:
        # A session lock, committed at once so that alembic still opens a transaction per
        # migration; alembic reads the current version in run_migrations, after the wait, so a
        # process that waited finds the migrations applied and has nothing to do.
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()
    try:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if locked:
            connection.rollback()  # a failed migration's transaction, if any
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
