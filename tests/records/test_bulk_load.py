"""A large first batch into an empty version table loads it without its indexes and builds them
afterwards (records.queries.defer_indexes). Here the threshold is lowered to one row, so small
batches take that path; what they store must be what the usual merge stores."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from linkage_hub.db import Database
from linkage_hub.records.models import RosterRecord
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read


def indexes(database: Database) -> dict[str, tuple[tuple[str, ...], bool]]:
    found = inspect(database.engine).get_indexes(RosterRecord.__tablename__)
    return {i["name"]: (tuple(c for c in i["column_names"] if c), bool(i["unique"])) for i in found}


def model_indexes() -> dict[str, tuple[tuple[str, ...], bool]]:
    table = RosterRecord.__table__
    return {
        str(i.name): (tuple(c.name for c in i.columns), bool(i.unique))
        for i in table.indexes  # type: ignore[attr-defined]
    }


class TestBulkLoad:
    def test_stores_what_the_merge_stores_and_rebuilds_every_index(
        self,
        deferred: list[bool],
        push: Push,
        read: Read,
        database: Database,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        before = indexes(database)
        assert before == model_indexes()
        rows = [f.roster(n, unit=1 + n % 2) for n in range(1, 6)]
        rows.append(f.roster(6, id_number=f.legacy_id(6)))
        answer = push("roster", rows)
        assert answer.status_code == 201, answer.text
        assert deferred == [True]
        body = answer.json()
        assert (body["inserted"], body["updated"], body["unchanged"]) == (6, 0, 0)
        assert indexes(database) == before
        records = read("roster")
        assert len(records) == 6 and {r["version"] for r in records} == {1}
        changes = client.get("/api/v1/changes", headers=headers_for("hr")).json()["items"]
        assert sorted(c["record_key"] for c in changes) == sorted(r["record_key"] for r in records)
        assert {c["op"] for c in changes} == {"upsert"}

        # The table is no longer empty: the next batch merges into it as usual.
        again = push("roster", [{**rows[0], "name": "张改"}, *rows[1:5]], mode="snapshot")
        assert again.status_code == 201, again.text
        assert deferred == [True]  # not even asked: the table holds versions
        body = again.json()
        assert (body["inserted"], body["updated"], body["unchanged"], body["closed"]) == (
            0,
            1,
            4,
            1,
        )
        current = {r["id_number"]: r for r in read("roster")}
        assert len(current) == 5 and f.id_number(6) not in current
        assert (current[f.id_number(1)]["name"], current[f.id_number(1)]["version"]) == ("张改", 2)

    def test_the_rebuilt_unique_index_holds(
        self, deferred: list[bool], push: Push, database: Database
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        assert deferred == [True]
        unique = {name for name, (_, is_unique) in indexes(database).items() if is_unique}
        assert unique == {
            "uq_records_roster_record_key_version",
            "ix_records_roster_current_record_key",
        }

    def test_a_bad_batch_leaves_the_table_and_its_indexes(
        self, deferred: list[bool], push: Push, read: Read, database: Database
    ) -> None:
        answer = push("roster", [f.roster(1), f.roster(2), f.roster(1)])
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "duplicate_key"
        assert deferred == []  # rejected before the merge
        assert read("roster") == []
        assert indexes(database) == model_indexes()

    def test_a_dry_run_does_not_drop_indexes(
        self, deferred: list[bool], push: Push, read: Read, database: Database
    ) -> None:
        answer = push("roster", [f.roster(1)], params={"dry_run": "true"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["inserted"] == 1
        assert deferred == []
        assert read("roster") == [] and indexes(database) == model_indexes()


class TestDirectLoad:
    def post(self, client: TestClient, headers_for: HeadersFor, body: bytes) -> Any:
        return client.post(
            "/api/v1/datasets/roster/batches",
            content=body,
            headers={**headers_for("establishment"), "content-type": "application/x-ndjson"},
        )

    def test_a_first_load_then_merges_as_usual(
        self,
        direct: list[str],
        deferred: list[bool],
        backend: str,
        push: Push,
        read: Read,
        database: Database,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        # A unit the registry places in a county: its records take the registry's region.
        assert push("units", [f.unit(2) | {"region": "230102"}]).status_code == 201
        rows = [f.roster(n, unit=1 + n % 2) for n in range(1, 7)]
        body = f.ndjson(rows[:3]) + b"\n   \n" + f.ndjson(rows[3:])  # blank lines: row gaps
        answer = self.post(client, headers_for, body)
        assert answer.status_code == 201, answer.text
        assert deferred == [True, True]  # the units, then the roster
        assert direct == [answer.json()["batch_id"]]
        got = answer.json()
        assert (got["inserted"], got["updated"], got["unchanged"], got["received"]) == (6, 0, 0, 6)
        assert indexes(database) == model_indexes()
        records = read("roster")
        assert len(records) == 6 and {r["version"] for r in records} == {1}
        assert {r["batch_id"] for r in records} == {got["batch_id"]}
        # The load's time is stored as any batch's: its records are there as of that moment.
        assert len(read("roster", as_of=records[0]["recorded_at"])) == 6
        by_unit = {r["unit_code"]: r["region"] for r in records}
        assert by_unit == {f.unit_code(1): "230100", f.unit_code(2): "230102"}
        one = next(r for r in records if r["id_number"] == f.id_number(1))
        single = client.get(
            f"/api/v1/datasets/roster/records/{one['record_key']}", headers=headers_for("hr")
        )
        assert single.status_code == 200 and single.headers["etag"] == '"v1"'
        changes = client.get("/api/v1/changes", headers=headers_for("hr")).json()["items"]
        roster_changes = [c for c in changes if c["dataset"] == "roster"]
        assert sorted(c["record_key"] for c in roster_changes) == sorted(
            r["record_key"] for r in records
        )

        # The table holds versions now: the next body merges, and new ids follow the copied.
        again = self.post(client, headers_for, f.ndjson([{**rows[0], "name": "张改"}, f.roster(9)]))
        assert again.status_code == 201, again.text
        got = again.json()
        assert (got["inserted"], got["updated"], got["unchanged"]) == (1, 1, 0)
        history = client.get(
            f"/api/v1/datasets/roster/records/{one['record_key']}/history",
            headers=headers_for("hr"),
        ).json()["items"]
        assert [(v["version"], v["name"]) for v in history] == [(1, rows[0]["name"]), (2, "张改")]
        assert len(read("roster")) == 7

    @pytest.mark.parametrize("problem", ["invalid", "duplicate", "outside"])
    def test_a_bad_first_load_leaves_nothing(
        self,
        direct: list[str],
        backend: str,
        problem: str,
        read: Read,
        database: Database,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        rows = [f.roster(n) for n in range(1, 5)]
        if problem == "invalid":
            rows.append(f.roster(5, status="sleeping"))
        elif problem == "duplicate":
            rows.append(f.roster(2))
        else:
            rows.append(f.roster(5, unit=3, region="230200"))
        answer = self.post(client, headers_for, f.ndjson(rows))
        assert answer.status_code == 422, answer.text
        error = answer.json()["errors"][0]
        assert error["row"] == 5
        assert error["code"] == {"invalid": "enum", "duplicate": "duplicate_key"}.get(
            problem, "outside_region"
        )
        assert read("roster") == []
        assert indexes(database) == model_indexes()
        # and the table takes a good load afterwards
        assert self.post(client, headers_for, f.ndjson(rows[:4])).status_code == 201
        assert len(read("roster")) == 4
        assert len(direct) == 2

    def test_a_csv_first_load(
        self, direct: list[str], read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = (
            "id_number,unit_code,name,establishment_type,status,exited_on\n"
            f"{f.id_number(1)},{f.unit_code(1)},王芳,institutional,active,\n"
            f"{f.id_number(2)},{f.unit_code(1)},李明,administrative,exited,2026-01-31\n"
        )
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=body.encode("utf-8-sig"),
            headers={**headers_for("establishment"), "content-type": "text/csv"},
        )
        assert answer.status_code == 201, answer.text
        assert direct == [answer.json()["batch_id"]]
        by_name = {r["name"]: r for r in read("roster")}
        assert by_name["王芳"]["exited_on"] is None
        assert by_name["李明"]["exited_on"] == "2026-01-31"
        assert by_name["李明"]["establishment_type"] == "administrative"

    def test_a_payroll_snapshot_first_load(
        self, direct: list[str], read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        rows = [f.payroll(1, gross_pay="100.50"), f.payroll(2, gross_pay=9000)]
        rows.append({k: v for k, v in f.payroll(3).items() if k != "period"})  # the scope's
        answer = client.post(
            "/api/v1/datasets/payroll/batches",
            content=f.ndjson(rows),
            params={"mode": "snapshot", "period": "2026-10"},
            headers={**headers_for("finance"), "content-type": "application/x-ndjson"},
        )
        assert answer.status_code == 201, answer.text
        got = answer.json()
        assert (got["inserted"], got["closed"]) == (3, 0)
        assert direct == [got["batch_id"]]
        pay = {r["id_number"]: (r["period"], r["gross_pay"]) for r in read("payroll", "finance")}
        assert pay == {
            f.id_number(1): ("2026-10", "100.50"),
            f.id_number(2): ("2026-10", "9000.00"),
            f.id_number(3): ("2026-10", "8532.50"),
        }
