"""The person search: the person across departments by form post, the ID number masked unless
revealed, a reveal logged once in the audit log, and the region wall of the API's person view."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor
from tests.console.conftest import Console, ConsoleAs
from tests.records import factory as f
from tests.records.conftest import Push, push

__all__ = ["push"]

CITY_PERSON, SIBLING_PERSON = f.id_number(1), f.id_number(2)
SIBLING_UNIT = f.unit_code(3, region="230103")
WRONG_CHECK = CITY_PERSON[:17] + ("0" if CITY_PERSON[17] != "0" else "1")
REF = re.compile(r'name="ref" value="([^"]+)"')


@pytest.fixture
def people(push: Push) -> None:
    """Person 1: on the roster, employed and paid in a city unit. Person 2: on the roster of a
    unit of the county 230103 only."""
    assert push("units", [f.unit(1), f.unit(3, region="230103")]).status_code == 201
    roster = [f.roster(1), f.roster(2, 3, region="230103")]
    assert push("roster", roster).status_code == 201
    assert push("employment", [f.employment(1)]).status_code == 201
    scope = {"region": "230100", "period": "2026-10"}
    assert push("payroll", [f.payroll(1)], scope=scope).status_code == 201


def search(console: Console, number: str, **extra: str) -> Any:
    return console.post("/console/persons", {"id_number": number, **extra})


def reveals(client: TestClient, headers_for: HeadersFor, number: str) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/audit-log",
        params={"id_number": number, "action": "person.reveal", "limit": 1000},
        headers=headers_for("audit", "230100"),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestMasked:
    def test_the_number_is_masked_by_default(self, people: None, console_as: ConsoleAs) -> None:
        response = search(console_as("hr", "230100"), CITY_PERSON.lower())
        assert response.status_code == 200, response.text
        html = response.text
        assert mask_citizen_id(CITY_PERSON) in html
        assert CITY_PERSON not in html and CITY_PERSON[:17] not in html
        for heading in ("实名制名册", "干部任职", "人事聘用", "工资发放"):  # side by side
            assert heading in html
        assert "张1" in html and f"/console/units/{f.unit_code(1)}" in html
        assert "显示完整身份证号" in html

    def test_salaries_stay_with_finance_and_audit(
        self, people: None, console_as: ConsoleAs
    ) -> None:
        assert "8532.50" not in search(console_as("hr", "230100"), CITY_PERSON).text
        assert "8532.50" in search(console_as("finance", "230100"), CITY_PERSON).text


class TestReveal:
    def test_reveal_shows_the_number_and_is_logged_once(
        self,
        people: None,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        officer = console_as("establishment", "230100")
        masked = search(officer, CITY_PERSON)
        assert reveals(client, headers_for, CITY_PERSON) == []
        (ref,) = REF.findall(masked.text)
        assert CITY_PERSON not in ref
        shown = officer.post("/console/persons", {"ref": ref, "reveal": "1"})
        assert shown.status_code == 200, shown.text
        assert CITY_PERSON in shown.text
        assert "显示完整身份证号" not in shown.text
        (entry,) = reveals(client, headers_for, CITY_PERSON)
        assert entry["actor"] == f"user:{officer.username}"
        assert entry["department"] == "establishment"
        assert CITY_PERSON not in str(entry)
        assert reveals(client, headers_for, SIBLING_PERSON) == []

    def test_a_search_is_a_read_not_a_reveal(
        self,
        people: None,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
        app: Any,
    ) -> None:
        search(console_as("audit", "230100"), CITY_PERSON)
        app.state.auth.recorder.flush()
        listed = client.get(
            "/api/v1/audit-log",
            params={"id_number": CITY_PERSON, "action": "read"},
            headers=headers_for("audit", "230100"),
        ).json()["items"]
        assert [e["target_id"] for e in listed] == ["POST /console/persons"]
        assert reveals(client, headers_for, CITY_PERSON) == []


class TestTheNumberStaysOutOfAddresses:
    def test_the_search_form_posts(self, console_as: ConsoleAs) -> None:
        page = console_as("organization", "230100").get("/console/persons")
        assert page.status_code == 200
        forms = re.findall(r"<form [^>]*>", page.text)
        searches = [form for form in forms if 'action="/console/persons"' in form]
        assert searches and all('method="post"' in form for form in searches)
        assert 'autocomplete="off"' in page.text

    def test_the_answer_is_a_page_not_a_redirect(self, people: None, console_as: ConsoleAs) -> None:
        response = search(console_as("audit", "230100"), CITY_PERSON)
        assert response.status_code == 200
        assert str(response.url).endswith("/console/persons")
        assert "location" not in response.headers


class TestRegionsAndErrors:
    def test_a_county_cannot_find_a_person_of_the_sibling_county(
        self, people: None, console_as: ConsoleAs
    ) -> None:
        refused = search(console_as("audit", "230102"), SIBLING_PERSON)
        assert refused.status_code == 404
        assert refused.headers["content-type"].startswith("text/html")
        assert SIBLING_UNIT not in refused.text and "张2" not in refused.text
        assert search(console_as("audit", "230103"), SIBLING_PERSON).status_code == 200
        assert search(console_as("audit", "230100"), SIBLING_PERSON).status_code == 200

    @pytest.mark.parametrize("number", ["", "12345", WRONG_CHECK])
    def test_a_bad_number_is_a_422_naming_the_field(
        self, console_as: ConsoleAs, number: str
    ) -> None:
        response = search(console_as("hr", "230100"), number)
        assert response.status_code == 422
        assert "id_number" in response.text
        assert not number or number not in response.text
