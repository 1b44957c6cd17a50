"""Attacks on the console's 12310 pages (API1 and API3 through the browser): the reporter's name
and phone read by anyone but the office handling the case, and a step forged from another site
(a form post without the session's CSRF token), and an ID number the reporter typed into the
facts shown in full.

The reporter's contact is the one thing of a case that must never leave the handling office: a
crawl of every case page an office above, audit and a sibling county can reach finds it
nowhere.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor
from tests.console.conftest import Console, ConsoleAs, console_as
from tests.records import factory as f

__all__ = ["console_as"]

pytestmark = pytest.mark.usefixtures("province_served")

CITY, COUNTY = "230100", "230104"
LINK = re.compile(r'href="(/console/[^"?#]+)"')
CONTACTS = [("王秘密", "13911112222"), ("赵匿名", "13733334444")]


def _file(client: TestClient, database: Database, region: str, name: str, phone: str) -> str:
    body = {
        "category": "ghost_pay",
        "region": region,
        "facts": "有人吃空饷。",
        "contact": {"name": name, "phone": phone},
    }
    response = client.post("/public/v1/reports", json=body)
    assert response.status_code == 201, response.text
    code = response.json()["tracking_code"]
    with database.transaction() as session:
        return str(session.scalar(select(Case.id).where(Case.tracking_code == code)))


@pytest.fixture
def named_cases(client: TestClient, database: Database) -> list[str]:
    """A named case of the county (handled there) and one of the city (handled by the city)."""
    county_case = _file(client, database, COUNTY, *CONTACTS[0])
    city_case = _file(client, database, CITY, *CONTACTS[1])
    return [county_case, city_case]


def _crawl(console: Console) -> dict[str, str]:
    """Every console case page the person reaches from the list, and the overview."""
    pages: dict[str, str] = {}
    queue = ["/console/", "/console/cases", "/console/cases?status=received"]
    while queue:
        path = queue.pop()
        if path in pages:
            continue
        response = console.get(path)
        pages[path] = response.text
        if response.status_code == 200:
            queue += [p for p in LINK.findall(response.text) if p.startswith("/console/cases/")]
    return pages


class TestNoReporterButForTheHandlingOffice:
    def test_a_crawl_finds_no_contact(
        self,
        named_cases: list[str],
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        county_case, city_case = named_cases
        # The county's office is in the hub, so it handles the county's case (a county without
        # one has its cases worked by the city: tests/public/test_case_without_office.py).
        handler = console_as("establishment", COUNTY)
        city_office = console_as("establishment", CITY)  # handles its own case, not the county's
        for viewer, seen in (
            (city_office, {county_case, city_case}),
            (console_as("audit", CITY), {county_case, city_case}),
            (console_as("establishment", "230103"), set()),  # a sibling of the county
            (console_as("audit", COUNTY), {county_case}),
        ):
            pages = _crawl(viewer)
            reached = {p.rsplit("/", 1)[1] for p in pages if p.startswith("/console/cases/")}
            assert seen <= reached, (viewer.username, reached)
            for path, text in pages.items():
                for contact in CONTACTS:
                    if (
                        viewer is city_office
                        and path.endswith(city_case)
                        and contact == CONTACTS[1]
                    ):
                        continue  # the city's own reporter, on the city's own case
                    name, phone = contact
                    assert name not in text and phone not in text, (viewer.username, path)
        assert CONTACTS[1][1] in city_office.get(f"/console/cases/{city_case}").text
        assert CONTACTS[0][1] in handler.get(f"/console/cases/{county_case}").text


class TestNoStepWithoutTheForm:
    def test_a_transition_without_the_csrf_token_is_refused(
        self,
        named_cases: list[str],
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        county_case = named_cases[0]
        office = console_as("establishment", COUNTY)
        path = f"/console/cases/{county_case}/transitions"
        forged: list[dict[str, Any]] = [
            {"to": "accepted"},
            {"to": "accepted", "csrf_token": "0" * 64},
        ]
        for data in forged:
            response = office.browser.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, response.text
            assert CONTACTS[0][1] not in response.text
        link = office.browser.post(
            f"/console/cases/{county_case}/links", data={"unit_code": "X"}, follow_redirects=False
        )
        assert link.status_code == 403
        detail = client.get(
            f"/api/v1/cases/{county_case}", headers=headers_for("establishment", COUNTY)
        ).json()
        assert detail["status"] == "received" and len(detail["steps"]) == 1
        assert office.post(path, {"to": "accepted"}).status_code == 303  # the real form works


class TestNumbersTypedIntoTheFacts:
    def test_an_id_number_in_a_reporters_facts_is_masked_on_the_case_page(
        self, client: TestClient, database: Database, console_as: ConsoleAs
    ) -> None:
        """A reporter names the person by ID number (the facts are sealed at rest for that
        reason): the case page masks it for every office that reads the case, as the console
        masks every number outside a person page's audited "show"; the line breaks stay."""
        number = f.id_number(5, region="230102")
        facts = f"单位某某（身份证号 {number}）\n长期不上班但照常领工资。<b>"
        filed = client.post(
            "/public/v1/reports", json={"category": "ghost_pay", "region": CITY, "facts": facts}
        )
        assert filed.status_code == 201, filed.text
        with database.transaction() as session:
            case_id = session.scalar(
                select(Case.id).where(Case.tracking_code == filed.json()["tracking_code"])
            )
        for reader in (console_as("establishment", CITY), console_as("audit", CITY)):
            page = reader.get(f"/console/cases/{case_id}")
            assert page.status_code == 200
            assert number not in page.text
            assert (
                f"（身份证号 {mask_citizen_id(number)}）<br>长期不上班但照常领工资。&lt;b&gt;"
                in (page.text)
            )
