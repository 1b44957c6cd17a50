"""Pushing batches: formats, counts, all-or-nothing, scope, snapshots, caps, dry runs."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.clock import next_month
from linkage_hub.db import Database
from linkage_hub.records.models import Batch, Change, RosterRecord
from tests.conftest import HeadersFor, hub_today
from tests.records import factory as f
from tests.records.conftest import Push, Read


def counts(body: dict[str, Any]) -> tuple[int, int, int, int]:
    return body["inserted"], body["updated"], body["unchanged"], body["closed"]


def table_counts(database: Database) -> tuple[int, int, int]:
    with database.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(RosterRecord)) or 0,
            session.scalar(select(func.count()).select_from(Batch)) or 0,
            session.scalar(select(func.count()).select_from(Change)) or 0,
        )


class TestFormats:
    def test_json_ndjson_and_csv_store_the_same_records(
        self, client: TestClient, headers_for: HeadersFor, push: Push, read: Read
    ) -> None:
        rows = [f.roster(1), f.roster(2, exit_reason=None, quota_notice_no="控编2026-1")]
        assert push("roster", rows).status_code == 201
        from_json = read("roster")

        ndjson = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=ndjson.encode(),
            headers={**headers_for("establishment"), "content-type": "application/x-ndjson"},
        )
        assert answer.status_code == 201, answer.text
        assert counts(answer.json()) == (0, 0, 2, 0)

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[1]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in rows[1]})
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=out.getvalue().encode("utf-8-sig"),
            headers={**headers_for("establishment"), "content-type": "text/csv"},
        )
        assert answer.status_code == 201, answer.text
        assert counts(answer.json()) == (0, 0, 2, 0)  # empty cell = null: nothing changed
        assert read("roster") == from_json

    def test_csv_booleans_and_nulls(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        body = (
            "id_number,unit_code,name,leader_level,civil_servant_registered,status,position\n"
            f"{f.id_number(1)},{f.unit_code(1)},王芳,deputy,true,active,\n"
            f"{f.id_number(2)},{f.unit_code(1)},李明,none,false,active,科员\n"
        )
        answer = client.post(
            "/api/v1/datasets/cadres/batches",
            content=body.encode(),
            headers={**headers_for("organization"), "content-type": "text/csv"},
        )
        assert answer.status_code == 201, answer.text
        by_name = {r["name"]: r for r in read("cadres")}
        assert by_name["王芳"]["civil_servant_registered"] is True
        assert by_name["王芳"]["position"] is None
        assert by_name["李明"]["civil_servant_registered"] is False

    def test_csv_bad_boolean_and_unknown_header(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        head = "id_number,unit_code,name,leader_level,civil_servant_registered,status\n"
        row = f"{f.id_number(1)},{f.unit_code(1)},王芳,deputy,yes,active\n"
        answer = client.post(
            "/api/v1/datasets/cadres/batches",
            content=(head + row).encode(),
            headers={**headers_for("organization"), "content-type": "text/csv"},
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0] | {"message": ""} == {
            "row": 1,
            "field": "civil_servant_registered",
            "code": "type",
            "message": "",
        }
        answer = client.post(
            "/api/v1/datasets/cadres/batches",
            content=b"id_number,colour\n1,2\n",
            headers={**headers_for("organization"), "content-type": "text/csv"},
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "header[1]"  # never the cell's text

    def test_ndjson_bad_line_is_a_bad_row(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = json.dumps(f.roster(1)) + "\n{not json\n"
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=body.encode(),
            headers={**headers_for("establishment"), "content-type": "application/x-ndjson"},
        )
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"row": 2, "field": "record", "code": "syntax", "message": "is not valid JSON"}
        ]

    def test_malformed_json_body_and_unknown_media_type(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=b'{"records": [{"a": 1}, {"b": ',
            headers={**headers_for("establishment"), "content-type": "application/json"},
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "syntax"
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=b"x",
            headers={**headers_for("establishment"), "content-type": "text/plain"},
        )
        assert answer.status_code == 415

    def test_scope_may_follow_the_records(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        line = f.payroll(1)
        del line["period"]
        body = json.dumps({"records": [line], "scope": {"period": "2026-10"}}, ensure_ascii=False)
        answer = client.post(
            "/api/v1/datasets/payroll/batches",
            content=body.encode(),
            headers={**headers_for("finance"), "content-type": "application/json"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["scope_period"] == "2026-10"


class TestCounts:
    def test_insert_update_unchanged_and_delete(self, push: Push, read: Read) -> None:
        first = push("roster", [f.roster(1), f.roster(2), f.roster(3)])
        assert first.status_code == 201 and counts(first.json()) == (3, 0, 0, 0)
        assert first.json()["received"] == 3

        again = push(
            "roster",
            [f.roster(1), f.roster(2, status="exited", exited_on="2026-10-01")],
            deletes=[{"id_number": f.id_number(3), "unit_code": f.unit_code(1)}],
        )
        assert counts(again.json()) == (0, 1, 1, 1)
        current = {r["id_number"]: r for r in read("roster")}
        assert set(current) == {f.id_number(1), f.id_number(2)}
        assert current[f.id_number(2)]["version"] == 2
        assert current[f.id_number(2)]["status"] == "exited"

    def test_a_deleted_record_pushed_again_continues_its_versions(
        self, push: Push, read: Read
    ) -> None:
        push("roster", [f.roster(1)])
        push("roster", [], deletes=[{"id_number": f.id_number(1), "unit_code": f.unit_code(1)}])
        assert read("roster") == []
        answer = push("roster", [f.roster(1)])
        assert counts(answer.json()) == (1, 0, 0, 0)
        assert read("roster")[0]["version"] == 2

    def test_deleting_what_is_not_there_closes_nothing(self, push: Push) -> None:
        answer = push(
            "roster", [], deletes=[{"id_number": f.id_number(9), "unit_code": f.unit_code(1)}]
        )
        assert answer.status_code == 201 and counts(answer.json()) == (0, 0, 0, 0)

    def test_money_is_exact(self, push: Push, read: Read) -> None:
        body = push(
            "payroll",
            [f.payroll(1, gross_pay="8532.5"), f.payroll(2, gross_pay=1234)],
            scope={"period": "2026-10"},
        )
        assert body.status_code == 201, body.text
        pays = sorted(r["gross_pay"] for r in read("payroll", department="finance"))
        assert pays == ["1234.00", "8532.50"]
        same = push(
            "payroll",
            [f.payroll(1, gross_pay="8532.50"), f.payroll(2, gross_pay="1234.00")],
            scope={"period": "2026-10"},
        )
        assert counts(same.json()) == (0, 0, 2, 0)


class TestAllOrNothing:
    def test_one_bad_row_applies_nothing_and_lists_every_bad_row(
        self, push: Push, database: Database
    ) -> None:
        push("roster", [f.roster(1)])
        before = table_counts(database)
        bad_check = f.id_number(3)[:-1] + ("0" if f.id_number(3)[-1] != "0" else "1")
        answer = push(
            "roster",
            [
                f.roster(1, name="改名"),
                f.roster(2, establishment_type="secret"),
                f.roster(3, id_number=bad_check),
                f.roster(4, entered_on="2020-02-30", colour="red"),
            ],
        )
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["total_errors"] == 3 + 1
        assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
            (2, "establishment_type", "enum"),
            (3, "id_number", "checksum"),
            (4, "colour", "unknown_field"),
            (4, "entered_on", "date"),
        ]
        assert bad_check not in answer.text and bad_check[:14] not in answer.text
        assert table_counts(database) == before

    def test_the_error_list_is_capped_with_the_total(
        self, app: FastAPI, push: Push, database: Database
    ) -> None:
        app.state.settings = app.state.settings.model_copy(update={"max_error_rows": 3})
        answer = push("roster", [f.roster(i, status="gone") for i in range(10)])
        body = answer.json()
        assert answer.status_code == 422
        assert len(body["errors"]) == 3 and body["total_errors"] == 10
        assert table_counts(database) == (0, 0, 0)

    def test_same_natural_key_twice_names_both_rows(self, push: Push) -> None:
        legacy = f.legacy_id(5)
        answer = push(
            "roster",
            [f.roster(1), f.roster(5, id_number=legacy), f.roster(2), f.roster(5)],
            deletes=[{"id_number": f.id_number(1), "unit_code": f.unit_code(1)}],
        )
        assert answer.status_code == 422
        errors = answer.json()["errors"]
        assert [(e["row"], e["code"]) for e in errors] == [
            (4, "duplicate_key"),
            (5, "duplicate_key"),
        ]
        assert "row 2" in errors[0]["message"] and "row 1" in errors[1]["message"]

    def test_a_unit_outside_the_callers_region_is_a_bad_row(
        self, push: Push, database: Database
    ) -> None:
        answer = push(
            "roster", [f.roster(1), f.roster(2, unit_code=f.unit_code(1, region="230200"))]
        )
        assert answer.status_code == 422
        assert [(e["row"], e["field"], e["code"]) for e in answer.json()["errors"]] == [
            (2, "unit_code", "outside_region")
        ]
        assert table_counts(database) == (0, 0, 0)

    def test_the_registry_region_of_a_unit_decides(self, push: Push) -> None:
        # A unit whose code says Harbin but which the registry places in Qiqihar (230200).
        moved = f.unit(7, region="230100")
        moved["region"] = "230200"
        assert push("units", [moved], region="230000").status_code == 201
        answer = push("roster", [f.roster(1, 7)])
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "outside_region"

    def test_a_unit_missing_from_the_registry_is_not_an_input_error(self, push: Push) -> None:
        assert push("roster", [f.roster(1, 999)]).status_code == 201

    def test_a_county_cannot_write_the_city(self, push: Push) -> None:
        answer = push("roster", [f.roster(1)], region="230102")
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "outside_region"


class TestPermissions:
    def test_only_the_owner_writes(self, push: Push) -> None:
        assert push("roster", [f.roster(1)], as_="finance").status_code == 403
        assert push("payroll", [f.payroll(1)], as_="audit").status_code == 403
        assert push("cadres", [f.cadre(1)], as_="organization").status_code == 201

    def test_unknown_dataset_is_404(self, client: TestClient, headers_for: HeadersFor) -> None:
        answer = client.post(
            "/api/v1/datasets/secrets/batches", json={}, headers=headers_for("establishment")
        )
        assert answer.status_code == 404

    def test_scope_outside_the_callers_region(self, push: Push) -> None:
        answer = push("roster", [], scope={"region": "230200"})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "scope.region"


class TestSnapshot:
    def test_closes_what_the_scope_no_longer_holds_and_nothing_else(
        self, push: Push, read: Read
    ) -> None:
        push(
            "roster",
            [
                f.roster(1),
                f.roster(2),
                f.roster(3, 2),
                f.roster(4, 3, unit_code=f.unit_code(3, region="230102")),
            ],
        )
        answer = push("roster", [f.roster(1)], mode="snapshot", scope={"units": [f.unit_code(1)]})
        assert counts(answer.json()) == (0, 0, 1, 1)
        assert {r["id_number"] for r in read("roster")} == {
            f.id_number(1),
            f.id_number(3),
            f.id_number(4),
        }
        county = push("roster", [], mode="snapshot", scope={"region": "230102"})
        assert counts(county.json()) == (0, 0, 0, 1)
        assert {r["id_number"] for r in read("roster")} == {f.id_number(1), f.id_number(3)}

    def test_payroll_snapshot_is_per_period(self, push: Push, read: Read) -> None:
        push("payroll", [f.payroll(1), f.payroll(2)], scope={"period": "2026-10"})
        push(
            "payroll",
            [f.payroll(1, period="2026-11"), f.payroll(2, period="2026-11")],
            scope={"period": "2026-11"},
        )
        answer = push(
            "payroll",
            [f.payroll(1, period="2026-11")],
            mode="snapshot",
            scope={"period": "2026-11"},
        )
        assert counts(answer.json()) == (0, 0, 1, 1)
        lines = read("payroll", department="finance")
        assert sorted((r["period"], r["id_number"]) for r in lines) == [
            ("2026-10", f.id_number(1)),
            ("2026-10", f.id_number(2)),
            ("2026-11", f.id_number(1)),
        ]

    def test_payroll_needs_a_period_and_rows_must_match_it(self, push: Push) -> None:
        missing = push("payroll", [f.payroll(1)])
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "scope.period"
        other = push("payroll", [f.payroll(1, period="2026-09")], scope={"period": "2026-10"})
        assert other.status_code == 422
        assert other.json()["errors"][0]["code"] == "outside_scope"

    def test_a_period_after_next_month_is_refused(self, push: Push) -> None:
        """A mistyped year (2062-11 for 2026-11) would become the latest period, the one
        every default run judges (tests/reconciliation/test_rules.py); next month is taken:
        pay is prepared ahead."""
        for mode in ("upsert", "snapshot"):
            typo = push(
                "payroll", [f.payroll(1, period="2062-11")], mode=mode, scope={"period": "2062-11"}
            )
            assert typo.status_code == 422, typo.text
            assert [(e["field"], e["code"]) for e in typo.json()["errors"]] == [
                ("scope.period", "future")
            ]
        ahead = next_month(hub_today())
        line = f.payroll(1, period=ahead)
        assert push("payroll", [line], scope={"period": ahead}).status_code == 201


class TestCaps:
    def test_body_too_large_is_413(self, app: FastAPI, push: Push, database: Database) -> None:
        app.state.settings = app.state.settings.model_copy(update={"max_body_bytes": 1000})
        answer = push("roster", [f.roster(i) for i in range(20)])
        assert answer.status_code == 413
        assert table_counts(database) == (0, 0, 0)

    def test_too_many_rows_is_413(self, app: FastAPI, push: Push, database: Database) -> None:
        app.state.settings = app.state.settings.model_copy(update={"max_batch_rows": 5})
        answer = push("roster", [f.roster(i) for i in range(6)])
        assert answer.status_code == 413
        assert table_counts(database) == (0, 0, 0)


class TestDryRun:
    def test_counts_without_applying(self, push: Push, read: Read, database: Database) -> None:
        push("roster", [f.roster(1), f.roster(2)])
        before = table_counts(database)
        answer = push(
            "roster",
            [f.roster(1, name="王五"), f.roster(3)],
            mode="snapshot",
            params={"dry_run": "true"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["dry_run"] is True and body["batch_id"] is None
        assert counts(body) == (1, 1, 0, 1)
        assert table_counts(database) == before
        assert {r["name"] for r in read("roster")} == {"张1", "张2"}

    def test_a_dry_run_reports_bad_rows(self, push: Push) -> None:
        answer = push("roster", [f.roster(1, status="x")], params={"dry_run": "true"})
        assert answer.status_code == 422


class TestIdentifiersAreNormalised:
    def test_quirky_forms_are_one_person(self, push: Push, read: Read) -> None:
        number = f.id_number(7, born="19760403")
        legacy = number[:6] + number[8:17]
        fullwidth = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        answer = push(
            "roster",
            [
                f.roster(7, 1, id_number=legacy),
                f.roster(7, 2, id_number=fullwidth),
                f.roster(7, 3, id_number=number),
            ],
        )
        assert answer.status_code == 201, answer.text
        rows = read("roster")
        assert {r["id_number"] for r in rows} == {number}
        assert sorted(r["id_number_given"] or "" for r in rows) == sorted(["", legacy, fullwidth])
        assert len(read("roster", id_number=legacy)) == 3

    def test_lower_case_x(self, push: Push, read: Read) -> None:
        upper = "11010519491231002X"
        push("roster", [f.roster(1, id_number=upper.lower())])
        assert read("roster")[0]["id_number"] == upper


class TestBatchMembers:
    def test_unknown_member_and_bad_mode(self, client: TestClient, headers_for: HeadersFor) -> None:
        for body, field in (
            ({"records": [], "colour": 1}, "colour"),
            ({"records": [], "mode": "replace"}, "mode"),
            ({"records": [], "scope": {"region": "2301"}}, "scope.region"),
            ({"records": [], "scope": {"period": "2026-10"}}, "scope.period"),
        ):
            answer = client.post(
                "/api/v1/datasets/roster/batches", json=body, headers=headers_for("establishment")
            )
            assert answer.status_code == 422, body
            assert answer.json()["errors"][0]["field"] == field
