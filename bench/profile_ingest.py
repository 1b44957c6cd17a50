#!/usr/bin/env python3
"""Phase profile of one roster push inside one process (no HTTP): where the time goes.

Runs the real push path (:func:`linkage_hub.records.ingest.push_body`) against a fresh
database and times each step of the merge by wrapping the functions of
:mod:`linkage_hub.records.queries` and :mod:`linkage_hub.records.publish`. Pushes: first,
unchanged, changed 1 %.

    .venv/bin/python bench/profile_ingest.py --rows 200000 --backends postgres
    .venv/bin/python bench/profile_ingest.py --rows 200000 --cprofile first   # hot Python
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import DEFAULT_PG, create_pg_database, write_ndjson  # noqa: E402

from linkage_hub import migrations  # noqa: E402
from linkage_hub.auth.context import RequestContext  # noqa: E402
from linkage_hub.auth.principal import Principal  # noqa: E402
from linkage_hub.db import Database  # noqa: E402
from linkage_hub.domain import Dataset, Department  # noqa: E402
from linkage_hub.keys import Keyring  # noqa: E402
from linkage_hub.records import ingest, publish, queries  # noqa: E402
from linkage_hub.records.parsing import BodyFormat, SpooledBody  # noqa: E402
from linkage_hub.records.scope import QueryOptions  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
CPU: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - started
            CPU[name] += time.process_time() - cpu

    return wrapper


def instrument() -> None:
    for module in (queries, publish):
        for name in dir(module):
            fn = getattr(module, name)
            if callable(fn) and getattr(fn, "__module__", None) == module.__name__:
                setattr(module, name, timed(name, fn))
    ingest.Pusher.stage = timed("stage (parse+validate+load)", ingest.Pusher.stage)
    ingest.Pusher.check_stage = timed("check_stage", ingest.Pusher.check_stage)


def push(database: Database, settings: Settings, path: Path, profile: bool) -> float:
    keyring = Keyring(settings)
    principal = Principal("bench", "bench", Department.establishment, "230100")
    TIMES.clear()
    CPU.clear()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    with path.open("rb") as handle, database.transaction() as session:
        body = SpooledBody(handle, path.stat().st_size, "0" * 64)
        if profiler:
            profiler.enable()
        ctx = RequestContext(principal, session, settings, keyring)
        result, _ = ingest.push_body(
            ctx, Dataset.roster, body, BodyFormat.ndjson, QueryOptions(), None
        )
        if profiler:
            profiler.disable()
        commit_started = time.perf_counter()
    TIMES["commit"] += time.perf_counter() - commit_started
    elapsed = time.perf_counter() - started
    print(f"  total {elapsed:.2f} s  {result.model_dump(include={'inserted', 'updated'})}")
    for name, seconds in sorted(TIMES.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.01:
            print(f"    {name:40s} {seconds:7.2f} s  (this process's CPU {CPU[name]:5.2f} s)")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--cprofile", default="", help="comma-separated pushes to cProfile")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--pushes", default="first,unchanged,changed_1pct")
    parser.add_argument(
        "--no-direct", action="store_true", help="never load straight into an empty table"
    )
    args = parser.parse_args()
    if args.no_direct:
        ingest.DIRECT_LOAD_BYTES = 1 << 62
    instrument()
    data = Path(tempfile.mkdtemp(prefix="lh-profile-"))
    first, changed = data / "first.ndjson", data / "changed.ndjson"
    write_ndjson(first, args.rows)
    write_ndjson(changed, args.rows, changed_every=100)
    pushes = {"first": first, "unchanged": first, "changed_1pct": changed}
    for backend in args.backends.split(","):
        drop = None
        if backend == "postgres":
            url, drop = create_pg_database(args.pg_url)
        else:
            url = f"sqlite:///{data / 'hub.db'}"
        settings = Settings(database_url=url, data_dir=data)  # type: ignore[call-arg]
        migrations.upgrade(settings)
        database = Database(settings)
        try:
            for label, path in pushes.items():
                if label not in args.pushes.split(","):
                    continue
                print(f"{backend} {label} ({args.rows:,} rows)")
                push(database, settings, path, label in args.cprofile.split(","))
        finally:
            database.dispose()
            if drop is not None:
                drop()
    for child in sorted(data.glob("**/*"), reverse=True):
        child.unlink() if child.is_file() else child.rmdir()
    data.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
