"""A unit moved while a reconciliation run goes (PostgreSQL): what the regions lock costs a move.

A run reads the registry, then the records, then merges its findings, under the regions lock
held shared (``records.queries.lock_regions``); a units batch that moves a unit takes it
exclusive, so it waits for a run in flight. This measures that wait over HTTP, against a hub
process (``bench/ingest.py``'s ``Hub``) on a generated province (``bench/reconcile.py``):

- baseline: the same units batch (one unit moved to a sibling county and back) with no run;
- during a run: the batch sent as soon as a full province run is ``running``;
- the run's own time, from its 202 to ``succeeded``, alone and with the move.

Command: ``python bench/move_during_run.py [--persons 200000] [--moves 5]``. Figures are
printed; RESULTS.md ("Reconciliation") records them with this command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import reconcile as prov  # noqa: E402 - bench/ is the script's directory
from ingest import Hub, create_pg_database  # noqa: E402

from linkage_hub.migrations import upgrade  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402

UNITS = "/api/v1/datasets/units/batches"
RUNS = "/api/v1/reconciliation/runs"


def a_unit(client: httpx.Client, region: str) -> dict[str, Any]:
    """A unit of ``region`` pushed through the hub (the generated ones were copied past it, so
    their record keys are not the hub's), as a move will send it again."""
    unit = {
        "unit_code": prov.unit_code(900_000, region, "institution"),
        "name": "迁移测试单位",
        "region": region,
        "kind": "institution",
        "funding": "full",
        "status": "active",
    }
    move(client, unit, region)
    return unit


def move(client: httpx.Client, unit: dict[str, Any], region: str) -> float:
    started = time.perf_counter()
    answer = client.post(UNITS, json={"records": [unit | {"region": region}]})
    elapsed = time.perf_counter() - started
    if answer.status_code != 201:
        raise SystemExit(f"move refused: {answer.status_code} {answer.text[:300]}")
    return elapsed


def start_run(client: httpx.Client) -> tuple[str, float]:
    answer = client.post(RUNS, json={"region": prov.PROVINCE, "period": prov.PERIOD})
    if answer.status_code != 202:
        raise SystemExit(f"run refused: {answer.status_code} {answer.text[:300]}")
    return answer.json()["run_id"], time.perf_counter()


def status(client: httpx.Client, run_id: str) -> str:
    return str(client.get(f"{RUNS}/{run_id}").json()["status"])


def wait_for(client: httpx.Client, run_id: str, wanted: set[str]) -> str:
    while (now := status(client, run_id)) not in wanted:
        time.sleep(0.02)
    return now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--moves", type=int, default=5)
    args = parser.parse_args()
    province = prov.generate(args.persons)
    work = Path(tempfile.mkdtemp(prefix="lh-move-"))
    url, drop = create_pg_database(prov.PG_ADMIN)
    try:
        upgrade(Settings(database_url=url, data_dir=work))
        prov.load_postgres(url, province)
        with Hub(url, work, region=prov.PROVINCE) as hub:
            client = httpx.Client(base_url=hub.base, headers=hub.authorization(), timeout=600)
            home = prov.county(0)
            sibling = next(c for c in (prov.county(i) for i in range(1, 200)) if c[:4] == home[:4])
            unit = a_unit(client, home)
            # warm: a first run (findings written), then the baseline moves with no run
            run_id, _ = start_run(client)
            wait_for(client, run_id, {"succeeded", "failed"})
            alone = []
            for _ in range(args.moves):
                alone += [move(client, unit, sibling), move(client, unit, home)]
            runs_alone, during, runs_with = [], [], []
            for _ in range(args.moves):
                run_id, started = start_run(client)
                assert wait_for(client, run_id, {"succeeded", "failed"}) == "succeeded"
                runs_alone.append(time.perf_counter() - started)
                run_id, started = start_run(client)
                wait_for(client, run_id, {"running", "succeeded", "failed"})
                during.append(move(client, unit, sibling))
                assert wait_for(client, run_id, {"succeeded", "failed"}) == "succeeded"
                runs_with.append(time.perf_counter() - started)
                move(client, unit, home)
            client.close()
    finally:
        drop()
    print(f"{args.persons:,} persons, PostgreSQL, one hub process, {args.moves} tries each")
    print("| what | median s | max s | × move alone |")
    print("|---|---:|---:|---:|")
    base = statistics.median(alone)
    for label, values in (
        ("a unit moved, no run", alone),
        ("a unit moved while a full run goes", during),
        ("a full run alone (202 to succeeded)", runs_alone),
        ("a full run with the move", runs_with),
    ):
        median = statistics.median(values)
        print(f"| {label} | {median:.3f} | {max(values):.3f} | {median / base:.1f} × |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
