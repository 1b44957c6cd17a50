"""Command-line commands of the datasets room: ``linkage-hub demo``, ``linkage-hub unit-counts``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from linkage_hub.commands import CommandError, open_database
from linkage_hub.settings import Settings

SIZES = {"city": 3_000, "province": 1_000_000}

NEXT_STEPS = """
What to try next (one client per department for region 230000; credentials, shown once, are
also kept in {clients_file}):

  linkage-hub serve                                   # then open http://127.0.0.1:8000/docs
  curl -d grant_type=client_credentials -d client_id=ID -d client_secret=SECRET \\
       http://127.0.0.1:8000/oauth/token              # a token; send it as Authorization: Bearer
  GET  /api/v1/datasets/roster/records?region=230102  # a district's roster
  GET  /api/v1/datasets/payroll/records?period={period}&limit=5
  GET  /api/v1/persons/<id_number>                    # one person across all departments
  GET  /api/v1/changes                                # the change feed, in commit order
  linkage-hub reconcile --region 230100               # find the planted discrepancies

Planted discrepancies (rule: findings expected for region 230000):
"""


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.records.demo import DEMO_CLIENTS_FILE, is_empty, load_city
    from linkage_hub.records.demo_data import PERIOD, generate_city
    from linkage_hub.records.keys_cli import require_key_set

    persons = args.persons or SIZES[args.size]
    db = open_database(settings)
    try:
        require_key_set(db, settings)  # --force seals beside what is stored
        if not is_empty(db) and not args.force:
            raise CommandError("the database already holds records (use --force to push anyway)")
        started = time.perf_counter()
        try:
            city = generate_city(args.seed, persons)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        print(f"demo: {persons:,} persons in {len(city.units):,} units (seed {args.seed})")
        load_city(settings, db, city, report=print)
        print(f"demo: loaded in {time.perf_counter() - started:.1f} s")
    finally:
        db.dispose()
    print(
        NEXT_STEPS.format(period=PERIOD, clients_file=settings.secrets_dir / DEMO_CLIENTS_FILE),
        end="",
    )
    for rule, count in city.summary().items():
        print(f"  {rule:<32} {count}")
    return 0


def _unit_counts(args: argparse.Namespace, settings: Settings) -> int:
    from linkage_hub.records import tally

    db = open_database(settings)
    try:
        with db.transaction() as session:
            wrong = tally.drift(session)
            if wrong and args.repair:
                tally.repair(session)
                print(f"unit-counts: {wrong:,} counts differed from the records; counted again")
                return 0
    finally:
        db.dispose()
    if wrong:
        raise CommandError(
            f"{wrong:,} unit head counts differ from the records (run with --repair)"
        )
    print("unit-counts: every stored head count equals a count of the records")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this domain's sub-commands (each sets ``handler(args, settings) -> int``)."""
    demo = sub.add_parser(
        "demo",
        help="load a generated demo city",
        description="Generate a deterministic city (units at three levels, quotas, leader "
        "posts, persons in all departments' datasets, with planted discrepancies of every "
        "rule and realistic input quirks) and push it through the batch code path.",
    )
    demo.add_argument("--size", choices=sorted(SIZES), default="city")
    demo.add_argument("--persons", type=int, help="number of persons (overrides --size)")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--force", action="store_true", help="push even if records exist")
    demo.set_defaults(handler=_demo)

    counts = sub.add_parser(
        "unit-counts",
        help="check the units' stored head counts against the records",
        description="Compare the head counts each batch keeps per unit (the active roster by "
        "establishment type, the active cadres by leader level; incremental reconciliation "
        "reads them) with a count of the records. Exit 1 if any differs, which only a change "
        "made past the hub (a restore, a hand edit) can cause; --repair counts them again.",
    )
    counts.add_argument("--repair", action="store_true", help="count them again from the records")
    counts.set_defaults(handler=_unit_counts)
