"""12310: a report filed by the public, worked by the establishment office, read by audit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from linkage_hub.cases.models import Case
from linkage_hub.cases.service import working_days_after
from linkage_hub.db import Database
from linkage_hub.outbox.models import OutboxEvent
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today, make_settings
from tests.public.conftest import CITY, City

REPORT = {"category": "ghost_pay", "region": CITY, "facts": "某单位有人长期不上班仍领工资。"}
NAMED = REPORT | {"contact": {"name": "李四", "phone": "13800000000"}}

pytestmark = pytest.mark.usefixtures("province_served")


def file(client: TestClient, body: dict[str, Any] = REPORT) -> dict[str, Any]:
    response = client.post("/public/v1/reports", json=body)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


def follow(client: TestClient, receipt: dict[str, Any], secret: str | None = None) -> Any:
    return client.get(
        f"/public/v1/reports/{receipt['tracking_code']}",
        headers={"X-Report-Secret": secret or receipt["secret"]},
    )


def case_id(database: Database, receipt: dict[str, Any]) -> str:
    with database.transaction() as session:
        return str(
            session.scalar(select(Case.id).where(Case.tracking_code == receipt["tracking_code"]))
        )


def step(client: TestClient, headers: dict[str, str], cid: str, **body: Any) -> Any:
    return client.post(f"/api/v1/cases/{cid}/transitions", json=body, headers=headers)


def test_a_report_is_followed_by_code_and_secret(client: TestClient) -> None:
    receipt = file(client)
    today = hub_today()
    assert receipt["due_on"] == working_days_after(today, 10, ()).isoformat()
    status = follow(client, receipt)
    assert status.status_code == 200
    assert status.json() | {"received_at": None} == {
        "tracking_code": receipt["tracking_code"],
        "status": "received",
        "received_at": None,
        "due_on": receipt["due_on"],
        "extension_reason": None,
        "reply": None,
    }
    wrong = follow(client, receipt, secret="not-the-secret")
    unknown = client.get("/public/v1/reports/ZZZZ-ZZZZ-ZZZZ", headers={"X-Report-Secret": "x"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_the_whole_life_of_a_case(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    receipt = file(client)
    cid = case_id(database, receipt)
    office = headers_for("establishment", CITY)
    assert step(client, office, cid, to="closed", reply="x").status_code == 409
    assert step(client, office, cid, to="accepted").status_code == 200
    assert step(client, office, cid, to="in_progress", reason="本级办理").status_code == 200
    no_reason = step(client, office, cid, to="extended")
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    case = client.get(f"/api/v1/cases/{cid}", headers=office).json()
    too_late = working_days_after(dt.date.fromisoformat(case["close_due"]), 31, ())
    far = step(client, office, cid, to="extended", reason="需调取财政数据", due_on=str(too_late))
    assert far.status_code == 422 and far.json()["errors"][0]["field"] == "due_on"
    extended = step(client, office, cid, to="extended", reason="需调取财政数据核实")
    assert extended.status_code == 200
    limit = working_days_after(dt.date.fromisoformat(case["close_due"]), 30, ())
    assert extended.json()["close_due"] == limit.isoformat()
    assert step(client, office, cid, to="extended", reason="again").status_code == 409
    assert follow(client, receipt).json()["extension_reason"] == "需调取财政数据核实"
    assert step(client, office, cid, to="closed").status_code == 422  # no reply
    closed = step(client, office, cid, to="closed", reply="经核查，已责令整改并追回款项。")
    assert closed.status_code == 200
    body = closed.json()
    assert [s["action"] for s in body["steps"]] == [
        "filed", "accepted", "in_progress", "extended", "closed",
    ]  # fmt: skip
    assert body["due_on"] is None and body["closed_at"] is not None
    seen = follow(client, receipt).json()
    assert (seen["status"], seen["reply"], seen["due_on"]) == (
        "closed",
        "经核查，已责令整改并追回款项。",
        None,
    )
    assert step(client, office, cid, to="accepted").status_code == 409


def test_the_reporter_is_known_to_the_handling_office_only(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    cid = case_id(database, file(client, NAMED))
    office = client.get(f"/api/v1/cases/{cid}", headers=headers_for("establishment", CITY))
    assert office.json()["contact"] == {"name": "李四", "phone": "13800000000"}
    audit = headers_for("audit", CITY)
    seen_by_audit = client.get(f"/api/v1/cases/{cid}", headers=audit)
    assert seen_by_audit.status_code == 200
    assert seen_by_audit.json()["contact"] is None and seen_by_audit.json()["named"] is True
    assert "李四" not in seen_by_audit.text and "13800000000" not in seen_by_audit.text
    for department in ("hr", "finance", "organization"):
        assert (
            client.get(f"/api/v1/cases/{cid}", headers=headers_for(department, CITY)).status_code
            == 403
        )
        assert client.get("/api/v1/cases", headers=headers_for(department, CITY)).status_code == 403
    client.app.state.auth.recorder.flush()  # type: ignore[attr-defined]  # reads are queued
    reveals = client.get(
        "/api/v1/audit-log", params={"action": "case.contact_read"}, headers=audit
    ).json()["items"]
    assert [e["target_id"] for e in reveals] == [cid]
    reads = client.get("/api/v1/audit-log", params={"action": "case.read"}, headers=audit)
    assert [e["target_id"] for e in reads.json()["items"]] == [cid]  # audit's own read
    lists = client.get("/api/v1/audit-log", params={"action": "case.list"}, headers=audit)
    assert lists.json()["items"] == []  # the others were refused before any case was sent
    with database.transaction() as session:
        stored = session.scalar(select(Case.contact).where(Case.id == cid))
    # Ciphertext is random base64: a fragment such as "138" turns up in it now and then
    # (CI, stop 48), so look for the whole number and for the cipher's version prefix.
    assert stored is not None and stored.startswith("v1:")
    assert "李四" not in stored and "13800000000" not in stored


def test_assigned_to_a_county_the_county_works_it_and_its_sibling_sees_nothing(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    cid = case_id(database, file(client, NAMED))
    city_office = headers_for("establishment", CITY)
    province = headers_for("establishment", "230000")
    county = headers_for("establishment", "230104")  # the county the hub holds a unit of
    sibling = headers_for("establishment", "230103")
    assert client.get(f"/api/v1/cases/{cid}", headers=county).status_code == 404
    # The province supervises: it reads the case, not the reporter, and does not work it.
    above = client.get(f"/api/v1/cases/{cid}", headers=province)
    assert above.status_code == 200 and above.json()["contact"] is None
    assert step(client, province, cid, to="accepted").status_code == 403
    step(client, city_office, cid, to="accepted")
    for region in ("230200", "230199", CITY):  # not below; a county the hub knows nothing of
        bad = step(client, city_office, cid, to="assigned", region=region)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "region"
    assert step(client, city_office, cid, to="assigned", region="230104").status_code == 200
    assert client.get(f"/api/v1/cases/{cid}", headers=county).json()["contact"]["name"] == "李四"
    # The city has handed the case down: it reads it, without the reporter, and cannot act.
    assert client.get(f"/api/v1/cases/{cid}", headers=city_office).json()["contact"] is None
    assert step(client, city_office, cid, to="in_progress").status_code == 403
    assert client.get(f"/api/v1/cases/{cid}", headers=sibling).status_code == 404
    assert client.get("/api/v1/cases", headers=sibling).json()["items"] == []
    assert step(client, sibling, cid, to="closed", reply="x").status_code == 404
    assert step(client, county, cid, to="closed").status_code == 422  # no reply
    assert step(client, county, cid, to="in_progress").status_code == 200
    assert step(client, county, cid, to="closed", reply="区编办已核查处理。").status_code == 200
    listed = client.get("/api/v1/cases", headers=city_office).json()["items"]
    assert [(c["id"], c["status"], c["handler_region"]) for c in listed] == [
        (cid, "closed", "230104")
    ]


def test_refusing_a_repeat_names_the_earlier_case(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    first = case_id(database, file(client))
    receipt = file(client)
    again = case_id(database, receipt)
    office = headers_for("establishment", CITY)
    assert step(client, office, again, to="refused").status_code == 422  # no refusal code
    refused = step(client, office, again, to="refused", refusal="repeat", duplicate_of=first)
    assert refused.status_code == 200
    assert refused.json()["duplicate_of"] == first
    seen = follow(client, receipt).json()
    assert seen["status"] == "refused" and "不重复受理" in seen["reply"]


def test_overdue_by_the_working_day_clock(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    late, on_time = file(client), file(client)
    late_id = case_id(database, late)
    long_ago = hub_today() - dt.timedelta(days=30)
    with database.transaction() as session:
        session.execute(
            update(Case)
            .where(Case.id == late_id)
            .values(received_on=long_ago, propose_due=working_days_after(long_ago, 10, ()))
        )
    office = headers_for("establishment", CITY)
    overdue = client.get("/api/v1/cases", params={"overdue": "true"}, headers=office).json()
    assert [c["id"] for c in overdue["items"]] == [late_id]
    assert overdue["items"][0]["overdue"] is True
    fine = client.get("/api/v1/cases", params={"overdue": "false"}, headers=office).json()
    assert [c["id"] for c in fine["items"]] == [case_id(database, on_time)]
    # a proposal meets the first deadline: no longer overdue
    step(client, office, late_id, to="accepted")
    step(client, office, late_id, to="in_progress")
    assert (
        client.get("/api/v1/cases", params={"overdue": "true"}, headers=office).json()["items"]
        == []
    )


def test_holidays_move_the_deadline(settings: Settings, database: Database) -> None:
    """LINKAGE_HOLIDAYS reaches the case's clock: a week of holidays after receipt moves the
    proposal's due day past them."""
    from linkage_hub.app import create_app

    today = hub_today()
    week = [today + dt.timedelta(days=d) for d in range(1, 8)]
    off = make_settings(settings.database_url or "", settings.data_dir, holidays=week)
    with TestClient(create_app(off, database=database)) as client:
        due = dt.date.fromisoformat(file(client)["due_on"])
    assert due == working_days_after(today, 10, week) > working_days_after(today, 10, ())
    # Mon..Fri minus holidays, counted from the day after receipt
    assert working_days_after(dt.date(2026, 12, 4), 1, ()) == dt.date(2026, 12, 7)
    assert working_days_after(dt.date(2026, 12, 4), 1, (dt.date(2026, 12, 7),)) == dt.date(
        2026, 12, 8
    )


