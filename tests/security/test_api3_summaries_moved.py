"""A finding's summary after its unit moves to a sibling county.

County A (230102): person 1 is active on the roster of unit MOVING; HR lists the person only
at unit HRUNIT (also in A), retired on 2026-03-02. A's run files LATE_EXIT under MOVING with
a summary that quotes the HR exit date (the HR record lies in the finding's region: allowed).
The city then moves MOVING to county B (230103). The move files the live finding in B, whose
clients now open it — but the HR record stays in A, withheld from B in the evidence. The
summary still spells out its ``status_on``: B reads a field of a record of A it may not read.
The security suite's rule (tests/security/README.md, API3 summaries) is that a summary quotes
a value only from a record of the finding's own region (found by a review, 2026-12-06: nothing
rewrote it, B's runs leave the finding alone, A's no longer see it). Now the move words it
without the date, exactly as a run of the city then writes it.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f

A, B, PROVINCE = "230102", "230103", "230000"
MOVING = f.unit_code(1, region=A, kind="11")
HRUNIT = f.unit_code(2, region=A, kind="11")
EXIT_DAY = "2026-03-02"
OWNER = {"units": "establishment", "quotas": "establishment", "roster": "establishment"}
OWNER |= {"employment": "hr"}


def _unit(code: str, region: str) -> dict[str, Any]:
    return {"unit_code": code, "name": "单位", "region": region, "kind": "organ"} | {
        "funding": "full",
        "status": "active",
    }


def _push(client: TestClient, headers_for: HeadersFor, dataset: str, rows: list[Any]) -> None:
    answer = client.post(
        f"/api/v1/datasets/{dataset}/batches",
        json={"records": rows},
        headers=headers_for(OWNER[dataset], PROVINCE),
    )
    assert answer.status_code == 201, answer.text


def test_a_moved_finding_does_not_quote_the_region_it_left(
    client: TestClient, headers_for: HeadersFor
) -> None:
    _push(client, headers_for, "units", [_unit(MOVING, A), _unit(HRUNIT, A)])
    _push(
        client,
        headers_for,
        "quotas",
        [{"unit_code": MOVING, "establishment_type": "administrative", "approved": 5}],
    )
    _push(
        client,
        headers_for,
        "roster",
        [f.roster(1) | {"unit_code": MOVING, "establishment_type": "administrative"}],
    )
    hr = f.employment(1) | {"unit_code": HRUNIT, "category": "civil_servant"}
    _push(client, headers_for, "employment", [hr | {"status": "retired", "status_on": EXIT_DAY}])
    run = run_and_wait(client, headers_for("establishment", A), region=A)
    assert run["status"] == "succeeded", run

    found = client.get(
        "/api/v1/discrepancies",
        params={"rule": "LATE_EXIT"},
        headers=headers_for("audit", A),
    ).json()["items"]
    assert len(found) == 1, found
    finding = found[0]
    # In A the HR record is A's own: the date may be quoted (the precondition of this test).
    assert EXIT_DAY in finding["summary"]["en"], finding["summary"]

    _push(client, headers_for, "units", [_unit(MOVING, B)])  # the city moves the unit to B

    detail = client.get(f"/api/v1/discrepancies/{finding['id']}", headers=headers_for("audit", B))
    assert detail.status_code == 200, detail.text  # the finding is B's now
    body = detail.json()
    hr_evidence = [e for e in body["evidence"] if e["dataset"] == "employment"]
    assert hr_evidence and all(e["withheld"] for e in hr_evidence)  # B may not read it
    # ... so the summary must not spell out a field of it either
    assert EXIT_DAY not in body["summary"]["en"], body["summary"]
    assert EXIT_DAY not in body["summary"]["zh"], body["summary"]
    assert body["summary"]["en"].startswith("left per HR, still on the roster after ")

    # the wording is the rule's own: a run over the city (both counties) leaves it as it is
    city = run_and_wait(client, headers_for("establishment", "230100"), region="230100")
    assert city["status"] == "succeeded", city
    again = client.get(f"/api/v1/discrepancies/{finding['id']}", headers=headers_for("audit", B))
    assert again.json()["summary"] == body["summary"]
