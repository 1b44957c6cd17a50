"""API1 (broken object level authorisation) through the console: a county officer reaches a
sibling county's finding neither by the list nor by its address nor by a form post, and a form
post without the session's CSRF token changes nothing.

The console calls the same services as the API, so the region wall is the same ``WHERE``
clause; these tests prove the pages do not go around it.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.console.pages import HINTS
from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as, demo_city
from tests.console.test_findings import all_ids, api_detail, api_findings

__all__ = ["console_as", "demo_city"]

CITY, COUNTY, SIBLING = "230100", "230102", "230103"


def _county_finding(client: TestClient, headers_for: HeadersFor) -> dict[str, Any]:
    """An open finding of 230102 naming finance, as the city sees it."""
    city = headers_for("finance", CITY)
    items = [
        i
        for i in api_findings(client, city, region=COUNTY, status="open", department="finance")
        if i["region"] == COUNTY
    ]
    assert items
    return api_detail(client, city, items[0]["id"])


def _unchanged(client: TestClient, headers_for: HeadersFor, before: dict[str, Any]) -> None:
    after = api_detail(client, headers_for("finance", CITY), before["id"])
    assert after["status"] == before["status"]
    assert after["history"] == before["history"]
    assert after["comments"] == before["comments"]


class TestASiblingCountysFinding:
    def test_is_not_listed(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        finding = _county_finding(client, headers_for)
        officer = console_as("finance", SIBLING)
        listed = all_ids(officer, "/console/findings")
        assert listed  # the county has findings of its own
        assert finding["id"] not in listed
        # Asked for by region: a 404 page (until 2026-12-07 an empty list), naming nothing.
        asked = officer.get("/console/findings", params={"region": COUNTY})
        assert asked.status_code == 404 and finding["id"] not in asked.text
        # It says in Chinese what a 404 means, as for a county the hub has never heard of.
        unheard = officer.get("/console/findings", params={"region": "230199"})
        assert unheard.status_code == 404
        for page in (asked, unheard):
            assert HINTS[404] in page.text and "No such region." in page.text
        own = console_as("finance", COUNTY)
        assert finding["id"] in all_ids(own, f"/console/findings?rule={finding['rule']}")

    def test_cannot_be_opened_commented_or_transitioned(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        finding = _county_finding(client, headers_for)
        path = f"/console/findings/{finding['id']}"
        for department in ("finance", "establishment", "audit"):
            officer = console_as(department, SIBLING)
            page = officer.get(path)
            assert page.status_code == 404
            assert page.headers["content-type"].startswith("text/html")
            if finding["id_number"]:
                assert finding["id_number"] not in page.text
            assert officer.post(f"{path}/comments", {"body": "越权"}).status_code == 404
            for form in (
                {"to": "acknowledged"},
                {"to": "waived", "reason": "越权", "document_no": "1"},
            ):
                assert officer.post(f"{path}/transitions", form).status_code == 404
        _unchanged(client, headers_for, finding)


class TestAFormWithoutTheCsrfToken:
    def test_is_refused_and_changes_nothing(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        finding = _county_finding(client, headers_for)
        officer = console_as("finance", CITY)
        path = f"/console/findings/{finding['id']}"
        assert officer.get(path).status_code == 200
        for action, form in (
            ("comments", {"body": "伪造"}),
            ("transitions", {"to": "acknowledged"}),
        ):
            for token in ({}, {"csrf_token": "0" * 64}):
                forged = officer.browser.post(
                    f"{path}/{action}", data={**form, **token}, follow_redirects=False
                )
                assert forged.status_code == 403, (action, token)
                assert forged.headers["content-type"].startswith("text/html")
        _unchanged(client, headers_for, finding)
        # the same form with the token goes through
        assert officer.post(f"{path}/transitions", {"to": "acknowledged"}).status_code == 303
