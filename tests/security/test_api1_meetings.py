"""API1 / API3 / API4 against joint meetings: across regions, across time, and through the body.

- A meeting lives in its region: a sibling county neither reads, decides nor discusses it (404,
  never a 403 that would say it exists), a county does not see its city's meetings, and a
  finding of another region is "not on the agenda" exactly like an id that does not exist.
- Across time: a finding whose unit has since moved out of the meeting's region is withheld on
  the agenda (id only: no rule, unit or summary, in JSON and in the workbook) from a caller who
  can no longer open it, and a decision on it is refused like an unknown finding.
- No body sets what the hub owns (who convened, when decided, a decision's document number).
- Agendas, decision lists and comments are bounded; hostile text is a 422, never a 500.
"""

from __future__ import annotations

import io
import json
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import ConsoleAs, console_as
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f

__all__ = ["console_as"]  # the fixture

MEETINGS = "/api/v1/meetings"
CITY, COUNTY, SIBLING = "230100", "230102", "230103"
MOVED = f.unit_code(70, region=COUNTY)  # ghost_pay's unit of person 70


def body(finding_ids: list[str], region: str = COUNTY, **extra: Any) -> dict[str, Any]:
    return {
        "region": region,
        "held_on": hub_today().isoformat(),
        "title": "联席会议",
        "minutes_no": "纪要〔2026〕1号",
        "departments": ["finance"],
        "finding_ids": finding_ids,
    } | extra


@pytest.fixture
def county_meeting(client: TestClient, headers_for: HeadersFor) -> dict[str, Any]:
    """A meeting of the county on two ghost-pay findings (persons 70 and 80)."""
    for n in (70, 80):
        ghost_pay(client, headers_for, COUNTY, n)
    run(client, headers_for, CITY)
    office = headers_for("establishment", COUNTY)
    ids = [i["id"] for i in client.get("/api/v1/discrepancies", headers=office).json()["items"]]
    made = client.post(MEETINGS, json=body(sorted(ids)), headers=office)
    assert made.status_code == 201, made.text
    return dict(made.json())


