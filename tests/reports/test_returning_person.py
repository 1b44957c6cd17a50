"""Someone who left a unit and came back: their earlier spell counts on its days.

The roster, HR and cadre records are keyed by person and unit, so the return is a new version
of the same record, with the return's dates. The reports read only the current version: the
person vanished from every day before the return, their years before leaving included (an
auditor asking for 2018's staffing or a leader's tenure then saw one person fewer). A spell
now ends where the record, ended, became active again in the next version
(:func:`linkage_hub.validtime.on_roster`).
"""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor, hub_today
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push, Read

U1 = f.unit_code(1)
LEFT, BACK = "2020-06-30", "2022-01-01"


def counts(client: TestClient, headers: dict[str, str], day: str) -> tuple[int, int]:
    response = client.get("/api/v1/reports/staffing", params={"as_of": day}, headers=headers)
    assert response.status_code == 200, response.text
    rows = [
        (r["on_roster"], r["employed"]) for r in response.json()["items"] if r["unit_code"] == U1
    ]
    assert len(rows) <= 1  # no quota, nobody on the roster: no row
    return rows[0] if rows else (0, 0)


def leaders(client: TestClient, headers: dict[str, str], first: str, last: str) -> list[int]:
    response = client.get(
        "/api/v1/reports/tenure",
        params={"id_number": f.id_number(2), "unit_code": U1, "from": first, "to": last},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return [m["leaders"] for m in response.json()["months"]]


def test_the_years_before_leaving_count(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    assert push("units", [f.unit(1, kind="organ")]).status_code == 201
    # person 1 stays throughout; person 2 leaves and comes back
    gone = {"status": "exited", "exited_on": LEFT, "exit_reason": "transfer_out"}
    for roster in (
        f.roster(2, entered_on="2015-01-01"),
        f.roster(2, entered_on="2015-01-01", **gone),
        f.roster(2, entered_on=BACK),
    ):
        assert push("roster", [f.roster(1, entered_on="2015-01-01"), roster]).status_code == 201
    for hr in (
        f.employment(2, hired_on="2015-01-01"),
        f.employment(2, hired_on="2015-01-01", status="transferred_out", status_on=LEFT),
        f.employment(2, hired_on=BACK),
    ):
        assert push("employment", [f.employment(1, hired_on="2015-01-01"), hr]).status_code == 201
    for cadre in (
        f.cadre(2, leader_level="principal", appointed_on="2016-01-01"),
        f.cadre(2, leader_level="principal", appointed_on="2016-01-01", status="removed",
                removed_on=LEFT),
        f.cadre(2, leader_level="principal", appointed_on=BACK),
    ):  # fmt: skip
        assert push("cadres", [cadre]).status_code == 201
    audit = headers_for("audit")
    assert counts(client, audit, "2018-06-30") == (2, 2)  # before: (1, 1)
    assert counts(client, audit, "2020-06-29") == (2, 2)  # the spell's last day
    assert counts(client, audit, LEFT) == (1, 1)  # gone from the day of the exit
    assert counts(client, audit, "2021-06-30") == (1, 1)
    assert counts(client, audit, BACK) == (2, 2)
    assert counts(client, audit, "2014-12-31") == (0, 0)  # before the first spell
    assert leaders(client, audit, "2018-01-01", "2018-03-31") == [1, 1, 1]  # before: 0s
    assert leaders(client, audit, "2021-01-01", "2021-02-28") == [0, 0]


def test_a_spell_deleted_since_does_not_count(
    push: Push, read: Read, client: TestClient, headers_for: HeadersFor
) -> None:
    """A record deleted and pushed anew starts a new life: the spells before the delete are
    the old key's, as a deleted quota is not in force again (validtime.effective_version)."""
    assert push("units", [f.unit(1, kind="organ")]).status_code == 201
    gone = {"status": "exited", "exited_on": LEFT, "exit_reason": "transfer_out"}
    for roster in (
        f.roster(2, entered_on="2015-01-01", **gone),
        f.roster(2, entered_on=BACK),
    ):
        assert push("roster", [f.roster(1, entered_on="2015-01-01"), roster]).status_code == 201
    audit = headers_for("audit")
    assert counts(client, audit, "2018-06-30")[0] == 2
    [key] = [r["record_key"] for r in read("roster") if r["id_number"] == f.id_number(2)]
    url = f"/api/v1/datasets/roster/records/{key}"
    owner = headers_for("establishment")
    etag = client.get(url, headers=owner).headers["etag"]
    assert client.delete(url, headers={**owner, "If-Match": etag}).status_code == 204
    again = [f.roster(1, entered_on="2015-01-01"), f.roster(2, entered_on="2023-01-01")]
    assert push("roster", again).status_code == 201
    assert counts(client, audit, "2018-06-30")[0] == 1
    assert counts(client, audit, dt.date(2023, 1, 1).isoformat())[0] == 2


def test_an_undated_exit_then_a_return_keeps_the_earlier_spell(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """An exit pushed without its date ends on the day the hub recorded it; the spell it ended
    still counts after the return is pushed (found by the review of 2026-12-06's changes: the
    earlier spell was looked for by its end date alone, and the return erased 2015 to the
    exit)."""
    assert push("units", [f.unit(1, kind="organ")]).status_code == 201
    one = f.roster(1, entered_on="2015-01-01")
    assert push("roster", [one, f.roster(2, entered_on="2015-01-01")]).status_code == 201
    undated = f.roster(2, entered_on="2015-01-01", status="exited", exit_reason="transfer_out")
    assert push("roster", [one, undated]).status_code == 201
    audit = headers_for("audit")
    assert counts(client, audit, "2018-06-30")[0] == 2  # counted until the exit was recorded
    back = f.roster(2, entered_on=hub_today().isoformat())
    assert push("roster", [one, back]).status_code == 201
    assert counts(client, audit, "2018-06-30")[0] == 2


def test_an_earlier_spell_inside_the_audited_days_brings_its_findings(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """Person 5 was on unit 1's roster for a week, then moved to unit 2, where HR has no
    record of them (ESTABLISHED_NOT_EMPLOYED, naming unit 2), and comes back to unit 1
    tomorrow. They were one of unit 1's people during the leader's tenure audited, so the
    tenure report (and the annual audit, which finds a unit's people the same way) lists the
    finding. The people were found by the current version alone or its start inside the days,
    and a spell wholly inside them was missed once the return was pushed (found by the review
    of 2026-12-06's changes)."""
    today = hub_today()
    start, left = (today - dt.timedelta(days=15)).isoformat(), (today - dt.timedelta(days=8))
    assert push("units", [f.unit(1), f.unit(2)]).status_code == 201
    quotas = [
        {"unit_code": u, "establishment_type": "institutional", "approved": 5,
         "effective_on": "2010-01-01"}
        for u in (U1, f.unit_code(2))
    ]  # fmt: skip
    assert push("quotas", quotas).status_code == 201
    leader = f.cadre(1, leader_level="principal", position="局长", appointed_on="2020-01-01")
    assert push("cadres", [leader]).status_code == 201
    assert push("roster", [f.roster(1), f.roster(5, entered_on=start)]).status_code == 201
    gone = f.roster(5, entered_on=start, status="exited", exited_on=left.isoformat(),
                    exit_reason="transfer_out")  # fmt: skip
    there = f.roster(5, 2, entered_on=left.isoformat())
    assert push("roster", [f.roster(1), gone, there]).status_code == 201
    assert push("employment", [f.employment(1)]).status_code == 201

    def audited() -> list[tuple[str, str | None]]:
        response = client.get(
            "/api/v1/reports/tenure",
            params={"id_number": f.id_number(1), "unit_code": U1,
                    "from": (today - dt.timedelta(days=20)).isoformat(), "to": today.isoformat()},
            headers=headers_for("audit"),
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return sorted((x["rule"], x["unit_code"]) for x in response.json()["findings"])

    run = run_and_wait(client, headers_for("establishment"), as_of=today.isoformat())
    assert run["status"] == "succeeded", run
    assert ("ESTABLISHED_NOT_EMPLOYED", f.unit_code(2)) in audited()
    back = f.roster(5, entered_on=(today + dt.timedelta(days=1)).isoformat())
    assert push("roster", [f.roster(1), back, there]).status_code == 201
    assert ("ESTABLISHED_NOT_EMPLOYED", f.unit_code(2)) in audited()  # the same open finding
