"""The console's joint meetings: the list and a meeting's record as the API gives them, the
thread for the departments attending, the decision form all or nothing, the minutes download."""

from __future__ import annotations

import datetime as dt
import html
import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import ConsoleAs

CITY, COUNTY, SIBLING = "230100", "230102", "230103"


def convene(client: TestClient, headers_for: HeadersFor, n: int = 3) -> dict[str, Any]:
    """A meeting of the county on its first ``n`` open findings finance answers for (finance
    attends)."""
    office = headers_for("establishment", COUNTY)
    found = client.get(
        "/api/v1/discrepancies",
        params={"department": "finance", "region": COUNTY, "status": "open"},
        headers=office,
    ).json()["items"][:n]
    assert len(found) == n
    made = client.post(
        "/api/v1/meetings",
        json={
            "region": COUNTY, "held_on": hub_today().isoformat(), "title": "县编制核查联席会议",
            "minutes_no": "县联席〔2026〕3号", "departments": ["finance"],
            "finding_ids": [f["id"] for f in found],
        },
        headers=office,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return dict(made.json())


def status(client: TestClient, headers_for: HeadersFor, finding_id: str) -> str:
    shown = client.get(f"/api/v1/discrepancies/{finding_id}", headers=headers_for("audit"))
    return str(shown.json()["status"])


class TestMeetingPages:
    def test_the_list_and_the_record_as_the_api_gives_them(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        meeting = convene(client, headers_for)
        hr = console_as("hr", COUNTY)
        listed = hr.get("/console/meetings")
        assert listed.status_code == 200
        assert f'href="/console/meetings/{meeting["id"]}"' in listed.text
        assert "县编制核查联席会议" in listed.text
        page = hr.get(f"/console/meetings/{meeting['id']}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        for item in meeting["agenda"]:
            assert item["summary"]["zh"] in text
            assert f'href="/console/findings/{item["finding_id"]}"' in page.text
        # HR neither attended (no thread form) nor decides (no decision form).
        assert 'action="/console/meetings/' not in page.text
        sibling = console_as("audit", SIBLING)
        assert sibling.get(f"/console/meetings/{meeting['id']}").status_code == 404
        assert meeting["id"] not in sibling.get("/console/meetings").text

    def test_attending_departments_add_to_the_thread(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        meeting = convene(client, headers_for)
        path = f"/console/meetings/{meeting['id']}"
        finance = console_as("finance", COUNTY)
        assert f'action="{path}/comments"' in finance.get(path).text
        said = finance.post(f"{path}/comments", {"body": "财政局：已停发"})
        assert said.status_code == 303 and said.headers["location"] == f"{path}?done=comment"
        api = client.get(f"/api/v1/meetings/{meeting['id']}", headers=headers_for("audit"))
        assert [c["body"] for c in api.json()["comments"]] == ["财政局：已停发"]
        assert finance.post(f"{path}/comments", {"body": ""}).status_code == 422
        assert console_as("hr", COUNTY).post(f"{path}/comments", {"body": "x"}).status_code == 403

    def test_the_decision_form_is_all_or_nothing(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        meeting = convene(client, headers_for)
        a, b, c = (x["finding_id"] for x in meeting["agenda"])
        path = f"/console/meetings/{meeting['id']}"
        office = console_as("establishment", COUNTY)
        page = office.get(path).text
        assert f'name="to.{a}"' in page and f'action="{path}/decisions"' in page
        due = hub_today().replace(year=hub_today().year + 1).isoformat()
        # b is waived without a reason: nothing is applied, the page names b.
        refused = office.post(
            f"{path}/decisions",
            {
                f"to.{a}": "acknowledged", f"responsible.{a}": "finance", f"due.{a}": due,
                f"to.{b}": "waived", f"reason.{b}": "",
                f"to.{c}": "",
            },
        )  # fmt: skip
        assert refused.status_code == 422
        assert f"{b} · reason" in refused.text
        assert "会议决定未记录" in refused.text
        assert [status(client, headers_for, x) for x in (a, b, c)] == ["open"] * 3
        done = office.post(
            f"{path}/decisions",
            {
                f"to.{a}": "acknowledged", f"responsible.{a}": "finance", f"due.{a}": due,
                f"to.{b}": "waived", f"reason.{b}": "借调人员",
                f"to.{c}": "",
            },
        )  # fmt: skip
        assert done.status_code == 303, done.text
        assert [status(client, headers_for, x) for x in (a, b, c)] == [
            "acknowledged",
            "waived",
            "open",  # no decision: unchanged
        ]
        record = client.get(f"/api/v1/meetings/{meeting['id']}", headers=headers_for("audit"))
        assert [(d["finding_id"], d["to"]) for d in record.json()["decisions"]] == [
            (a, "acknowledged"),
            (b, "waived"),
        ]
        after = office.get(done.headers["location"]).text
        assert "会议决定已记录" in after and f'name="to.{a}"' not in after  # recorded once
        assert (
            office.post(f"{path}/decisions", {f"to.{c}": "waived", f"reason.{c}": "r"}).status_code
            == 409
        )
        # A form without this session's CSRF token changes nothing.
        forged = office.browser.post(
            f"{path}/decisions", data={f"to.{c}": "open"}, follow_redirects=False
        )
        assert forged.status_code == 403
        # Finance attended but does not record decisions.
        finance = console_as("finance", COUNTY)
        assert finance.post(f"{path}/decisions", {f"to.{c}": "open"}).status_code == 403

    def test_a_due_date_already_past_is_refused_on_the_form(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        office_api = headers_for("establishment", COUNTY)
        [found] = client.get(
            "/api/v1/discrepancies",
            params={"department": "finance", "region": COUNTY, "status": "open"},
            headers=office_api,
        ).json()["items"][:1]
        held = hub_today() - dt.timedelta(days=20)
        made = client.post(
            "/api/v1/meetings",
            json={
                "region": COUNTY, "held_on": held.isoformat(), "title": "县编制核查联席会议",
                "minutes_no": "县联席〔2026〕4号", "departments": ["finance"],
                "finding_ids": [found["id"]],
            },
            headers=office_api,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        a = found["id"]
        path = f"/console/meetings/{made.json()['id']}"
        yesterday = (hub_today() - dt.timedelta(days=1)).isoformat()
        refused = console_as("establishment", COUNTY).post(
            f"{path}/decisions",
            {f"to.{a}": "acknowledged", f"responsible.{a}": "finance", f"due.{a}": yesterday},
        )
        assert refused.status_code == 422
        assert f"{a} · due_on" in refused.text
        assert status(client, headers_for, a) == "open"

    def test_the_minutes_download_is_the_apis(
        self, demo_city: Any, console_as: ConsoleAs, client: TestClient, headers_for: HeadersFor
    ) -> None:
        meeting = convene(client, headers_for)
        path = f"/console/meetings/{meeting['id']}/minutes"
        mine = console_as("audit", CITY).get(path)
        api = client.get(
            f"/api/v1/meetings/{meeting['id']}/minutes",
            params={"format": "xlsx"},
            headers=headers_for("audit"),
        )
        assert mine.status_code == api.status_code == 200

        def cells(content: bytes) -> list[list[Any]]:
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
            return [
                [list(r) for r in sheet.iter_rows(values_only=True)] for sheet in book.worksheets
            ]

        assert cells(mine.content) == cells(api.content)
