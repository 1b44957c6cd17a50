"""The findings pages of the console: the same findings as the API, masked ID numbers, and the
comment and transition forms going through the API's own rules."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.reconciliation.models import Finding
from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import Console, ConsoleAs
from tests.records import factory as f

CITY = "230100"
ROW = re.compile(r'<a href="/console/findings/([0-9a-zA-Z-]+)">')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">下一页</a>')


def page_ids(console: Console, path: str) -> tuple[list[str], str | None]:
    """The findings one list page shows, in order, and its next-page link."""
    response = console.get(path)
    assert response.status_code == 200, response.text
    following = NEXT.search(response.text)
    return ROW.findall(response.text), html.unescape(following.group(1)) if following else None


def all_ids(console: Console, path: str) -> list[str]:
    ids: list[str] = []
    next_path: str | None = path
    while next_path:
        page, next_path = page_ids(console, next_path)
        assert len(page) <= 50
        ids += page
    return ids


def api_findings(
    client: TestClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/discrepancies", params={"limit": 1000, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def api_detail(client: TestClient, headers: dict[str, str], finding_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/discrepancies/{finding_id}", headers=headers)
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


class TestTheList:
    def test_it_shows_what_the_api_lists_page_by_page(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        finance = console_as("finance", CITY)
        expected = [i["id"] for i in api_findings(client, headers_for("finance", CITY))]
        assert len(expected) > 50  # more than one page
        first, following = page_ids(finance, "/console/findings")
        assert first == expected[:50]
        assert following is not None and "cursor=" in following
        assert all_ids(finance, "/console/findings") == expected

    def test_a_filter_keeps_to_the_api_and_across_pages(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        hr = console_as("hr", CITY)
        for params in ({"rule": "PAID_AFTER_EXIT"}, {"status": "open", "department": "hr"}):
            expected = [i["id"] for i in api_findings(client, headers_for("hr", CITY), **params)]
            assert expected
            query = "&".join(f"{k}={v}" for k, v in params.items())
            assert all_ids(hr, f"/console/findings?{query}") == expected
        page = hr.get("/console/findings?rule=PAID_AFTER_EXIT&region=230102").text
        assert '<option value="PAID_AFTER_EXIT" selected>' in page
        assert 'name="region" inputmode="numeric" maxlength="12" value="230102"' in page

    def test_paging_keeps_the_filters(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        establishment = console_as("establishment", CITY)
        expected = api_findings(client, headers_for("establishment", CITY), severity="critical")
        _, following = page_ids(establishment, "/console/findings?severity=critical")
        if len(expected) > 50:
            assert following is not None and "severity=critical" in following
        ids = all_ids(establishment, "/console/findings?severity=critical")
        assert ids == [i["id"] for i in expected]

    def test_id_numbers_are_masked_and_never_taken_from_the_address(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        audit = console_as("audit", CITY)
        people = [
            i for i in api_findings(client, headers_for("audit", CITY), limit=50) if i["id_number"]
        ]
        text = audit.get("/console/findings").text
        assert people
        for item in people:
            assert item["id_number"] not in text
            assert mask_citizen_id(item["id_number"]) in text
        asked = audit.get(f"/console/findings?id_number={people[0]['id_number']}")
        assert asked.status_code == 422
        assert asked.headers["content-type"].startswith("text/html")

    def test_nothing_found_says_so(self, demo_city: Any, console_as: ConsoleAs) -> None:
        page = console_as("hr", CITY).get("/console/findings?unit_code=NOSUCHUNIT")
        assert page.status_code == 200
        assert "没有符合条件的差异" in page.text
        assert console_as("hr", CITY).get("/console/findings?region=abc").status_code == 422


def _person_finding(client: TestClient, headers: dict[str, str], rule: str) -> dict[str, Any]:
    items = [i for i in api_findings(client, headers, rule=rule, status="open") if i["id_number"]]
    assert items, rule
    return api_detail(client, headers, items[0]["id"])


class TestTheDetail:
    def test_it_shows_each_evidence_record_with_id_numbers_masked(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("finance", CITY)
        for rule in ("DUPLICATE_PAYROLL", "PAID_WITHOUT_ESTABLISHMENT"):
            detail = _person_finding(client, headers, rule)
            page = console_as("finance", CITY).get(f"/console/findings/{detail['id']}")
            assert page.status_code == 200
            text = page.text
            assert detail["evidence"]
            for record in detail["evidence"]:
                assert html.escape(record["record_key"]) in text
                if not record["withheld"] and record["record"].get("name"):
                    assert record["record"]["name"] in text
            assert detail["id_number"] not in text
            assert mask_citizen_id(detail["id_number"]) in text
            assert text.count('<section aria-labelledby="ev-') == len(detail["evidence"])
            assert "会商" in text and "状态记录" in text

    def test_a_finding_that_does_not_exist_is_a_404_page(
        self, demo_city: Any, console_as: ConsoleAs
    ) -> None:
        page = console_as("hr", CITY).get("/console/findings/no-such-finding")
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")


class TestTheForms:
    def test_a_comment_shows_in_the_thread_and_the_api(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit", CITY)
        detail = _person_finding(client, headers, "PAID_AFTER_EXIT")
        audit = console_as("audit", CITY)
        posted = audit.post(
            f"/console/findings/{detail['id']}/comments", {"body": "请财政局核实<b>"}
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == f"/console/findings/{detail['id']}?done=comment"
        page = audit.get(posted.headers["location"]).text
        assert "请财政局核实&lt;b&gt;" in page and "意见已发表" in page
        (comment,) = api_detail(client, headers, detail["id"])["comments"]
        assert comment["body"] == "请财政局核实<b>"
        assert comment["client_id"] == f"user:{audit.username}"
        assert comment["department"] == "audit"

    def test_an_id_number_typed_into_a_comment_is_masked_in_the_thread(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """The number is masked as the comment enters: in the page and in the API's thread."""
        headers = headers_for("audit", CITY)
        detail = _person_finding(client, headers, "PAID_AFTER_EXIT")
        audit = console_as("audit", CITY)
        number = f.id_number(7, region="230102")
        grouped = f"{number[:6]} {number[6:14]}-{number[14:]}"  # as people type it
        body = f"经核对，{number} 已于十月离职\n请财政局停发（{grouped}）"
        posted = audit.post(f"/console/findings/{detail['id']}/comments", {"body": body})
        assert posted.status_code == 303
        page = audit.get(f"/console/findings/{detail['id']}").text
        assert number not in page and grouped not in page
        masked = mask_citizen_id(number)
        assert f"经核对，{masked} 已于十月离职<br>请财政局停发（{masked}）" in page
        (comment,) = api_detail(client, headers, detail["id"])["comments"]
        assert comment["body"] == f"经核对，{masked} 已于十月离职\n请财政局停发（{masked}）"

    def test_an_empty_comment_is_a_422_page(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("hr", CITY)
        detail = _person_finding(client, headers, "PAID_AFTER_EXIT")
        hr = console_as("hr", CITY)
        answer = hr.post(f"/console/findings/{detail['id']}/comments")
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("text/html")
        blank = hr.post(f"/console/findings/{detail['id']}/comments", {"body": "  \r\n  "})
        assert blank.status_code == 422
        assert api_detail(client, headers, detail["id"])["comments"] == []

    def test_an_answerable_department_acknowledges(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("finance", CITY)
        detail = _person_finding(client, headers, "PAID_WITHOUT_ESTABLISHMENT")
        finance = console_as("finance", CITY)
        path = f"/console/findings/{detail['id']}"
        assert 'value="acknowledged"' in finance.get(path).text
        posted = finance.post(f"{path}/transitions", {"to": "acknowledged", "reason": "已核实"})
        assert posted.status_code == 303
        assert posted.headers["location"] == f"{path}?done=transition"
        after = api_detail(client, headers, detail["id"])
        assert after["status"] == "acknowledged"
        last = after["history"][-1]
        assert (last["from"], last["to"]) == ("open", "acknowledged")
        assert last["client_id"] == f"user:{finance.username}"
        assert last["reason"] == "已核实"
        page = finance.get(posted.headers["location"]).text
        assert "状态已更新" in page and 'value="acknowledged"' not in page

    def test_a_due_date_and_then_overdue(
        self,
        demo_city: Any,
        console_as: ConsoleAs,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        headers = headers_for("finance", CITY)
        detail = _person_finding(client, headers, "PAID_WITHOUT_ESTABLISHMENT")
        finance = console_as("finance", CITY)
        path = f"/console/findings/{detail['id']}"
        due = (hub_today() + dt.timedelta(days=3)).isoformat()
        posted = finance.post(f"{path}/transitions", {"to": "acknowledged", "due_on": due})
        assert posted.status_code == 303
        after = api_detail(client, headers, detail["id"])
        assert (after["due_on"], after["responsible_department"]) == (due, "finance")
        page = finance.get(path).text
        assert f"整改期限 {due}" in page and "已逾期" not in page
        # The due date passes (moved back in the database: no clock to turn here).
        with database.transaction() as session:
            session.execute(
                update(Finding)
                .where(Finding.id == detail["id"])
                .values(due_on=hub_today() - dt.timedelta(days=1))
            )
        assert "已逾期" in finance.get(path).text
        assert all_ids(finance, "/console/findings?overdue=true") == [detail["id"]]
        assert detail["id"] not in all_ids(finance, "/console/findings?overdue=false")

    def test_audit_may_not_acknowledge(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit", CITY)
        detail = _person_finding(client, headers, "PAID_WITHOUT_ESTABLISHMENT")
        audit = console_as("audit", CITY)
        path = f"/console/findings/{detail['id']}"
        assert 'value="acknowledged"' not in audit.get(path).text
        refused = audit.post(f"{path}/transitions", {"to": "acknowledged"})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert api_detail(client, headers, detail["id"])["status"] == "open"

    def test_waiving_needs_a_reason_and_a_document_number(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("establishment", CITY)
        detail = _person_finding(client, headers, "DUPLICATE_ESTABLISHMENT")
        office = console_as("establishment", CITY)
        path = f"/console/findings/{detail['id']}/transitions"
        for form in (
            {"to": "waived"},
            {"to": "waived", "reason": "", "document_no": "编办〔2026〕1号"},
        ):
            refused = office.post(path, form)
            assert refused.status_code == 422, form
            assert refused.headers["content-type"].startswith("text/html")
        assert office.post(path, {"to": "sideways"}).status_code == 422
        unchanged = api_detail(client, headers, detail["id"])
        assert (unchanged["status"], len(unchanged["history"])) == ("open", len(detail["history"]))
        waived = office.post(
            path, {"to": "waived", "reason": "借调", "document_no": "编〔2026〕1号"}
        )
        assert waived.status_code == 303
        assert api_detail(client, headers, detail["id"])["history"][-1]["document_no"] == (
            "编〔2026〕1号"
        )
        page = office.get(f"/console/findings/{detail['id']}").text
        assert 'value="open"' in page and 'value="waived"' not in page
        assert office.post(path, {"to": "acknowledged"}).status_code in (403, 409)
        assert office.post(path, {"to": "open"}).status_code == 303
        assert office.post(path, {"to": "open"}).status_code == 409  # already open
