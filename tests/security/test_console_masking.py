"""API3 in the console: ID numbers shown or logged in full outside a person page's audited
"show" — typed by people into free text beside the masked fields (a reporter's unit name, a
case step's reason, a waiver's document number), into a report form's address in groups (the
access log), or asked of the problem list by address."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as, demo_city
from tests.console.test_findings import api_findings
from tests.records import factory as f
from tests.records.conftest import Push
from tests.security.regions import CITY, SPREAD, Regions

NUMBER = f.id_number(7)  # 230102 19800101 007x
LIVE = re.compile(r'id="live-total"><a href="[^"]*"><span class="n">(\d+)</span>')


def _digits_in(text: str, number: str) -> bool:
    """The number's digits, in one run or in groups split by anything that is not a digit."""
    sep = r"[^0-9]{0,3}"
    return re.search(sep.join(re.escape(c) for c in number), text) is not None


__all__ = ["console_as", "demo_city"]  # the fixtures


@pytest.mark.usefixtures("province_served")
class TestAReportersUnitName:
    def test_an_id_number_typed_as_the_unit_name_is_masked(
        self, client: TestClient, database: Database, console_as: ConsoleAs
    ) -> None:
        """The reporter's facts are masked on the case page (tests/security/
        test_console_cases.py); the unit name is the same reporter's free text, shown beside
        them on the list and the page, and shown in full."""
        filed = client.post(
            "/public/v1/reports",
            json={
                "category": "ghost_pay",
                "region": "230100",
                "unit_name": f"某局（当事人身份证号 {NUMBER}）",
                "facts": "有人吃空饷。",
            },
        )
        assert filed.status_code == 201, filed.text
        with database.transaction() as session:
            case_id = session.scalar(
                select(Case.id).where(Case.tracking_code == filed.json()["tracking_code"])
            )
        for reader in (console_as("establishment", "230100"), console_as("audit", "230100")):
            listed = reader.get("/console/cases")
            assert listed.status_code == 200
            assert case_id in listed.text
            page = reader.get(f"/console/cases/{case_id}")
            assert page.status_code == 200
            assert "某局" in page.text
            assert NUMBER not in listed.text
            assert NUMBER not in page.text


