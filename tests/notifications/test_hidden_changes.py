"""``records.changed`` tells a department only of changes it could read (API3).

``gross_pay`` is for finance and audit only: to every other department a payroll line whose
pay alone changed keeps its version, and its change feed carries no change
(``tests/security/test_api3_hidden_fields_versions.py``). A webhook must not tell it either:
no event for a batch that changed only pay, and of a batch that changed pay on one line and a
field it reads on another, one change and one record key. Finance and audit hear of both.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.notifications.conftest import Receiver, verifies
from tests.notifications.test_webhooks import COUNTY, PERIOD, subscribe
from tests.records.factory import payroll, unit, unit_code

LINES = 5
CODE = unit_code(40, region=COUNTY)


class Hub:
    """A unit with five paid lines, and a records.changed subscription of payroll for each
    of HR (cannot read pay), finance (writes it) and audit (reads it)."""

    def __init__(self, client: TestClient, headers_for: HeadersFor, receiver: Receiver) -> None:
        self.client, self.headers_for, self.receiver = client, headers_for, receiver
        self.subs = {
            department: subscribe(
                client,
                headers_for(department, COUNTY),
                f"{receiver.url}?who={department}",
                ["records.changed"],
                datasets=["payroll"],
            )
            for department in ("hr", "finance", "audit")
        }
        answer = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [unit(40, region=COUNTY)]},
            headers=headers_for("establishment", COUNTY),
        )
        assert answer.status_code == 201, answer.text
        self.first = self.push()
        self.wait({"hr": 1, "finance": 1, "audit": 1})

    def push(self, pay: str = "8000.00", changes: dict[int, dict[str, str]] | None = None) -> str:
        """The five lines paid ``pay``, line ``n`` with ``changes[n]``; the batch's id."""
        lines = [
            payroll(n, unit_code=CODE, period=PERIOD, gross_pay=pay) | (changes or {}).get(n, {})
            for n in range(LINES)
        ]
        answer = self.client.post(
            "/api/v1/datasets/payroll/batches",
            json={"records": lines, "scope": {"period": PERIOD}},
            headers=self.headers_for("finance", COUNTY),
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["batch_id"])

    def bodies(self, department: str) -> list[dict[str, Any]]:
        secret = self.subs[department]["secret"]
        return [r.json for r in self.receiver.received if verifies(secret, r)]

    def wait(self, counts: dict[str, int]) -> None:
        self.receiver.wait(
            lambda _: all(len(self.bodies(d)) >= n for d, n in counts.items()), seconds=30
        )

    def of(self, department: str, batch_id: str) -> list[dict[str, Any]]:
        return [b["data"] for b in self.bodies(department) if b["data"]["batch_id"] == batch_id]

    def keys(self, *lines: int) -> set[str]:
        answer = self.client.get(
            "/api/v1/datasets/payroll/records",
            params={"unit_code": CODE},
            headers=self.headers_for("finance", COUNTY),
        )
        by_name = {r["name"]: r["record_key"] for r in answer.json()["items"]}
        return {by_name[f"张{n}"] for n in lines}

    def feed(self, department: str) -> list[dict[str, Any]]:
        answer = self.client.get(
            "/api/v1/changes",
            params={"dataset": "payroll", "limit": 1000},
            headers=self.headers_for(department, COUNTY),
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


@pytest.fixture
def hub(client: TestClient, headers_for: HeadersFor, receiver: Receiver) -> Hub:
    return Hub(client, headers_for, receiver)


class TestAPayOnlyChange:
    def test_is_no_records_changed_event_for_hr(self, hub: Hub) -> None:
        pay_only = hub.push("9100.00")
        # Then a change HR reads: its event comes next in HR's seq, with nothing between.
        seen = hub.push("9100.00", {0: {"status": "suspended"}})
        hub.wait({"hr": 2, "finance": 3, "audit": 3})

        assert all(c["batch_id"] != pay_only for c in hub.feed("hr"))  # the API hides it ...
        hr = hub.bodies("hr")
        assert [(b["seq"], b["data"]["batch_id"]) for b in hr] == [(1, hub.first), (2, seen)]
        assert hub.of("hr", pay_only) == []  # ... and so does the webhook
        for department in ("finance", "audit"):
            [told] = hub.of(department, pay_only)
            assert told["changes"] == LINES
            assert set(told["record_keys"]) == hub.keys(*range(LINES))
        assert "hidden" not in hr[1]["data"]  # which audience an event is for is not sent


class TestAPayAndAVisibleChange:
    def test_hr_hears_of_the_visible_one_only(self, hub: Hub) -> None:
        both = hub.push(changes={0: {"status": "suspended"}, 1: {"gross_pay": "9100.00"}})
        hub.wait({"hr": 2, "finance": 2, "audit": 2})

        [hr] = hub.of("hr", both)
        [key] = hub.keys(0)
        assert hr["changes"] == 1
        assert (hr.get("record_key"), hr["record_keys"]) == (key, [key])
        [change] = [c for c in hub.feed("hr") if c["batch_id"] == both]
        assert hr["from_seq"] == hr["to_seq"] == change["seq"]
        changes = hub.client.get(
            hr["links"]["changes"], headers=hub.headers_for("hr", COUNTY)
        ).json()["items"]
        assert [c["record_key"] for c in changes] == [key]
        for department in ("finance", "audit"):
            [told] = hub.of(department, both)
            assert told["changes"] == 2 and "record_key" not in told
            assert set(told["record_keys"]) == hub.keys(0, 1)
        raw = b"".join(r.body for r in hub.receiver.received).decode()
        assert "9100.00" not in raw and "8000.00" not in raw

    def test_hr_hears_of_the_visible_ones_in_feed_order(self, hub: Hub) -> None:
        suspended, paid_more = (0, 2, 4), (1, 3)
        changes = {n: {"status": "suspended"} for n in suspended}
        batch = hub.push(changes=changes | {n: {"gross_pay": "9100.00"} for n in paid_more})
        hub.wait({"hr": 2, "finance": 2})

        [hr], [finance] = hub.of("hr", batch), hub.of("finance", batch)
        seen = hub.keys(*suspended)
        assert finance["changes"] == LINES and hr["changes"] == len(suspended)
        assert hr["record_keys"] == [k for k in finance["record_keys"] if k in seen]
        feed = [c["seq"] for c in hub.feed("hr") if c["batch_id"] == batch]
        assert (hr["from_seq"], hr["to_seq"]) == (feed[0], feed[-1])
