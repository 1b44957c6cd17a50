"""The console in a real browser (JavaScript off, no internet): audit and the establishment
office sign in, the overview's figures are the API's, a count leads to its findings, a finding
to its evidence; people comment, acknowledge and download a report; a county officer cannot
reach a sibling county's finding."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import update

from linkage_hub.auth.users import create_user
from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.reconciliation.models import Finding
from linkage_hub.records import demo_data
from tests.browser.conftest import snap
from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import PASSWORD, demo_city
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f

__all__ = ["demo_city"]


@pytest.fixture
def people(database: Database) -> dict[str, str]:
    """username -> (department, region) accounts with the test password."""
    accounts = {
        "shen.audit": ("audit", "230000"),
        "li.office": ("establishment", "230100"),
        "zhou.county": ("establishment", "230103"),
    }
    with database.transaction() as session:
        for username, (department, region) in accounts.items():
            create_user(
                session,
                username=username,
                name={"audit": "沈审计", "establishment": "李编办"}[department],
                department=department,
                region=region,
                password=PASSWORD,
            )
    return {u: d for u, (d, _) in accounts.items()}


def wait_for(browser: Any, css: str) -> Any:
    return WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(browser: Any, served: str, username: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{served}/console/")
    assert "/console/login" in browser.current_url  # signed out: to the sign-in page
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.signin button").click()
    wait_for(browser, "#live-total")


def _gone(page: Any) -> Callable[[Any], bool]:
    """The old page's root is no longer in the document. Chromium may say so with a stale
    element, or — asked in the middle of the navigation — with an inspector error ("Node with
    given id does not belong to the document"), which Selenium does not map to a stale element:
    seen once in CI under load, failing a click that had worked."""

    def check(_driver: Any) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return check


def click(browser: Any, element: Any, then: str) -> None:
    """Click and wait for the next page: the old page going stale says the new one has come.
    A click that lands while the previous page is still settling can be dropped by the
    browser, so an unanswered click is made once more."""
    page = browser.find_element(By.TAG_NAME, "html")
    for attempt in range(3):
        try:
            element.click()
            WebDriverWait(browser, 5 if attempt < 2 else 20).until(_gone(page))
            break
        except TimeoutException:
            continue
        except StaleElementReferenceException:  # the first click did navigate after all
            break
    wait_for(browser, then)


def number(browser: Any, css: str) -> int:
    return int(browser.find_element(By.CSS_SELECTOR, css).text)


def test_audit_drills_from_a_count_to_evidence_comments_and_downloads(
    browser: Any,
    served: str,
    client: TestClient,
    headers_for: HeadersFor,
    demo_city: Any,
    people: dict[str, str],
    tmp_path: Path,
) -> None:
    api = headers_for("audit", "230000")
    run_and_wait(  # a second full run: the overview's trend has two points
        client,
        headers_for("establishment", "230000"),
        region="230000",
        period=demo_data.PERIOD,
        as_of=hub_today().isoformat(),
    )
    summary = client.get(
        "/api/v1/discrepancies/summary", params={"live": "true"}, headers=api
    ).json()
    browser.get(f"{served}/console/login")
    snap(browser, "console-login")
    sign_in(browser, served, "shen.audit")
    snap(browser, "console-dashboard")
    assert number(browser, "#live-total .n") == summary["live"]
    for c in summary["by_severity"]:
        assert number(browser, f"#severity-{c['key']} .n") == c["count"]
    shown = {
        row.find_element(By.CSS_SELECTOR, "th .code").text: int(
            row.find_element(By.CSS_SELECTOR, "td a").text
        )
        for row in browser.find_elements(By.CSS_SELECTOR, "#by-rule tbody tr")
    }
    assert shown == {c["key"]: c["count"] for c in summary["by_rule"]}

    # A count -> the findings it counts -> one finding's evidence.
    rule, count = min(shown.items(), key=lambda kv: kv[1])
    link = browser.find_element(By.CSS_SELECTOR, f"#by-rule a[href*='rule={rule}']")
    click(browser, link, "main table tbody tr")
    snap(browser, "console-findings")
    rows = browser.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert len(rows) == count
    click(
        browser, rows[0].find_element(By.CSS_SELECTOR, "a[href^='/console/findings/']"), "#evidence"
    )
    finding_id = browser.current_url.rsplit("/", 1)[1]
    detail = client.get(f"/api/v1/discrepancies/{finding_id}", headers=api).json()
    assert detail["rule"] == rule
    cards = browser.find_elements(By.CSS_SELECTOR, ".evidence section")
    assert len(cards) == len(detail["evidence"]) > 0
    if detail.get("id_number"):
        assert detail["id_number"] not in browser.page_source  # masked on the page
    snap(browser, "console-finding")

    # A comment through the form lands in the API's thread, by the person, with the ID number
    # typed into it in groups masked as it entered (8fb6783), and so it shows on the page.
    said = "已与财政局核对（230102 19900101 1234），下周会商。"
    kept = "已与财政局核对（2301**********1234），下周会商。"
    browser.find_element(By.ID, "comment-body").send_keys(said)
    click(
        browser,
        browser.find_element(By.CSS_SELECTOR, "form[action$='/comments'] button"),
        ".notice",
    )
    thread = client.get(f"/api/v1/discrepancies/{finding_id}", headers=api).json()["comments"]
    assert [(c["body"], c["client_id"]) for c in thread][-1] == (kept, "user:shen.audit")
    assert "230102 19900101 1234" not in browser.page_source
    assert kept in browser.page_source
    snap(browser, "console-finding-commented")

    # A report download (the staffing report as CSV) equals the API's.
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.get(f"{served}/console/reports")
    wait_for(browser, "form[action='/console/reports/staffing']")
    snap(browser, "console-reports")
    form = browser.find_element(By.CSS_SELECTOR, "form[action='/console/reports/staffing']")
    form.find_element(By.CSS_SELECTOR, "select[name='format'] option[value='csv']").click()
    form.find_element(By.CSS_SELECTOR, "button").click()
    deadline = time.monotonic() + 20
    while not [p for p in tmp_path.glob("*.csv")] and time.monotonic() < deadline:
        time.sleep(0.2)
    [downloaded] = list(tmp_path.glob("*.csv"))
    expected = client.get(
        "/api/v1/reports/staffing", params={"region": "230000", "format": "csv"}, headers=api
    )
    assert list(csv.reader(io.StringIO(downloaded.read_text("utf-8-sig")))) == list(
        csv.reader(io.StringIO(expected.content.decode("utf-8-sig")))
    )

    # The tenure report is a posted form: the leader's ID number never enters an address.
    cadres = client.get(
        "/api/v1/datasets/cadres/records", params={"limit": 1000}, headers=api
    ).json()["items"]
    leader = next(c for c in cadres if c["leader_level"] != "none")
    downloaded.unlink()
    form = browser.find_element(By.CSS_SELECTOR, "form[action='/console/reports/tenure']")
    assert form.get_attribute("method") == "post"
    form.find_element(By.NAME, "id_number").send_keys(leader["id_number"])
    form.find_element(By.NAME, "unit_code").send_keys(leader["unit_code"])
    form.find_element(By.CSS_SELECTOR, "select[name='format'] option[value='csv']").click()
    form.find_element(By.CSS_SELECTOR, "button").click()
    deadline = time.monotonic() + 20
    while not [p for p in tmp_path.glob("*.csv")] and time.monotonic() < deadline:
        time.sleep(0.2)
    [tenure] = list(tmp_path.glob("*.csv"))
    expected = client.get(
        "/api/v1/reports/tenure",
        params={
            "id_number": leader["id_number"],
            "unit_code": leader["unit_code"],
            "format": "csv",
        },
        headers=api,
    )
    assert expected.status_code == 200, expected.text
    assert tenure.read_bytes() == expected.content
    assert leader["id_number"] not in browser.current_url
    assert all(leader["id_number"] not in e["name"] for e in browser.execute_script(
        "return performance.getEntriesByType('navigation').concat("
        "performance.getEntriesByType('resource')).map(e => ({name: e.name}))"
    ))  # fmt: skip


def test_the_office_acknowledges_and_a_county_cannot_reach_its_sibling(
    browser: Any,
    served: str,
    client: TestClient,
    headers_for: HeadersFor,
    demo_city: Any,
    people: dict[str, str],
    database: Database,
) -> None:
    city = headers_for("establishment", "230100")
    items = client.get(
        "/api/v1/discrepancies",
        params={"status": "open", "department": "establishment", "region": "230102", "limit": "1"},
        headers=city,
    ).json()["items"]
    [finding] = items
    sign_in(browser, served, "li.office")
    browser.get(f"{served}/console/findings/{finding['id']}")
    wait_for(browser, "#evidence")
    acknowledge = browser.find_element(
        By.CSS_SELECTOR, "form[action$='/transitions'] input[name='to'][value='acknowledged']"
    ).find_element(By.XPATH, "./ancestor::form")
    click(browser, acknowledge.find_element(By.CSS_SELECTOR, "button"), ".notice")
    after = client.get(f"/api/v1/discrepancies/{finding['id']}", headers=city).json()
    assert after["status"] == "acknowledged"
    assert after["history"][-1]["client_id"] == "user:li.office"
    assert after["responsible_department"] == "establishment"

    # Its due date passes (moved back in the database): overdue on its page and in the list.
    with database.transaction() as session:
        session.execute(
            update(Finding)
            .where(Finding.id == finding["id"])
            .values(due_on=hub_today() - dt.timedelta(days=1))
        )
    browser.get(f"{served}/console/findings/{finding['id']}")
    assert "已逾期" in wait_for(browser, "dl.facts").text
    snap(browser, "console-finding-overdue")
    browser.get(f"{served}/console/findings?overdue=true")
    wait_for(browser, "main h1")
    assert finding["id"] in browser.page_source and "已逾期" in browser.page_source
    snap(browser, "console-findings-overdue")

    # The sibling county's officer: not in the list, 404 for the page, and no form can act.
    sign_in(browser, served, "zhou.county")
    browser.get(f"{served}/console/findings?department=establishment")
    wait_for(browser, "main h1")
    assert finding["id"] not in browser.page_source
    browser.get(f"{served}/console/findings/{finding['id']}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "未找到"
    assert finding["id"] not in browser.find_element(By.TAG_NAME, "main").text
    unchanged = client.get(f"/api/v1/discrepancies/{finding['id']}", headers=city).json()
    assert unchanged["status"] == "acknowledged" and unchanged["comments"] == after["comments"]


def test_the_other_views_render_for_people(
    browser: Any,
    served: str,
    client: TestClient,
    headers_for: HeadersFor,
    demo_city: Any,
    people: dict[str, str],
) -> None:
    """The unit, person and run pages open from the overview's links (screenshots for the
    README), with the person's ID number masked until shown."""
    sign_in(browser, served, "li.office")
    unit_link = browser.find_element(By.CSS_SELECTOR, "#units a[href^='/console/units/']")
    click(browser, unit_link, "main table")
    snap(browser, "console-unit")
    # The office starts a run of its city from the form; the run's page follows.
    browser.get(f"{served}/console/runs")
    start = wait_for(browser, "form[action='/console/runs'][method='post'] button")
    click(browser, start, "main h1")
    run_id = browser.current_url.rsplit("/", 1)[1]
    run = client.get(
        f"/api/v1/reconciliation/runs/{run_id}", headers=headers_for("establishment", "230100")
    )
    assert run.json()["requested_by"] == "user:li.office"
    browser.get(f"{served}/console/runs")
    wait_for(browser, "main table")
    snap(browser, "console-runs")
    api = headers_for("establishment", "230100")
    person = next(
        i
        for i in client.get("/api/v1/discrepancies", params={"limit": "100"}, headers=api).json()[
            "items"
        ]
        if i.get("id_number")
    )
    browser.get(f"{served}/console/persons")
    box = wait_for(browser, "input[name='id_number']")
    box.send_keys(person["id_number"])
    click(
        browser,
        box.find_element(By.XPATH, "./ancestor::form").find_element(By.CSS_SELECTOR, "button"),
        "main h2",
    )
    assert person["id_number"] not in browser.page_source
    assert browser.current_url.removeprefix(served) == "/console/persons"  # no ID in the URL
    snap(browser, "console-person")


