"""API8:2023 Security Misconfiguration — hostile input that broke the hub later, or at once.

Each case here was a 500 (an unhandled error reaching the database driver, the JSON encoder or
date arithmetic) or was accepted and broke an export later. Every one must be a 422 problem
naming the field (and the row, in a batch), with nothing applied:

- Unicode non-characters (U+FDD0–U+FDEF, U+xFFFE/U+xFFFF in every plane) and lone surrogates
  (``"\\ud800"`` in JSON) in JSON, NDJSON and CSV batches, single records, comments and query
  parameters (code ``invalid_unicode``); a U+FFFF stored before the check no longer makes the
  staffing XLSX unreadable;
- dates and times outside 1900-01-01 … 2999-12-31 in every date or time parameter and every
  date of a pushed record (code ``date_range``);
- cursors holding a huge integer, or anything else they were not issued with.

The token endpoint answers in OAuth's terms instead: a client id holding a NUL (in the form or
in HTTP Basic) reached the client lookup, which PostgreSQL's driver refuses — a 500 for a
caller not yet authenticated; now `401 invalid_client`, as for any client id that is not one.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

UNITS = "/api/v1/datasets/units/batches"
NONCHARACTERS = ["\uffff", "\ufffe", "\ufdd0", "\ufdef", "\U0001fffe", "\U0010ffff"]


def problem(response: Any, *fields: tuple[int | None, str, str]) -> None:
    """A 422 problem whose errors are exactly ``(row, field, code)``."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [(e["row"], e["field"], e["code"]) for e in errors] == list(fields), errors


