"""A live finding a run files under another region (its subject's unit changed) is announced
there.

A person rule's finding is filed under one unit of the person (DUPLICATE_PAYROLL: the first
paying unit by code) and keeps its id (``rule:person_key``) when found again. When the paying
units change — the line of county A's unit stops, one of a second unit of county B starts —
the next run files the same live finding under county B (reconciliation.merge sets ``region``
on a finding found again). County A no longer opens it; county B now must settle it. A unit
move announces exactly this to the region entered (``finding.opened``, ``kind: moved``; see
tests/notifications/test_moved_findings.py); a run re-filing it says nothing at all, so B's
subscribers never hear of a critical finding that is now theirs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, verifies
from tests.notifications.test_webhooks import subscribe
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push
from tests.records.conftest import push as push  # the fixture

CITY, A, B = "230100", "230102", "230103"
FINDING_EVENTS = [
    "finding.opened",
    "finding.reopened",
    "finding.resolved",
    "finding.transitioned",
]


def test_the_region_a_run_files_a_live_finding_in_hears_of_it(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver, push: Push
) -> None:
    in_a, in_b, also_b = (
        f.unit_code(2, region=A),
        f.unit_code(3, region=B),
        f.unit_code(4, region=B),
    )
    units = [f.unit(2, region=A), f.unit(3, region=B), f.unit(4, region=B)]
    assert push("units", units).status_code == 201
    assert push("roster", [f.roster(9) | {"unit_code": in_b}]).status_code == 201
    scope = {"region": CITY, "period": "2026-10"}
    paid = [f.payroll(9) | {"unit_code": u} for u in (in_a, in_b)]
    assert push("payroll", paid, scope=scope).status_code == 201
    city = headers_for("establishment", CITY)
    assert run_and_wait(client, city)["status"] == "succeeded"

    audit_a, audit_b = headers_for("audit", A), headers_for("audit", B)
    (found,) = client.get(
        "/api/v1/discrepancies", params={"rule": "DUPLICATE_PAYROLL"}, headers=audit_a
    ).json()["items"]
    assert (found["region"], found["unit_code"]) == (A, in_a)
    told_b = subscribe(client, audit_b, receiver.url, FINDING_EVENTS)

    # The pay of county A's unit stops; a second unit of county B pays the person too.
    again = [f.payroll(9) | {"unit_code": u} for u in (in_b, also_b)]
    assert push("payroll", again, scope=scope, mode="snapshot").status_code == 201
    assert run_and_wait(client, city)["status"] == "succeeded"

    # The same live finding is now county B's, and no longer county A's.
    moved = client.get(f"/api/v1/discrepancies/{found['id']}", headers=audit_b)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["region"], moved.json()["status"]) == (B, "open")
    assert client.get(f"/api/v1/discrepancies/{found['id']}", headers=audit_a).status_code == 404

    # County B's subscriber is told of it.
    try:
        receiver.wait(
            lambda got: any(
                verifies(told_b["secret"], r) and r.json["data"].get("finding_id") == found["id"]
                for r in got
            ),
            seconds=8,
        )
    except AssertionError:
        told = [r.json for r in receiver.received if verifies(told_b["secret"], r)]
        raise AssertionError(
            f"county B was told nothing of finding {found['id']} now filed under it; "
            f"its subscriber got: {[(b['type'], b['data'].get('rule')) for b in told]}"
        ) from None