def test_a_meeting_decided_from_its_page(
    browser: Any,
    served: str,
    client: TestClient,
    headers_for: HeadersFor,
    demo_city: Any,
    people: dict[str, str],
) -> None:
    """The city's office records a joint meeting's decision on its page, without scripts."""
    office = headers_for("establishment", "230100")
    found = client.get(
        "/api/v1/discrepancies",
        params={"department": "finance", "status": "open", "limit": "3"},
        headers=office,
    ).json()["items"]
    meeting = client.post(
        "/api/v1/meetings",
        json={
            "region": "230100", "held_on": hub_today().isoformat(), "title": "编制核查联席会议",
            "minutes_no": "哈联席〔2026〕9号", "departments": ["finance", "hr"],
            "finding_ids": [f["id"] for f in found],
        },
        headers=office,
    ).json()  # fmt: skip
    sign_in(browser, served, "li.office")
    browser.get(f"{served}/console/meetings")
    click(browser, wait_for(browser, f"a[href='/console/meetings/{meeting['id']}']"), "main h1")
    first = found[0]["id"]
    Select(wait_for(browser, f"select[name='to.{first}']")).select_by_value("acknowledged")
    Select(browser.find_element(By.NAME, f"responsible.{first}")).select_by_value("finance")
    snap(browser, "console-meeting")
    click(
        browser,
        browser.find_element(By.CSS_SELECTOR, "form[action$='/decisions'] button"),
        ".notice",
    )
    after = client.get(f"/api/v1/discrepancies/{first}", headers=office).json()
    assert (after["status"], after["responsible_department"]) == ("acknowledged", "finance")
    assert after["history"][-1]["document_no"] == "哈联席〔2026〕9号"
    snap(browser, "console-meeting-decided")


