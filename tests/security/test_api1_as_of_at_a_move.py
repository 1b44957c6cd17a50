"""API1 across time: a read ``as_of`` the very moment the city moved a unit between counties.

The move closes the unit's records in county A and opens them in county B at one moment T (the
move's versions' ``recorded_at``, A's ``closed_at``). Suspected in a review (2026-12-07) of
showing both counties the record at T, or neither, or of answering by how T is spelt: SQLite
keeps timestamps as text, so a moment given in the hub's zone (Asia/Shanghai, +08:00), with a
``Z``, or without an offset (read in the hub's zone) could compare as another instant. Not so:
every spelling of T is converted before it is compared (``recorded_at <= T < closed_at``): at T
and after it B reads the record and A nothing; a microsecond before T, and at a moment cut to
milliseconds, A reads it and B nothing; the city reads the one version each time. Kept as a
guard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
N = 87
U = f.unit_code(N, region=A)
HUB = ZoneInfo("Asia/Shanghai")


def _push(client: TestClient, headers: dict[str, str], dataset: str, rows: list[Any]) -> None:
    answer = client.post(
        f"/api/v1/datasets/{dataset}/batches", json={"records": rows}, headers=headers
    )
    assert answer.status_code == 201, answer.text


def _regions(client: TestClient, headers: dict[str, str], as_of: str) -> list[str]:
    answer = client.get("/api/v1/datasets/roster/records", params={"as_of": as_of}, headers=headers)
    assert answer.status_code == 200, (as_of, answer.text)
    return [r["region"] for r in answer.json()["items"]]


def test_each_spelling_of_the_moves_moment_reads_one_county(
    client: TestClient, headers_for: HeadersFor
) -> None:
    office = headers_for("establishment", A)
    _push(client, office, "units", [f.unit(N, region=A)])
    _push(client, office, "roster", [f.roster(N + 1, unit_code=U)])
    moved = [f.unit(N, region=A) | {"region": B}]
    _push(client, headers_for("establishment", CITY), "units", moved)
    [key] = [
        r["record_key"]
        for r in client.get(
            "/api/v1/datasets/roster/records", headers=headers_for("audit", CITY)
        ).json()["items"]
    ]
    history = client.get(
        f"/api/v1/datasets/roster/records/{key}/history", headers=headers_for("audit", CITY)
    ).json()["items"]
    [left, entered] = sorted(history, key=lambda v: v["version"])
    assert (left["region"], entered["region"]) == (A, B)
    moment = dt.datetime.fromisoformat(entered["recorded_at"])
    assert dt.datetime.fromisoformat(left["closed_at"]) == moment
    here = moment.astimezone(HUB)
    earlier = moment - dt.timedelta(microseconds=1)

    at_the_move = [
        moment.isoformat(),
        moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        here.isoformat(),
        here.replace(tzinfo=None).isoformat(),  # no offset: the hub's zone
        (moment + dt.timedelta(microseconds=1)).isoformat(),
    ]
    before_it = [
        earlier.isoformat(),
        earlier.astimezone(HUB).isoformat(),
        earlier.astimezone(HUB).replace(tzinfo=None).isoformat(),
    ]
    if moment.microsecond % 1000:  # cut to milliseconds: before the move
        before_it.append(here.isoformat(timespec="milliseconds"))
    for as_of in at_the_move:
        assert _regions(client, headers_for("audit", A), as_of) == [], as_of
        assert _regions(client, headers_for("hr", B), as_of) == [B], as_of
        assert _regions(client, headers_for("audit", CITY), as_of) == [B], as_of
    for as_of in before_it:
        assert _regions(client, headers_for("hr", A), as_of) == [A], as_of
        assert _regions(client, headers_for("audit", B), as_of) == [], as_of
        assert _regions(client, headers_for("audit", CITY), as_of) == [A], as_of
