"""The overview: its figures are the API's summary of live findings, and each figure's link
pages exactly the findings it counts."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs

API = "/api/v1/discrepancies"


def card(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}"[^>]*>.*?<span class="n">(\d+)</span>', html, re.S)
    assert match, element_id
    return int(match.group(1))


def listed(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = client.get(API, params=query, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def test_the_overview_shows_the_apis_live_counts(
    client: TestClient, console_as: ConsoleAs, headers_for: HeadersFor, demo_city: Any
) -> None:
    person = console_as("audit", "230100")
    api = headers_for("audit", "230100")
    summary = client.get(f"{API}/summary", params={"live": "true"}, headers=api).json()
    page = person.get("/console/")
    assert page.status_code == 200
    html = page.text
    assert card(html, "live-total") == summary["live"] == len(listed(client, api, live="true"))
    assert summary["live"] > 0
    for c in summary["by_severity"]:
        assert card(html, f"severity-{c['key']}") == c["count"]
    assert card(html, "ageing-30") == summary["ageing"]["over_30"]
    # Every rule row links to a list that pages exactly its count.
    rows = re.findall(r'<a href="/console/findings\?([^"]+)">(\d+)</a>', html)
    assert rows
    checked = 0
    for query, shown in rows:
        params = dict(parse_qsl(query.replace("&amp;", "&")))
        assert params["live"] == "true"
        assert len(listed(client, api, **params)) == int(shown), params
        checked += 1
    assert checked >= len(summary["by_rule"])
    by_rule = {c["key"]: c["count"] for c in summary["by_rule"]}
    assert {k for k, v in by_rule.items() if v} == {
        dict(parse_qsl(q.replace("&amp;", "&")))["rule"] for q, _ in rows if "rule=" in q
    }


def test_a_county_overview_counts_its_county_only(
    client: TestClient, console_as: ConsoleAs, headers_for: HeadersFor, demo_city: Any
) -> None:
    city = console_as("audit", "230100").get("/console/").text
    county = console_as("establishment", "230102").get("/console/").text
    sibling = console_as("establishment", "230103").get("/console/").text
    api = headers_for("establishment", "230102")
    assert card(county, "live-total") == len(listed(client, api, live="true"))
    assert card(county, "live-total") < card(city, "live-total")
    assert card(county, "live-total") + card(sibling, "live-total") <= card(city, "live-total")
    # Units of the sibling county never appear on the county's overview.
    assert "/console/units/" in county
    for code in re.findall(r'href="/console/units/([0-9A-Z]{18})"', county):
        assert code[2:8] != "230103", code


def test_the_live_filter_selects_what_the_statuses_say(
    client: TestClient, headers_for: HeadersFor, demo_city: Any
) -> None:
    api = headers_for("audit", "230000")
    everything = listed(client, api)
    live = listed(client, api, live="true")
    resolved = listed(client, api, live="false")
    assert {i["status"] for i in live} <= {"open", "reopened", "acknowledged", "waived"}
    assert {i["status"] for i in resolved} <= {"resolved"}
    assert len(live) + len(resolved) == len(everything)
    bad = client.get(API, params={"live": "perhaps"}, headers=api)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "live"


def test_the_overview_links_keep_the_region_filter(console_as: ConsoleAs, demo_city: Any) -> None:
    page = console_as("audit", "230100").get("/console/", params={"region": "230102"}).text
    links = re.findall(r'href="(/console/findings\?[^"]+)"', page)
    assert links
    for link in links:
        assert dict(parse_qsl(urlsplit(link.replace("&amp;", "&")).query))["region"] == "230102"
    outside = console_as("audit", "230102").get("/console/", params={"region": "abc"})
    assert outside.status_code == 422
    assert outside.headers["content-type"].startswith("text/html")
