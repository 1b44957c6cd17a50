"""Every asset from the hub itself: with every host but 127.0.0.1 unresolvable (the browser
fixture's resolver rules), the landing page, Swagger UI and ReDoc render in full."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import snap


def failed_loads(driver: Any) -> list[str]:
    """Console errors of resources that did not load (a CDN the browser cannot reach)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and ("ERR_" in entry["message"] or "Refused" in entry["message"])
    ]


def test_the_landing_page_and_the_api_docs_need_no_internet(
    scripted_browser: Any, served: str
) -> None:
    browser = scripted_browser
    browser.get(f"{served}/")
    links = {
        a.get_attribute("href").removeprefix(served)
        for a in browser.find_elements(By.TAG_NAME, "a")
    }
    assert {"/public/", "/public/12310", "/console/", "/docs", "/redoc"} <= links
    snap(browser, "landing")

    browser.get(f"{served}/docs")
    title = WebDriverWait(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title"))
    )
    assert "linkage-hub" in title.text
    WebDriverWait(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-tag-section"))
    )
    snap(browser, "docs")
    assert failed_loads(browser) == []

    browser.get(f"{served}/redoc")
    heading = WebDriverWait(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".api-info h1"))
    )
    assert "linkage-hub" in heading.text
    assert failed_loads(browser) == []
