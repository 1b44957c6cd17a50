"""A full run under other parameters drops the watermarks of the regions it overlaps; each of
those regions stays a target of the on-write step, and its next run is a full one.

README ("Full and incremental runs"): after every write the hub reconciles what the write
touched, for the widest regions a run has settled; "a full run under other parameters over an
overlapping region drops that region's watermark, so its next run is full too". The on-write
step took its targets from the regions holding a watermark, so a county run as of yesterday,
of an earlier period, or of its own latest period while a new month had reached a sibling
county, took the city off the targets: writes in the city's other counties were no longer
reconciled until someone ran the city by hand.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from tests.reconciliation.test_incremental import (
    CITY,
    COUNTIES,
    Hub,
    hub,
    id_number,
    person_row,
    runs_listed,
)

__all__ = ["hub"]


def _wait(h: Hub, run_id: str) -> dict[str, Any]:
    for _ in range(400):
        r = h.client.get(
            f"/api/v1/reconciliation/runs/{run_id}", headers=h.headers_for("establishment", CITY)
        )
        body: dict[str, Any] = r.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("run did not finish")


@pytest.mark.parametrize(
    "county_body",
    [
        {"as_of": -1},  # re-check the county as of yesterday
        {"period": "2026-09"},  # re-check the county's previous payroll month
        {},  # no parameters at all, while a new payroll month has reached 230103 only
    ],
    ids=["as_of_yesterday", "earlier_period", "defaults_new_month_elsewhere"],
)
def test_the_city_stays_settled_after_a_county_run_under_other_parameters(
    hub: Hub, county_body: dict[str, Any]
) -> None:
    """The city (settled by a full run, so an on-write target) stays settled after writes,
    whatever one county's operator re-checked: a paid line of a person on no roster in county
    230103 is a PAID_WITHOUT_ESTABLISHMENT finding after the hub's on-write step, whose run of
    the city reads it in full and says why."""
    if not county_body:
        # finance's November lines have reached county 230103 and not yet 230102: the city's
        # default period is 2026-11, county 230102's is 2026-10 (README, period_behind)
        line = person_row("payroll", 2, 3, 1, hub.today, "2026-11")
        assert hub.push("payroll", [line]) == 201
        hub.settle()
    body: dict[str, Any] = {"region": COUNTIES[0]}
    if "as_of" in county_body:
        body["as_of"] = (hub.today + dt.timedelta(days=county_body["as_of"])).isoformat()
    else:
        body |= county_body
    answer = hub.client.post(
        "/api/v1/reconciliation/runs", json=body, headers=hub.headers_for("establishment", CITY)
    )
    assert answer.status_code == 202, answer.text
    assert _wait(hub, answer.json()["run_id"])["status"] == "succeeded"

    # finance pays, in county 230103, a person no roster holds
    period = "2026-10" if county_body else "2026-11"
    assert hub.push("payroll", [person_row("payroll", 30, 3, 1, hub.today, period)]) == 201
    hub.settle()  # what the hub's on-write thread runs after the write

    found = hub.client.get(
        "/api/v1/discrepancies",
        params={"rule": "PAID_WITHOUT_ESTABLISHMENT", "id_number": id_number(30)},
        headers=hub.headers_for("audit", CITY),
    )
    assert found.status_code == 200, found.text
    assert len(found.json()["items"]) == 1, "the write in 230103 was never reconciled"
    [city_run] = runs_listed(hub, region=CITY, kind="incremental")[:1]
    assert any(w["code"] == "read_in_full" for w in city_run["warnings"]), city_run
