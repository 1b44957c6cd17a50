"""The delivery worker of a hub process (``LINKAGE_DELIVER_IN_PROCESS``)."""

from __future__ import annotations

from linkage_hub.db import Database
from linkage_hub.notifications.worker import Deliverer


def start(db: Database) -> Deliverer | None:
    if not db.settings.deliver_in_process:
        return None
    deliverer = Deliverer(db)
    deliverer.start()
    return deliverer


def stop(deliverer: Deliverer | None) -> None:
    if deliverer is not None:
        deliverer.stop()
