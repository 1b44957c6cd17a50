"""An exit, removal or abolition pushed without its date ends on the day the hub recorded it
(:mod:`linkage_hub.validtime`), as a quota without ``effective_on`` starts on its recorded
day. Before, such a record was out of every past day: a retiree whose roster entry said
``exited`` with no ``exited_on`` left last year's staffing report, and a leader removed
without ``removed_on`` was audited to today yet in office in no month of the tenure."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.db import Database
from tests.conftest import HeadersFor, hub_today
from tests.records import factory as f
from tests.records.conftest import Push

HARBIN = dt.timezone(dt.timedelta(hours=8))
RECORDED = hub_today() - dt.timedelta(days=10)  # the hub day the undated ends were recorded


def recorded_on(database: Database, table: str, unit: str, day: dt.date) -> None:
    """Set the current versions of ``unit``'s records in ``table`` as recorded at 07:00 of
    ``day`` in Harbin (23:00 UTC the day before: the hub's zone decides the day)."""
    at = dt.datetime.combine(day, dt.time(7, 0), tzinfo=HARBIN).astimezone(dt.UTC)
    with database.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {table} SET recorded_at = :t WHERE unit_code = :u AND closed_at IS NULL"),
            {"t": at, "u": unit},
        )


def counts(client: TestClient, headers: dict[str, str], unit: str, day: dt.date) -> list[tuple]:
    response = client.get(
        "/api/v1/reports/staffing", params={"as_of": day.isoformat()}, headers=headers
    )
    assert response.status_code == 200, response.text
    return [
        (r["on_roster"], r["employed"]) for r in response.json()["items"] if r["unit_code"] == unit
    ]


def test_an_undated_exit_counts_until_the_day_it_was_recorded(
    push: Push, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    u = f.unit_code(1)
    assert push("units", [f.unit(1)]).status_code == 201
    roster = [f.roster(1), f.roster(2, status="exited", exit_reason="retirement")]
    assert push("roster", roster).status_code == 201
    hr = [f.employment(1), f.employment(2, status="retired")]
    assert push("employment", hr).status_code == 201
    recorded_on(database, "records_roster", u, RECORDED)
    recorded_on(database, "records_employment", u, RECORDED)
    audit = headers_for("audit")
    assert counts(client, audit, u, RECORDED - dt.timedelta(days=1)) == [(2, 2)]
    assert counts(client, audit, u, RECORDED) == [(1, 1)]
    assert counts(client, audit, u, hub_today()) == [(1, 1)]
    # a dated exit still ends on its own date, whatever day it was recorded (employed counts
    # only those on the roster)
    dated = f.roster(2, status="exited", exit_reason="retirement", exited_on="2025-01-01")
    assert push("roster", [f.roster(1), dated]).status_code == 201
    assert counts(client, audit, u, RECORDED - dt.timedelta(days=1)) == [(1, 1)]
    assert counts(client, audit, u, dt.date(2024, 12, 31)) == [(2, 2)]


def test_an_undated_removal_ends_the_tenure_the_day_before_it_was_recorded(
    push: Push, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    u = f.unit_code(1)
    assert push("units", [f.unit(1, kind="organ")]).status_code == 201
    leader = f.cadre(
        1, leader_level="principal", position="局长", appointed_on="2025-01-01", status="removed"
    )
    assert push("cadres", [leader]).status_code == 201
    recorded_on(database, "records_cadre", u, RECORDED)
    response = client.get(
        "/api/v1/reports/tenure",
        params={"id_number": f.id_number(1), "unit_code": u},
        headers=headers_for("audit"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    last = RECORDED - dt.timedelta(days=1)
    assert (body["from"], body["to"]) == ("2025-01-01", last.isoformat())
    leaders = {m["month"]: m["leaders"] for m in body["months"]}
    assert leaders["2025-01"] == 1  # in office then: before, in no month at all
    assert leaders[f"{last:%Y-%m}"] == 1


def test_an_undated_abolition_keeps_the_unit_registered_until_it_was_recorded(
    push: Push, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    u = f.unit_code(1)
    assert push("units", [f.unit(1, status="abolished")]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    recorded_on(database, "registry_unit", u, RECORDED)
    audit = headers_for("audit")
    assert counts(client, audit, u, RECORDED - dt.timedelta(days=1)) == [(1, 0)]
    assert counts(client, audit, u, RECORDED) == []