def test_the_office_reviews_and_publishes_its_disclosure(
    browser: Any,
    served: str,
    client: TestClient,
    headers_for: HeadersFor,
    demo_city: Any,
    people: dict[str, str],
) -> None:
    """信息公开 without scripts: the office opens the preview from the menu, publishes from it,
    and the public page shows the units the preview listed. A unit's functions (an ID number
    typed into them) and document numbers are in the preview for the review, the number
    masked."""
    office = headers_for("establishment", "230100")
    units = client.get("/api/v1/datasets/units/records", headers=office).json()["items"]
    unit = min(
        (u for u in units if u["region"] == "230100" and not u.get("classified")),
        key=lambda u: u["unit_code"],
    )
    number = f.id_number(1)
    keep = ("unit_code", "name", "kind", "funding", "parent_code", "region", "status")
    record = {k: unit[k] for k in keep if unit.get(k) is not None}
    record["functions"] = f"负责人 {number} 主持全面工作。"
    pushed = client.post(
        "/api/v1/datasets/units/batches", json={"records": [record]}, headers=office
    )
    assert pushed.status_code == 201, pushed.text
    sign_in(browser, served, "li.office")
    click(browser, browser.find_element(By.LINK_TEXT, "信息公开"), "main h1")
    assert "尚未公开" in browser.find_element(By.TAG_NAME, "main").text
    preview = browser.find_element(By.CSS_SELECTOR, "form[action$='/preview'] button")
    click(browser, preview, "main table")
    listed = [
        row.get_attribute("id").removeprefix("u-")
        for row in browser.find_elements(By.CSS_SELECTOR, "main tbody tr")
    ]
    assert listed
    shown = browser.find_element(By.TAG_NAME, "main").text
    assert number not in shown and f"负责人 {mask_citizen_id(number)}" in shown
    snap(browser, "console-disclosure-preview", height=1100)
    publish = browser.find_element(By.CSS_SELECTOR, "form[action='/console/disclosures'] button")
    click(browser, publish, ".notice")
    snap(browser, "console-disclosures")
    published = client.get(
        "/api/v1/disclosures", headers=headers_for("establishment", "230100")
    ).json()["items"]
    assert [(p["region"], p["published_by"]) for p in published] == [("230100", "user:li.office")]
    public = client.get("/public/v1/disclosures/230100").json()
    assert sorted(u["unit_code"] for u in public["units"]) == sorted(listed)
    click(browser, browser.find_element(By.LINK_TEXT, "查看公开页面"), "table.units")
    assert browser.current_url.removeprefix(served) == "/public/disclosures/230100"
