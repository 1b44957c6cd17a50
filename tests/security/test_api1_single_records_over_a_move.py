"""API1 across time: single-record writes with an ETag read before the city moved the unit.

Suspected in a review (2026-12-08) of letting county A, holding the ETag of a roster entry it
read before the city moved the entry's unit to sibling county B, learn of B's record by the
difference between a 404 and a 412 (or by the 412's body), or write into B with ``If-Match: *``.
Not so: a single-record PUT or DELETE reads the record under the caller's region first, under
the dataset's merge lock (which takes the regions lock, so no move runs meanwhile): a record
that left is a 404 with the body of a key that never existed, stale ETag or ``*``; nothing
changes in B; B's own write needs B's ETag (the move's version). Kept as a guard.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
UNIT = f.unit_code(61, region=A)
PATH = "/api/v1/datasets/roster/records/{}"


def _same(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("request_id", "instance")}


def _moved(client: TestClient, headers_for: HeadersFor) -> dict[str, Any]:
    """A's roster entry as A read it, then the unit moved to B by the city."""
    office = headers_for("establishment", A)
    for dataset, record in (
        ("units", f.unit(61, region=A)),
        ("roster", f.roster(61, unit_code=UNIT)),
    ):
        pushed = client.post(
            f"/api/v1/datasets/{dataset}/batches", json={"records": [record]}, headers=office
        )
        assert pushed.status_code == 201, pushed.text
    [entry] = client.get(
        "/api/v1/datasets/roster/records", params={"unit_code": UNIT}, headers=office
    ).json()["items"]
    move = {"records": [f.unit(61, region=A) | {"region": B}]}
    moved = client.post(
        "/api/v1/datasets/units/batches", json=move, headers=headers_for("establishment", CITY)
    )
    assert moved.status_code == 201, moved.text
    return dict(entry)


class TestAStaleETagOverAMove:
    def test_the_county_left_is_answered_as_for_no_record(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        entry = _moved(client, headers_for)
        office = headers_for("establishment", A)
        made_up = PATH.format("0" * 32)
        body = f.roster(61, unit_code=UNIT) | {"name": "改名"}
        for tag in (f'"v{entry["version"]}"', "*", '"v99"'):
            headers = {**office, "If-Match": tag}
            for path in (PATH.format(entry["record_key"]), made_up):
                put = client.put(path, json=body, headers=headers)
                gone = client.delete(path, headers=headers)
                assert put.status_code == gone.status_code == 404, (tag, put.text)
            ghost = client.put(made_up, json=body, headers=headers).json()
            real = client.put(PATH.format(entry["record_key"]), json=body, headers=headers)
            assert _same(real.json()) == _same(ghost)
        assert client.get(PATH.format(entry["record_key"]), headers=office).status_code == 404

    def test_the_county_entered_keeps_the_record_and_writes_with_its_own_tag(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        entry = _moved(client, headers_for)
        office = headers_for("establishment", B)
        path = PATH.format(entry["record_key"])
        got = client.get(path, headers=office)
        assert got.status_code == 200, got.text
        assert got.json()["name"] == entry["name"] and got.json()["region"] == B
        body = f.roster(61, unit_code=UNIT) | {"name": "改名"}
        stale = client.put(
            path, json=body, headers={**office, "If-Match": f'"v{entry["version"]}"'}
        )
        assert stale.status_code == 412, stale.text
        fresh = client.put(path, json=body, headers={**office, "If-Match": got.headers["ETag"]})
        assert fresh.status_code == 200, fresh.text
        # A reads its own past alone: the version it held, closed by the move.
        history = client.get(f"{path}/history", headers=headers_for("audit", A))
        assert history.status_code == 200, history.text
        assert [(v["version"], v["region"]) for v in history.json()["items"]] == [
            (entry["version"], A)
        ]
        assert "改名" not in history.text
