"""What notifications run in a hub process: the delivery worker (``LINKAGE_DELIVER_IN_PROCESS``)
and the periodic bulletins' schedule (``LINKAGE_BULLETIN_CRON``)."""

from __future__ import annotations

from dataclasses import dataclass

from linkage_hub.db import Database
from linkage_hub.notifications.bulletins import BulletinScheduler
from linkage_hub.notifications.worker import Deliverer


@dataclass
class Running:
    deliverer: Deliverer | None
    bulletins: BulletinScheduler | None


def start(db: Database) -> Running:
    deliverer = bulletins = None
    if db.settings.deliver_in_process:
        deliverer = Deliverer(db)
        deliverer.start()
    if db.settings.bulletin_cron:
        bulletins = BulletinScheduler(db)
        bulletins.start()
    return Running(deliverer, bulletins)


def stop(running: Running) -> None:
    if running.bulletins is not None:
        running.bulletins.stop()
    if running.deliverer is not None:
        running.deliverer.stop()
