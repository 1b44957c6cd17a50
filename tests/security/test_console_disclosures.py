"""Publishing from the console (信息公开): the forms that make a region's staffing public.

A publication is an act of office that cannot be taken back (the public may have read it), so
the attacks are on who can make one and what it shows:

- a form without this session's CSRF token, with another session's, or from another origin
  publishes nothing (403);
- a county office tampering with the form's region (its city, a sibling, the province) is
  answered as the API answers (404) and publishes nothing; so is every other department (403);
- no console page of the feature — the list, the preview of any region, the error pages —
  shows a classified unit, anything under one, or a person's name or ID number, even to the
  office that may publish;
- what the office typed is never echoed unescaped (the ``published`` parameter names only a
  listed publication, and a refused region appears as text).
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as
from tests.console.test_disclosures import publications
from tests.public.conftest import CITY, City, city
from tests.security.test_public_leaks import assert_clean, forbidden_strings

__all__ = ["city", "console_as"]

PUBLISH = "/console/disclosures"


class TestAForgedPublish:
    def test_without_this_sessions_token_or_from_elsewhere_publishes_nothing(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        office = console_as("establishment", CITY)
        other = console_as("establishment", CITY)
        assert office.get(f"{PUBLISH}/preview", params={"region": CITY}).status_code == 200
        for token in ({}, {"csrf_token": "0" * 64}, {"csrf_token": other.csrf}):
            forged = office.browser.post(
                PUBLISH, data={"region": CITY, **token}, follow_redirects=False
            )
            assert forged.status_code == 403, token
            assert forged.headers["content-type"].startswith("text/html")
        elsewhere = office.browser.post(
            PUBLISH,
            data={"region": CITY, "csrf_token": office.csrf},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert elsewhere.status_code == 403
        assert publications(client, headers_for) == []
        # the same form, from this session and origin, goes through
        assert office.post(PUBLISH, {"region": CITY}).status_code == 303
        assert len(publications(client, headers_for)) == 1


class TestATamperedRegion:
    def test_a_county_office_publishes_neither_its_city_nor_a_sibling_nor_the_province(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        county = console_as("establishment", "230102")
        for region in (CITY, "230103", "230000"):
            refused = county.post(PUBLISH, {"region": region})
            assert refused.status_code == 404, region
            page = county.get(f"{PUBLISH}/preview", params={"region": region})
            assert page.status_code == 404, region
            assert city.units["bureau"]["name"] not in page.text
        for region in ("230100' OR '1'='1", "<script>", "23010２", ""):
            refused = county.post(PUBLISH, {"region": region})
            assert refused.status_code == 422, region
            assert "<script>" not in refused.text
        assert publications(client, headers_for) == []

    def test_no_other_department_publishes_in_its_own_region(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        for department in ("organization", "hr", "finance", "audit"):
            person = console_as(department, CITY)
            assert person.post(PUBLISH, {"region": CITY}).status_code == 403
        assert publications(client, headers_for) == []


def test_no_page_of_the_feature_shows_a_person_or_a_classified_unit(
    city: City, console_as: ConsoleAs
) -> None:
    office = console_as("establishment", CITY)
    county = console_as("establishment", "230102")
    forbidden = forbidden_strings(city)
    pages = {}
    for region in (CITY, "230102", "230103"):
        pages[f"preview {region}"] = office.get(f"{PUBLISH}/preview", params={"region": region})
    pages["county preview"] = county.get(f"{PUBLISH}/preview", params={"region": "230102"})
    done = office.post(PUBLISH, {"region": CITY})
    assert done.status_code == 303
    pages["list"] = office.get(done.headers["location"])
    pages["county list"] = county.get(PUBLISH)
    pages["refused"] = county.post(PUBLISH, {"region": CITY})
    for name, page in pages.items():
        assert page.status_code < 500, name
        assert_clean(name, page, forbidden)
    # the preview is not empty: the bureau, the school and the county units are shown
    assert city.units["bureau"]["unit_code"] in pages[f"preview {CITY}"].text
    assert city.units["county_a"]["unit_code"] in pages["county preview"].text
