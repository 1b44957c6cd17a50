"""The README's run command, for real: a hub process on the embedded default answers ready."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.net import free_port


@contextmanager
def _serving(tmp_path: Path, *options: str, wait: float = 60) -> Iterator[str]:
    """``linkage-hub serve`` on the embedded default in ``tmp_path``; its base URL once ready."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env["LINKAGE_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkage_hub.cli", "serve", *options, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        status = None
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"{base}/health/ready").status_code
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200, proc.stderr.read().decode() if proc.poll() is not None else ""
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


class TestServeEmbedded:
    def test_migrates_itself_and_is_ready(self, tmp_path: Path) -> None:
        with _serving(tmp_path):
            assert (tmp_path / "linkage-hub.db").exists()


class TestServeDemo:
    def test_a_newcomers_first_look_shows_the_planted_findings(self, tmp_path: Path) -> None:
        from linkage_hub.records.demo_data import generate_city

        # Loading and reconciling the city come before the server answers.
        with _serving(tmp_path, "--demo", wait=300) as base:
            clients = json.loads((tmp_path / "demo-clients.json").read_text())
            [office] = [c for c in clients if c["department"] == "establishment"]
            form = {"grant_type": "client_credentials"} | {
                k: office[k] for k in ("client_id", "client_secret")
            }
            token = httpx.post(f"{base}/oauth/token", data=form).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            [run] = httpx.get(f"{base}/api/v1/reconciliation/runs", headers=headers).json()["items"]
            assert (run["kind"], run["status"], run["region"]) == ("full", "succeeded", "230000")
            assert run["requested_by"] == "demo" and run["warnings"] == []
            first = httpx.get(f"{base}/api/v1/discrepancies?limit=1000", headers=headers)
            assert first.status_code == 200
            expected = generate_city().expected
            assert {item["rule"] for item in first.json()["items"]} == {f.rule for f in expected}
            assert sum(r["found"] for r in run["rules"].values()) == len(expected)
            # ... and the demo province is published: the public pages show it.
            public = httpx.get(f"{base}/public/v1/disclosures/230000?limit=5000").json()
            assert len(public["units"]) > 10
            assert httpx.get(f"{base}/public/").text.count("/public/disclosures/230000") >= 1
            # ... and a person can sign in to the console with a demo account.
            accounts = json.loads((tmp_path / "demo-accounts.json").read_text())
            assert oct((tmp_path / "demo-accounts.json").stat().st_mode & 0o777) == "0o600"
            [audit] = [a for a in accounts if a["username"] == "demo.audit"]
            with httpx.Client(base_url=base, follow_redirects=True) as browser:
                signed = browser.post(
                    "/console/login",
                    data={"username": "demo.audit", "password": audit["password"]},
                )
                assert signed.status_code == 200 and signed.url.path == "/console/"
                assert "审计" in signed.text
