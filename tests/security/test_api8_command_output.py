"""API8:2023 Security Misconfiguration — a database secret in a command's output.

``linkage-hub migrate`` runs in CI, at every container start and from cron: its output lands in
logs and mail that more people read than hold the database's password. libpq takes the password
as a URL parameter too (``?password=``), as secret stores often render it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PostgresServer

PASSWORD = "hunter2-secret"


def test_migrate_names_the_database_not_its_user_or_password(
    tmp_path: Path, postgres_server: PostgresServer | None
) -> None:
    """`migrate` printed the URL after its last '@': the query string and its password with it."""
    if postgres_server is None:
        pytest.skip("needs LINKAGE_TEST_POSTGRES_URL")
    url = postgres_server.create("lh_migrate_output")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env["LINKAGE_DATA_DIR"] = str(tmp_path)
    env["LINKAGE_DATABASE_URL"] = f"{url}?password={PASSWORD}&application_name=migrate"
    done = subprocess.run(
        [sys.executable, "-m", "linkage_hub.cli", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr and "@" not in done.stdout
    database = url.rsplit("/", 1)[1]
    assert done.stdout.strip().endswith(f"/{database} to head"), done.stdout
