"""``linkage-hub reconcile``: the same run as the API, for cron or a Kubernetes CronJob."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from linkage_hub.commands import CommandError, open_database
from linkage_hub.settings import Settings

if TYPE_CHECKING:
    from linkage_hub.db import Database

EXIT_ALL_SKIPPED = 3  # the run succeeded, but no rule ran: nothing was checked
EXIT_TIMEOUT = 4  # the run was stopped at LINKAGE_RUN_TIMEOUT_SECONDS: it may pass if retried


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this domain's sub-commands (each sets ``handler(args, settings) -> int``)."""
    reconcile = sub.add_parser(
        "reconcile",
        help="run the reconciliation rules for a region",
        description="Run every reconciliation rule for a region (and everything below it) and "
        "update the findings. Prints the run as JSON; exits 0 when the run succeeded, 1 with "
        "the reason otherwise (a region the hub holds nothing in, a period after next month "
        "or an as-of date after today, another run of an overlapping region in progress, a "
        f"failed rule, no database), {EXIT_ALL_SKIPPED} when it succeeded with every rule "
        f"skipped (no department's records in the region), {EXIT_TIMEOUT} when the run was "
        "stopped at its time limit (LINKAGE_RUN_TIMEOUT_SECONDS).",
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
    from linkage_hub.reconciliation.runs import ALL_RULES_SKIPPED, TIMEOUT, recover, run_to_end
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
            run_id = run_to_end(
                db,
                region=body.region,
                period=body.period,
                as_of=body.as_of,
                requested_by=operator(),
            )
        except HubError as exc:
            field = exc.errors[0].field if exc.errors else "region"
            shown = {"as_of": body.as_of, "period": body.period}.get(field, body.region)
            raise CommandError(
                f"--{field.replace('_', '-')} {shown}: {exc.detail or exc.title}"
            ) from None
        with db.transaction() as session:
            done = session.get(Run, run_id)
            assert done is not None
            out = RunOut.of(done)
        print(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2, default=str))
        if out.status != "succeeded" and out.error_code == TIMEOUT:
            print(f"linkage-hub reconcile: run {run_id} timed out: {out.error}", file=sys.stderr)
            return EXIT_TIMEOUT
        if out.status != "succeeded":
            raise CommandError(f"run {run_id} failed: {out.error}")
        for warning in out.warnings:
            print(f"linkage-hub reconcile: warning: {warning.message}", file=sys.stderr)
        if any(w.code == ALL_RULES_SKIPPED for w in out.warnings):
            return EXIT_ALL_SKIPPED
        return 0
    finally:
        db.dispose()


def reconcile_demo(db: Database) -> str:
    """``serve --demo``: a full run of the demo province just loaded, through the same run path
    as the API, so a newcomer's first ``GET /api/v1/discrepancies`` shows the planted findings.
    As of the date the demo city is drawn for (its planted list holds for that day)."""
    from linkage_hub.reconciliation.models import Run
    from linkage_hub.reconciliation.runs import run_to_end
    from linkage_hub.records.demo import PROVINCE
    from linkage_hub.records.demo_data import AS_OF, PERIOD

    run_id = run_to_end(db, region=PROVINCE, period=PERIOD, as_of=AS_OF, requested_by="demo")
    with db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        found = sum(int(c.get("found", 0)) for c in (run.counts or {}).values())
        status, error = run.status, run.error
    if status != "succeeded":
        print(f"demo city not reconciled: run {run_id} {status}: {error}", file=sys.stderr)
    else:
        print(f"demo city reconciled: run {run_id}, {found} findings as of {AS_OF.isoformat()}")
    return run_id
