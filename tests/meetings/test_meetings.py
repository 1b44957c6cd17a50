"""Joint meetings through the HTTP API, on both databases: convening, deciding several findings
in one transaction (or none of them), the thread, the minutes, and overdue acknowledgements."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.db import Database
from linkage_hub.outbox.models import OutboxEvent
from linkage_hub.reconciliation.models import Event
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.notifications.test_webhooks import ghost_pay, run

MEETINGS = "/api/v1/meetings"
FINDINGS = "/api/v1/discrepancies"
CITY, COUNTY, SIBLING = "230100", "230102", "230103"


@pytest.fixture
def found(client: TestClient, headers_for: HeadersFor) -> dict[str, Any]:
    """Three ghost-pay findings in the county (persons 70, 80, 90; finance and the
    establishment office answer for them) and one in its sibling (person 60)."""
    for n in (70, 80, 90):
        ghost_pay(client, headers_for, COUNTY, n)
    ghost_pay(client, headers_for, SIBLING, 60)
    run(client, headers_for, CITY)
    items = client.get(
        FINDINGS, params={"rule": "PAID_WITHOUT_ESTABLISHMENT"}, headers=headers_for("audit")
    ).json()["items"]
    county = sorted(i["id"] for i in items if i["region"] == COUNTY)
    sibling = [i["id"] for i in items if i["region"] == SIBLING]
    assert len(county) == 3 and len(sibling) == 1
    return {"county": county, "sibling": sibling[0]}


def convene(
    client: TestClient,
    headers: dict[str, str],
    finding_ids: list[str],
    *,
    region: str = COUNTY,
    departments: tuple[str, ...] = ("finance",),
    held_on: dt.date | None = None,
    minutes_no: str = "县联席〔2026〕1号",
) -> Any:
    return client.post(
        MEETINGS,
        json={
            "region": region,
            "held_on": (held_on or hub_today()).isoformat(),
            "title": "编制实名制数据核查联席会议",
            "minutes_no": minutes_no,
            "departments": list(departments),
            "finding_ids": finding_ids,
        },
        headers=headers,
    )


def finding(client: TestClient, headers_for: HeadersFor, finding_id: str) -> dict[str, Any]:
    response = client.get(f"{FINDINGS}/{finding_id}", headers=headers_for("audit"))
    assert response.status_code == 200, response.text
    return dict(response.json())


def people_events(database: Database) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(select(func.count()).select_from(Event).where(Event.run_id.is_(None)))
            or 0
        )


class TestConvening:
    def test_the_office_convenes_a_meeting_of_its_region(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment", COUNTY)
        made = convene(client, office, found["county"], departments=("finance", "hr"))
        assert made.status_code == 201, made.text
        meeting = made.json()
        assert meeting["departments"] == ["establishment", "finance", "hr"]  # the convener too
        assert meeting["convened_department"] == "establishment"
        assert [a["finding_id"] for a in meeting["agenda"]] == found["county"]
        assert all(a["status_then"] == "open" and not a["withheld"] for a in meeting["agenda"])
        assert meeting["agenda"][0]["summary"]["zh"]
        assert meeting["decided_at"] is None and meeting["decisions"] == []
        # Listed for every department of the county and above; not for the sibling.
        for department, region, listed in (
            ("hr", COUNTY, True),
            ("audit", CITY, True),
            ("finance", SIBLING, False),
        ):
            page = client.get(MEETINGS, headers=headers_for(department, region)).json()
            assert (meeting["id"] in {m["id"] for m in page["items"]}) is listed
        assert (
            client.get(
                f"{MEETINGS}/{meeting['id']}", headers=headers_for("audit", SIBLING)
            ).status_code
            == 404
        )
        # The same minutes number again is the same meeting: 409.
        again = convene(client, office, found["county"])
        assert again.status_code == 409

    def test_a_retry_is_answered_the_first_record_not_todays(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        """API.md: a retry with the same key returns the first answer. The meeting was decided
        and discussed since; the unchanged caller's retries of the convene and the decision
        get the records they were first answered, not the meeting as it stands."""
        office = headers_for("establishment", COUNTY)
        first = convene(client, office | {"Idempotency-Key": "m-1"}, found["county"][:1])
        assert first.status_code == 201, first.text
        meeting = first.json()
        decide = f"{MEETINGS}/{meeting['id']}/decisions"
        body = {"decisions": [{"finding_id": found["county"][0], "to": "waived", "reason": "借调"}]}
        decided = client.post(decide, json=body, headers=office | {"Idempotency-Key": "d-1"})
        assert decided.status_code == 200, decided.text
        said = client.post(f"{MEETINGS}/{meeting['id']}/comments", json={"body": "已核实"},
                           headers=office)  # fmt: skip
        assert said.status_code == 201, said.text
        today = client.get(f"{MEETINGS}/{meeting['id']}", headers=office).json()
        assert today["decisions"] and today["comments"]

        again = convene(client, office | {"Idempotency-Key": "m-1"}, found["county"][:1])
        assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == meeting and again.json()["decisions"] == []
        again = client.post(decide, json=body, headers=office | {"Idempotency-Key": "d-1"})
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == decided.json() and again.json()["comments"] == []

    def test_an_agenda_the_meeting_cannot_take_makes_no_meeting(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment", COUNTY)
        first = found["county"][0]
        agenda = [first, found["sibling"], "f" * 32, first]
        refused = convene(client, office, agenda)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        errors = [(e["row"], e["field"], e["code"]) for e in refused.json()["errors"]]
        # Another region's finding and an unknown id are told apart by nothing.
        assert errors == [
            (2, "finding_ids", "unknown"),
            (3, "finding_ids", "unknown"),
            (4, "finding_ids", "duplicate"),
        ]
        assert client.get(MEETINGS, headers=office).json()["items"] == []

    def test_who_convenes_and_where(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        assert convene(client, headers_for("finance", COUNTY), found["county"]).status_code == 403
        sibling = headers_for("establishment", SIBLING)
        assert convene(client, sibling, found["county"]).status_code == 404  # not its region
        audit = convene(client, headers_for("audit", CITY), found["county"], region=COUNTY)
        assert audit.status_code == 201, audit.text  # audit convenes too, from above
        bad = convene(client, headers_for("establishment", COUNTY), [], departments=())
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["errors"]} >= {"finding_ids", "departments"}
        unnumbered = convene(client, headers_for("establishment", COUNTY), found["county"],
                             minutes_no="\u3000 ")  # fmt: skip
        assert unnumbered.status_code == 422
        assert [(e["field"], e["code"]) for e in unnumbered.json()["errors"]] == [
            ("minutes_no", "empty")
        ]


class TestDeciding:
    def test_several_findings_decided_in_one_transaction(
        self,
        found: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a, b, c = found["county"]
        meeting = convene(client, office, [a, b, c]).json()
        due = hub_today() + dt.timedelta(days=30)
        decisions = [
            {"finding_id": a, "to": "acknowledged", "responsible_department": "finance",
             "due_on": due.isoformat(), "reason": "财政局核实停发"},
            {"finding_id": b, "to": "waived", "reason": "经会议研究，借调人员，工资关系未转"},
            {"finding_id": c, "to": "acknowledged", "responsible_department": "establishment"},
        ]  # fmt: skip
        answer = client.post(
            f"{MEETINGS}/{meeting['id']}/decisions", json={"decisions": decisions}, headers=office
        )
        assert answer.status_code == 200, answer.text
        record = answer.json()
        assert record["decided_at"] and record["decisions_count"] == 3
        assert [(d["finding_id"], d["from_status"], d["to"]) for d in record["decisions"]] == [
            (a, "open", "acknowledged"),
            (b, "open", "waived"),
            (c, "open", "acknowledged"),
        ]
        for finding_id, status, responsible, due_on in (
            (a, "acknowledged", "finance", due.isoformat()),
            (b, "waived", None, None),
            (c, "acknowledged", "establishment", None),
        ):
            shown = finding(client, headers_for, finding_id)
            assert shown["status"] == status
            assert (shown["responsible_department"], shown["due_on"]) == (responsible, due_on)
            assert shown["overdue"] is False
            last = shown["history"][-1]
            assert (last["to"], last["document_no"], last["department"]) == (
                status,
                "县联席〔2026〕1号",
                "establishment",
            )
        # Each decision points at the history entry it wrote.
        events = {d["event_id"] for d in record["decisions"]}
        with database.transaction() as session:
            written = session.scalars(select(Event).where(Event.id.in_(events))).all()
            assert {(e.finding_id, e.to_status) for e in written} == {
                (a, "acknowledged"),
                (b, "waived"),
                (c, "acknowledged"),
            }
            decided = session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == "meeting.decided")
            ).all()
            assert [e.data for e in decided] == [
                {
                    "meeting_id": meeting["id"],
                    "minutes_no": "县联席〔2026〕1号",
                    "decisions": 3,
                    "acknowledged": 2,
                    "waived": 1,
                    "open": 0,
                }
            ]
            transitioned = session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.type == "finding.transitioned")
            )
            assert transitioned == 3
        # Recorded once.
        again = client.post(
            f"{MEETINGS}/{meeting['id']}/decisions",
            json={"decisions": [{"finding_id": a, "to": "open"}]},
            headers=office,
        )
        assert again.status_code == 409
        # In the audit log: the convening, the decision, each transition with the meeting.
        log = client.get(
            "/api/v1/audit-log", params={"limit": 1000}, headers=headers_for("audit", CITY)
        ).json()["items"]
        actions = [e["action"] for e in log]
        assert actions.count("meeting.convene") == 1 and actions.count("meeting.decide") == 1
        moves = [e for e in log if e["action"] == "finding.transition"]
        assert len(moves) == 3
        assert all(e["detail"]["meeting_id"] == meeting["id"] for e in moves)

    def test_the_finding_event_keeps_the_meeting_and_where_it_sits(
        self,
        found: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        """The finding.transitioned event goes to the finding's region, to the county's
        subscribers and the city's: it keeps the meeting and its region, so each delivery
        names the meeting only to a reader who may open it (the county is not sent its city's
        meeting, a 404 to it: ``tests/notifications/test_reader_names.py``); the audit log
        keeps the meeting either way."""
        a, b, _ = found["county"]
        city = convene(client, headers_for("establishment", CITY), [a], region=CITY,
                       minutes_no="市联席〔2026〕1号").json()  # fmt: skip
        county = convene(client, headers_for("establishment", COUNTY), [b]).json()
        for meeting, held_by, finding in ((city, CITY, a), (county, COUNTY, b)):
            decided = client.post(
                f"{MEETINGS}/{meeting['id']}/decisions",
                json={"decisions": [{"finding_id": finding, "to": "waived", "reason": "借调"}]},
                headers=headers_for("establishment", held_by),
            )
            assert decided.status_code == 200, decided.text
        county_reader = headers_for("audit", COUNTY)
        assert client.get(f"{MEETINGS}/{city['id']}", headers=county_reader).status_code == 404
        with database.transaction() as session:
            told = {
                e.finding_id: e.data
                for e in session.scalars(
                    select(OutboxEvent).where(OutboxEvent.type == "finding.transitioned")
                )
            }
        assert (told[a]["meeting_id"], told[a]["meeting_region"]) == (city["id"], CITY)
        assert told[a]["document_no"] == "市联席〔2026〕1号"
        assert (told[b]["meeting_id"], told[b]["meeting_region"]) == (county["id"], COUNTY)
        log = client.get(
            "/api/v1/audit-log", params={"limit": 1000}, headers=headers_for("audit", CITY)
        ).json()["items"]
        moves = {e["target_id"]: e["detail"] for e in log if e["action"] == "finding.transition"}
        assert (moves[a]["meeting_id"], moves[b]["meeting_id"]) == (city["id"], county["id"])

    @pytest.mark.parametrize(
        ("bad", "field", "code"),
        [
            ({"to": "waived"}, "reason", "missing"),
            ({"to": "waived", "reason": "  "}, "reason", "missing"),
            ({"to": "acknowledged"}, "responsible_department", "missing"),
            ({"to": "acknowledged", "responsible_department": "hr"}, "responsible_department",
             "not_answerable"),
            ({"to": "acknowledged", "responsible_department": "finance", "due_on": "2000-01-01"},
             "due_on", "before_meeting"),
            ({"to": "waived", "reason": "r", "due_on": "2099-01-01"}, "due_on", "not_allowed"),
        ],
    )  # fmt: skip
    def test_one_bad_decision_refuses_them_all(
        self,
        found: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        bad: dict[str, str],
        field: str,
        code: str,
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a, b, _ = found["county"]
        meeting = convene(client, office, [a, b]).json()
        before = people_events(database)
        good = {"finding_id": a, "to": "acknowledged", "responsible_department": "finance"}
        answer = client.post(
            f"{MEETINGS}/{meeting['id']}/decisions",
            json={"decisions": [good, {"finding_id": b, **bad}]},
            headers=office,
        )
        assert answer.status_code == 422, answer.text
        errors = answer.json()["errors"]
        assert [(e["row"], e["field"], e["code"]) for e in errors] == [(2, field, code)]
        assert people_events(database) == before
        assert finding(client, headers_for, a)["status"] == "open"  # the good one was not applied
        assert (
            client.get(f"{MEETINGS}/{meeting['id']}", headers=office).json()["decided_at"] is None
        )

    def test_a_finding_off_the_agenda_or_of_another_region_refuses_them_all(
        self,
        found: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a, b, c = found["county"]
        meeting = convene(client, office, [a, b]).json()
        before = people_events(database)
        decisions = [
            {"finding_id": a, "to": "acknowledged", "responsible_department": "finance"},
            {"finding_id": c, "to": "acknowledged", "responsible_department": "finance"},
            {"finding_id": found["sibling"], "to": "waived", "reason": "r"},
            {"finding_id": a, "to": "waived", "reason": "r"},
        ]
        answer = client.post(
            f"{MEETINGS}/{meeting['id']}/decisions", json={"decisions": decisions}, headers=office
        )
        assert answer.status_code == 422
        assert [(e["row"], e["code"]) for e in answer.json()["errors"]] == [
            (1, "duplicate"),
            (2, "not_on_agenda"),
            (3, "not_on_agenda"),
            (4, "duplicate"),
        ]
        assert people_events(database) == before

    def test_who_decides_and_a_status_that_moved_on(
        self,
        found: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a, b, _ = found["county"]
        meeting = convene(client, office, [a, b], departments=("hr",)).json()
        path = f"{MEETINGS}/{meeting['id']}/decisions"
        ack = {"finding_id": a, "to": "acknowledged", "responsible_department": "finance"}
        body = {"decisions": [ack]}
        assert (
            client.post(path, json=body, headers=headers_for("finance", COUNTY)).status_code == 403
        )
        assert (
            client.post(path, json=body, headers=headers_for("audit", SIBLING)).status_code == 404
        )
        # Finance answers for the finding but did not attend.
        absent = client.post(path, json=body, headers=office)
        assert [e["code"] for e in absent.json()["errors"]] == ["not_attending"]
        # Finance acknowledged it alone meanwhile: acknowledging again does not fit (409).
        alone = client.post(
            f"{FINDINGS}/{a}/transitions",
            json={"to": "acknowledged"},
            headers=headers_for("finance"),
        )
        assert alone.status_code == 200
        before = people_events(database)
        moved = client.post(
            path,
            json={"decisions": [{"finding_id": a, "to": "acknowledged",
                                 "responsible_department": "establishment"}]},
            headers=office,
        )  # fmt: skip
        assert moved.status_code == 409
        assert [(e["row"], e["field"], e["code"]) for e in moved.json()["errors"]] == [
            (1, "to", "status")
        ]
        assert people_events(database) == before
        # Back to open, by the meeting: allowed from acknowledged.
        reopened = client.post(
            path, json={"decisions": [{"finding_id": a, "to": "open"}]}, headers=office
        )
        assert reopened.status_code == 200, reopened.text
        shown = finding(client, headers_for, a)
        assert (shown["status"], shown["responsible_department"]) == ("open", None)

    def test_not_before_the_meeting_is_held(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a = found["county"][0]
        later = hub_today() + dt.timedelta(days=7)
        meeting = convene(client, office, [a], held_on=later).json()
        answer = client.post(
            f"{MEETINGS}/{meeting['id']}/decisions",
            json={"decisions": [{"finding_id": a, "to": "waived", "reason": "r"}]},
            headers=office,
        )
        assert answer.status_code == 409


class TestPastDueDate:
    def test_a_due_date_already_past_is_refused(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        # Held 20 days ago: yesterday is after the meeting, but already past when deciding.
        office = headers_for("establishment", COUNTY)
        a, b, _ = found["county"]
        held = hub_today() - dt.timedelta(days=20)
        meeting = convene(client, office, [a, b], held_on=held).json()
        path = f"{MEETINGS}/{meeting['id']}/decisions"
        yesterday = (hub_today() - dt.timedelta(days=1)).isoformat()
        past = [
            {"finding_id": a, "to": "acknowledged", "responsible_department": "finance",
             "due_on": yesterday},
            {"finding_id": b, "to": "acknowledged", "responsible_department": "finance"},
        ]  # fmt: skip
        answer = client.post(path, json={"decisions": past}, headers=office)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [(e["row"], e["field"], e["code"]) for e in answer.json()["errors"]] == [
            (1, "due_on", "past")
        ]
        assert finding(client, headers_for, a)["status"] == "open"
        assert finding(client, headers_for, b)["status"] == "open"
        # Due today (the hub's today) is still in time.
        today = [past[0] | {"due_on": hub_today().isoformat()}, past[1]]
        answer = client.post(path, json={"decisions": today}, headers=office)
        assert answer.status_code == 200, answer.text
        assert finding(client, headers_for, a)["due_on"] == hub_today().isoformat()


class TestOverdue:
    def test_acknowledged_past_its_due_date_is_overdue_everywhere(
        self,
        found: dict[str, Any],
        client: TestClient,
        headers_for: HeadersFor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a, b, _ = found["county"]
        held = hub_today() - dt.timedelta(days=20)
        meeting = convene(client, office, [a, b], held_on=held).json()
        decisions = [
            {"finding_id": a, "to": "acknowledged", "responsible_department": "finance",
             "due_on": (held + dt.timedelta(days=10)).isoformat()},  # passed since
            {"finding_id": b, "to": "acknowledged", "responsible_department": "finance",
             "due_on": hub_today().isoformat()},  # due today: still in time
        ]  # fmt: skip
        # Decided on the day of the meeting, when both dates lay ahead (a date already past
        # is refused: TestPastDueDate); read today.
        with monkeypatch.context() as then:
            then.setattr(Settings, "today", lambda _self: held)
            answer = client.post(
                f"{MEETINGS}/{meeting['id']}/decisions",
                json={"decisions": decisions},
                headers=office,
            )
        assert answer.status_code == 200, answer.text
        audit = headers_for("audit")
        overdue = client.get(FINDINGS, params={"overdue": "true"}, headers=audit).json()["items"]
        assert [i["id"] for i in overdue] == [a]
        assert overdue[0]["overdue"] is True and overdue[0]["responsible_department"] == "finance"
        not_overdue = client.get(FINDINGS, params={"overdue": "false"}, headers=audit).json()
        assert a not in {i["id"] for i in not_overdue["items"]}
        assert b in {i["id"] for i in not_overdue["items"]}
        # The report (every format) and the meeting's agenda say so too.
        report = client.get(
            "/api/v1/reports/discrepancies", params={"overdue": "true"}, headers=audit
        ).json()["items"]
        assert [(r["id"], r["overdue"], r["due_on"]) for r in report] == [
            (a, True, (held + dt.timedelta(days=10)).isoformat())
        ]
        book = openpyxl.load_workbook(
            io.BytesIO(
                client.get(
                    "/api/v1/reports/discrepancies",
                    params={"format": "xlsx", "rule": "PAID_WITHOUT_ESTABLISHMENT"},
                    headers=audit,
                ).content
            ),
            read_only=True,
        )
        rows = list(book["问题清单"].iter_rows(values_only=True))
        column = rows[0].index("是否逾期")
        assert sorted(str(r[column]) for r in rows[1:]) == ["None", "None", "None", "逾期"]
        agenda = client.get(f"{MEETINGS}/{meeting['id']}", headers=audit).json()["agenda"]
        assert [x["overdue"] for x in agenda] == [True, False]

    def test_a_due_date_when_acknowledging_alone(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        a = found["county"][0]
        path = f"{FINDINGS}/{a}/transitions"
        finance = headers_for("finance")
        past = client.post(
            path, json={"to": "acknowledged", "due_on": "2020-01-01"}, headers=finance
        )
        assert past.status_code == 422 and past.json()["errors"][0]["field"] == "due_on"
        due = (hub_today() + dt.timedelta(days=5)).isoformat()
        done = client.post(path, json={"to": "acknowledged", "due_on": due}, headers=finance)
        assert done.status_code == 200, done.text
        assert (done.json()["responsible_department"], done.json()["due_on"]) == ("finance", due)
        waive = client.post(
            path,
            json={"to": "waived", "reason": "r", "document_no": "d", "due_on": due},
            headers=headers_for("audit"),
        )
        assert waive.status_code == 422


class TestThreadAndMinutes:
    def test_attending_departments_discuss_and_the_minutes_read_back(
        self, found: dict[str, Any], client: TestClient, headers_for: HeadersFor
    ) -> None:
        office = headers_for("establishment", COUNTY)
        a, b, c = found["county"]
        meeting = convene(client, office, [a, b, c], departments=("finance",)).json()
        thread = f"{MEETINGS}/{meeting['id']}/comments"
        said = client.post(
            thread,
            json={"body": "财政局：已核实，下月停发"},
            headers=headers_for("finance", COUNTY),
        )
        assert said.status_code == 201, said.text
        blank = client.post(thread, json={"body": "\t \n"}, headers=headers_for("finance", COUNTY))
        assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "body"
        assert (
            client.post(thread, json={"body": "x"}, headers=headers_for("hr", COUNTY)).status_code
            == 403
        )  # did not attend
        assert (
            client.post(
                thread, json={"body": "x"}, headers=headers_for("finance", SIBLING)
            ).status_code
            == 404
        )
        decisions = [
            {"finding_id": a, "to": "acknowledged", "responsible_department": "finance",
             "due_on": (hub_today() + dt.timedelta(days=30)).isoformat()},
            {"finding_id": b, "to": "waived", "reason": "借调人员"},
        ]  # fmt: skip
        assert (
            client.post(
                f"{MEETINGS}/{meeting['id']}/decisions",
                json={"decisions": decisions},
                headers=office,
            ).status_code
            == 200
        )
        minutes = f"{MEETINGS}/{meeting['id']}/minutes"
        record = client.get(minutes, headers=headers_for("hr", COUNTY)).json()
        assert record == client.get(f"{MEETINGS}/{meeting['id']}", headers=office).json()
        assert [x["body"] for x in record["comments"]] == ["财政局：已核实，下月停发"]

        xlsx = client.get(minutes, params={"format": "xlsx"}, headers=headers_for("hr", COUNTY))
        assert xlsx.status_code == 200
        assert "filename*=UTF-8''" in xlsx.headers["content-disposition"]
        book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
        agenda = list(book["议题"].iter_rows(values_only=True))
        titles = [r[0] for r in agenda[:4]]
        assert "县联席〔2026〕1号" in str(titles[1]) and "财政局" in str(titles[2])
        header = agenda.index(next(r for r in agenda if r and r[0] == "序号"))
        rows = agenda[header + 1 :]
        assert [r[1] for r in rows] == [x["finding_id"] for x in record["agenda"]]
        assert [r[8] for r in rows] == [x["summary"]["zh"] for x in record["agenda"]]
        decided = list(book["决定事项"].iter_rows(values_only=True))[1:]
        assert [(r[1], r[3], r[5], r[7]) for r in decided] == [
            (a, "确认并限期整改", "财政局", "县联席〔2026〕1号"),
            (b, "豁免", None, "县联席〔2026〕1号"),
        ]
        due = decided[0][6]
        assert isinstance(due, dt.datetime) and due.date().isoformat() == decisions[0]["due_on"]
        said_rows = list(book["会商记录"].iter_rows(values_only=True))[1:]
        assert [r[3] for r in said_rows] == ["财政局：已核实，下月停发"]
