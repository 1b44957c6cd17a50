"""API3:2023 Broken Object Property Level Authorization — a pay-only change told by the closing.

README (Hidden fields stay hidden): for a department that cannot read ``gross_pay`` a change of
pay alone is no change: "the version, ETag, batch, recording time, history, change feed and
finding evidence stay as they were". To HR a line whose pay alone changed is one version, still
current (``closed_at: null``), in its history. The attack: read the line ``as_of`` a moment
between the two pushes, or the change feed's ``record``, or a finding's evidence, and learn from
the version's *closing* (``closed_at``, ``closed_batch_id``, evidence ``current``) the moment and
batch in which finance changed the pay. Those all show the closing of the last version of the
run HR sees (``records.seen.as_seen``): null while the run is current; once a field HR reads
changes, the closing of that change — never the pay-only batch. Finance sees the real closing.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f

COUNTY = "230102"
UNIT = f.unit_code(31, region=COUNTY)


def _push(client: TestClient, headers_for: HeadersFor, pay: str) -> str:
    answer = client.post(
        "/api/v1/datasets/payroll/batches",
        json={
            "records": [f.payroll(0, unit_code=UNIT, gross_pay=pay)],
            "scope": {"period": "2026-10"},
        },
        headers=headers_for("finance", COUNTY),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["batch_id"])


def _setup(client: TestClient, headers_for: HeadersFor) -> tuple[str, str]:
    _push(client, headers_for, "8000.00")
    time.sleep(0.02)
    between = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.02)
    pay_only = _push(client, headers_for, "9100.00")
    return between, pay_only


def _get(client: TestClient, headers_for: HeadersFor, path: str, **params: Any) -> Any:
    answer = client.get(path, params=params, headers=headers_for("hr", COUNTY))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_as_of_read_does_not_reveal_the_pay_change(
    client: TestClient, headers_for: HeadersFor
) -> None:
    between, pay_only = _setup(client, headers_for)
    [history] = _get(
        client,
        headers_for,
        f"/api/v1/datasets/payroll/records/"
        f"{_get(client, headers_for, '/api/v1/datasets/payroll/records')['items'][0]['record_key']}"
        "/history",
    )["items"]
    assert history["closed_at"] is None  # to HR the line is one version, still current
    [line] = _get(client, headers_for, "/api/v1/datasets/payroll/records", as_of=between)["items"]
    assert line["version"] == 1
    # HR must not learn when (or in which batch) finance changed the pay alone.
    assert line.get("closed_batch_id") != pay_only, line
    assert line.get("closed_at") is None, line


def test_change_feed_record_does_not_reveal_the_pay_change(
    client: TestClient, headers_for: HeadersFor
) -> None:
    _between, pay_only = _setup(client, headers_for)
    items = _get(client, headers_for, "/api/v1/changes", dataset="payroll")["items"]
    assert [(c["op"], c["version"]) for c in items] == [("upsert", 1)]
    record = items[0]["record"]
    assert record.get("closed_batch_id") != pay_only, record
    assert record.get("closed_at") is None, record


def test_finding_evidence_does_not_reveal_the_pay_change(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """The evidence of a finding names payroll version 1; finance then changes the pay alone
    (before any further run, or after the finding was resolved: evidence is not rewritten).
    To HR the line is still version 1 and current, so the evidence must say ``current``."""
    from tests.reconciliation.test_api import run_and_wait

    roster = client.post(
        "/api/v1/datasets/roster/batches",
        json={"records": [f.roster(99, unit_code=UNIT)]},
        headers=headers_for("establishment", COUNTY),
    )
    assert roster.status_code == 201, roster.text
    _push(client, headers_for, "8000.00")  # person 0 paid, not on the roster: 吃空饷
    done = run_and_wait(client, headers_for("establishment", COUNTY), region=COUNTY)
    assert done["status"] == "succeeded", done
    _push(client, headers_for, "9100.00")  # pay alone

    [finding] = _get(
        client,
        headers_for,
        "/api/v1/discrepancies",
        rule="PAID_WITHOUT_ESTABLISHMENT",
        id_number=f.id_number(0),
    )["items"]
    detail = _get(client, headers_for, f"/api/v1/discrepancies/{finding['id']}")
    [line] = [e for e in detail["evidence"] if e["dataset"] == "payroll"]
    [current] = _get(client, headers_for, "/api/v1/datasets/payroll/records")["items"]
    assert (line["version"], current["version"]) == (1, 1)
    assert line["current"] is True, line  # HR's own GET shows version 1 as current


def test_the_run_closes_where_hr_sees_a_change(client: TestClient, headers_for: HeadersFor) -> None:
    """After a change HR reads, version 1 closes (to HR) with that change, never with the pay;
    finance, which reads pay, sees the real closing of version 1."""
    between, pay_only = _setup(client, headers_for)
    status = client.post(
        "/api/v1/datasets/payroll/batches",
        json={
            "records": [f.payroll(0, unit_code=UNIT, gross_pay="9100.00", status="suspended")],
            "scope": {"period": "2026-10"},
        },
        headers=headers_for("finance", COUNTY),
    )
    assert status.status_code == 201, status.text
    visible = str(status.json()["batch_id"])

    [line] = _get(client, headers_for, "/api/v1/datasets/payroll/records", as_of=between)["items"]
    assert (line["version"], line["closed_batch_id"]) == (1, visible), line
    key = line["record_key"]
    history = _get(client, headers_for, f"/api/v1/datasets/payroll/records/{key}/history")
    assert [(h["version"], h["closed_batch_id"]) for h in history["items"]] == [
        (1, visible),
        (3, None),
    ]
    assert history["items"][0]["closed_at"] == line["closed_at"]
    feed = _get(client, headers_for, "/api/v1/changes", dataset="payroll")["items"]
    assert [(c["version"], c["record"]["closed_batch_id"]) for c in feed] == [
        (1, visible),
        (3, None),
    ]

    answer = client.get(
        "/api/v1/datasets/payroll/records",
        params={"as_of": between},
        headers=headers_for("finance", COUNTY),
    )
    assert answer.status_code == 200, answer.text
    [real] = answer.json()["items"]
    assert (real["version"], real["closed_batch_id"]) == (1, pay_only), real