class TestAcrossRegions:
    def test_a_sibling_county_finds_nothing(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        path = f"{MEETINGS}/{county_meeting['id']}"
        a = county_meeting["agenda"][0]["finding_id"]
        for department in ("establishment", "audit", "finance"):
            sibling = headers_for(department, SIBLING)
            assert client.get(path, headers=sibling).status_code == 404
            assert client.get(f"{path}/minutes", headers=sibling).status_code == 404
            assert (
                client.post(f"{path}/comments", json={"body": "x"}, headers=sibling).status_code
                == 404
            )
            listed = client.get(MEETINGS, headers=sibling).json()["items"]
            assert listed == []
        decision = {"finding_id": a, "to": "waived", "reason": "r"}
        refused = client.post(
            f"{path}/decisions",
            json={"decisions": [decision]},
            headers=headers_for("establishment", SIBLING),
        )
        assert refused.status_code == 404
        shown = client.get(f"/api/v1/discrepancies/{a}", headers=headers_for("audit")).json()
        assert shown["status"] == "open"

    def test_a_county_does_not_see_its_citys_meeting(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        ids = [a["finding_id"] for a in county_meeting["agenda"]]
        city = client.post(
            MEETINGS, json=body(ids, region=CITY), headers=headers_for("establishment", CITY)
        )
        assert city.status_code == 201, city.text
        county = headers_for("audit", COUNTY)
        assert client.get(f"{MEETINGS}/{city.json()['id']}", headers=county).status_code == 404
        listed = {m["id"] for m in client.get(MEETINGS, headers=county).json()["items"]}
        assert listed == {county_meeting["id"]}

    def test_another_regions_finding_is_as_unknown_as_a_made_up_id(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        ghost_pay(client, headers_for, SIBLING, 60)
        run(client, headers_for, SIBLING)
        sibling = client.get("/api/v1/discrepancies", headers=headers_for("audit", SIBLING)).json()[
            "items"
        ][0]["id"]
        office = headers_for("establishment", COUNTY)
        answers = [
            client.post(MEETINGS, json=body([x], minutes_no=x), headers=office)
            for x in (sibling, "0" * 32)
        ]
        assert [a.status_code for a in answers] == [422, 422]
        assert answers[0].json()["errors"] == answers[1].json()["errors"]
        path = f"{MEETINGS}/{county_meeting['id']}/decisions"
        decided = [
            client.post(path, json={"decisions": [{"finding_id": x, "to": "open"}]}, headers=office)
            for x in (sibling, "0" * 32)
        ]
        assert [d.status_code for d in decided] == [422, 422]
        assert decided[0].json()["errors"] == decided[1].json()["errors"]


class TestAcrossTime:
    def test_a_finding_moved_away_is_withheld_and_cannot_be_decided(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        # The city moves person 70's unit to the sibling county; the next run files the
        # finding there.
        moved = f.unit(70, region=COUNTY) | {"region": SIBLING}
        answer = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [moved]},
            headers=headers_for("establishment", CITY),
        )
        assert answer.status_code == 201, answer.text
        run(client, headers_for, CITY)
        regions = {
            i["id"]: i
            for i in client.get("/api/v1/discrepancies", headers=headers_for("audit")).json()[
                "items"
            ]
        }
        gone = [
            a for a in county_meeting["agenda"] if regions[a["finding_id"]]["region"] == SIBLING
        ]
        assert len(gone) == 1 and regions[gone[0]["finding_id"]]["unit_code"] == MOVED
        gone_id = gone[0]["finding_id"]

        county = headers_for("audit", COUNTY)
        record = client.get(f"{MEETINGS}/{county_meeting['id']}", headers=county).json()
        entry = next(a for a in record["agenda"] if a["finding_id"] == gone_id)
        assert entry["withheld"] is True
        assert (entry["rule"], entry["unit_code"], entry["summary"], entry["status"]) == (
            None,
            None,
            None,
            None,
        )
        assert MOVED not in str(record)
        xlsx = client.get(
            f"{MEETINGS}/{county_meeting['id']}/minutes", params={"format": "xlsx"}, headers=county
        )
        book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
        cells = " ".join(
            str(v) for s in book.worksheets for r in s.iter_rows(values_only=True) for v in r
        )
        assert MOVED not in cells and "不在您的辖区" in cells
        # The city still sees it whole.
        city = client.get(f"{MEETINGS}/{county_meeting['id']}", headers=headers_for("audit"))
        assert next(a for a in city.json()["agenda"] if a["finding_id"] == gone_id)["unit_code"]
        # The county's office cannot decide it any more; nothing is applied.
        stay = next(a["finding_id"] for a in county_meeting["agenda"] if a["finding_id"] != gone_id)
        refused = client.post(
            f"{MEETINGS}/{county_meeting['id']}/decisions",
            json={"decisions": [{"finding_id": stay, "to": "waived", "reason": "r"},
                                {"finding_id": gone_id, "to": "waived", "reason": "r"}]},
            headers=headers_for("establishment", COUNTY),
        )  # fmt: skip
        assert refused.status_code == 422
        assert [(e["row"], e["code"]) for e in refused.json()["errors"]] == [(2, "unknown")]
        assert regions[stay]["status"] == "open"


class TestThroughTheBody:
    @pytest.mark.parametrize(
        "extra",
        [
            {"convened_by": "someone-else"},
            {"decided_at": "2026-01-01T00:00:00Z"},
            {"id": "f" * 32},
            {"convened_department": "audit"},
        ],
    )
    def test_no_body_sets_what_the_hub_owns(
        self,
        county_meeting: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        extra: dict[str, str],
    ) -> None:
        ids = [a["finding_id"] for a in county_meeting["agenda"]]
        office = headers_for("establishment", COUNTY)
        answer = client.post(MEETINGS, json=body(ids, minutes_no="新", **extra), headers=office)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] in extra

    def test_a_decision_cannot_set_its_document_number_or_status(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        a = county_meeting["agenda"][0]["finding_id"]
        path = f"{MEETINGS}/{county_meeting['id']}/decisions"
        office = headers_for("establishment", COUNTY)
        for decision in (
            {"finding_id": a, "to": "waived", "reason": "r", "document_no": "伪造〔2026〕1号"},
            {"finding_id": a, "to": "resolved"},
            {"finding_id": a, "to": "open", "event_id": 1},
        ):
            answer = client.post(path, json={"decisions": [decision]}, headers=office)
            assert answer.status_code == 422, decision

    @pytest.mark.parametrize(
        "change",
        [
            {"finding_ids": ["a" * 32] * 501},
            {"title": "x" * 201},
            {"minutes_no": "\u0000号"},
            {"title": "\ud800"},
            {"held_on": "0001-01-01"},
            {"departments": ["finance"] * 6},
            {"region": "23010"},
        ],
    )
    def test_hostile_or_oversized_bodies_are_422(
        self, client: TestClient, headers_for: HeadersFor, change: dict[str, Any]
    ) -> None:
        answer = client.post(
            MEETINGS,
            content=json.dumps(body(["a" * 32]) | change),  # \ud800 escaped, as a client might
            headers=headers_for("establishment", COUNTY) | {"content-type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"

    def test_bounded_decisions_and_comments(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment", COUNTY)
        path = f"{MEETINGS}/{county_meeting['id']}"
        many = [{"finding_id": f"{n:032d}", "to": "open"} for n in range(501)]
        assert (
            client.post(f"{path}/decisions", json={"decisions": many}, headers=office).status_code
            == 422
        )
        assert (
            client.post(f"{path}/decisions", json={"decisions": []}, headers=office).status_code
            == 422
        )
        long = client.post(f"{path}/comments", json={"body": "x" * 4001}, headers=office)
        assert long.status_code == 422
        empty = client.post(f"{path}/comments", json={"body": ""}, headers=office)
        assert empty.status_code == 422


class TestTheListsRegion:
    def test_a_region_outside_the_callers_is_a_404_as_for_the_cases(
        self, county_meeting: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        """``?region=`` a sibling's (or one above): the cases answer 404, while the meetings
        (API and console) and the dataset records answered an empty 200 until 2026-12-07."""
        office = headers_for("establishment", COUNTY)
        for region in (SIBLING, CITY, "230200"):
            params = {"region": region}
            cases = client.get("/api/v1/cases", params=params, headers=office)
            meetings = client.get(MEETINGS, params=params, headers=office)
            records = client.get("/api/v1/datasets/roster/records", params=params, headers=office)
            assert cases.status_code == meetings.status_code == records.status_code == 404
            problem = {k: v for k, v in cases.json().items() if k not in ("instance", "request_id")}
            for answer in (meetings, records):
                assert problem.items() <= answer.json().items(), region
        # Inside: the county's own meeting (the city reads it through the county too).
        for headers in (office, headers_for("audit", CITY)):
            mine = client.get(MEETINGS, params={"region": COUNTY}, headers=headers)
            assert [m["id"] for m in mine.json()["items"]] == [county_meeting["id"]]
            assert (
                client.get(
                    "/api/v1/datasets/roster/records", params={"region": COUNTY}, headers=headers
                ).status_code
                == 200
            )

    def test_the_consoles_meeting_list_answers_the_same(
        self, console_as: ConsoleAs, client: TestClient
    ) -> None:
        officer = console_as("establishment", COUNTY)
        assert officer.get("/console/meetings", params={"region": SIBLING}).status_code == 404
        assert officer.get("/console/meetings", params={"region": COUNTY}).status_code == 200
