"""Pulling records: current state, filters, pagination, as-of, history, region, salaries."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read


class TestList:
    def test_filters_and_keyset_pages(
        self, push: Push, read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        push("roster", [f.roster(i, 1 + i % 2) for i in range(1, 8)])
        assert len(read("roster", limit=2)) == 7
        page = client.get(
            "/api/v1/datasets/roster/records", params={"limit": 3}, headers=headers_for("hr")
        ).json()
        assert len(page["items"]) == 3 and page["next_cursor"]
        assert {r["unit_code"] for r in read("roster", unit_code=f.unit_code(2))} == {
            f.unit_code(2)
        }
        assert len(read("roster", unit_code=f.unit_code(2))) == 4
        assert [r["name"] for r in read("roster", id_number=f.id_number(4))] == ["张4"]

    def test_a_record_updated_between_pages_is_listed_once(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Pages followed the version row's id, and an update gives a record a new row (a
        larger id): a record shown on page 1 and updated before page 2 was read came again at
        the end. Now the list is ordered by record key, which a record keeps for all its
        versions: following the cursor lists each record that was there once."""
        assert push("roster", [f.roster(i) for i in range(1, 5)]).status_code == 201
        url = "/api/v1/datasets/roster/records"
        first = client.get(url, params={"limit": 2}, headers=headers_for("hr")).json()
        seen = [r["record_key"] for r in first["items"]]
        for record in first["items"]:  # both records of page 1 change before page 2 is read
            n = next(i for i in range(1, 5) if record["name"] == f"张{i}")
            assert push("roster", [f.roster(n, name=f"张{n}改")]).status_code == 201
        cursor = first["next_cursor"]
        while cursor:
            page = client.get(
                url, params={"limit": 2, "cursor": cursor}, headers=headers_for("hr")
            ).json()
            seen += [r["record_key"] for r in page["items"]]
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen)) == 4, seen

    def test_bad_parameters_are_422(self, client: TestClient, headers_for: HeadersFor) -> None:
        for params in (
            {"cursor": "nonsense"},
            {"id_number": "123"},
            {"limit": 5000},
            {"unit_code": "x"},
            {"period": "2026-10"},
        ):
            answer = client.get(
                "/api/v1/datasets/roster/records", params=params, headers=headers_for("hr")
            )
            assert answer.status_code == 422, params
            assert "123" not in str(answer.json().get("errors"))

    def test_region_is_filtered(self, push: Push, read: Read) -> None:
        push("roster", [f.roster(1), f.roster(2, 2, unit_code=f.unit_code(2, region="230102"))])
        assert len(read("roster", region="230100")) == 2
        assert [r["id_number"] for r in read("roster", region="230102")] == [f.id_number(2)]
        assert [r["id_number"] for r in read("roster", department="hr", region="230102")] == [
            f.id_number(2)
        ]
        assert read("roster", region="230200") == []
        assert read("roster", department="hr", region="230103") == []

    def test_items_carry_version_batch_and_time(
        self, push: Push, read: Read, client_id_for: Callable[..., str]
    ) -> None:
        batch = push("roster", [f.roster(1)]).json()["batch_id"]
        item = read("roster")[0]
        assert item["version"] == 1 and item["batch_id"] == batch
        assert item["client_id"] == client_id_for("establishment")
        assert dt.datetime.fromisoformat(item["recorded_at"]).tzinfo is not None
        assert f.id_number(1) not in item["record_key"] and len(item["record_key"]) == 32


class TestSalaries:
    def test_gross_pay_only_for_finance_and_audit(self, push: Push, read: Read) -> None:
        push("payroll", [f.payroll(1)], scope={"period": "2026-10"})
        assert read("payroll", department="finance")[0]["gross_pay"] == "8532.50"
        assert read("payroll", department="audit")[0]["gross_pay"] == "8532.50"
        assert "gross_pay" not in read("payroll", department="hr")[0]
        assert "gross_pay" not in read("payroll", department="establishment")[0]
        assert len(read("payroll", department="finance", period="2026-10")) == 1
        assert read("payroll", department="finance", period="2026-11") == []


class TestAsOf:
    def test_the_state_the_hub_held_then(self, push: Push, read: Read) -> None:
        push("roster", [f.roster(1), f.roster(2)])
        time.sleep(0.01)
        between = dt.datetime.now(dt.UTC)
        time.sleep(0.01)
        push(
            "roster",
            [f.roster(1, name="改名")],
            deletes=[{"id_number": f.id_number(2), "unit_code": f.unit_code(1)}],
        )
        then = read("roster", as_of=between.isoformat())
        assert sorted(r["name"] for r in then) == ["张1", "张2"]
        assert all(r["closed_at"] is not None for r in then)
        assert [r["name"] for r in read("roster")] == ["改名"]
        before = (between - dt.timedelta(hours=1)).isoformat()
        assert read("roster", as_of=before) == []


class TestHistory:
    def test_every_version_with_batch_client_and_closing(
        self, push: Push, read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        first = push("roster", [f.roster(1)]).json()["batch_id"]
        second = push("roster", [f.roster(1, status="exited")]).json()["batch_id"]
        third = push(
            "roster", [], deletes=[{"id_number": f.id_number(1), "unit_code": f.unit_code(1)}]
        ).json()["batch_id"]
        key = read("roster", as_of=dt.datetime.now(dt.UTC).isoformat()) or []
        assert key == []
        history = client.get(
            f"/api/v1/datasets/roster/records/{self._key(client, headers_for, first)}/history",
            headers=headers_for("audit"),
        )
        assert history.status_code == 200
        items = history.json()["items"]
        assert [(i["version"], i["batch_id"], i["closed_batch_id"]) for i in items] == [
            (1, first, second),
            (2, second, third),
        ]
        assert items[0]["status"] == "active" and items[1]["status"] == "exited"

    @staticmethod
    def _key(client: TestClient, headers_for: HeadersFor, batch_id: str) -> str:
        changes = client.get("/api/v1/changes", headers=headers_for("audit")).json()["items"]
        return str(next(c["record_key"] for c in changes if c["batch_id"] == batch_id))

    def test_outside_the_region_is_404(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        batch = push("roster", [f.roster(1)]).json()["batch_id"]
        key = self._key(client, headers_for, batch)
        for path in (
            f"/api/v1/datasets/roster/records/{key}",
            f"/api/v1/datasets/roster/records/{key}/history",
            f"/api/v1/batches/{batch}",
        ):
            assert client.get(path, headers=headers_for("audit", "230102")).status_code == 404
            assert client.get(path, headers=headers_for("audit")).status_code == 200


class TestBatches:
    def test_a_batch_answer_can_be_read_again(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        answer = push("roster", [f.roster(1)]).json()
        again = client.get(f"/api/v1/batches/{answer['batch_id']}", headers=headers_for("hr"))
        assert again.status_code == 200 and again.json() == answer
        assert client.get("/api/v1/batches/nope", headers=headers_for("hr")).status_code == 404
