"""The annual audit lists "every finding ... open at any time in the year". A finding's open
interval is not first-seen → now when it was resolved in between: a finding resolved before
the year and reopened after it was not open in that year."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.db import Database
from tests.conftest import HeadersFor, hub_today
from tests.reconciliation.test_api import run_and_wait
from tests.records.conftest import Push
from tests.reports.conftest import U1, registry_row

YEAR = hub_today().year


def test_finding_resolved_before_the_year_and_reopened_after_it_is_not_in_that_year(
    unit: None, push: Push, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    office = headers_for("establishment")
    today = hub_today().isoformat()
    run_and_wait(client, office, as_of=today)  # three on a quota of two: OVER_QUOTA opens
    (over,) = client.get(
        "/api/v1/discrepancies", params={"rule": "OVER_QUOTA", "unit_code": U1}, headers=office
    ).json()["items"]
    assert push("quotas", [registry_row("quotas", establishment_type="administrative",
                                        approved=3)]).status_code == 201  # fmt: skip
    run_and_wait(client, office, as_of=today)  # resolved
    assert push("quotas", [registry_row("quotas", establishment_type="administrative",
                                        approved=2, document_no="哈编〔2026〕9号")]).status_code == 201  # fmt: skip
    run_and_wait(client, office, as_of=today)  # reopened
    now = client.get(f"/api/v1/discrepancies/{over['id']}", headers=office).json()
    assert now["status"] == "reopened"

    # The history as it would stand had the hub been running since then: first found in
    # March two years ago, resolved that June, found again today.
    first = dt.datetime(YEAR - 2, 3, 1, 2, 0, tzinfo=dt.UTC)
    resolved = dt.datetime(YEAR - 2, 6, 1, 2, 0, tzinfo=dt.UTC)
    with database.engine.begin() as conn:
        conn.execute(
            text("UPDATE reconciliation_finding SET first_seen_at = :t WHERE id = :id"),
            {"t": first, "id": over["id"]},
        )
        conn.execute(
            text("UPDATE reconciliation_event SET at = :t WHERE finding_id = :id "
                 "AND to_status = 'open'"),
            {"t": first, "id": over["id"]},
        )  # fmt: skip
        conn.execute(
            text("UPDATE reconciliation_event SET at = :t WHERE finding_id = :id "
                 "AND to_status = 'resolved'"),
            {"t": resolved, "id": over["id"]},
        )  # fmt: skip

    # Last year it was resolved all year long: no finding of last year's audit.
    last_year = client.get(
        "/api/v1/reports/annual", params={"unit_code": U1, "year": YEAR - 1},
        headers=headers_for("audit"),
    )  # fmt: skip
    assert last_year.status_code == 200, last_year.text
    in_annual = over["id"] in [x["id"] for x in last_year.json()["findings"]]
    # Likewise the tenure report over last year.
    from tests.records import factory as f

    tenure = client.get(
        "/api/v1/reports/tenure",
        params={"id_number": f.id_number(1), "unit_code": U1,
                "from": f"{YEAR - 1}-01-01", "to": f"{YEAR - 1}-12-31"},
        headers=headers_for("audit"),
    )  # fmt: skip
    assert tenure.status_code == 200, tenure.text
    # The tenure report's findings carry no id: the rule and the time first found tell it.
    in_tenure = any(
        x["rule"] == "OVER_QUOTA" for x in tenure.json()["findings"]
    )
    assert (in_annual, in_tenure) == (False, False)


def test_finding_waived_before_the_year_and_resolved_after_it_is_not_in_that_year(
    unit: None, push: Push, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    """A waived finding that no longer holds is resolved by the next run: it was closed (an
    accepted exception) from its waiver on, not open until the run resolved it."""
    office = headers_for("establishment")
    today = hub_today().isoformat()
    run_and_wait(client, office, as_of=today)
    (over,) = client.get(
        "/api/v1/discrepancies", params={"rule": "OVER_QUOTA", "unit_code": U1}, headers=office
    ).json()["items"]
    waived = client.post(
        f"/api/v1/discrepancies/{over['id']}/transitions",
        json={"to": "waived", "reason": "临时借调，经批准", "document_no": "哈编〔2024〕3号"},
        headers=office,
    )
    assert waived.status_code == 200, waived.text
    assert push("quotas", [registry_row("quotas", establishment_type="administrative",
                                        approved=3)]).status_code == 201  # fmt: skip
    run_and_wait(client, office, as_of=today)
    now = client.get(f"/api/v1/discrepancies/{over['id']}", headers=office).json()
    assert now["status"] == "resolved"

    # Found in March two years ago and waived that April; the run resolved it today.
    first = dt.datetime(YEAR - 2, 3, 1, 2, 0, tzinfo=dt.UTC)
    waived_at = dt.datetime(YEAR - 2, 4, 1, 2, 0, tzinfo=dt.UTC)
    with database.engine.begin() as conn:
        conn.execute(
            text("UPDATE reconciliation_finding SET first_seen_at = :t WHERE id = :id"),
            {"t": first, "id": over["id"]},
        )
        for status, at in (("open", first), ("waived", waived_at)):
            conn.execute(
                text("UPDATE reconciliation_event SET at = :t WHERE finding_id = :id "
                     "AND to_status = :s"),
                {"t": at, "id": over["id"], "s": status},
            )  # fmt: skip

    last_year = client.get(
        "/api/v1/reports/annual", params={"unit_code": U1, "year": YEAR - 1},
        headers=headers_for("audit"),
    )  # fmt: skip
    assert last_year.status_code == 200, last_year.text
    assert over["id"] not in [x["id"] for x in last_year.json()["findings"]]
