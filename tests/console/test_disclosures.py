"""The console's disclosures: the preview is the API's preview, the publish button is the API's
publish (the same snapshot, audit entry and public answer, with the person as publisher), and
only the establishment office, in its region, reaches either.

The city is tests/public/conftest.py's: a classified bureau with a branch and a section under
it in a county, an abolished unit, a unit over its quota, people in two units."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import ConsoleAs
from tests.public.conftest import CITY, City, city

__all__ = ["city"]

PREVIEW = "/console/disclosures/preview"
UNIT_ROW = re.compile(r'<tr id="u-([0-9A-Z]{18})">')
ROW_ID = re.compile(r'<tr id="d-([0-9a-f]{32})"')


def _api_preview(client: TestClient, headers_for: HeadersFor, region: str) -> dict[str, Any]:
    response = client.get(
        "/api/v1/disclosures/preview",
        params={"region": region},
        headers=headers_for("establishment", CITY),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def publications(client: TestClient, headers_for: HeadersFor) -> list[dict[str, Any]]:
    response = client.get("/api/v1/disclosures", headers=headers_for("establishment", "230000"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class TestThePreview:
    def test_lists_the_units_the_api_would_publish_and_no_hidden_one(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        office = console_as("establishment", CITY)
        page = office.get(PREVIEW, params={"region": CITY, "as_of": ""})
        assert page.status_code == 200, page.text
        api = _api_preview(client, headers_for, CITY)
        assert UNIT_ROW.findall(page.text) == [u["unit_code"] for u in api["units"]]
        assert len(api["units"]) >= 3
        for hidden in city.hidden:
            assert hidden not in page.text
        for name in city.names:
            assert name not in page.text
        # the bureau has four on a roster of three administrative posts: shown as it will be
        assert "个单位在编人数超过核定编制" in page.text
        assert 'name="region" value="230100"' in page.text
        assert f'name="as_of" value="{hub_today().isoformat()}"' in page.text

    def test_shows_functions_and_document_numbers_with_id_numbers_masked(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        """The secrecy review saw names and figures only: a unit's functions and the document
        numbers were published unseen, an ID number typed into them in full. Now the preview
        shows them as they will be published, the number masked."""
        number = city.id_numbers[0]
        bureau = city.units["bureau"] | {"functions": f"负责人 {number} 主持全面工作。"}
        pushed = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [bureau]},
            headers=headers_for("establishment", CITY),
        )
        assert pushed.status_code == 201, pushed.text
        page = console_as("establishment", CITY).get(PREVIEW, params={"region": CITY})
        assert page.status_code == 200, page.text
        assert number not in page.text
        assert f"负责人 {mask_citizen_id(number)} 主持全面工作。" in page.text
        for document_no in ("哈编〔2024〕1号", "哈编〔2023〕9号", "哈编〔2024〕5号"):
            assert document_no in page.text

    def test_of_a_region_without_units_offers_no_publish_button(
        self, city: City, console_as: ConsoleAs
    ) -> None:
        office = console_as("establishment", CITY)
        page = office.get(PREVIEW, params={"region": "230104"})  # no unit registered there
        assert page.status_code == 200, page.text
        assert "没有可公开的单位" in page.text
        assert 'action="/console/disclosures"' not in page.text

    def test_a_date_to_come_is_refused(self, city: City, console_as: ConsoleAs) -> None:
        office = console_as("establishment", CITY)
        page = office.get(PREVIEW, params={"region": CITY, "as_of": "2999-01-01"})
        assert page.status_code == 422
        assert "as_of" in page.text


class TestPublishing:
    def test_publishes_the_apis_snapshot_in_the_persons_name(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        office = console_as("establishment", CITY, username="zhang.bianban")
        preview = _api_preview(client, headers_for, CITY)
        done = office.post("/console/disclosures", {"region": CITY, "as_of": ""})
        assert done.status_code == 303, done.text
        [published] = publications(client, headers_for)
        assert done.headers["location"] == f"/console/disclosures?published={published['id']}"
        assert published["published_by"] == "user:zhang.bianban"
        assert published["as_of"] == hub_today().isoformat()
        public = client.get(f"/public/v1/disclosures/{CITY}").json()
        assert [u["unit_code"] for u in public["units"]] == [
            u["unit_code"] for u in preview["units"]
        ]
        log = client.get(
            "/api/v1/audit-log",
            params={"action": "disclosure.publish"},
            headers=headers_for("audit", "230000"),
        ).json()["items"]
        assert [(e["target_id"], e["actor"]) for e in log] == [
            (published["id"], "user:zhang.bianban")
        ]
        listed = office.get(done.headers["location"])
        assert listed.status_code == 200
        assert ROW_ID.findall(listed.text) == [published["id"]]
        assert "已公开 230100 的机构编制信息" in listed.text
        # the publication itself, not "the one in force that day" (a later one the same day)
        assert f'href="/public/disclosures/{CITY}?publication={published["id"]}"' in listed.text

    def test_a_form_that_does_not_make_the_apis_body_publishes_nothing(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        office = console_as("establishment", CITY)
        for form, field in (
            ({"region": "2301"}, "region"),
            ({"region": CITY, "as_of": "2026-13-40"}, "as_of"),
            ({"region": CITY, "as_of": "2999-01-01"}, "as_of"),
            ({"region": "230199"}, "230199"),  # nothing registered there: a typo
        ):
            refused = office.post("/console/disclosures", form)
            assert refused.status_code == 422, form
            assert refused.headers["content-type"].startswith("text/html")
            assert field in refused.text
        assert publications(client, headers_for) == []

    def test_the_confirmation_names_only_a_listed_publication(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        made = client.post(
            "/api/v1/disclosures",
            json={"region": "230102"},
            headers=headers_for("establishment", "230102"),
        )
        assert made.status_code == 201, made.text
        office = console_as("establishment", CITY)
        page = office.get("/console/disclosures", params={"published": made.json()["id"]})
        assert ROW_ID.findall(page.text) == [made.json()["id"]]
        assert "已公开" in page.text  # the confirmation names what is listed ...
        stranger = office.get("/console/disclosures", params={"published": "<b>x</b>"})
        assert "已公开" not in stranger.text and "<b>x</b>" not in stranger.text  # ... only


class TestWhoReachesIt:
    def test_only_the_establishment_office_sees_the_link_and_the_pages(
        self, city: City, console_as: ConsoleAs
    ) -> None:
        office = console_as("establishment", CITY)
        assert 'href="/console/disclosures"' in office.get("/console/").text
        for department in ("organization", "hr", "finance", "audit"):
            person = console_as(department, CITY)
            assert 'href="/console/disclosures"' not in person.get("/console/").text
            assert person.get("/console/disclosures").status_code == 403
            assert person.get(PREVIEW, params={"region": CITY}).status_code == 403
            assert person.post("/console/disclosures", {"region": CITY}).status_code == 403

    def test_a_county_office_reaches_neither_its_city_nor_a_sibling(
        self, city: City, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        county = console_as("establishment", "230102")
        for region in (CITY, "230103"):
            assert county.get(PREVIEW, params={"region": region}).status_code == 404
            assert county.post("/console/disclosures", {"region": region}).status_code == 404
        assert publications(client, headers_for) == []
        own = county.get(PREVIEW, params={"region": "230102"})
        assert own.status_code == 200
        assert city.units["county_a"]["unit_code"] in own.text
        assert city.units["bureau"]["unit_code"] not in own.text
