"""The public pages through the app (the browser tests drive them in Chromium)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from tests.public.conftest import CITY, City

FORM = {"category": "over_quota_hiring", "region": CITY, "facts": "超编进人十余名。"}

pytestmark = pytest.mark.usefixtures("province_served")


def test_regions_region_and_unit_pages(client: TestClient, city: City, publish) -> None:
    publish()
    index = client.get("/public/")
    assert index.status_code == 200 and 'lang="zh-CN"' in index.text
    assert f'href="/public/disclosures/{CITY}"' in index.text
    region = client.get(f"/public/disclosures/{CITY}")
    assert region.status_code == 200
    assert "市教育局" in region.text and "保密" not in region.text
    assert region.headers["etag"] and "max-age" in region.headers["cache-control"]
    assert "default-src 'none'" in region.headers["content-security-policy"]
    bureau = client.get(f"/public/disclosures/{CITY}/units/{city.public_code['bureau']}")
    assert bureau.status_code == 200
    for text in ("哈编〔2024〕1号", "行政编制", "正职", "市第一中学", "负责全市教育事业发展规划"):
        assert text in bureau.text
    again = client.get(
        f"/public/disclosures/{CITY}", headers={"If-None-Match": region.headers["etag"]}
    )
    assert again.status_code == 304


def test_hidden_and_missing_pages_are_html_404s(client: TestClient, city: City, publish) -> None:
    publish()
    for path in (
        f"/public/disclosures/{CITY}/units/{city.public_code['section']}",
        "/public/disclosures/239900",
        "/public/disclosures/notaregion",
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "未找到" in response.text
    bad_date = client.get(f"/public/disclosures/{CITY}", params={"date": "yesterday"})
    assert bad_date.status_code == 422 and "请求有误" in bad_date.text


def test_the_form_files_a_report_and_the_follow_up_shows_it(
    client: TestClient, database: Database
) -> None:
    form = client.get("/public/12310")
    assert form.status_code == 200 and 'name="facts"' in form.text
    done = client.post("/public/12310", data=FORM)
    assert done.status_code == 201 and done.headers["cache-control"] == "no-store"
    code = re.search(r'id="receipt-code">([^<]+)<', done.text).group(1)  # type: ignore[union-attr]
    secret = re.search(r'id="receipt-secret">([^<]+)<', done.text).group(1)  # type: ignore[union-attr]
    lookup = client.get(
        "/public/12310/lookup", params={"tracking_code": code.lower()}, follow_redirects=False
    )
    assert lookup.status_code == 303 and lookup.headers["location"] == f"/public/12310/{code}"
    ask = client.get(f"/public/12310/{code}")
    assert 'type="password"' in ask.text and secret not in ask.text
    wrong = client.post(f"/public/12310/{code}", data={"secret": "nope"})
    assert wrong.status_code == 404 and "不正确" in wrong.text
    status = client.post(f"/public/12310/{code}", data={"secret": secret})
    assert status.status_code == 200 and "已收到，待受理" in status.text


def test_a_bad_form_comes_back_with_the_errors_and_the_text_kept(
    client: TestClient, database: Database
) -> None:
    response = client.post("/public/12310", data=FORM | {"category": "", "facts": "我的举报内容"})
    assert response.status_code == 422
    assert "请选择举报类别" in response.text and "我的举报内容" in response.text
    assert 'aria-invalid="true"' in response.text
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_honeypot_drops_a_bot_report(client: TestClient, database: Database) -> None:
    response = client.post("/public/12310", data=FORM | {"website": "http://spam.example"})
    assert response.status_code == 200 and "receipt-code" not in response.text
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_hostile_page_inputs_are_answered_not_500(client: TestClient, city: City, publish) -> None:
    publish()
    unit = city.public_code["bureau"]
    paths = [
        f"/public/disclosures/{CITY}?after=%00",
        f"/public/disclosures/{CITY}?after=" + "Z" * 5000,
        f"/public/disclosures/{CITY}?date=9999-99-99",
        f"/public/disclosures/{CITY}?date=0001-01-01",
        f"/public/disclosures/{CITY}/units/" + "A" * 3000,
        f"/public/disclosures/{CITY}/units/%F0%9F%98%80",
        f"/public/disclosures/{CITY}/units/{unit}?date=2026-02-30",
        "/public/disclosures/%00%00%00",
        "/public/12310?region=%00&unit_code=" + "<script>" * 10,
        "/public/12310/lookup?tracking_code=%E2%80%AE",
        "/public/12310/" + "X" * 500,
        "/public/12310/%00",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code < 500, path
        assert "<script>" not in response.text, path
    posts = [
        ("/public/12310", {"category": "ghost_pay", "region": CITY, "facts": "\x00"}),
        ("/public/12310", {"category": "ghost_pay" * 100, "region": "２３０１００", "facts": "x"}),
        ("/public/12310/ABCD-EFGH-JKLM", {}),
    ]
    for path, form in posts:
        response = client.post(path, data=form)
        assert response.status_code < 500, (path, form)
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    for path, body in (
        ("/public/12310/ABCD-EFGH-JKLM", b"secret=%ED%A0%80"),  # a lone surrogate
        ("/public/12310", b"category=ghost_pay&region=230100&facts=%FF%FE"),  # not UTF-8
        ("/public/12310", b"&&&===" * 100),
    ):
        response = client.post(path, content=body, headers=form_type)
        assert response.status_code < 500, (path, body)
