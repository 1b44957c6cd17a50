"""API1 across time: periodic bulletins (定期通报) published before and after a unit moves.

County A's run files a finding about A's unit U; A's bulletins of the month before are
published, then the city moves U to the sibling county B, and this month's bulletins are
published. Suspected in a review (2026-12-07) of showing B what A's bulletin said of U (its
counts, A's runs) or the city-wide bulletin's rows of a sibling, and of counting the finding
where it no longer is. Not so: a bulletin is its region's and stays so (``region`` inside the
reader's, in the SQL of the list and the read): A keeps reading the bulletin it was published
(U's row in it), B neither lists nor opens it (404, the body of a made-up id), neither county
opens the city's; this month's bulletins count the finding where it is when they are made
(B's ``open`` and ``by_unit``, none in A's, once in the city's) and each lists its own region's
runs (A's run in A's and the city's, not in B's). Kept as a guard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.db import Database
from linkage_hub.notifications import bulletins
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
N = 86
U = f.unit_code(N, region=A)
BULLETINS = "/api/v1/bulletins"


def _publish(database: Database, settings: Settings, start: dt.date, end: dt.date) -> None:
    with database.transaction() as session:
        for region in (A, B, CITY):
            bulletins.publish(session, settings, region, start, end, dt.datetime.now(dt.UTC))


def _finance(client: TestClient, headers: dict[str, str], period_from: dt.date) -> list[Any]:
    """The finance bulletins the reader lists for the period, each read in full."""
    listed = client.get(BULLETINS, params={"department": "finance"}, headers=headers)
    assert listed.status_code == 200, listed.text
    found = []
    for item in listed.json()["items"]:
        if item["period_from"] == period_from.isoformat():
            detail = client.get(f"{BULLETINS}/{item['id']}", headers=headers)
            assert detail.status_code == 200, detail.text
            found.append(detail.json())
    return found


class Moved:
    def __init__(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        settings: Settings,
    ) -> None:
        ghost_pay(client, headers_for, A, N)
        run(client, headers_for, A)  # A's own run, this month
        self.this = hub_today().replace(day=1)
        self.last = (self.this - dt.timedelta(days=1)).replace(day=1)
        following = (self.this + dt.timedelta(days=32)).replace(day=1)
        _publish(database, settings, self.last, self.this)
        [self.before] = _finance(client, headers_for("audit", A), self.last)
        moved = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [f.unit(N, region=A) | {"region": B}]},
            headers=headers_for("establishment", CITY),
        )
        assert moved.status_code == 201, moved.text
        _publish(database, settings, self.this, following)


def _body(answer: Any) -> dict[str, Any]:
    return {k: v for k, v in answer.json().items() if k != "request_id"}


def test_a_bulletin_stays_with_the_region_it_was_published_for(
    client: TestClient, headers_for: HeadersFor, database: Database, settings: Settings
) -> None:
    moved = Moved(client, headers_for, database, settings)
    assert moved.before["region"] == A
    assert [u["unit_code"] for u in moved.before["by_unit"]] == [U]
    assert moved.before["totals"]["open"] == 1

    a = headers_for("audit", A)
    again = client.get(f"{BULLETINS}/{moved.before['id']}", headers=a)
    assert again.status_code == 200 and again.json() == moved.before

    [city_before] = [
        b for b in _finance(client, headers_for("audit", CITY), moved.last) if b["region"] == CITY
    ]
    for department in ("audit", "finance", "establishment"):
        b = headers_for(department, B)
        listed = client.get(BULLETINS, headers=b).json()["items"]
        assert {i["region"] for i in listed} == {B}
        assert moved.before["id"] not in {i["id"] for i in listed}
        made_up = client.get(f"{BULLETINS}/{'0' * 32}", headers=b)
        assert made_up.status_code == 404
        for bulletin in (moved.before["id"], city_before["id"]):
            answer = client.get(f"{BULLETINS}/{bulletin}", headers=b)
            assert answer.status_code == 404 and _body(answer) == _body(made_up)
            xlsx = client.get(f"{BULLETINS}/{bulletin}", params={"format": "xlsx"}, headers=b)
            assert xlsx.status_code == 404
    assert client.get(f"{BULLETINS}/{city_before['id']}", headers=a).status_code == 404
    for region in (A, CITY):
        answer = client.get(BULLETINS, params={"region": region}, headers=headers_for("audit", B))
        assert answer.status_code == 404


def test_this_months_bulletins_count_the_finding_where_it_is_now(
    client: TestClient, headers_for: HeadersFor, database: Database, settings: Settings
) -> None:
    moved = Moved(client, headers_for, database, settings)
    [left] = _finance(client, headers_for("audit", A), moved.this)
    [entered] = _finance(client, headers_for("audit", B), moved.this)
    city = {b["region"]: b for b in _finance(client, headers_for("audit", CITY), moved.this)}
    assert set(city) == {A, B, CITY}

    assert left["totals"]["open"] == 0 and left["by_unit"] == []
    assert left["runs"] == {"full": {"succeeded": 1}}  # A's run is A's
    assert entered["totals"]["open"] == 1
    assert [(u["unit_code"], u["open"]) for u in entered["by_unit"]] == [(U, 1)]
    assert entered["runs"] == {}  # not A's run
    assert city[CITY]["totals"]["open"] == 1  # once, not once per county
    assert city[CITY]["runs"] == {"full": {"succeeded": 1}}
    assert city[A] == left and city[B] == entered
