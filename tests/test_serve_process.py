"""The README's run command, for real: a hub process on the embedded default answers ready."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestServeEmbedded:
    def test_migrates_itself_and_is_ready(self, tmp_path: Path) -> None:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
        env["LINKAGE_DATA_DIR"] = str(tmp_path)
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
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
            assert (tmp_path / "linkage-hub.db").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
