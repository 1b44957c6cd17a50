"""API1 across time: the batches named by a moved finding's withheld evidence.

County A's finance pushed a payroll line of a person on no roster (PAID_WITHOUT_ESTABLISHMENT,
filed in A); the city then moved the unit to sibling county B. Until a run finds it again, the
finding's evidence is A's versions of before the move, withheld from B (no fields). Each such
record still named ``batch_id``: A's batch, which B cannot open (``GET /batches/{id}`` is a
404 to it) — the one name the hub otherwise gives only to a reader that may open it (runs'
``batch_ids``, ``records.changed``, ``records.visibility.batch_openable``). Now a withheld
record names its batch only when the reader may open it (null otherwise); A and the city, who
read the record, are named it as before.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"


def _detail(client: TestClient, headers: dict[str, str], fid: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/discrepancies/{fid}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_moved_findings_withheld_evidence_names_no_batch_the_reader_cannot_open(
    client: TestClient, headers_for: HeadersFor
) -> None:
    ghost_pay(client, headers_for, A, 70)
    run(client, headers_for, A)
    found = client.get("/api/v1/discrepancies", headers=headers_for("audit", A)).json()["items"]
    [fid] = [d["id"] for d in found]
    before = _detail(client, headers_for("audit", A), fid)["evidence"]
    batches = {e["batch_id"] for e in before}
    assert batches and None not in batches
    moved = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(70, region=A) | {"region": B}]},
        headers=headers_for("establishment", CITY),
    )
    assert moved.status_code == 201, moved.text

    b = headers_for("audit", B)
    evidence = _detail(client, b, fid)["evidence"]
    assert evidence and all(e["withheld"] and e["region"] == A for e in evidence)
    for batch in batches:  # A's batches: none is B's to open ...
        answer = client.get(f"/api/v1/batches/{batch}", headers=b)
        assert answer.status_code == 404, answer.text
    # ... so none is named to B.
    assert {e["batch_id"] for e in evidence} == {None}
    # The city reads the records and is named their batches.
    city = _detail(client, headers_for("audit", CITY), fid)["evidence"]
    assert {e["batch_id"] for e in city} == batches
