"""The reconciliation and discrepancy endpoints, through HTTP, on both databases."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi.testclient import TestClient

from linkage_hub.clock import next_month
from linkage_hub.db import Database
from linkage_hub.keys import Keyring
from linkage_hub.reconciliation.runs import create_run
from linkage_hub.reconciliation.service import live_findings_for_person
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.reconciliation.conftest import World
from tests.reconciliation.factory import citizen_id, unit_code

P = citizen_id(1)
RUNS = "/api/v1/reconciliation/runs"
LIST = "/api/v1/discrepancies"


def run_and_wait(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body.setdefault("region", "230100")
    body.setdefault("period", "2026-10")
    body.setdefault("as_of", "2026-10-31")
    response = client.post(RUNS, json=body, headers=headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    deadline = time.monotonic() + 120  # a bound, not a speed requirement: CI machines are busy
    while time.monotonic() < deadline:
        run = client.get(f"{RUNS}/{accepted['run_id']}", headers=headers).json()
        if run["status"] in ("succeeded", "failed"):
            return dict(run)
        time.sleep(0.05)
    raise AssertionError("the run did not finish")


def scenario(world: World) -> None:
    """A person paid without a roster entry whom HR also lists: two findings."""
    world.f.payroll(P, world.organ)
    world.f.employment(P, world.organ)


class TestRules:
    def test_the_catalogue(self, client: TestClient, headers_for: HeadersFor) -> None:
        response = client.get("/api/v1/reconciliation/rules", headers=headers_for("hr"))
        assert response.status_code == 200
        items = {r["code"]: r for r in response.json()["items"]}
        assert len(items) == 17
        late = items["LATE_EXIT"]
        assert late["title"] == {"zh": "逾期未出编", "en": "Exit from the roster overdue"}
        assert late["parameters"]["exit_grace_working_days"] == 10
        assert items["PAID_WITHOUT_ESTABLISHMENT"]["severity"] == "critical"
        assert items["PAID_WITHOUT_ESTABLISHMENT"]["departments"] == ["finance", "establishment"]
        assert items["NAME_MISMATCH"]["involved_departments"] is True

    def test_needs_a_token(self, client: TestClient) -> None:
        assert client.get("/api/v1/reconciliation/rules").status_code == 401


class TestRuns:
    def test_a_run_in_the_background(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        scenario(world)
        run = run_and_wait(client, headers_for("establishment"))
        assert run["status"] == "succeeded", run["error"]
        assert run["rules"]["PAID_WITHOUT_ESTABLISHMENT"] == {
            "found": 1,
            "new": 1,
            "resolved": 0,
            "reopened": 0,
        }
        assert run["parameters"]["exit_grace_working_days"] == 10
        assert run["started_at"] and run["finished_at"] and run["duration_seconds"] >= 0
        assert "staging:person" in run["timings"]

    def test_only_the_establishment_office_starts_runs(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.post(RUNS, json={"region": "230100"}, headers=headers_for("finance"))
        assert response.status_code == 403

    def test_outside_the_callers_region_is_404(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("establishment", "230100")
        assert client.post(RUNS, json={"region": "230200"}, headers=headers).status_code == 404

    def test_bad_input_is_422(self, client: TestClient, headers_for: HeadersFor) -> None:
        headers = headers_for("establishment")
        for body in ({"region": "23010"}, {"region": "230100", "period": "2026-13"}, {}):
            response = client.post(RUNS, json=body, headers=headers)
            assert response.status_code == 422, body
            assert response.headers["content-type"] == "application/problem+json"
        extra = client.post(RUNS, json={"region": "230100", "x": 1}, headers=headers)
        assert extra.status_code == 422

    def test_a_run_as_of_a_later_day_is_422_and_queues_nothing(
        self, world: World, client: TestClient, headers_for: HeadersFor, settings: Settings
    ) -> None:
        headers = headers_for("establishment", "230100")
        later = (settings.today() + dt.timedelta(days=1)).isoformat()
        answer = client.post(RUNS, json={"region": "230100", "as_of": later}, headers=headers)
        assert answer.status_code == 422, answer.text
        assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [("as_of", "future")]
        assert client.get(RUNS, headers=headers).json()["items"] == []
        today = settings.today().isoformat()
        ran = client.post(RUNS, json={"region": "230100", "as_of": today}, headers=headers)
        assert ran.status_code == 202, ran.text

    def test_a_run_of_a_period_after_next_month_is_422_and_queues_nothing(
        self, world: World, client: TestClient, headers_for: HeadersFor, settings: Settings
    ) -> None:
        """2062-11 is a typo of 2026-11, refused in a payroll batch as in a run: the run found
        no pay, skipped the pay rules without a warning and resolved the findings that paid
        lines had made, for the next ordinary run to reopen (found by a review, 2026-12-06)."""
        headers = headers_for("establishment", "230100")
        answer = client.post(RUNS, json={"region": "230100", "period": "2062-11"}, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [(e["field"], e["code"]) for e in answer.json()["errors"]] == [("period", "future")]
        assert client.get(RUNS, headers=headers).json()["items"] == []
        ahead = next_month(settings.today())  # pay may be prepared a month ahead
        ran = client.post(RUNS, json={"region": "230100", "period": ahead}, headers=headers)
        assert ran.status_code == 202, ran.text

    def test_one_run_per_region_at_a_time(
        self, world: World, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        with database.transaction() as session:
            held, lock = create_run(
                session, database, region="230102", period=None, as_of=None, requested_by="x"
            )
        try:
            city = headers_for("establishment", "230100")
            province = headers_for("establishment", "230000")
            same = client.post(RUNS, json={"region": "230102"}, headers=city)
            assert same.status_code == 409
            assert same.json()["run_id"] == held.id
            assert client.post(RUNS, json={"region": "230100"}, headers=city).status_code == 409
            assert client.post(RUNS, json={"region": "230000"}, headers=province).status_code == 409
            world.f.unit(unit_code(1, region="230103"))  # a region the hub holds a unit in
            sibling = run_and_wait(client, city, region="230103")
            assert sibling["status"] == "succeeded"
        finally:
            lock.release()

    def test_another_regions_run_is_404(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        run = run_and_wait(client, headers_for("establishment", "230100"))
        other = client.get(f"{RUNS}/{run['run_id']}", headers=headers_for("audit", "230200"))
        assert other.status_code == 404
        assert client.get(f"{RUNS}/nope", headers=headers_for("audit")).status_code == 404


class TestDiscrepancyList:
    def test_items_with_id_number_and_summary(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        scenario(world)
        run_and_wait(client, headers_for("establishment"))
        response = client.get(LIST, headers=headers_for("finance"))
        assert response.status_code == 200
        page = response.json()
        assert page["next_cursor"] is None
        items = {i["rule"]: i for i in page["items"]}
        assert set(items) == {"PAID_WITHOUT_ESTABLISHMENT", "EMPLOYED_WITHOUT_ESTABLISHMENT"}
        paid = items["PAID_WITHOUT_ESTABLISHMENT"]
        assert paid["id_number"] == P and paid["status"] == "open"
        assert paid["severity"] == "critical" and paid["departments"] == [
            "finance",
            "establishment",
        ]
        assert paid["summary"] == {
            "zh": "2026-10 工资统发有此人，但实名制花名册无此人",
            "en": "paid in 2026-10 but not on the roster",
        }
        assert page["items"][0]["rule"] == "PAID_WITHOUT_ESTABLISHMENT"  # most severe first

    def test_filters(self, world: World, client: TestClient, headers_for: HeadersFor) -> None:
        scenario(world)
        ghost = unit_code(99)
        world.f.consistent(citizen_id(5), ghost)
        headers = headers_for("audit")
        run_and_wait(client, headers_for("establishment"))

        def rules(**params: str) -> set[str]:
            response = client.get(LIST, params=params, headers=headers)
            assert response.status_code == 200, response.text
            return {i["rule"] for i in response.json()["items"]}

        assert rules(rule="UNREGISTERED_UNIT") == {"UNREGISTERED_UNIT"}
        assert rules(unit_code=ghost) == {"UNREGISTERED_UNIT"}
        assert rules(severity="critical") == {"PAID_WITHOUT_ESTABLISHMENT"}
        assert rules(department="hr") == {"EMPLOYED_WITHOUT_ESTABLISHMENT", "UNREGISTERED_UNIT"}
        assert rules(status="resolved") == set()
        assert rules(region="230102") == rules()
        assert rules(region="230103") == set()
        assert rules(id_number=P) == {
            "PAID_WITHOUT_ESTABLISHMENT",
            "EMPLOYED_WITHOUT_ESTABLISHMENT",
        }
        assert rules(id_number=P.lower()) == rules(id_number=P)

    def test_a_fifteen_digit_id_number_finds_the_person(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        world.f.payroll("612127197604031231", world.organ)
        run_and_wait(client, headers_for("establishment"))
        response = client.get(
            LIST, params={"id_number": "612127760403123"}, headers=headers_for("finance")
        )
        assert [i["id_number"] for i in response.json()["items"]] == ["612127197604031231"]

    def test_bad_filters_are_422_without_echo(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("audit")
        wrong = P[:-1] + ("0" if P[-1] != "0" else "1")  # a wrong check character
        bad_id = client.get(LIST, params={"id_number": wrong}, headers=headers)
        assert bad_id.status_code == 422
        assert bad_id.json()["errors"][0]["field"] == "id_number"
        assert wrong not in bad_id.text
        for params in ({"rule": "NOPE"}, {"limit": "0"}, {"limit": "1001"}, {"cursor": "x!"}):
            assert client.get(LIST, params=params, headers=headers).status_code == 422, params

    def test_keyset_pages(self, world: World, client: TestClient, headers_for: HeadersFor) -> None:
        for n in range(1, 6):
            world.f.payroll(citizen_id(n), world.organ)
        run_and_wait(client, headers_for("establishment"))
        headers = headers_for("finance")
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = client.get(LIST, params=params, headers=headers).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 5

    def test_outside_the_callers_region_nothing(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        scenario(world)
        run_and_wait(client, headers_for("establishment"))
        other = headers_for("finance", "230200")
        assert client.get(LIST, headers=other).json()["items"] == []
        finding = client.get(LIST, headers=headers_for("finance")).json()["items"][0]
        assert client.get(f"{LIST}/{finding['id']}", headers=other).status_code == 404


def _finding(client: TestClient, headers: dict[str, str], rule: str) -> dict[str, Any]:
    items = client.get(LIST, params={"rule": rule}, headers=headers).json()["items"]
    assert len(items) == 1
    return dict(items[0])


class TestDiscrepancyDetail:
    def test_evidence_history_and_parameters(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        scenario(world)
        run = run_and_wait(client, headers_for("establishment"))
        finding = _finding(client, headers_for("finance"), "PAID_WITHOUT_ESTABLISHMENT")
        detail = client.get(f"{LIST}/{finding['id']}", headers=headers_for("finance")).json()
        assert detail["parameters"]["period"] == "2026-10"
        assert [(e["dataset"], e["current"]) for e in detail["evidence"]] == [("payroll", True)]
        record = detail["evidence"][0]["record"]
        assert record["gross_pay"] == "8532.50" and record["unit_code"] == world.organ
        assert detail["evidence"][0]["version"] >= 1 and detail["evidence"][0]["batch_id"]
        assert detail["history"] == [
            {
                "from": None,
                "to": "open",
                "at": detail["history"][0]["at"],
                "run_id": run["run_id"],
                "client_id": None,
                "department": None,
                "reason": None,
                "document_no": None,
                "withheld": False,
            }
        ]
        hidden = client.get(f"{LIST}/{finding['id']}", headers=headers_for("hr")).json()
        assert "gross_pay" not in hidden["evidence"][0]["record"]

    def test_comments_from_any_department(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        scenario(world)
        run_and_wait(client, headers_for("establishment"))
        finding = _finding(client, headers_for("audit"), "PAID_WITHOUT_ESTABLISHMENT")
        url = f"{LIST}/{finding['id']}/comments"
        first = client.post(url, json={"body": "请财政局核实"}, headers=headers_for("audit"))
        assert first.status_code == 201
        assert first.json()["department"] == "audit"
        client.post(url, json={"body": "已核实，下月停发"}, headers=headers_for("finance"))
        detail = client.get(f"{LIST}/{finding['id']}", headers=headers_for("hr")).json()
        assert [c["body"] for c in detail["comments"]] == ["请财政局核实", "已核实，下月停发"]
        assert client.post(url, json={"body": ""}, headers=headers_for("hr")).status_code == 422
        blank = client.post(url, json={"body": " \n\u3000 "}, headers=headers_for("hr"))
        assert blank.status_code == 422
        assert [(e["field"], e["code"]) for e in blank.json()["errors"]] == [("body", "empty")]
        elsewhere = client.post(url, json={"body": "x"}, headers=headers_for("hr", "230200"))
        assert elsewhere.status_code == 404


class TestTransitions:
    def test_who_may_do_what(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        scenario(world)
        run_and_wait(client, headers_for("establishment"))
        finding = _finding(client, headers_for("audit"), "PAID_WITHOUT_ESTABLISHMENT")
        url = f"{LIST}/{finding['id']}/transitions"

        def move(department: str, **body: str) -> Any:
            return client.post(url, json=body, headers=headers_for(department))

        assert move("hr", to="acknowledged").status_code == 403  # not answerable
        acknowledged = move("finance", to="acknowledged", reason="核实中")
        assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
        assert move("finance", to="acknowledged").status_code == 409
        assert move("finance", to="waived", reason="r", document_no="d").status_code == 403
        missing = move("audit", to="waived", reason="特殊情况")
        assert missing.status_code == 422
        assert [e["field"] for e in missing.json()["errors"]] == ["document_no"]
        waived = move("audit", to="waived", reason="特殊情况", document_no="哈编办〔2026〕9号")
        assert waived.json()["status"] == "waived"
        assert move("finance", to="acknowledged").status_code == 409
        assert move("finance", to="open").status_code == 403
        assert move("establishment", to="open").json()["status"] == "open"
        assert move("audit", to="resolved").status_code == 422

        history = client.get(f"{LIST}/{finding['id']}", headers=headers_for("audit")).json()
        people = [
            (h["from"], h["to"], h["department"], h["document_no"])
            for h in history["history"]
            if h["run_id"] is None
        ]
        assert people == [
            ("open", "acknowledged", "finance", None),
            ("acknowledged", "waived", "audit", "哈编办〔2026〕9号"),
            ("waived", "open", "establishment", None),
        ]
        assert all(h["client_id"] for h in history["history"] if h["run_id"] is None)

    def test_a_resolved_finding_cannot_be_moved(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        from linkage_hub.records.models import PayrollRecord

        line = world.f.payroll(P, world.organ)
        run_and_wait(client, headers_for("establishment"))
        finding = _finding(client, headers_for("audit"), "PAID_WITHOUT_ESTABLISHMENT")
        world.f.close(PayrollRecord, line)
        run_and_wait(client, headers_for("establishment"))
        url = f"{LIST}/{finding['id']}/transitions"
        response = client.post(url, json={"to": "acknowledged"}, headers=headers_for("finance"))
        assert response.status_code == 409


class TestPersonView:
    def test_live_findings_for_a_person(
        self,
        world: World,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        settings: Settings,
    ) -> None:
        scenario(world)
        run_and_wait(client, headers_for("establishment"))
        keyring = Keyring(settings)
        with database.transaction() as session:
            today = settings.today()
            live = live_findings_for_person(
                session, [world.key(P)], ("230100", "230199"), keyring, today
            )
            elsewhere = live_findings_for_person(
                session, [world.key(P)], ("230200", "230299"), keyring, today
            )
        assert {f.rule for f in live} == {
            "PAID_WITHOUT_ESTABLISHMENT",
            "EMPLOYED_WITHOUT_ESTABLISHMENT",
        }
        assert all(f.id_number == P for f in live)
        assert elsewhere == []
