"""API8:2023 Security Misconfiguration — the embedded database readable by every local user.

The SQLite file and its ``-wal`` and ``-shm`` files hold names, pay, client secret hashes and the
audit log: they are created 0600 like the key files, through the real ``serve`` and ``migrate``
paths, whatever the umask, and files an older hub left looser are tightened on start.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from linkage_hub.db import Database
from tests.conftest import make_settings
from tests.net import free_port

SIDES = ("", "-wal", "-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hub_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env["LINKAGE_DATA_DIR"] = str(data_dir)
    return env


def loose_umask() -> None:
    os.umask(0o022)


class TestDatabaseFileModes:
    def test_serve_creates_the_database_and_its_wal_owner_only(self, tmp_path: Path) -> None:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=hub_env(tmp_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=loose_umask,
        )
        try:
            status = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert status == 200, proc.stderr.read().decode() if proc.poll() is not None else ""
            files = {side: tmp_path / f"linkage-hub.db{side}" for side in SIDES}
            assert all(f.exists() for f in files.values()), sorted(os.listdir(tmp_path))
            assert {side: oct(mode(f)) for side, f in files.items()} == dict.fromkeys(
                SIDES, "0o600"
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    def test_migrate_creates_the_database_owner_only(self, tmp_path: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "linkage_hub.cli", "migrate"],
            cwd=tmp_path,
            env=hub_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=loose_umask,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert mode(tmp_path / "linkage-hub.db") == 0o600

    def test_looser_files_are_tightened_on_start(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "hub.db"
        for side in SIDES[:2]:  # a database and a WAL an older hub left 0644
            Path(f"{path}{side}").touch()
            os.chmod(f"{path}{side}", 0o644)
        with caplog.at_level(logging.WARNING, logger="linkage_hub.db"):
            db = Database(make_settings(f"sqlite:///{path}", tmp_path))
        db.dispose()
        assert (mode(path), mode(Path(f"{path}-wal"))) == (0o600, 0o600)
        warnings = [r.getMessage() for r in caplog.records]
        assert warnings == [
            "tightened hub.db from 0644 to 0600",
            "tightened hub.db-wal from 0644 to 0600",
        ]
        caplog.clear()
        Database(make_settings(f"sqlite:///{path}", tmp_path)).dispose()
        assert caplog.records == []  # said once
