"""Long schemathesis run over every operation, as every department, negative data on.

    bench/fuzz.sh                      # 500 examples per operation and mode, SQLite
    bench/fuzz.sh --examples 2000 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Uses the same driver as the bounded run in the test suite (tests/robustness/fuzzing.py), but
randomised (a fresh seed each run) and with negative data. Exits non-zero on any failure and
prints each failing operation with schemathesis' reproduction.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.robustness.fuzzing import fuzz  # noqa: E402

from linkage_hub.app import create_app  # noqa: E402
from linkage_hub.auth.service import create_client  # noqa: E402
from linkage_hub.db import Database  # noqa: E402
from linkage_hub.domain import Department  # noqa: E402
from linkage_hub.migrations import upgrade  # noqa: E402
from linkage_hub.settings import Settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="per operation and mode")
    parser.add_argument("--postgres", help="server URL; a throwaway database is created on it")
    parser.add_argument("--positive-only", action="store_true")
    parser.add_argument("--operation", action="append", help="operationId (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/fuzz.db"
        admin = None
        name = ""
        if args.postgres:
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            name = f"lh_fuzz_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            url = make_url(args.postgres).set(database=name).render_as_string(False)
        settings = Settings(
            database_url=url,
            data_dir=Path(folder),
            signing_key="fuzz-signing-key-" + "x" * 32,
            record_key_secret="fuzz-record-key-secret-" + "x" * 32,
            log_level="WARNING",
        )
        try:
            upgrade(settings)
            database = Database(settings)
            app = create_app(settings, database=database)
            with TestClient(app, raise_server_exceptions=False) as client:
                headers: dict[str, dict[str, str]] = {}
                for department in Department:
                    with database.transaction() as session:
                        created = create_client(
                            session,
                            name=f"fuzz {department}",
                            department=department,
                            region="230100",
                        )
                        client_id = created.client.client_id
                    token = client.post(
                        "/oauth/token",
                        data={
                            "grant_type": "client_credentials",
                            "client_id": client_id,
                            "client_secret": created.client_secret,
                        },
                    ).json()["access_token"]
                    headers[str(department)] = {"Authorization": f"Bearer {token}"}
                started = time.monotonic()
                report = fuzz(
                    app,
                    client,
                    headers,
                    max_examples=args.examples,
                    negative=not args.positive_only,
                    derandomize=False,
                    operation_ids=set(args.operation) if args.operation else None,
                )
                elapsed = time.monotonic() - started
            database.dispose()
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()

    server_errors = sum(
        count
        for statuses in report.statuses.values()
        for code, count in statuses.items()
        if code >= 500
    )
    print(
        f"fuzz: {report.operations} operations, {report.examples} examples in {elapsed:.0f} s, "
        f"{server_errors} server errors, {len(report.failures)} failing operation/mode pairs"
    )
    for op_id, statuses in sorted(report.statuses.items()):
        print(f"  {op_id}: " + ", ".join(f"{c}×{n}" for c, n in sorted(statuses.items())))
    for key, failure in report.failures.items():
        print(f"\n--- {key}\n{failure}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
