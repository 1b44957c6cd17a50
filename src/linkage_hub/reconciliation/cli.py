"""``linkage-hub reconcile``: the same run as the API, for cron or a Kubernetes CronJob."""

from __future__ import annotations

import argparse
import json
from typing import Any

from linkage_hub.commands import CommandError, open_database
from linkage_hub.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this domain's sub-commands (each sets ``handler(args, settings) -> int``)."""
    reconcile = sub.add_parser(
        "reconcile",
        help="run the reconciliation rules for a region",
        description="Run every reconciliation rule for a region (and everything below it) and "
        "update the findings. Prints the run as JSON; exits 0 when the run succeeded, 1 with "
        "the reason otherwise (another run of an overlapping region in progress, a failed "
        "rule, no database).",
    )
    reconcile.add_argument("--region", required=True, help="division code, e.g. 230100")
    reconcile.add_argument("--period", help="payroll period YYYY-MM (default: the latest)")
    reconcile.add_argument("--as-of", help="as-of date YYYY-MM-DD (default: today)")
    reconcile.set_defaults(handler=_reconcile)


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from linkage_hub.audit.service import operator
    from linkage_hub.errors import HubError
    from linkage_hub.reconciliation.models import Run
    from linkage_hub.reconciliation.runs import create_run, execute_run, recover
    from linkage_hub.reconciliation.schemas import RunCreate, RunOut

    try:
        body = RunCreate(region=args.region, period=args.period, as_of=args.as_of)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CommandError(f"--{'-'.join(map(str, first['loc']))}: {first['msg']}") from None
    db = open_database(settings)
    try:
        recover(db)
        try:
            with db.transaction() as session:
                run, lock = create_run(
                    session,
                    db,
                    region=body.region,
                    period=body.period,
                    as_of=body.as_of,
                    requested_by=operator(),
                )
                run_id = run.id
        except HubError as exc:
            raise CommandError(exc.detail or exc.title) from None
        status = execute_run(db, run_id, lock)
        with db.transaction() as session:
            done = session.get(Run, run_id)
            assert done is not None
            out = RunOut.of(done)
        print(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2, default=str))
        if status != "succeeded":
            raise CommandError(f"run {run_id} failed: {out.error}")
        return 0
    finally:
        db.dispose()
