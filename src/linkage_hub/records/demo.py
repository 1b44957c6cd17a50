"""The demo city (issue 4): a placeholder until the generator lands."""

from __future__ import annotations

from linkage_hub.db import Database
from linkage_hub.settings import Settings


def load_demo_if_empty(settings: Settings, db: Database) -> None:
    """Load the demo city when the database holds no records yet."""
