"""A client choosing its own address with X-Forwarded-For, past the hub's own rule.

The source address feeds every per-address limit (public pages and 12310 reports, console
sign-in, the fair share of load shedding) and the access record. README: only
``LINKAGE_TRUSTED_PROXIES`` may speak for a client (:mod:`linkage_hub.clientaddr`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.net import free_port


def test_x_forwarded_for_is_not_believed_without_trusted_proxies(tmp_path: Path) -> None:
    """README: LINKAGE_TRUSTED_PROXIES (default []) names whose X-Forwarded-For is believed;
    a header from anyone else is ignored, so a client cannot choose its own address. A real
    `linkage-hub serve` with no trusted proxies, reached from 127.0.0.1 (a local proxy that
    passes headers through): a client changing X-Forwarded-For gets past the per-address
    limit: uvicorn believed the header from 127.0.0.1 by default and rewrote the client
    address before the hub saw it (found by a review, 2026-12-06). Now serve turns uvicorn's
    proxy headers off."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    env["LINKAGE_DATA_DIR"] = str(tmp_path)
    env["LINKAGE_PUBLIC_REQUESTS_PER_MINUTE"] = "3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkage_hub.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        plain = [httpx.get(f"{base}/public/assets/public.css").status_code for _ in range(4)]
        assert plain == [200, 200, 200, 429], plain  # the limit holds for 127.0.0.1 itself
        statuses = [
            httpx.get(
                f"{base}/public/assets/public.css",
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            ).status_code
            for n in range(1, 7)
        ]
        # one address, three a minute, all spent: refused whatever the header says
        assert statuses == [429] * 6, statuses
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
