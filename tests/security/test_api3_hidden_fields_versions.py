"""API3:2023 Broken Object Property Level Authorization — versions of a field one cannot read.

``gross_pay`` is for finance and audit only. When finance changes nothing but a line's pay, a
department that cannot read pay must not learn it from the versions either: to it the line
keeps the version, ETag, batch and recording time it had (the new version repeats the old one
in everything it reads), its history shows one version where finance's shows two, and its
change feed carries no change. Once a field it reads changes, it sees the new version. Finance,
which writes the lines, sees every version and its If-Match works on the real versions. The
batch's answer (``GET /batches/{id}``) counts such an update as ``unchanged`` to it; the
webhooks' side is ``tests/notifications/test_hidden_changes.py``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f

COUNTY = "230102"
UNIT = f.unit_code(31, region=COUNTY)
PEOPLE = 5
BLIND = ("hr", "establishment", "organization")


class Payroll:
    def __init__(self, client: TestClient, headers_for: HeadersFor) -> None:
        self.client = client
        self.headers_for = headers_for

    def push(self, lines: dict[int, dict[str, Any]] | None = None, **changes: Any) -> str:
        """Every line with ``changes``, line ``n`` with ``lines[n]`` too; the batch's id."""
        records = [
            f.payroll(n, unit_code=UNIT) | changes | (lines or {}).get(n, {}) for n in range(PEOPLE)
        ]
        answer = self.client.post(
            "/api/v1/datasets/payroll/batches",
            json={"records": records, "scope": {"period": "2026-10"}},
            headers=self.headers_for("finance", COUNTY),
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["batch_id"])

    def counts(self, batch_id: str, department: str) -> dict[str, int]:
        answer = self.get(f"/api/v1/batches/{batch_id}", department).json()
        return {k: answer[k] for k in ("received", "inserted", "updated", "unchanged", "closed")}

    def get(self, path: str, department: str, **params: Any) -> Any:
        answer = self.client.get(path, params=params, headers=self.headers_for(department, COUNTY))
        assert answer.status_code == 200, answer.text
        return answer

    def lines(self, department: str, **params: Any) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/datasets/payroll/records", department, limit=1000, **params)
        items: list[dict[str, Any]] = answer.json()["items"]
        return sorted(items, key=lambda r: r["name"])

    def line(self, department: str) -> tuple[dict[str, Any], str]:
        key = self.lines("finance")[0]["record_key"]
        answer = self.get(f"/api/v1/datasets/payroll/records/{key}", department)
        record: dict[str, Any] = answer.json()
        return record, answer.headers["ETag"]

    def history(self, department: str) -> list[dict[str, Any]]:
        key = self.lines("finance")[0]["record_key"]
        answer = self.get(f"/api/v1/datasets/payroll/records/{key}/history", department)
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def feed(self, department: str) -> list[tuple[str, int]]:
        answer = self.get("/api/v1/changes", department, dataset="payroll", limit=1000)
        key = self.lines("finance")[0]["record_key"]
        return [(c["op"], c["version"]) for c in answer.json()["items"] if c["record_key"] == key]

    def person(self, department: str) -> dict[str, Any]:
        answer = self.get(f"/api/v1/persons/{f.id_number(0)}", department)
        [line] = answer.json()["records"]["payroll"]
        return dict(line)


@pytest.fixture
def payroll(client: TestClient, headers_for: HeadersFor) -> Payroll:
    """v1, then v2 that changes only gross_pay (and the moment between)."""
    p = Payroll(client, headers_for)
    p.push(gross_pay="8000.00")
    p.shown = p.lines("hr")  # type: ignore[attr-defined]
    time.sleep(0.01)
    p.pay_only = p.push(gross_pay="9100.00")  # type: ignore[attr-defined]
    return p


META = ("version", "batch_id", "client_id", "recorded_at")


class TestAPayOnlyChange:
    @pytest.mark.parametrize("department", BLIND)
    def test_leaves_the_lines_as_they_were(self, payroll: Payroll, department: str) -> None:
        assert payroll.lines(department) == payroll.shown  # type: ignore[attr-defined]
        assert {r["version"] for r in payroll.lines(department)} == {1}
        assert {r["version"] for r in payroll.lines("finance")} == {2}

    @pytest.mark.parametrize("department", BLIND)
    def test_leaves_the_etag_and_version(self, payroll: Payroll, department: str) -> None:
        record, tag = payroll.line(department)
        assert (record["version"], tag) == (1, '"v1"')
        assert "gross_pay" not in record
        assert payroll.line("finance")[1] == '"v2"'

    @pytest.mark.parametrize("department", BLIND)
    def test_adds_nothing_to_the_history(self, payroll: Payroll, department: str) -> None:
        [only] = payroll.history(department)
        assert only["version"] == 1 and only["closed_at"] is None
        assert [v["version"] for v in payroll.history("finance")] == [1, 2]
        assert [v["version"] for v in payroll.history("audit")] == [1, 2]

    @pytest.mark.parametrize("department", BLIND)
    def test_is_no_change_in_the_feed(self, payroll: Payroll, department: str) -> None:
        assert payroll.feed(department) == [("upsert", 1)]
        assert payroll.feed("finance") == [("upsert", 1), ("upsert", 2)]

    @pytest.mark.parametrize("department", BLIND)
    def test_nor_in_the_batch_answer(self, payroll: Payroll, department: str) -> None:
        batch = payroll.pay_only  # type: ignore[attr-defined]
        assert payroll.counts(batch, department) == {
            "received": PEOPLE,
            "inserted": 0,
            "updated": 0,
            "unchanged": PEOPLE,
            "closed": 0,
        }
        for reader in ("finance", "audit"):
            assert payroll.counts(batch, reader)["updated"] == PEOPLE
            assert payroll.counts(batch, reader)["unchanged"] == 0

    def test_nor_in_the_person_view(self, payroll: Payroll) -> None:
        seen = payroll.person("hr")
        assert {k: seen[k] for k in META} == {k: payroll.shown[0][k] for k in META}  # type: ignore[attr-defined]
        assert payroll.person("finance")["version"] == 2

    def test_nor_as_of_a_moment_after_it(self, payroll: Payroll) -> None:
        later = dt.datetime.now(dt.UTC).isoformat()
        assert {r["version"] for r in payroll.lines("hr", as_of=later)} == {1}
        assert {r["version"] for r in payroll.lines("finance", as_of=later)} == {2}


