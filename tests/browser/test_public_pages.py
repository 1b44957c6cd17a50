"""The public pages in a real browser: what they show equals the staffing report, and a
12310 report goes in through the form and is followed by its tracking code."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from tests.browser.conftest import snap
from tests.conftest import HeadersFor
from tests.public.conftest import CITY, City


def staffing(client: TestClient, headers_for: HeadersFor) -> dict[str, dict[str, tuple[int, int]]]:
    rows = client.get(
        "/api/v1/reports/staffing", params={"region": CITY}, headers=headers_for("audit", CITY)
    ).json()["items"]
    out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for r in rows:
        out[r["unit_code"]][r["establishment_type"]] = (r["approved"], r["on_roster"])
    return out


def submit(browser: Any, css: str, then: tuple[str, str]) -> None:
    """Click a form's button and wait for the next page's element (a click returns before a
    navigation it starts has finished on a busy machine)."""
    browser.find_element(By.CSS_SELECTOR, css).click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located(then))


def cells(row: Any) -> list[str]:
    return [c.text.strip() for c in row.find_elements(By.CSS_SELECTOR, "th, td")]


TYPE_ZH = {"行政编制": "administrative", "工勤编制": "worker", "事业编制": "institutional"}


def test_the_pages_show_what_the_staffing_report_says(
    browser: Any, served: str, client: TestClient, headers_for: HeadersFor, city: City, publish
) -> None:
    publish()
    report = staffing(client, headers_for)
    browser.get(f"{served}/public/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "机构编制信息公开"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    snap(browser, "public-index")
    browser.find_element(By.LINK_TEXT, CITY).click()
    WebDriverWait(browser, 20).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "table.units"))
    )
    assert browser.current_url.endswith(f"/public/disclosures/{CITY}")
    snap(browser, "public-region")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.units tbody tr")
    shown = {}
    for row in rows:
        _name, code, _kind, _funding, approved, on_roster = cells(row)
        shown[code] = (int(approved), int(on_roster))
    expected = {
        code: (sum(a for a, _ in types.values()), sum(r for _, r in types.values()))
        for code, types in report.items()
        if code not in city.hidden
    }
    # Units without a quota show 0 / 0 and are absent from the report.
    assert {c: v for c, v in shown.items() if v != (0, 0)} == expected
    assert not set(shown) & city.hidden

    browser.find_element(By.LINK_TEXT, "市教育局").click()
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "dl.facts")))
    snap(browser, "public-unit")
    assert browser.find_element(By.TAG_NAME, "h1").text == "市教育局"
    quota_table = browser.find_elements(By.TAG_NAME, "table")[0]
    on_page = {}
    for row in quota_table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        kind, approved, on_roster, _document = cells(row)
        on_page[TYPE_ZH[kind]] = (int(approved), int(on_roster))
    assert on_page == report[city.public_code["bureau"]]
    # The stylesheet came from the hub (no other host resolves): the header is styled.
    header = browser.find_element(By.CSS_SELECTOR, "header.site")
    assert header.value_of_css_property("background-color") == "rgba(155, 28, 28, 1)"
    # Printed, the navigation and the report link go away.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not header.is_displayed()
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    browser.find_element(By.LINK_TEXT, "市第一中学").click()
    WebDriverWait(browser, 20).until(ec.title_contains("市第一中学"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "市第一中学"


def test_a_report_filed_through_the_form_is_followed_by_its_code(
    browser: Any,
    served: str,
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    city: City,
    publish,
) -> None:
    publish()
    unit = city.public_code["bureau"]
    browser.get(f"{served}/public/disclosures/{CITY}/units/{unit}")
    browser.find_element(By.LINK_TEXT, "12310 网上举报").click()  # the unit's own report link
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "unit_code")))
    assert browser.find_element(By.ID, "unit_code").get_attribute("value") == unit
    Select(browser.find_element(By.ID, "category")).select_by_visible_text("吃空饷")
    browser.find_element(By.ID, "unit_name").send_keys("市教育局")
    browser.find_element(By.ID, "facts").send_keys("有两名人员长期不在岗，仍由财政统发工资。")
    browser.find_element(By.ID, "contact_phone").send_keys("13900000000")
    snap(browser, "public-12310-form")
    submit(browser, "form[action='/public/12310'] button", (By.ID, "receipt-code"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "举报已提交"
    code = browser.find_element(By.ID, "receipt-code").text
    secret = browser.find_element(By.ID, "receipt-secret").text
    snap(browser, "public-12310-receipt")

    browser.get(f"{served}/public/12310")
    browser.find_element(By.ID, "tracking_code").send_keys(code)
    submit(browser, "form.inline button", (By.ID, "secret"))
    assert browser.current_url.endswith(f"/public/12310/{code}")
    browser.find_element(By.ID, "secret").send_keys(secret)
    submit(browser, "main form button", (By.ID, "status-label"))
    assert browser.find_element(By.ID, "status-label").text == "已收到，待受理"

    with database.transaction() as session:
        case = session.scalar(select(Case).where(Case.tracking_code == code))
        assert case is not None and case.unit_code == unit
        case_id = case.id
    office = headers_for("establishment", CITY)
    for body in (
        {"to": "accepted"},
        {"to": "in_progress"},
        {"to": "closed", "reply": "经核查，两人已停发工资，违规发放部分已追回。"},
    ):
        response = client.post(f"/api/v1/cases/{case_id}/transitions", json=body, headers=office)
        assert response.status_code == 200, response.text
    browser.get(f"{served}/public/12310/{code}")
    browser.find_element(By.ID, "secret").send_keys(secret)
    submit(browser, "main form button", (By.ID, "status-label"))
    assert browser.find_element(By.ID, "status-label").text == "已办结"
    assert browser.find_element(By.ID, "reply").text.startswith("经核查，两人已停发工资")
    snap(browser, "public-12310-status")


def test_a_bad_form_says_what_to_fix(browser: Any, served: str) -> None:
    browser.get(f"{served}/public/12310")
    browser.find_element(By.ID, "facts").send_keys("只写了事实")
    submit(browser, "form[action='/public/12310'] button", (By.CSS_SELECTOR, ".errors"))
    alert = browser.find_element(By.CSS_SELECTOR, ".errors")
    assert "请选择举报类别" in alert.text and "行政区划代码" in alert.text
    assert browser.find_element(By.ID, "facts").get_attribute("value") == "只写了事实"
    assert browser.find_element(By.ID, "category").get_attribute("aria-invalid") == "true"
