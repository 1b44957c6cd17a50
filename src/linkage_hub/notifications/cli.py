"""``linkage-hub deliver`` (the delivery worker as a process of its own) and ``linkage-hub
bulletins publish`` (a month's periodic bulletins, by hand or from cron)."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from linkage_hub.commands import CommandError, open_database
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


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt
    import json

    from sqlalchemy.exc import IntegrityError

    from linkage_hub.notifications.bulletins import previous_month, publish
    from linkage_hub.reconciliation.runs import ensure_known_region

    if args.month:
        try:
            first = dt.date.fromisoformat(args.month + "-01")
        except ValueError:
            raise CommandError(f"--month {args.month!r} is not YYYY-MM") from None
        period_from = first
        period_to = (first + dt.timedelta(days=32)).replace(day=1)
    else:
        period_from, period_to = previous_month(settings.today())
    db = open_database(settings)
    try:
        with db.transaction() as session:
            ensure_known_region(session, args.region)
            made = publish(
                session, settings, args.region, period_from, period_to, dt.datetime.now(dt.UTC)
            )
            out = [
                {"id": b.id, "department": b.department, "totals": b.content["totals"]}
                for b in made
            ]
    except IntegrityError:
        raise CommandError(
            f"the bulletins of {args.region} for {period_from:%Y-%m} are published already"
        ) from None
    finally:
        db.dispose()
    print(
        json.dumps(
            {
                "region": args.region,
                "period_from": str(period_from),
                "period_to": str(period_to),
                "bulletins": out,
            },
            ensure_ascii=False,
        )
    )
    return 0


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

    bulletins = sub.add_parser(
        "bulletins",
        help="periodic bulletins (定期通报)",
        description="Publish a month's bulletins of a region, one per answerable department "
        "(the schedule LINKAGE_BULLETIN_CRON does this on the 1st of each month).",
    )
    actions = bulletins.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = actions.add_parser("publish", help="publish a month's bulletins of a region")
    publish.add_argument("--region", required=True, help="region code, e.g. 230100")
    publish.add_argument("--month", help="YYYY-MM (default: the previous month)")
    publish.set_defaults(handler=_publish)
