#!/usr/bin/env python3
"""Everything the project checks: ruff, mypy (strict), the import contracts (the layer order of
the rooms, no router importing a router, no import cycle: `[tool.importlinter]` in
pyproject.toml), pytest on SQLite and PostgreSQL.

PostgreSQL tests run when a server answers on 127.0.0.1:5432 (or LINKAGE_TEST_POSTGRES_URL is
set). With CI=true an unreachable PostgreSQL is a failure, not a silent skip.
Extra arguments go to pytest: `python scripts/check.py -k identifiers`.

pytest runs in `LINKAGE_TEST_WORKERS` processes (pytest-xdist; default: the cores plus one, since
a test waits on PostgreSQL, a subprocess or a browser for part of its time). On this project's
2-core CI machine one process took 100 minutes for the suite on both databases, three take about
25. Each worker migrates its own SQLite template and PostgreSQL database (tests/conftest.py), so
workers share nothing but the server. `LINKAGE_TEST_WORKERS=0` runs in one process; so does a
command line that names its own `-n` or `-p no:xdist`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_url() -> str | None:
    url = os.environ.get("LINKAGE_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=2):
            return DEFAULT_PG
    except OSError:
        return None


def workers(args: list[str]) -> list[str]:
    if any(a.startswith(("-n", "--numprocesses")) for a in args) or "no:xdist" in args:
        return []
    count = int(os.environ.get("LINKAGE_TEST_WORKERS", str((os.cpu_count() or 1) + 1)))
    return ["-n", str(count)] if count > 1 else []


def run(*cmd: str, env: dict[str, str] | None = None) -> int:
    print("$", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def main() -> int:
    env = dict(os.environ)
    url = postgres_url()
    if url:
        env["LINKAGE_TEST_POSTGRES_URL"] = url
    elif os.environ.get("CI", "").lower() == "true":
        print("check: PostgreSQL is not reachable on 127.0.0.1:5432 and CI=true", file=sys.stderr)
        return 1
    else:
        print("check: PostgreSQL not reachable: running the SQLite tests only", file=sys.stderr)
    paths = [p for p in ("src", "tests", "bench", "scripts", "migrations") if (ROOT / p).is_dir()]
    failed = 0
    failed |= run(str(BIN / "ruff"), "check", *paths)
    failed |= run(str(BIN / "ruff"), "format", "--check", *paths)
    failed |= run(str(BIN / "mypy"))
    failed |= run(str(BIN / "lint-imports"), "--no-cache")
    args = [*workers(sys.argv[1:]), *sys.argv[1:]]
    failed |= run(str(BIN / "python"), "-m", "pytest", *args, env=env)
    print("check: " + ("FAILED" if failed else "all green"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