def test_links_to_findings_and_units_of_the_region_only(
    client: TestClient, headers_for: HeadersFor, database: Database, city: City
) -> None:
    cid = case_id(database, file(client))
    office = headers_for("establishment", CITY)
    bureau = city.public_code["bureau"]
    linked = client.post(f"/api/v1/cases/{cid}/links", json={"unit_code": bureau}, headers=office)
    assert linked.status_code == 200
    again = client.post(f"/api/v1/cases/{cid}/links", json={"unit_code": bureau}, headers=office)
    assert [(x["kind"], x["target"]) for x in again.json()["links"]] == [("unit", bureau)]
    both = client.post(
        f"/api/v1/cases/{cid}/links",
        json={"unit_code": bureau, "finding_id": "0" * 32},
        headers=office,
    )
    assert both.status_code == 422
    missing = client.post(
        f"/api/v1/cases/{cid}/links", json={"finding_id": "0" * 32}, headers=office
    )
    assert missing.status_code == 404


def test_a_unit_named_by_code_must_be_published(client: TestClient, city: City, publish) -> None:
    publish()
    secret = client.post(
        "/public/v1/reports", json=REPORT | {"unit_code": city.public_code["branch"]}
    )
    nowhere = client.post("/public/v1/reports", json=REPORT | {"unit_code": "12230100MB99999990"})
    assert secret.status_code == nowhere.status_code == 422
    assert secret.json()["errors"] == nowhere.json()["errors"]
    ok = client.post("/public/v1/reports", json=REPORT | {"unit_code": city.public_code["bureau"]})
    assert ok.status_code == 201


