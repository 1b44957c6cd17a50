"""API1: a finding's history names a run only to a reader who may open it.

A city's run files findings in its counties; each status change it wrote is an entry of the
finding's history (``GET /api/v1/discrepancies/{id}``, ``history[].run_id``). A county reads
the finding, but not the city's run: ``GET /api/v1/reconciliation/runs/{id}`` is 404 to it
(reconciliation.history: a run over a larger region is not shown). The history named it all
the same. Now an entry names its run when the run's region lies in the reader's, and shows
``run_id: null`` otherwise (the status and the time stay), as the run conflict's 409 describes
the city's run without naming it (test_api1_run_conflict.py).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.test_webhooks import ghost_pay, run

CITY, COUNTY = "230100", "230102"


def _history(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    (found,) = client.get(
        "/api/v1/discrepancies",
        params={"rule": "PAID_WITHOUT_ESTABLISHMENT"},
        headers=headers,
    ).json()["items"]
    detail = client.get(f"/api/v1/discrepancies/{found['id']}", headers=headers)
    assert detail.status_code == 200, detail.text
    return list(detail.json()["history"])


def test_a_county_is_not_named_the_city_run_that_opened_its_finding(
    client: TestClient, headers_for: HeadersFor
) -> None:
    county, city = headers_for("audit", COUNTY), headers_for("audit", CITY)
    ghost_pay(client, headers_for, COUNTY, 10)
    city_run = run(client, headers_for, CITY)
    assert client.get(f"/api/v1/reconciliation/runs/{city_run}", headers=county).status_code == 404

    (opened,) = _history(client, county)
    assert (opened["from"], opened["to"]) == (None, "open")
    assert opened["run_id"] is None, f"the county is named run {opened['run_id']}"
    # The city, whose run it is, is named it.
    assert [e["run_id"] for e in _history(client, city)] == [city_run]


def test_a_county_is_named_its_own_run_and_so_is_the_city_above_it(
    client: TestClient, headers_for: HeadersFor
) -> None:
    county, city = headers_for("audit", COUNTY), headers_for("audit", CITY)
    ghost_pay(client, headers_for, COUNTY, 10)
    county_run = run(client, headers_for, COUNTY)
    assert [e["run_id"] for e in _history(client, county)] == [county_run]
    assert [e["run_id"] for e in _history(client, city)] == [county_run]
