"""The 12310 case pages of the console: the API's cases for the same caller, the reporter shown
to the handling office only, and the forms working a case through the API's own workflow."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import Console, ConsoleAs
from tests.public.conftest import CITY, province_served
from tests.public.test_cases import NAMED, REPORT, case_id, file, follow
from tests.records import factory as f

__all__ = ["province_served"]

pytestmark = pytest.mark.usefixtures("province_served")

COUNTY = "230104"  # the county the hub holds a unit of: it takes reports about it
ROW = re.compile(r'<a href="/console/cases/([0-9a-f]{32})">')
REPLY = "经核查，已责令整改并追回款项。"


def api_case(client: TestClient, headers: dict[str, str], cid: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{cid}", headers=headers)
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def api_ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get("/api/v1/cases", params={"limit": 1000, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


def listed(console: Console, path: str = "/console/cases") -> list[str]:
    response = console.get(path)
    assert response.status_code == 200, response.text
    return ROW.findall(response.text)


def transition(console: Console, cid: str, **form: str) -> Any:
    return console.post(f"/console/cases/{cid}/transitions", form)


def forms_of(html: str, cid: str) -> bool:
    return f'action="/console/cases/{cid}/' in html


def audit_entries(app: FastAPI, client: TestClient, headers_for: HeadersFor, action: str) -> Any:
    app.state.auth.recorder.flush()  # reads are queued
    response = client.get(
        "/api/v1/audit-log", params={"action": action}, headers=headers_for("audit", CITY)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestTheList:
    def test_it_shows_what_the_api_lists(
        self, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor, database: Any
    ) -> None:
        receipts = [file(client), file(client, NAMED), file(client, REPORT | {"region": COUNTY})]
        cids = [case_id(database, r) for r in receipts]
        office = headers_for("establishment", CITY)
        assert client.post(
            f"/api/v1/cases/{cids[0]}/transitions", json={"to": "accepted"}, headers=office
        ).is_success
        for department in ("establishment", "audit"):
            person = console_as(department, CITY)
            headers = headers_for(department, CITY)
            assert listed(person) == api_ids(client, headers) == cids[::-1]
            assert listed(person, "/console/cases?status=accepted&overdue=&region=") == [cids[0]]
            assert listed(person, f"/console/cases?region={COUNTY}") == [cids[2]]
            assert listed(person, "/console/cases?overdue=true") == []
            page = person.get("/console/cases").text
            assert "12310 案件</a>" in page and "吃空饷" in page
            assert not any(r["tracking_code"] in page for r in receipts)
            assert "李四" not in page and "13800000000" not in page
        county = console_as("establishment", COUNTY)
        assert listed(county) == api_ids(client, headers_for("establishment", COUNTY)) == [cids[2]]


class TestTheHandlingOffice:
    def test_it_works_the_case_through_the_forms(
        self,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
        database: Any,
        app: FastAPI,
    ) -> None:
        receipt = file(client, NAMED)
        cid = case_id(database, receipt)
        office = console_as("establishment", CITY)
        page = office.get(f"/console/cases/{cid}").text
        assert "李四" in page and "13800000000" in page
        assert 'name="to" value="accepted"' in page and 'name="to" value="closed"' not in page
        for step in ({"to": "accepted"}, {"to": "in_progress", "reason": "本级办理"}):
            done = transition(office, cid, **step)
            assert done.status_code == 303, done.text
            assert done.headers["location"] == f"/console/cases/{cid}?done=transition"
        page = office.get(f"/console/cases/{cid}?done=transition").text
        assert "案件状态已更新" in page and 'name="to" value="closed"' in page
        assert transition(office, cid, to="closed", reply=REPLY).status_code == 303
        seen = api_case(client, headers_for("establishment", CITY), cid)
        assert (seen["status"], seen["reply"]) == ("closed", REPLY)
        actor = f"user:{office.username}"
        assert [(s["action"], s["actor"]) for s in seen["steps"]] == [
            ("filed", "public"), ("accepted", actor), ("in_progress", actor), ("closed", actor),
        ]  # fmt: skip
        followed = follow(client, receipt).json()
        assert (followed["status"], followed["reply"]) == ("closed", REPLY)
        page = office.get(f"/console/cases/{cid}").text
        assert REPLY in page and f'action="/console/cases/{cid}/transitions"' not in page
        steps = audit_entries(app, client, headers_for, "case.transition")
        assert {e["actor"] for e in steps} == {actor} and len(steps) == 3
        reveals = audit_entries(app, client, headers_for, "case.contact_read")
        assert (actor, cid) in {(e["actor"], e["target_id"]) for e in reveals}  # and the API's

    def test_a_link_to_a_unit_of_the_region(
        self, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor, database: Any
    ) -> None:
        unit = f.unit(1)
        office_api = headers_for("establishment", CITY)
        pushed = client.post(
            "/api/v1/datasets/units/batches", json={"records": [unit]}, headers=office_api
        )
        assert pushed.status_code == 201, pushed.text
        cid = case_id(database, file(client))
        office = console_as("establishment", CITY)
        linked = office.post(f"/console/cases/{cid}/links", {"unit_code": unit["unit_code"]})
        assert linked.headers["location"] == f"/console/cases/{cid}?done=link"
        assert [x["target"] for x in api_case(client, office_api, cid)["links"]] == [
            unit["unit_code"]
        ]
        both = office.post(f"/console/cases/{cid}/links", {"unit_code": "", "finding_id": ""})
        assert both.status_code == 422 and both.headers["content-type"].startswith("text/html")

    def test_a_bad_form_is_a_422_page_and_changes_nothing(
        self, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor, database: Any
    ) -> None:
        cid = case_id(database, file(client))
        office = console_as("establishment", CITY)
        for step in ("accepted", "in_progress"):
            assert transition(office, cid, to=step).status_code == 303
        before = api_case(client, headers_for("establishment", CITY), cid)
        for form in ({"to": "closed"}, {"to": "closed", "reply": "  "}, {"to": "nonsense"}):
            refused = transition(office, cid, **form)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("text/html")
        assert transition(office, cid, to="accepted").status_code == 409  # wrong status
        assert api_case(client, headers_for("establishment", CITY), cid) == before


class TestOthers:
    def test_an_office_above_reads_without_the_reporter_and_cannot_act(
        self, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor, database: Any
    ) -> None:
        cid = case_id(database, file(client, NAMED | {"region": COUNTY}))
        # The county's office is in the hub (without one, the city would work the case:
        # tests/public/test_case_without_office.py).
        county = headers_for("establishment", COUNTY)
        city = console_as("establishment", CITY)
        page = city.get(f"/console/cases/{cid}")
        assert page.status_code == 200
        assert "李四" not in page.text and "13800000000" not in page.text
        assert "已留联系方式" in page.text and not forms_of(page.text, cid)
        refused = transition(city, cid, to="accepted")
        assert refused.status_code == 403 and refused.headers["content-type"].startswith(
            "text/html"
        )
        assert api_case(client, county, cid)["status"] == "received"
        assert len(api_case(client, county, cid)["steps"]) == 1

    def test_audit_reads_without_the_reporter(
        self, console_as: ConsoleAs, client: TestClient, database: Any
    ) -> None:
        cid = case_id(database, file(client, NAMED))
        page = console_as("audit", CITY).get(f"/console/cases/{cid}")
        assert page.status_code == 200 and "某单位有人长期不上班仍领工资" in page.text
        assert "李四" not in page.text and "13800000000" not in page.text
        assert not forms_of(page.text, cid)

    def test_other_departments_get_a_403_page(
        self, console_as: ConsoleAs, client: TestClient, database: Any
    ) -> None:
        cid = case_id(database, file(client, NAMED))
        hr = console_as("hr", CITY)
        assert "/console/cases" not in hr.get("/console/").text  # not in the navigation
        for path in ("/console/cases", f"/console/cases/{cid}"):
            refused = hr.get(path)
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("text/html")
        assert transition(hr, cid, to="accepted").status_code == 403

    def test_a_sibling_county_does_not_find_it(
        self, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor, database: Any
    ) -> None:
        cid = case_id(database, file(client, NAMED | {"region": COUNTY}))
        sibling = console_as("establishment", "230103")
        assert sibling.get(f"/console/cases/{cid}").status_code == 404
        assert listed(sibling) == []
        assert transition(sibling, cid, to="accepted").status_code == 404
        assert sibling.get(f"/console/cases?region={COUNTY}").status_code == 404
        status = api_case(client, headers_for("establishment", COUNTY), cid)["status"]
        assert status == "received"
