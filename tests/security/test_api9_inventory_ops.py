"""API9:2023 Improper Inventory Management — operators' endpoints on the departments' port.

``/metrics`` (traffic per route) and ``/health/ready`` (schema revision) answer without a token.
With ``LINKAGE_OPS_PORT`` set they are served on that port only (with ``/health/live``, and
nothing else): on the departments' port they answer 404, while ``/health/live`` stays there for
load balancers and the image's health check. Unset, everything is on the one port, as before.
Checked through the app factory and through a real ``linkage-hub serve`` process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from linkage_hub.app import create_app
from linkage_hub.db import Database
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.net import free_port

OPS_PORT = 9464
MAIN = "http://testserver"
OPS = f"http://testserver:{OPS_PORT}"


@pytest.fixture
def split(settings: Settings, database: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"ops_port": OPS_PORT}), database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


class TestWithAnOpsPort:
    @pytest.mark.parametrize("path", ["/metrics", "/health/ready"])
    def test_the_departments_port_does_not_serve_them(self, split: TestClient, path: str) -> None:
        response = split.get(MAIN + path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert "linkage_http_requests" not in response.text and "revision" not in response.text

    @pytest.mark.parametrize("path", ["/metrics", "/health/ready", "/health/live"])
    def test_the_ops_port_does(self, split: TestClient, path: str) -> None:
        response = split.get(OPS + path)
        assert response.status_code == 200, response.text

    def test_liveness_stays_on_the_main_port(self, split: TestClient) -> None:
        assert split.get(MAIN + "/health/live").status_code == 200

    @pytest.mark.parametrize(
        "path", ["/api/v1/discrepancies", "/docs", "/openapi.json", "/oauth/jwks", "/nowhere"]
    )
    def test_the_ops_port_serves_nothing_else(self, split: TestClient, path: str) -> None:
        response = split.get(OPS + path)
        assert response.status_code == 404

    def test_the_api_is_unchanged_on_the_main_port(
        self, split: TestClient, settings: Settings, database: Database
    ) -> None:
        assert split.get(MAIN + "/openapi.json").status_code == 200
        assert split.get(MAIN + "/api/v1/discrepancies").status_code == 401

    def test_metrics_still_count_the_main_ports_traffic(self, split: TestClient) -> None:
        split.get(MAIN + "/health/live")
        body = split.get(OPS + "/metrics").text
        assert 'route="/health/live"' in body


class TestWithoutOne:
    @pytest.mark.parametrize("path", ["/metrics", "/health/ready", "/health/live"])
    def test_everything_is_on_the_one_port(
        self, client: TestClient, headers_for: HeadersFor, path: str
    ) -> None:
        assert client.get(path).status_code == 200


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


class TestServe:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_serve_listens_on_both_ports(self, tmp_path: Path, workers: int) -> None:
        port, ops_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
        env |= {"LINKAGE_DATA_DIR": str(tmp_path), "LINKAGE_OPS_PORT": str(ops_port)}
        command = [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)]
        proc = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            main, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
            deadline = time.monotonic() + 60
            ready = None
            while time.monotonic() < deadline and proc.poll() is None:
                ready = _status(ops + "/health/ready")
                if ready is not None:
                    break
                time.sleep(0.2)
            assert ready == 200, proc.stderr.read().decode() if proc.poll() is not None else ""
            assert _status(ops + "/metrics") == 200
            assert _status(main + "/health/live") == 200  # the Dockerfile's HEALTHCHECK
            assert _status(main + "/metrics") == 404
            assert _status(main + "/health/ready") == 404
            assert _status(ops + "/api/v1/discrepancies") == 404
            assert _status(main + "/api/v1/discrepancies") == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    def test_the_same_port_twice_is_refused(self, tmp_path: Path) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
        env |= {"LINKAGE_DATA_DIR": str(tmp_path), "LINKAGE_OPS_PORT": str(port)}
        done = subprocess.run(
            [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 1
        assert "LINKAGE_OPS_PORT" in done.stderr.decode()
