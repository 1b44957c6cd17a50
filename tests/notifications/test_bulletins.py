"""Periodic bulletins (定期通报) on both databases: counted from the findings' history, read
back as JSON and XLSX, scoped to the region, published once, announced to subscribers."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.notifications import bulletins
from linkage_hub.reconciliation.models import Finding
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.notifications.conftest import Receiver
from tests.notifications.test_webhooks import (
    COUNTY,
    SIBLING,
    ghost_pay,
    push,
    run,
    subscribe,
)
from tests.records.factory import roster, unit_code

BULLETINS = "/api/v1/bulletins"


def this_month() -> tuple[dt.date, dt.date]:
    first = hub_today().replace(day=1)
    return first, (first + dt.timedelta(days=32)).replace(day=1)


def counted(database: Database, settings: Settings, department: Department) -> dict[str, Any]:
    with database.transaction() as session:
        return bulletins.compute(session, settings, COUNTY, department, *this_month())


def test_a_month_of_findings_in_one_bulletin_per_department(
    client: TestClient,
    headers_for: HeadersFor,
    database: Database,
    settings: Settings,
    receiver: Receiver,
) -> None:
    sub = subscribe(client, headers_for("finance", COUNTY), receiver.url, ["bulletin.published"])
    ghost_pay(client, headers_for, COUNTY, 70)  # person 70 paid at unit 70, not on its roster
    run(client, headers_for, COUNTY)

    finance = counted(database, settings, Department.finance)
    assert finance["totals"] == {"opened": 1, "resolved": 0, "open": 1, "overdue": 0, "past_due": 0}
    assert finance["by_rule"] == [
        {
            "rule": "PAID_WITHOUT_ESTABLISHMENT",
            **{"opened": 1, "resolved": 0, "open": 1, "overdue": 0, "past_due": 0},
        }
    ]
    assert [u["unit_code"] for u in finance["by_unit"]] == [unit_code(70, region=COUNTY)]
    assert counted(database, settings, Department.hr)["totals"]["open"] == 0  # not HR's to answer

    # First seen long ago: overdue (20 working days before the period's end).
    with database.transaction() as session:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=90)
        session.execute(update(Finding).values(first_seen_at=long_ago))
    assert counted(database, settings, Department.finance)["totals"]["overdue"] == 1

    # Acknowledged, due before the period's end and not done: past due; due at its end or
    # later, or no longer acknowledged: not.
    period_from, period_to = this_month()
    for status, due_on, past_due in (
        ("acknowledged", period_from, 1),
        ("acknowledged", period_to, 0),
        ("waived", period_from, 0),
    ):
        with database.transaction() as session:
            session.execute(update(Finding).values(status=status, due_on=due_on))
        assert counted(database, settings, Department.finance)["totals"]["past_due"] == past_due
    with database.transaction() as session:
        session.execute(update(Finding).values(status="open", due_on=None))

    # The office puts person 70 on the roster; the next run resolves the finding.
    code = unit_code(70, region=COUNTY)
    push(
        client,
        headers_for,
        "roster",
        [roster(70, unit_code=code), roster(71, unit_code=code)],
        COUNTY,
    )
    run(client, headers_for, COUNTY)
    with database.transaction() as session:
        made = bulletins.publish(session, settings, COUNTY, *this_month(), dt.datetime.now(dt.UTC))
    assert sorted(b.department for b in made) == ["establishment", "finance", "hr", "organization"]

    listed = client.get(
        BULLETINS, params={"department": "finance"}, headers=headers_for("audit", COUNTY)
    )
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["totals"] == {"opened": 1, "resolved": 1, "open": 0, "overdue": 0, "past_due": 0}
    assert item["period_from"] == this_month()[0].isoformat()
    detail = client.get(f"{BULLETINS}/{item['id']}", headers=headers_for("hr", COUNTY)).json()
    assert detail["runs"] == {"full": {"succeeded": 2}}
    assert detail["by_rule"][0]["resolved"] == 1

    # The spreadsheet says what the JSON says.
    xlsx = client.get(
        f"{BULLETINS}/{item['id']}", params={"format": "xlsx"}, headers=headers_for("hr", COUNTY)
    )
    assert xlsx.status_code == 200 and "filename*=UTF-8''" in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    by_rule = [row for row in book["按规则"].iter_rows(values_only=True)]
    assert by_rule[1] == ("PAID_WITHOUT_ESTABLISHMENT", 1, 1, 0, 0, 0)
    overview = [row for row in book["总览"].iter_rows(values_only=True) if row and row[0] == "合计"]
    assert overview == [("合计", 1, 1, 0, 0, 0)]

    # A sibling county sees none of it; the same month is published once.
    sibling = headers_for("finance", SIBLING)
    assert client.get(BULLETINS, headers=sibling).json()["items"] == []
    assert client.get(f"{BULLETINS}/{item['id']}", headers=sibling).status_code == 404
    assert client.get(BULLETINS, params={"region": COUNTY}, headers=sibling).status_code == 404
    with pytest.raises(IntegrityError), database.transaction() as session:
        bulletins.publish(session, settings, COUNTY, *this_month(), dt.datetime.now(dt.UTC))

    # Announced: four bulletin.published events, thin, with the bulletin's id.
    receiver.wait(lambda got: len(got) == 4)
    bodies = receiver.verified(sub["secret"])
    assert sorted(b["data"]["department"] for b in bodies) == sorted(b.department for b in made)
    assert {b["data"]["bulletin_id"] for b in bodies} == {b.id for b in made}
    assert [b["seq"] for b in sorted(bodies, key=lambda b: b["seq"])] == [1, 2, 3, 4]


def test_the_schedule_publishes_last_month_once(
    client: TestClient, headers_for: HeadersFor, database: Database, settings: Settings
) -> None:
    ghost_pay(client, headers_for, COUNTY, 80)
    run(client, headers_for, COUNTY)  # the county is now a settled region
    scheduler = bulletins.BulletinScheduler(database)
    today = dt.date(2026, 12, 1)
    assert scheduler.publish_due(today) == 4
    assert scheduler.publish_due(today) == 0  # another process (or a retry) finds them there
    items = client.get(BULLETINS, headers=headers_for("establishment", COUNTY)).json()["items"]
    assert {(i["period_from"], i["period_to"]) for i in items} == {("2026-11-01", "2026-12-01")}


def test_a_bad_bulletin_request_is_a_clear_4xx(client: TestClient, headers_for: HeadersFor) -> None:
    headers = headers_for("audit", COUNTY)
    assert client.get(f"{BULLETINS}/nope", headers=headers).status_code == 404
    for params in ({"department": "audit2"}, {"region": "23010"}, {"cursor": "garbage"}):
        answer = client.get(BULLETINS, params=params, headers=headers)
        assert answer.status_code in (400, 422), (params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_the_command_publishes_a_month_once(
    client: TestClient,
    headers_for: HeadersFor,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    import json

    from linkage_hub import cli

    ghost_pay(client, headers_for, COUNTY, 90)
    run(client, headers_for, COUNTY)
    from linkage_hub.settings import get_settings

    monkeypatch.setenv("LINKAGE_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)  # the next test reads its own settings
    month = f"{this_month()[0]:%Y-%m}"
    assert cli.main(["bulletins", "publish", "--region", COUNTY, "--month", month]) == 0
    out = json.loads(capsys.readouterr().out)
    finance = next(b for b in out["bulletins"] if b["department"] == "finance")
    assert finance["totals"] == {"opened": 1, "resolved": 0, "open": 1, "overdue": 0, "past_due": 0}
    assert cli.main(["bulletins", "publish", "--region", COUNTY, "--month", month]) == 1
    assert "published already" in capsys.readouterr().err
    assert cli.main(["bulletins", "publish", "--region", "239900"]) == 1  # unknown region
    assert "no units, records or findings" in capsys.readouterr().err
    assert cli.main(["bulletins", "publish", "--region", COUNTY, "--month", "2026-13"]) == 1
