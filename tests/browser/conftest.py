"""A real hub on a real port and a real headless Chromium (Debian's, driven through its
chromedriver by Selenium) with JavaScript off and every host but 127.0.0.1 unreachable: what
the pages show, they show without scripts and without the internet.

``.ci/run`` installs ``chromium`` and ``chromium-driver`` when missing; outside CI the tests
are skipped on a machine without them. ``LINKAGE_SCREENSHOTS=<dir>`` keeps a screenshot of each
page the tests visit (the README's come from there).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.net import free_port
from tests.public.conftest import city, publish

__all__ = ["city", "publish"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """One database is enough to drive pages; the API tests cover both."""
    return str(request.param)


@pytest.fixture
def served(app: FastAPI, client: object) -> Iterator[str]:
    """The test's app (lifespan already run by ``client``) on a real port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def _chromium(profile: Path, *, javascript: bool) -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing (.ci/run installs them)")
        pytest.skip("no chromium here: apt install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
        # Nothing but the hub resolves: an asset from elsewhere would fail to load.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """JavaScript off: the public pages must work without it."""
    yield from _chromium(tmp_path / "profile", javascript=False)


@pytest.fixture
def scripted_browser(tmp_path: Path) -> Iterator[object]:
    """JavaScript on (the API docs are script applications)."""
    yield from _chromium(tmp_path / "profile-js", javascript=True)


def snap(driver: object, name: str, height: int | None = None) -> None:
    """Keep a full-page screenshot when ``LINKAGE_SCREENSHOTS`` names a folder (``height``:
    only the top of a long page, in CSS pixels)."""
    folder = os.environ.get("LINKAGE_SCREENSHOTS")
    if not folder:
        return
    import base64

    Path(folder).mkdir(parents=True, exist_ok=True)
    cdp = driver.execute_cdp_cmd  # type: ignore[attr-defined]
    size = cdp("Page.getLayoutMetrics", {})["cssContentSize"]
    tall = size["height"] if height is None else min(height, size["height"])
    clip = {"x": 0, "y": 0, "width": size["width"], "height": tall, "scale": 1}
    shot = cdp(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    (Path(folder) / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
