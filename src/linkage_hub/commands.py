"""What every ``linkage-hub`` command shares: its failure and the database it opens.

The top-level :mod:`linkage_hub.cli` and each room's ``cli`` module import this one, never
each other.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from linkage_hub.settings import Settings

if TYPE_CHECKING:
    from linkage_hub.db import Database

Handler = Callable[[argparse.Namespace, Settings], int]


class CommandError(Exception):
    """A failure to report in one line (exit code 1)."""


def open_database(settings: Settings) -> Database:
    """The database of a command, at the newest migration: the embedded SQLite file is migrated
    (created if need be); a PostgreSQL schema behind is refused (``linkage-hub migrate`` is an
    operator's decision). The caller disposes of it."""
    # Imported here: `linkage-hub --help` and argument errors should not load SQLAlchemy.
    from linkage_hub.db import Database
    from linkage_hub.migrations import pending, upgrade

    db = Database(settings)
    try:
        if settings.is_embedded:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade(settings)
        elif pending(settings, db.engine):
            raise CommandError(
                "the database schema is not at the newest migration: run `linkage-hub migrate`"
            )
    except BaseException:
        db.dispose()
        raise
    return db