def nothing_applied(client: TestClient, headers: dict[str, str]) -> None:
    listed = client.get("/api/v1/datasets/units/records", headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []


class TestNonCharacters:
    @pytest.mark.parametrize("char", NONCHARACTERS)
    def test_in_a_json_batch(
        self, client: TestClient, headers_for: HeadersFor, push: Push, char: str
    ) -> None:
        response = push("units", [f.unit(1), f.unit(2, name=f"单位{char}")])
        problem(response, (2, "name", "invalid_unicode"))
        nothing_applied(client, headers_for("establishment"))

    def test_in_other_text_fields(self, push: Push) -> None:
        response = push("units", [f.unit(1, functions="职能\uffff")])
        problem(response, (1, "functions", "invalid_unicode"))
        response = push("cadres", [f.cadre(1, position="科长\ufffe")])
        problem(response, (1, "position", "invalid_unicode"))

    def test_in_an_ndjson_and_a_csv_batch(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = headers_for("establishment")
        lines = [json.dumps(f.unit(1)), json.dumps(f.unit(2, name="单位\uffff"))]
        response = client.post(
            UNITS,
            content="\n".join(lines).encode(),
            headers={**headers, "content-type": "application/x-ndjson"},
        )
        problem(response, (2, "name", "invalid_unicode"))
        csv_body = "unit_code,name,region,kind,funding,status\n"
        csv_body += f"{f.unit_code(1)},单位1,230100,institution,full,active\n"
        csv_body += f"{f.unit_code(2)},单位\uffff,230100,institution,full,active\n"
        response = client.post(
            UNITS, content=csv_body.encode(), headers={**headers, "content-type": "text/csv"}
        )
        problem(response, (2, "name", "invalid_unicode"))
        nothing_applied(client, headers)

    def test_in_a_query_parameter(self, client: TestClient, headers_for: HeadersFor) -> None:
        for url, field in [
            ("/api/v1/discrepancies?unit_code=%EF%BF%BF", "unit_code"),
            ("/api/v1/access-records?client_id=a%EF%B7%90", "client_id"),
            ("/api/v1/audit-log?action=%F4%8F%BF%BF", "action"),
        ]:
            response = client.get(url, headers=headers_for("audit"))
            problem(response, (None, field, "invalid_unicode"))

    def test_in_a_comment_or_a_reason(self, client: TestClient, headers_for: HeadersFor) -> None:
        headers = headers_for("establishment")
        for path, payload, field in [
            ("comments", {"body": "核实中\uffff"}, "body"),
            ("transitions", {"to": "waived", "reason": "已核\ufdd0"}, "reason"),
            ("transitions", {"to": "waived", "document_no": "\U0001ffff"}, "document_no"),
        ]:
            response = client.post(
                f"/api/v1/discrepancies/none/{path}", json=payload, headers=headers
            )
            problem(response, (None, field, "invalid_unicode"))

    def test_a_name_stored_before_the_check_leaves_the_xlsx_readable(
        self, client: TestClient, headers_for: HeadersFor, push: Push, database: Database
    ) -> None:
        assert push("units", [f.unit(1)]).status_code == 201
        quota = {"unit_code": f.unit_code(1), "establishment_type": "institutional"}
        quota |= {"approved": 1, "effective_on": "2026-01-01"}
        assert push("quotas", [quota]).status_code == 201
        with database.transaction() as session:
            session.execute(text("UPDATE registry_unit SET name = :n"), {"n": "单位\uffff一"})
        response = client.get(
            "/api/v1/reports/staffing",
            params={"format": "xlsx", "as_of": "2026-10-31"},
            headers=headers_for("audit"),
        )
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
        assert "单位一" in {c.value for row in sheet.iter_rows() for c in row}


class TestLoneSurrogates:
    """JSON may escape half of a surrogate pair; Python decodes it to a string no UTF-8
    encoder can write (the drivers, the JSON response: a 500)."""

    def test_in_a_json_batch_value_and_key(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        headers = {**headers_for("establishment"), "content-type": "application/json"}
        good = json.dumps(f.unit(1))
        bad = json.dumps(f.unit(2, name="单位")).replace("\\u5355\\u4f4d", "\\ud800")
        assert "\\ud800" in bad
        response = client.post(UNITS, content=f'{{"records": [{good}, {bad}]}}', headers=headers)
        problem(response, (2, "name", "invalid_unicode"))
        keyed = good[:-1] + ', "\\udc00x": 1}'
        response = client.post(UNITS, content=f'{{"records": [{keyed}]}}', headers=headers)
        problem(response, (1, "x", "unknown_field"))
        member = f'{{"\\ud800y": 1, "records": [{good}]}}'
        response = client.post(UNITS, content=member, headers=headers)
        problem(response, (None, "y", "unknown_field"))
        nothing_applied(client, headers)

    def test_in_an_ndjson_line(self, client: TestClient, headers_for: HeadersFor) -> None:
        headers = {**headers_for("establishment"), "content-type": "application/x-ndjson"}
        line = json.dumps(f.unit(1, functions="x")).replace('"x"', '"\\udfff"')
        response = client.post(UNITS, content=line, headers=headers)
        problem(response, (1, "functions", "invalid_unicode"))

    def test_in_a_single_record(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        assert push("units", [f.unit(1)]).status_code == 201
        headers = headers_for("establishment")
        [record] = client.get("/api/v1/datasets/units/records", headers=headers).json()["items"]
        url = f"/api/v1/datasets/units/records/{record['record_key']}"
        tag = client.get(url, headers=headers).headers["ETag"]
        body = json.dumps(f.unit(1, name="x")).replace('"x"', '"\\ud83d"')
        response = client.put(
            url,
            content=body,
            headers={**headers, "If-Match": tag, "content-type": "application/json"},
        )
        problem(response, (1, "name", "invalid_unicode"))

    def test_in_a_comment(self, client: TestClient, headers_for: HeadersFor) -> None:
        response = client.post(
            "/api/v1/discrepancies/none/comments",
            content='{"body": "\\ud800"}',
            headers={**headers_for("establishment"), "content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["body"]


FAR = ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "1899-12-31T23:59:59Z"]


class TestClientCredentials:
    TOKEN = "/oauth/token"

    @pytest.mark.parametrize("client_id", ["lhc_\x00abc", "\x00", "lhc_\uffff"])
    def test_in_the_form(self, client: TestClient, client_id: str) -> None:
        answer = client.post(
            self.TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": "x" * 20,
            },
        )
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "invalid_client"

    def test_in_http_basic(self, client: TestClient) -> None:
        for raw_id in ("lhc_\x00abc", "lhc_%00abc"):
            basic = base64.b64encode(f"{raw_id}:{'x' * 20}".encode()).decode()
            answer = client.post(
                self.TOKEN,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "invalid_client"


class TestDatesOutOfRange:
    @pytest.mark.parametrize("moment", FAR)
    def test_time_parameters_of_the_lists(
        self, client: TestClient, headers_for: HeadersFor, moment: str
    ) -> None:
        headers = headers_for("audit")
        for path, name in [
            ("/api/v1/datasets/roster/records", "as_of"),
            ("/api/v1/datasets/units/records", "as_of"),
            ("/api/v1/audit-log", "from"),
            ("/api/v1/audit-log", "to"),
            ("/api/v1/access-records", "from"),
            ("/api/v1/access-records", "to"),
        ]:
            response = client.get(path, params={name: moment}, headers=headers)
            problem(response, (None, name, "date_range"))

    def test_a_naive_time_far_out(self, client: TestClient, headers_for: HeadersFor) -> None:
        """No offset: read in the hub's zone (UTC+8), which overflowed at 0001-01-01."""
        response = client.get(
            "/api/v1/datasets/roster/records",
            params={"as_of": "0001-01-01T00:00:00"},
            headers=headers_for("audit"),
        )
        problem(response, (None, "as_of", "date_range"))

    def test_inside_the_range_still_answers(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/datasets/roster/records",
            params={"as_of": "1900-01-01T00:00:00+14:00"},
            headers=headers_for("audit"),
        )
        assert response.status_code == 200, response.text
        # The last moment of the range converts without overflow too; it is still to come,
        # so it is refused as such (test_api1_as_of_settled.py), not as out of range.
        response = client.get(
            "/api/v1/datasets/roster/records",
            params={"as_of": "2999-12-31T23:59:59-12:00"},
            headers=headers_for("audit"),
        )
        problem(response, (None, "as_of", "future"))

    @pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
    def test_tenure_report(
        self, client: TestClient, headers_for: HeadersFor, push: Push, day: str
    ) -> None:
        assert push("units", [f.unit(1)]).status_code == 201
        cadre = f.cadre(1, leader_level="principal", appointed_on="2020-01-01")
        assert push("cadres", [cadre]).status_code == 201
        for name in ("from", "to"):
            response = client.get(
                "/api/v1/reports/tenure",
                params={"id_number": f.id_number(1), "unit_code": f.unit_code(1), name: day},
                headers=headers_for("audit"),
            )
            problem(response, (None, name, "date_range"))

    @pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31"])
    def test_dates_in_pushed_records(
        self, client: TestClient, headers_for: HeadersFor, push: Push, day: str
    ) -> None:
        """A cadre appointed on 0001-01-01 was stored, and its tenure report was a 500."""
        response = push("cadres", [f.cadre(1), f.cadre(2, appointed_on=day)])
        problem(response, (2, "appointed_on", "date_range"))
        headers = headers_for("establishment")
        csv_body = "unit_code,name,region,kind,funding,status,established_on\n"
        csv_body += f"{f.unit_code(1)},单位1,230100,institution,full,active,{day}\n"
        response = client.post(
            UNITS, content=csv_body.encode(), headers={**headers, "content-type": "text/csv"}
        )
        problem(response, (1, "established_on", "date_range"))
        nothing_applied(client, headers)

    def test_staffing_report(self, client: TestClient, headers_for: HeadersFor) -> None:
        response = client.get(
            "/api/v1/reports/staffing", params={"as_of": "0001-01-01"}, headers=headers_for("audit")
        )
        problem(response, (None, "as_of", "date_range"))

    @pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31"])
    def test_reconciliation_run(
        self, client: TestClient, headers_for: HeadersFor, day: str
    ) -> None:
        headers = headers_for("establishment")
        body = {"region": "230100", "period": "2026-10", "as_of": day}
        response = client.post("/api/v1/reconciliation/runs", json=body, headers=headers)
        problem(response, (None, "as_of", "date_range"))
        runs = client.get("/api/v1/reconciliation/runs", headers=headers)
        assert runs.status_code != 200 or runs.json().get("items", []) == []


def cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HUGE = b"9" * 40


class TestCursors:
    @pytest.mark.parametrize(
        ("path", "name", "raw"),
        [
            ("/api/v1/datasets/roster/records", "cursor", b"records.roster:" + HUGE),
            ("/api/v1/datasets/roster/records", "cursor", b"records.roster:9223372036854775808"),
            ("/api/v1/changes", "since", b"v1:" + HUGE),
            ("/api/v1/audit-log", "cursor", b"audit:" + HUGE),
            ("/api/v1/access-records", "cursor", b"ar:" + HUGE),
            ("/api/v1/access-records", "cursor", b"v1:1"),  # another list's cursor
            ("/api/v1/discrepancies", "cursor", json.dumps([10**40, "x"]).encode()),
            ("/api/v1/discrepancies", "cursor", json.dumps([1, "a\x00b"]).encode()),
            ("/api/v1/discrepancies", "cursor", b"[" * 5000),
            ("/api/v1/datasets/roster/records", "cursor", b"records.roster:" + b"1" * 5000),
            # a record list's cursor from before it paged by record key: a row id
            ("/api/v1/datasets/roster/records", "cursor", b"records.roster:5"),
            # a bulletin cursor's rank is a day: past the calendar's last, fromordinal raised
            ("/api/v1/bulletins", "cursor", json.dumps([10**9, "a"]).encode()),
            ("/api/v1/bulletins", "cursor", json.dumps([2**63 - 1, "a"]).encode()),
            ("/api/v1/bulletins", "cursor", json.dumps([0, "a"]).encode()),
        ],
    )
    def test_a_cursor_out_of_range_is_a_422(
        self, client: TestClient, headers_for: HeadersFor, path: str, name: str, raw: bytes
    ) -> None:
        response = client.get(path, params={name: cursor(raw)}, headers=headers_for("audit"))
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [name]

    def test_issued_cursors_still_page(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        assert push("units", [f.unit(n) for n in range(1, 4)]).status_code == 201
        headers = headers_for("audit")
        seen: list[str] = []
        params: dict[str, str] = {"limit": "1"}
        while True:
            page = client.get("/api/v1/datasets/units/records", params=params, headers=headers)
            assert page.status_code == 200, page.text
            seen += [r["unit_code"] for r in page.json()["items"]]
            if not page.json()["next_cursor"]:
                break
            params["cursor"] = page.json()["next_cursor"]
        assert len(seen) == 3
        records = client.get("/api/v1/access-records", params={"limit": "1"}, headers=headers)
        assert records.status_code == 200
        next_cursor = records.json()["next_cursor"]
        assert next_cursor
        following = client.get(
            "/api/v1/access-records", params={"limit": "1", "cursor": next_cursor}, headers=headers
        )
        assert following.status_code == 200, following.text


class TestDigitsOfOtherScripts:
    """``\\d`` matches full-width and other scripts' digits in Python and in pydantic's patterns:
    "２０２６-10" was stored as a payroll period, and ``MAX(period)`` (which "２" sorts after
    every ASCII digit) made it the month a run judged by default — a city's whole pay seen as
    missing. Python's ``$`` also matches before a final newline, so "2026-10\n" was stored
    the same way (and sorts after "2026-10"). Periods and regions are ASCII digits and nothing
    else; anything else is a 422 naming the field."""

    PERIOD, REGION = "２０２６-10", "23010２"

    # Python's $ takes a final \n; year 0 is no date (a 500 in every later run), nor 3000.
    @pytest.mark.parametrize("bad", [PERIOD, "2026-10\n", "0000-01", "1899-12", "3000-01"])
    def test_a_pushed_period(
        self, client: TestClient, headers_for: HeadersFor, push: Push, bad: str
    ) -> None:
        ascii_scope = {"period": "2026-10"}
        refused = push("payroll", [f.payroll(1, 1) | {"period": bad}], scope=ascii_scope)
        problem(refused, (1, "period", "period"))
        refused = push("payroll", [f.payroll(1, 1) | {"period": bad}], scope={"period": bad})
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["scope.period"]
        listed = client.get(
            "/api/v1/datasets/payroll/records", headers=headers_for("finance", "230100")
        )
        assert listed.status_code == 200 and listed.json()["items"] == []

    @pytest.mark.parametrize(
        ("method", "path", "department", "body", "params"),
        [
            ("POST", "/api/v1/reconciliation/runs", "establishment", "period", None),
            ("POST", "/api/v1/reconciliation/runs", "establishment", "region", None),
            ("GET", "/api/v1/reconciliation/runs", "audit", None, "region"),
            ("GET", "/api/v1/datasets/payroll/records", "finance", None, "period"),
            ("POST", "/api/v1/disclosures", "establishment", "region", None),
            ("GET", "/api/v1/disclosures/preview", "establishment", None, "region"),
            ("GET", "/api/v1/bulletins", "audit", None, "region"),
        ],
    )
    def test_a_region_or_period_anywhere(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        method: str,
        path: str,
        department: str,
        body: str | None,
        params: str | None,
    ) -> None:
        value = {"period": self.PERIOD, "region": self.REGION}
        sent = {"region": "230100"} if method == "POST" else {}
        if body:
            sent[body] = value[body]
        response = client.request(
            method,
            path,
            json=sent if method == "POST" else None,
            params={params: value[params]} if params else None,
            headers=headers_for(department, "230100"),
        )
        assert response.status_code == 422, response.text
        fields = [e["field"] for e in response.json()["errors"]]
        assert fields and all((body or params) in name for name in fields), fields

    @pytest.mark.parametrize("bad", ["2026-10\n", "0000-01", "3000-01"])
    def test_a_run_for_a_period_with_a_final_newline_or_out_of_range(
        self, client: TestClient, headers_for: HeadersFor, bad: str
    ) -> None:
        response = client.post(
            "/api/v1/reconciliation/runs",
            json={"region": "230100", "period": bad},
            headers=headers_for("establishment", "230100"),
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["period"]
