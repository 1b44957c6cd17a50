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
    assert region.headers["etag"] and region.headers["cache-control"] == "public, no-cache"
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


def _receipt(page: str) -> tuple[str, str]:
    code = re.search(r'id="receipt-code">([^<]+)<', page)
    secret = re.search(r'id="receipt-secret">([^<]+)<', page)
    assert code and secret, page
    return code.group(1), secret.group(1)


def _token(page: str) -> str:
    found = re.search(r'name="submission" value="([^"]+)"', page)
    assert found, "the form carries no submission token"
    return found.group(1)


def cases_stored(database: Database) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_a_form_sent_twice_files_one_case_and_shows_its_receipt_again(
    client: TestClient, database: Database
) -> None:
    token = _token(client.get("/public/12310").text)
    assert token != _token(client.get("/public/12310").text)  # a token per page
    first = client.post("/public/12310", data=FORM | {"submission": token})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post("/public/12310", data=FORM | {"submission": token})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert _receipt(again.text) == _receipt(first.text) and "此前已经提交" in again.text
    assert again.headers["cache-control"] == "no-store"
    assert cases_stored(database) == 1
    # Another report from the same page (edited after the first was filed) is filed.
    edited = client.post("/public/12310", data=FORM | {"submission": token, "facts": "另一件事"})
    assert edited.status_code == 201 and _receipt(edited.text) != _receipt(first.text)
    # A form without the token (an old page, a script) files each time, as before.
    assert client.post("/public/12310", data=FORM).status_code == 201
    assert client.post("/public/12310", data=FORM).status_code == 201
    assert cases_stored(database) == 4


def test_a_corrected_form_keeps_its_token_and_files_once(
    client: TestClient, database: Database
) -> None:
    token = _token(client.get("/public/12310").text)
    bad = client.post("/public/12310", data=FORM | {"submission": token, "category": ""})
    assert bad.status_code == 422 and _token(bad.text) == token
    fixed = client.post("/public/12310", data=FORM | {"submission": _token(bad.text)})
    again = client.post("/public/12310", data=FORM | {"submission": token})
    assert fixed.status_code == again.status_code == 201
    assert _receipt(fixed.text) == _receipt(again.text) and cases_stored(database) == 1


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


def test_every_publication_in_the_history_can_be_opened(
    client: TestClient, city: City, publish
) -> None:
    """Two publications the same day (a correction after the secrecy review): the region
    page's history linked the earlier one by its day (`?date=`), which opens the latest of
    that day, the later one: the earlier could not be read at all. Now each entry links its
    publication (`?publication=<id>`), and the units on that page link in the same one."""
    first = publish(as_of="2025-12-31")
    second = publish()
    assert first["id"] != second["id"]
    page = client.get(f"/public/disclosures/{CITY}")
    links = re.findall(r'href="(/public/disclosures/\d+\?[^"]+)"', page.text)
    assert links == [f"/public/disclosures/{CITY}?publication={first['id']}"], page.text
    opened = client.get(links[0])
    assert opened.status_code == 200
    assert 'datetime="2025-12-31"' in opened.text, opened.text
    bureau = city.public_code["bureau"]
    unit_link = f"/public/disclosures/{CITY}/units/{bureau}?publication={first['id']}"
    assert f'href="{unit_link}"' in opened.text
    unit = client.get(unit_link)
    assert unit.status_code == 200 and 'datetime="2025-12-31"' in unit.text
    api = client.get(f"/public/v1/disclosures/{CITY}", params={"publication": first["id"]})
    assert api.status_code == 200 and api.json()["as_of"] == "2025-12-31"
    api_unit = client.get(
        f"/public/v1/disclosures/{CITY}/units/{bureau}", params={"publication": first["id"]}
    )
    assert api_unit.status_code == 200 and api_unit.json()["as_of"] == "2025-12-31"


def test_a_dated_page_revalidated_after_a_new_publication_is_not_the_old_page(
    client: TestClient, city: City, publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser holding the region page of a past day revalidates it (If-None-Match) after
    the office publishes again: the page now lists one more publication in its history (the
    body changed), yet the ETag was the publication's and the view's only, so the hub answered
    304 and the browser kept the old page. Now the tag holds the region's newest publication."""
    import datetime as dt

    from linkage_hub.public import disclosures

    monkeypatch.setattr(
        disclosures, "utcnow", lambda: dt.datetime(2026, 1, 10, 3, 0, tzinfo=dt.UTC)
    )
    publish(as_of="2026-01-09")
    monkeypatch.undo()
    path = f"/public/disclosures/{CITY}?date=2026-01-10"
    first = client.get(path)
    assert first.status_code == 200 and 'datetime="2026-01-09"' in first.text
    publish()  # today: the 2026-01-10 page's history gains an entry
    fresh = client.get(path)
    assert fresh.text != first.text  # the page did change
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200, "304 for a page whose content changed"
    same = client.get(path, headers={"If-None-Match": fresh.headers["ETag"]})
    assert same.status_code == 304