class TestAVisibleChange:
    def test_shows_as_the_next_version_to_all(self, payroll: Payroll) -> None:
        payroll.push(gross_pay="9100.00", status="suspended")
        assert {r["version"] for r in payroll.lines("hr")} == {3}
        assert [v["version"] for v in payroll.history("hr")] == [1, 3]
        assert payroll.feed("hr") == [("upsert", 1), ("upsert", 3)]
        first, third = payroll.history("hr")
        assert first["closed_at"] == third["recorded_at"]
        # Pay changes again: still version 3 to HR.
        payroll.push(gross_pay="9200.00", status="suspended")
        assert payroll.line("hr")[1] == '"v3"' and payroll.line("finance")[1] == '"v4"'
        assert [v["version"] for v in payroll.history("hr")] == [1, 3]

    def test_is_the_only_update_in_the_batch_answer(self, payroll: Payroll) -> None:
        # Line 0 is suspended (HR reads that), line 1 paid more (it does not).
        batch = payroll.push(
            {0: {"status": "suspended"}, 1: {"gross_pay": "9200.00"}}, gross_pay="9100.00"
        )
        seen = {"received": PEOPLE, "inserted": 0, "closed": 0}
        assert payroll.counts(batch, "hr") == seen | {"updated": 1, "unchanged": PEOPLE - 1}
        for reader in ("finance", "audit"):
            assert payroll.counts(batch, reader) == seen | {"updated": 2, "unchanged": PEOPLE - 2}

    def test_a_line_deleted_and_pushed_again_is_a_new_version(self, payroll: Payroll) -> None:
        record, tag = payroll.line("finance")
        gone = payroll.client.delete(
            f"/api/v1/datasets/payroll/records/{record['record_key']}",
            headers={**payroll.headers_for("finance", COUNTY), "If-Match": tag},
        )
        assert gone.status_code == 204, gone.text
        payroll.push(gross_pay="9100.00")
        assert [v["version"] for v in payroll.history("hr")] == [1, 3]
        assert payroll.feed("hr") == [("upsert", 1), ("close", 1), ("upsert", 3)]


class TestTheWriter:
    def test_finance_if_match_is_on_the_real_version(self, payroll: Payroll) -> None:
        record, tag = payroll.line("finance")
        body = {k: record[k] for k in ("period", "id_number", "unit_code", "name")}
        body |= {"establishment_type": "institutional", "funding": "budget"}
        body |= {"gross_pay": "9300.00", "status": "paid"}
        url = f"/api/v1/datasets/payroll/records/{record['record_key']}"
        headers = payroll.headers_for("finance", COUNTY)
        stale = payroll.client.put(url, json=body, headers={**headers, "If-Match": '"v1"'})
        assert stale.status_code == 412, stale.text
        fresh = payroll.client.put(url, json=body, headers={**headers, "If-Match": tag})
        assert fresh.status_code == 200, fresh.text
        assert fresh.headers["ETag"] == '"v3"'
        assert payroll.line("hr")[1] == '"v1"'


class TestFindingEvidence:
    def test_shows_the_version_the_caller_sees(self, payroll: Payroll) -> None:
        # Someone on the roster: the rules comparing with the roster then run in the county.
        roster = payroll.client.post(
            "/api/v1/datasets/roster/batches",
            json={"records": [f.roster(99, unit_code=UNIT)]},
            headers=payroll.headers_for("establishment", COUNTY),
        )
        assert roster.status_code == 201, roster.text
        run = run_and_wait(
            payroll.client, payroll.headers_for("establishment", COUNTY), region=COUNTY
        )
        assert run["status"] == "succeeded", run

        def evidence(department: str) -> list[int]:
            listed = payroll.get(
                "/api/v1/discrepancies",
                department,
                rule="PAID_WITHOUT_ESTABLISHMENT",
                id_number=f.id_number(0),
            ).json()["items"]
            [finding] = listed
            detail = payroll.get(f"/api/v1/discrepancies/{finding['id']}", department).json()
            return [e["version"] for e in detail["evidence"] if e["dataset"] == "payroll"]

        assert evidence("establishment") == [1]
        assert evidence("finance") == [2]
