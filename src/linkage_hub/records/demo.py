"""Loading the demo city through the same validation, checks and merge as the API.

One real client per department is created for region 230000 (named ``demo <department>``);
each department's data is pushed as that department's client, the registry first, so regions
come from the registry as they would in production. The clients' credentials are printed once
and kept in ``demo-clients.json`` beside the database (owner-only), so a newcomer can ask for a
token straight away.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from linkage_hub.auth.principal import Principal
from linkage_hub.auth.service import create_client
from linkage_hub.db import Database
from linkage_hub.domain import DATASET_OWNER, Dataset, Department
from linkage_hub.keys import Keyring
from linkage_hub.records.demo_data import PERIOD, PREVIOUS_PERIOD, City, generate_city
from linkage_hub.records.ingest import push_records
from linkage_hub.records.models import RosterRecord
from linkage_hub.records.rotation import record_key_set
from linkage_hub.records.schemas import BatchMode, BatchResult
from linkage_hub.records.scope import BatchScope
from linkage_hub.registry.models import RegistryUnit
from linkage_hub.settings import Settings

PROVINCE = "230000"  # the demo pushes as province-wide clients: the city and its districts
DEMO_CLIENTS_FILE = "demo-clients.json"
# Beside the database while ``serve --demo`` sets the demo up: a start stopped half-way (a
# newcomer's Ctrl-C during the load) left a database that was not empty, and the next start
# skipped the rest (no run, no findings, no accounts) and said nothing.
DEMO_PENDING_FILE = "demo-pending"


@dataclass(frozen=True, slots=True)
class DemoClient:
    department: Department
    client_id: str
    client_secret: str

    def as_json(self) -> dict[str, str]:
        return {
            "department": self.department.value,
            "region": PROVINCE,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }


ORDER = (
    Dataset.units,
    Dataset.quotas,
    Dataset.leader_posts,
    Dataset.roster,
    Dataset.cadres,
    Dataset.employment,
    Dataset.payroll,
)


def create_demo_clients(settings: Settings, db: Database) -> dict[Department, DemoClient]:
    """A client per department for region 230000; credentials saved beside the database."""
    clients: dict[Department, DemoClient] = {}
    with db.transaction() as session:
        for department in Department:
            created = create_client(
                session, name=f"demo {department.value}", department=department, region=PROVINCE
            )
            clients[department] = DemoClient(
                department, created.client.client_id, created.client_secret
            )
    path = settings.secrets_dir / DEMO_CLIENTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump([c.as_json() for c in clients.values()], handle, indent=2)
    return clients


def demo_principal(dataset: Dataset, clients: dict[Department, DemoClient]) -> Principal:
    department = DATASET_OWNER[dataset]
    client = clients[department]
    return Principal(client.client_id, f"demo {department.value}", department, PROVINCE)


def load_city(
    settings: Settings,
    db: Database,
    city: City,
    report: Callable[[str], Any] = lambda _line: None,
) -> dict[str, BatchResult]:
    """Push every dataset of ``city``; one transaction per dataset (payroll: per period)."""
    clients = create_demo_clients(settings, db)
    keyring = Keyring(settings)
    record_key_set(db, keyring.keys)  # after the check `demo` and `serve --demo` make
    results: dict[str, BatchResult] = {}
    datasets = city.datasets()
    for dataset in ORDER:
        label = dataset.value
        if dataset is Dataset.payroll:
            started = time.perf_counter()
            with db.transaction() as session:
                results[f"payroll {PREVIOUS_PERIOD}"] = push_records(
                    session,
                    settings,
                    keyring,
                    demo_principal(dataset, clients),
                    dataset,
                    city.previous_payroll(),
                    scope=BatchScope(BatchMode.snapshot, PROVINCE, PREVIOUS_PERIOD),
                )
            report(
                _line(f"payroll {PREVIOUS_PERIOD}", results[f"payroll {PREVIOUS_PERIOD}"], started)
            )
            label = f"payroll {PERIOD}"
        scope = BatchScope(
            BatchMode.snapshot, PROVINCE, PERIOD if dataset is Dataset.payroll else None
        )
        started = time.perf_counter()
        with db.transaction() as session:
            results[label] = push_records(
                session,
                settings,
                keyring,
                demo_principal(dataset, clients),
                dataset,
                datasets[dataset],
                scope=scope,
            )
        report(_line(label, results[label], started))
    return results


def _line(label: str, result: BatchResult, started: float) -> str:
    return (
        f"  {label:<16} {result.received:>9,} rows  inserted {result.inserted:,}, "
        f"updated {result.updated:,}, unchanged {result.unchanged:,}, closed {result.closed:,}"
        f"  ({time.perf_counter() - started:.1f} s)"
    )


def is_empty(db: Database) -> bool:
    with db.read_sessions() as session:
        units = session.scalar(select(func.count()).select_from(RegistryUnit)) or 0
        roster = session.scalar(select(func.count()).select_from(RosterRecord)) or 0
    return units == 0 and roster == 0


def load_demo_if_empty(settings: Settings, db: Database) -> bool:
    """Load the demo city when the database holds no records yet, or when an earlier ``serve
    --demo`` stopped before :func:`demo_finished` (``serve --demo``); whether it did, and so
    whether the demo's later steps (the run, the publication, the accounts) are owed. Loading
    again over a part-loaded city is safe: every push is a snapshot of its dataset. (A second
    set of demo clients is made; ``demo-clients.json`` names the new one.)"""
    pending = settings.secrets_dir / DEMO_PENDING_FILE
    if not is_empty(db) and not pending.exists():
        return False
    pending.parent.mkdir(parents=True, exist_ok=True)
    pending.touch()
    load_city(settings, db, generate_city())
    print(f"demo city loaded; client credentials in {settings.secrets_dir / DEMO_CLIENTS_FILE}")
    return True


def demo_finished(settings: Settings) -> None:
    """Every step of ``serve --demo`` is done: a later start leaves the database alone."""
    (settings.secrets_dir / DEMO_PENDING_FILE).unlink(missing_ok=True)
