"""API3 in the console: ID numbers shown or logged in full outside a person page's audited
"show" — typed by people into free text beside the masked fields (a reporter's unit name, a
case step's reason, a waiver's document number), written by a department's system into a
record's free text (a 控编单编号, a 批准文号, a 职务, a unit's name), into a report form's
address in groups (the access log), or asked of the overview or the problem list by address."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from linkage_hub.privacy.masking import mask_text
from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as, demo_city
from tests.console.test_findings import api_findings
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push
from tests.security.regions import CITY, SPREAD, Regions

NUMBER = f.id_number(7)  # 230102 19800101 007x
OTHER = f.id_number(8)
REF = re.compile(r'name="ref" value="([^"]+)"')
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


def _ran(client: TestClient, headers_for: HeadersFor) -> None:
    run = run_and_wait(client, headers_for("establishment", "230100"), region="230100")
    assert run["status"] == "succeeded", run


def _finding(client: TestClient, headers_for: HeadersFor, rule: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = client.get(
        "/api/v1/discrepancies",
        params={"rule": rule},
        headers=headers_for("establishment", "230100"),
    ).json()["items"]
    (finding,) = items
    return finding


class TestARecordsFreeText:
    """ID numbers a departmental system wrote into a record's free-text field were shown in
    full on console pages, beside the same number masked: the evidence cards of a finding and
    the record cards of a person page masked only the field named ``id_number`` (now every
    field but the unit codes, ``privacy.masking.mask_text``), and the unit page and the
    overview printed a unit's name as sent."""

    @pytest.fixture
    def typed(self, push: Push) -> None:
        assert push("units", [f.unit(1), f.unit(2)]).status_code == 201
        # a clerk typed the person's ID number into the quota notice number (控编单编号), on
        # two units' rosters: DUPLICATE_ESTABLISHMENT
        roster = [f.roster(7, unit, quota_notice_no=f"控编{NUMBER}") for unit in (1, 2)]
        assert push("roster", roster).status_code == 201
        # and someone else's into the cadre's position (职务)
        assert push("cadres", [f.cadre(7, position=f"科员（原{OTHER}）")]).status_code == 201

    def test_a_findings_evidence_card_masks_a_number_typed_into_a_record(
        self,
        typed: None,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
    ) -> None:
        _ran(client, headers_for)
        finding = _finding(client, headers_for, "DUPLICATE_ESTABLISHMENT")
        page = console_as("establishment", "230100").get(f"/console/findings/{finding['id']}")
        assert page.status_code == 200
        assert "控编" in page.text  # the card shows the field
        assert NUMBER not in page.text  # ... but not the number in full: no "show" was asked
        assert f.unit_code(1) in page.text  # a unit code is a code, never masked

    def test_a_unit_code_of_digits_alone_is_shown_as_it_is(self) -> None:
        """A unified social credit code may be 18 digits: a code, never masked as a number."""
        code = "123201004660000007"
        assert mask_text("unit_code", code) == code
        assert mask_text("parent_code", code) == code
        assert code not in mask_text("quota_notice_no", code)

    def test_a_person_page_masks_a_number_in_a_record_field_without_show(
        self, typed: None, console_as: ConsoleAs
    ) -> None:
        """The number at the top is masked until the audited "显示完整身份证号"; the card
        beside it gave it away unlogged."""
        page = console_as("establishment", "230100").post("/console/persons", {"id_number": NUMBER})
        assert page.status_code == 200, page.text
        assert "控编" in page.text and "科员" in page.text
        assert NUMBER not in page.text
        assert OTHER not in page.text

    def test_show_reveals_the_persons_number_not_the_numbers_in_the_fields(
        self, typed: None, console_as: ConsoleAs
    ) -> None:
        """Decision: "show" is the audited reveal of this person's ``id_number``; a number in a
        record's free text may be anyone's (here another person's, in the 职务) and stays
        masked after it."""
        officer = console_as("organization", "230100")
        masked = officer.post("/console/persons", {"id_number": NUMBER})
        (ref,) = REF.findall(masked.text)
        shown = officer.post("/console/persons", {"ref": ref, "reveal": "1"})
        assert shown.status_code == 200, shown.text
        assert NUMBER in shown.text  # the person's own number, revealed
        assert "科员" in shown.text
        assert OTHER not in shown.text

    def test_an_over_quota_findings_evidence_masks_the_quotas_document_number(
        self, push: Push, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        """The 批准文号 (document_no) the project masks on the public face and in the
        console's disclosure preview was shown in full on the finding page's evidence card."""
        assert push("units", [f.unit(1)]).status_code == 201
        quota = {
            "unit_code": f.unit_code(1),
            "establishment_type": "institutional",
            "approved": 1,
            "document_no": f"编发{NUMBER}号",
        }
        assert push("quotas", [quota]).status_code == 201
        assert push("roster", [f.roster(7), f.roster(8)]).status_code == 201
        _ran(client, headers_for)
        finding = _finding(client, headers_for, "OVER_QUOTA")
        page = console_as("hr", "230100").get(f"/console/findings/{finding['id']}")
        assert page.status_code == 200
        assert "编发" in page.text  # the quota's card is shown
        assert NUMBER not in page.text

    def test_a_units_name_is_masked_on_the_unit_pages_and_the_overview(
        self, push: Push, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        """The unit page printed the unit's name and its parent's, and the overview's units
        ranked by findings their names, as the registry holds them; the public face masks
        them."""
        parent = f.unit(1, name=f"某局（{NUMBER}）")
        child = f.unit(2, parent_code=f.unit_code(1))
        assert push("units", [parent, child]).status_code == 201
        quota = {"unit_code": f.unit_code(1), "establishment_type": "institutional", "approved": 1}
        assert push("quotas", [quota]).status_code == 201
        assert push("roster", [f.roster(7), f.roster(8)]).status_code == 201  # OVER_QUOTA
        _ran(client, headers_for)
        officer = console_as("establishment", "230100")
        for path in (
            f"/console/units/{f.unit_code(1)}",
            f"/console/units/{f.unit_code(2)}",
            "/console/",
        ):
            page = officer.get(path)
            assert page.status_code == 200, path
            assert "某局" in page.text, path
            assert NUMBER not in page.text, path
