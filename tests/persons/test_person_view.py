"""The person view: one person's current records across departments."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push


def seed(push: Push) -> None:
    push("roster", [f.roster(1), f.roster(2)])
    push("cadres", [f.cadre(1, leader_level="deputy")])
    push("employment", [f.employment(1, name="张 1")])
    assert (
        push("payroll", [f.payroll(1, period="2026-09")], scope={"period": "2026-09"}).status_code
        == 201
    )
    push("payroll", [f.payroll(1, period="2026-10", gross_pay="9000")], scope={"period": "2026-10"})


class TestPersonView:
    def test_side_by_side(self, push: Push, client: TestClient, headers_for: HeadersFor) -> None:
        seed(push)
        number = f.id_number(1)
        view = client.get(f"/api/v1/persons/{number}", headers=headers_for("finance"))
        assert view.status_code == 200, view.text
        body = view.json()
        assert body["id_number"] == number
        assert {k: len(v) for k, v in body["records"].items()} == {
            "roster": 1,
            "cadres": 1,
            "employment": 1,
            "payroll": 1,
        }
        assert body["payroll_period"] == "2026-10"
        assert body["records"]["payroll"][0]["gross_pay"] == "9000.00"
        assert body["names"] == ["张 1", "张1"]
        assert body["discrepancies"] == []
        older = client.get(
            f"/api/v1/persons/{number}",
            params={"period": "2026-09"},
            headers=headers_for("finance"),
        ).json()
        assert older["records"]["payroll"][0]["gross_pay"] == "8532.50"

    def test_any_accepted_form_and_salary_rules(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        seed(push)
        number = f.id_number(1)
        legacy = number[:6] + number[8:17]
        view = client.get(f"/api/v1/persons/{legacy}", headers=headers_for("hr")).json()
        assert view["id_number"] == number
        assert "gross_pay" not in view["records"]["payroll"][0]
        only_roster = client.get(f"/api/v1/persons/{f.id_number(2)}", headers=headers_for("hr"))
        assert only_roster.json()["records"]["cadres"] == []

    def test_unknown_outside_or_invalid(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        seed(push)
        assert (
            client.get(
                f"/api/v1/persons/{f.id_number(9)}", headers=headers_for("audit")
            ).status_code
            == 404
        )
        assert (
            client.get(
                f"/api/v1/persons/{f.id_number(1)}", headers=headers_for("audit", "230102")
            ).status_code
            == 404
        )
        bad = client.get("/api/v1/persons/230102198001010001", headers=headers_for("audit"))
        assert bad.status_code == 422 and "230102198001010001" not in bad.text


class TestLiveDiscrepancies:
    def test_the_view_lists_what_reconciliation_found(
        self, push: Push, client: TestClient, headers_for: HeadersFor
    ) -> None:
        from tests.reconciliation.test_api import run_and_wait

        scope = {"region": "230100", "period": "2026-10"}
        assert push("payroll", [f.payroll(1)], scope=scope).status_code == 201
        assert push("roster", [f.roster(2)]).status_code == 201
        run = run_and_wait(client, headers_for("establishment"))
        assert run["status"] == "succeeded"
        view = client.get(f"/api/v1/persons/{f.id_number(1)}", headers=headers_for("finance"))
        assert view.status_code == 200
        rules = {d["rule"] for d in view.json()["discrepancies"]}
        assert "PAID_WITHOUT_ESTABLISHMENT" in rules
        assert all(d["status"] != "resolved" for d in view.json()["discrepancies"])
        other = client.get(f"/api/v1/persons/{f.id_number(2)}", headers=headers_for("finance"))
        assert "PAID_WITHOUT_ESTABLISHMENT" not in {
            d["rule"] for d in other.json()["discrepancies"]
        }
