"""API3:2023 Broken Object Property Level Authorization — a pay-only change told by the feed's
cursor.

HR cannot read ``gross_pay``: a payroll version that changed only the pay is no change to it,
and the change feed steps over it (``records.seen.as_seen``). But the page's ``next_cursor``
went on to the last row of HR's region and dataset, hidden ones included: HR, caught up, polled
after finance raised the pay of a line in its county and got no change with a cursor that had
moved, where a change in the sibling county left its cursor where it was. So HR learnt that,
and when, finance changed pay in its region (narrowed by ``region`` and ``dataset=payroll``).
Now a caught-up page's cursor is the feed's head, whatever lies before it: it moves alike for
a change HR cannot see in its region and for any change elsewhere.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.cursors import decode_cursor
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

CITY, A, B = "230100", "230102", "230103"
UNIT_A, UNIT_B = f.unit_code(2, region=A), f.unit_code(3, region=B)
PERIOD = {"region": CITY, "period": "2026-10"}


def _poll(client: TestClient, headers: dict[str, str], since: str | None) -> Any:
    params: dict[str, Any] = {"dataset": "payroll", "region": A}
    if since is not None:
        params["since"] = since
    response = client.get("/api/v1/changes", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _head(client: TestClient, headers_for: HeadersFor) -> int:
    """The seq of the last change, as the province's audit reads the feed."""
    response = client.get(
        "/api/v1/changes", params={"limit": 1000}, headers=headers_for("audit", "230000")
    )
    assert response.status_code == 200, response.text
    return int(response.json()["items"][-1]["seq"])


def _lines(pay: str) -> list[dict[str, Any]]:
    return [f.payroll(1, gross_pay=pay) | {"unit_code": UNIT_A}]


def test_a_pay_only_change_moves_hrs_cursor_as_any_change_elsewhere_does(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    assert push("units", [f.unit(2, region=A), f.unit(3, region=B)]).status_code == 201
    assert push("payroll", _lines("5000.00"), scope=PERIOD).status_code == 201
    hr = headers_for("hr", A)
    first = _poll(client, hr, None)
    assert [c["record"]["name"] for c in first["items"]] == ["张1"]
    caught_up = first["next_cursor"]

    # Finance raises the pay of A's line (no change to HR) ...
    assert push("payroll", _lines("9999.00"), scope=PERIOD).status_code == 201
    after_raise = _poll(client, hr, caught_up)
    assert after_raise["items"] == []
    # ... and the sibling county's roster takes a person (no change in HR's view either).
    assert push("roster", [f.roster(2) | {"unit_code": UNIT_B}]).status_code == 201
    after_sibling = _poll(client, hr, after_raise["next_cursor"])
    assert after_sibling["items"] == []

    # HR cannot tell the two apart: each moved its cursor to the feed's head (it had moved on
    # the raise alone, to the raise's own row).
    raised_at = decode_cursor(after_raise["next_cursor"])
    assert raised_at > decode_cursor(caught_up)
    head = _head(client, headers_for)
    assert decode_cursor(after_sibling["next_cursor"]) == head > raised_at

    # A change HR does see still comes, and no change is skipped.
    renamed = [f.payroll(1, gross_pay="9999.00", name="李一") | {"unit_code": UNIT_A}]
    assert push("payroll", renamed, scope=PERIOD).status_code == 201
    page = _poll(client, hr, after_sibling["next_cursor"])
    assert [(c["record"]["name"], c["version"]) for c in page["items"]] == [("李一", 3)]
    assert _poll(client, hr, caught_up)["items"] == page["items"]
