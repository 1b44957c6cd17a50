"""ID numbers a departmental system wrote into a record's free-text field (a roster line's
控编单编号, a cadre's 职务) are shown in full on console pages, beside the same number masked.

The console's rule (tests/security/README.md): "the console masks ID numbers everywhere but a
person page after 'show' (audited person.reveal)". The evidence cards of a finding and the
record cards of a person page mask only the field named ``id_number``.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push

NUMBER = f.id_number(7)


def _pushed(push: Push) -> None:
    assert push("units", [f.unit(1), f.unit(2)]).status_code == 201
    # a clerk typed the person's ID number into the quota notice number (控编单编号)
    roster = [
        f.roster(7, unit, quota_notice_no=f"控编{NUMBER}") for unit in (1, 2)
    ]  # on two units' rosters: DUPLICATE_ESTABLISHMENT
    assert push("roster", roster).status_code == 201, "roster"


def test_a_findings_evidence_card_shows_an_id_number_typed_into_a_record(
    push: Push, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
) -> None:
    _pushed(push)
    run = run_and_wait(client, headers_for("establishment", "230100"), region="230100")
    assert run["status"] == "succeeded", run
    items = client.get(
        "/api/v1/discrepancies",
        params={"rule": "DUPLICATE_ESTABLISHMENT"},
        headers=headers_for("establishment", "230100"),
    ).json()["items"]
    (finding,) = [i for i in items if i["id_number"] == NUMBER]
    officer = console_as("establishment", "230100")
    page = officer.get(f"/console/findings/{finding['id']}")
    assert page.status_code == 200
    assert "控编" in page.text  # the card shows the field
    assert NUMBER not in page.text  # ... but not the number in full: no "show" was asked


def test_a_person_page_shows_the_number_in_a_record_field_without_show(
    push: Push, console_as: ConsoleAs
) -> None:
    _pushed(push)
    officer = console_as("establishment", "230100")
    page = officer.post("/console/persons", {"id_number": NUMBER})
    assert page.status_code == 200, page.text
    assert "控编" in page.text
    # the number at the top is masked until the audited "显示完整身份证号"; the card beside it
    # must not give it away unlogged
    assert NUMBER not in page.text


def test_an_over_quota_findings_evidence_shows_an_id_number_in_the_quotas_document_number(
    push: Push, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
) -> None:
    """The 批准文号 (document_no) the project masks on the public face and in the console's
    disclosure preview is shown in full on the finding page's evidence card."""
    assert push("units", [f.unit(1)]).status_code == 201
    quota = {
        "unit_code": f.unit_code(1),
        "establishment_type": "institutional",
        "approved": 1,
        "document_no": f"编发{NUMBER}号",
    }
    assert push("quotas", [quota]).status_code == 201
    assert push("roster", [f.roster(7), f.roster(8)]).status_code == 201
    run = run_and_wait(client, headers_for("establishment", "230100"), region="230100")
    assert run["status"] == "succeeded", run
    items: list[dict[str, Any]] = client.get(
        "/api/v1/discrepancies",
        params={"rule": "OVER_QUOTA"},
        headers=headers_for("establishment", "230100"),
    ).json()["items"]
    (finding,) = items
    page = console_as("hr", "230100").get(f"/console/findings/{finding['id']}")
    assert page.status_code == 200
    assert "编发" in page.text  # the quota's card is shown
    assert NUMBER not in page.text
