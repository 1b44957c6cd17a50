"""Alembic environment: the URL comes from the hub's settings, never from a file."""

from __future__ import annotations

from alembic import context

from linkage_hub.db import make_engine
from linkage_hub.schema import Base
from linkage_hub.settings import Settings, get_settings

config = context.config
settings: Settings = config.attributes.get("settings") or get_settings()
target_metadata = Base.metadata


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


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if hasattr(connection, "commit"):
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
