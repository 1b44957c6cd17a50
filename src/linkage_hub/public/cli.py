"""``linkage-hub disclosures publish``: a publication from the command line (a scheduled job, or
``serve --demo``), through the same service as ``POST /api/v1/disclosures``."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from linkage_hub.audit.service import operator
from linkage_hub.auth.principal import Principal
from linkage_hub.commands import CommandError, open_database
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.errors import HubError
from linkage_hub.identifiers import IdentifierError, normalise_region
from linkage_hub.public.disclosures import business_day, publish
from linkage_hub.reconciliation.runs import region_is_known
from linkage_hub.settings import Settings


def publish_region(db: Database, region: str, day: dt.date, actor: str) -> tuple[str, int]:
    """Publish ``region`` as of ``day`` in one transaction; (id, units)."""
    office = Principal(actor, actor, Department.establishment, region)
    with db.transaction() as session:
        made = publish(session, office, region, day, db.settings.zone)
        return made.id, made.unit_count


def publish_demo(db: Database) -> None:
    """``serve --demo``: the demo province published as of the demo's date, so ``/public/``
    shows it at once."""
    from linkage_hub.records.demo import PROVINCE
    from linkage_hub.records.demo_data import AS_OF

    made, units = publish_region(db, PROVINCE, AS_OF, "demo")
    print(f"demo city published: disclosure {made}, {units} public units at /public/")


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    try:
        region = normalise_region(args.region)
    except IdentifierError as exc:
        raise CommandError(f"--region: {exc.message}") from None
    try:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        raise CommandError(f"--as-of {args.as_of}: not a date (YYYY-MM-DD)") from None
    try:  # the API's rule: a publication cannot be taken back
        day = business_day(settings.today(), as_of)
    except HubError as exc:
        said = exc.errors[0].message if exc.errors else exc.detail
        raise CommandError(f"--as-of {args.as_of}: {said}") from None
    db = open_database(settings)
    try:
        with db.transaction() as session:
            if not region_is_known(session, region):
                raise CommandError(f"the hub holds no units, records or findings in {region}")
        made, units = publish_region(db, region, day, operator())
    finally:
        db.dispose()
    print(f"published {region} as of {day.isoformat()}: disclosure {made}, {units} units")
    return 0


def register(sub: Any) -> None:
    group = sub.add_parser(
        "disclosures",
        help="staffing disclosures (信息公开)",
        description="Publish a region's public staffing data as a dated snapshot, as POST "
        "/api/v1/disclosures does (review first with GET /api/v1/disclosures/preview).",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmd = actions.add_parser("publish", help="publish a region's public staffing data now")
    cmd.add_argument("--region", required=True, help="six-digit division code")
    cmd.add_argument("--as-of", help="business date YYYY-MM-DD (default today)")
    cmd.set_defaults(handler=_publish)
