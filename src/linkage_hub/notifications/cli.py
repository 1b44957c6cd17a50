"""``linkage-hub deliver``: the delivery worker as a process of its own."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from linkage_hub.commands import open_database
from linkage_hub.notifications.worker import Deliverer
from linkage_hub.settings import Settings


def _deliver(args: argparse.Namespace, settings: Settings) -> int:
    db = open_database(settings)
    deliverer = Deliverer(db)
    try:
        if args.once:
            deliverer.drain(timeout=args.timeout)
            return 0
        stop = threading.Event()

        def on_signal(_signum: int, _frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        deliverer.start()
        stop.wait()
        return 0
    finally:
        deliverer.stop()
        db.dispose()


def register(sub: Any) -> None:
    deliver = sub.add_parser(
        "deliver",
        help="send webhook deliveries (a worker process of its own)",
        description="Fan the outbox out to subscriptions and send due deliveries until "
        "stopped (SIGTERM). Any number may run beside the hub processes; set "
        "LINKAGE_DELIVER_IN_PROCESS=false on the hub processes to leave delivery to these.",
    )
    deliver.add_argument("--once", action="store_true", help="send what is due now, then stop")
    deliver.add_argument(
        "--timeout", type=float, default=60.0, help="with --once: stop after this many seconds"
    )
    deliver.set_defaults(handler=_deliver)