class TestAWaiversDocumentNumber:
    def test_an_id_number_in_a_document_number_is_masked(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Reasons are masked in the history table (``h.reason|masked``), the document number
        beside them, typed into the same waiver form, is not."""
        office = console_as("establishment", "230102")
        finding = api_findings(
            client, headers_for("establishment", "230100"), region="230102", status="open"
        )[0]
        path = f"/console/findings/{finding['id']}"
        waived = office.post(
            f"{path}/transitions",
            {"to": "waived", "reason": f"经查 {NUMBER} 已调出", "document_no": f"编发{NUMBER}号"},
        )
        assert waived.status_code == 303, waived.text
        page = office.get(path)
        assert page.status_code == 200
        assert "编发" in page.text
        assert NUMBER not in page.text


class TestTheReportFormsInTheAccessLog:
    @pytest.fixture
    def leader(self, push: Push) -> str:
        assert push("units", [f.unit(1)]).status_code == 201
        assert push("cadres", [f.cadre(7)]).status_code == 201
        return NUMBER

    def test_a_number_typed_in_groups_is_masked_in_the_log(
        self, leader: str, console_as: ConsoleAs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The report page's forms are GET forms: the number a person types into 离任审计 or
        问题清单 goes into the address, which the access log writes with every ID number
        masked. Typed as people write it on paper ("230102 19800101 007x"), a browser sends the
        spaces as '+', which the log's decoding keeps: the line holds the number in full."""
        officer = console_as("audit", "230100")
        grouped = f"{leader[:6]} {leader[6:14]} {leader[14:]}"
        capsys.readouterr()
        officer.get(  # now refused (405: a posted form), still logged
            "/console/reports/tenure",
            params={"id_number": grouped, "unit_code": f.unit_code(1), "format": "csv"},
        )
        officer.get("/console/reports/discrepancies", params={"id_number": grouped})
        logged = capsys.readouterr()
        lines = [
            json.loads(line)
            for line in (logged.err + logged.out).splitlines()
            if line.startswith("{") and '"request"' in line
        ]
        targets = [x["target"] for x in lines if x.get("route", "").startswith("/console/reports")]
        assert len(targets) == 2
        for target in targets:
            assert not _digits_in(target, leader), target


class TestNoIdNumberInAConsoleAddress:
    def test_the_discrepancy_download_takes_no_id_number_in_its_address(
        self, leader_pushed: None, console_as: ConsoleAs
    ) -> None:
        """The findings list refuses ``?id_number=`` ("ID numbers do not go into console
        addresses; search on /console/persons"); the console's discrepancy download, one link
        away, takes it and answers with that person's findings."""
        officer = console_as("audit", "230100")
        refused = officer.get("/console/findings", params={"id_number": NUMBER})
        assert refused.status_code == 422
        download = officer.get("/console/reports/discrepancies", params={"id_number": NUMBER})
        assert download.status_code == 422

    def test_the_overview_refuses_an_id_number_in_its_address(
        self, regions: Regions, console_as: ConsoleAs
    ) -> None:
        """The overview (``/console/``) reads the same discrepancy filters as the findings list
        and never refused ``?id_number=``: it answered with that one person's live findings
        (counts by rule, department and unit) instead of the region's — a person looked up by
        URL, outside the person search's POST. Now the 422 of the list, from the same
        dependency (``forms.no_id_number``)."""
        officer = console_as("audit", CITY)
        assert officer.get("/console/findings", params={"id_number": SPREAD}).status_code == 422
        overview = officer.get("/console/", params={"id_number": SPREAD})
        region = officer.get("/console/")
        assert overview.status_code == 422, (
            overview.status_code,
            LIVE.findall(overview.text),
            LIVE.findall(region.text),
        )
        assert SPREAD not in overview.text
        assert LIVE.findall(region.text)  # the region's overview still answers

    def test_the_report_page_puts_no_id_number_field_in_a_get_form(
        self, console_as: ConsoleAs
    ) -> None:
        """The problem list's form had one (now none: the person search has a person's
        findings); the tenure form had one (now posted)."""
        page = console_as("audit", "230100").get("/console/reports")
        assert page.status_code == 200
        forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", page.text, re.S)
        assert len([f for f in forms if 'name="id_number"' in f[1]]) == 1  # the tenure form
        for attributes, body in forms:
            if 'name="id_number"' in body:
                assert 'method="post"' in attributes, attributes


@pytest.fixture
def leader_pushed(push: Push) -> None:
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("cadres", [f.cadre(7)]).status_code == 201


@pytest.mark.usefixtures("province_served")
class TestACasesStepReasons:
    def test_an_id_number_in_an_extension_reason_is_masked_in_the_steps_too(
        self, client: TestClient, database: Database, console_as: ConsoleAs
    ) -> None:
        """The case page masks the extension reason where it states it (延期理由,
        ``extension_reason|masked``) and prints the very same text in full a few lines below,
        in the steps table (办理记录 · 说明), as every step's reason typed into a form."""
        filed = client.post(
            "/public/v1/reports",
            json={"category": "ghost_pay", "region": "230100", "facts": "有人吃空饷。"},
        )
        assert filed.status_code == 201, filed.text
        with database.transaction() as session:
            case_id = session.scalar(
                select(Case.id).where(Case.tracking_code == filed.json()["tracking_code"])
            )
        office = console_as("establishment", "230100")
        path = f"/console/cases/{case_id}"
        for form in (
            {"to": "accepted"},
            {"to": "in_progress", "reason": f"核查当事人 {NUMBER} 的在编情况"},
            {"to": "extended", "reason": f"需调取 {NUMBER} 的工资档案"},
        ):
            done = office.post(f"{path}/transitions", form)
            assert done.status_code == 303, (form, done.text)
        page = office.get(path)
        assert page.status_code == 200
        assert "需调取" in page.text and "核查当事人" in page.text
        assert NUMBER not in page.text
        assert NUMBER not in console_as("audit", "230100").get(path).text