def test_bad_reports_name_the_field_and_store_nothing(
    client: TestClient, database: Database
) -> None:
    cases = [
        ({**REPORT, "category": "gossip"}, "category"),
        ({**REPORT, "facts": "x" * 5001}, "facts"),
        ({**REPORT, "region": "23010"}, "region"),
        ({**REPORT, "region": "230012"}, "region"),  # a county without a city
        ({**REPORT, "contact": {"phone": "call me"}}, "contact.phone"),
        ({**REPORT, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = client.post("/public/v1/reports", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_case_events_reach_the_outbox(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    cid = case_id(database, file(client))
    step(client, headers_for("establishment", CITY), cid, to="accepted")
    with database.transaction() as session:
        events = session.execute(
            select(OutboxEvent.type, OutboxEvent.data)
            .where(OutboxEvent.type.like("case.%"))
            .order_by(OutboxEvent.id)
        ).all()
    assert [(t, d["case_id"]) for t, d in events] == [
        ("case.opened", cid),
        ("case.transitioned", cid),
    ]
    assert all("facts" not in d and "contact" not in d for _, d in events)
    finance = client.post(
        "/api/v1/subscriptions",
        json={"url": "https://example.org/hook", "events": ["case.opened"]},
        headers=headers_for("finance", CITY),
    )
    assert finance.status_code == 403


def test_a_region_the_hub_does_not_serve_is_refused(client: TestClient) -> None:
    elsewhere = client.post("/public/v1/reports", json=REPORT | {"region": "110101"})
    assert elsewhere.status_code == 422
    error = elsewhere.json()["errors"][0]
    assert (error["field"], error["code"]) == ("region", "unknown_region")
    # a county with no data of its own, in a city the hub serves, is taken; a made-up city not
    made_up = client.post("/public/v1/reports", json=REPORT | {"region": "239999"})
    assert made_up.status_code == 422
    assert client.post("/public/v1/reports", json=REPORT | {"region": "230105"}).status_code == 201


def test_facts_and_contact_are_sealed_at_rest(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    facts = "张三，身份证号230102198001011234，长期不上班领工资。"
    cid = case_id(database, file(client, NAMED | {"facts": facts}))
    with database.transaction() as session:
        stored = session.execute(select(Case.facts, Case.contact).where(Case.id == cid)).one()
    assert "230102198001011234" not in stored.facts and "张三" not in stored.facts
    office = headers_for("establishment", CITY)
    assert client.get(f"/api/v1/cases/{cid}", headers=office).json()["facts"] == facts
    listed = client.get("/api/v1/cases", headers=headers_for("audit", CITY)).json()["items"]
    assert [c["facts"] for c in listed] == [facts]
