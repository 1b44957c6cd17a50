"""API8:2023 Security Misconfiguration — hostile and mistaken batch bodies, parameters and cursors.

Each case here was a 500, applied something it should not have, or put a caller's text (an ID
number, a name) into an error body. Every one must be a 422 problem naming the row and field,
with nothing applied and no ID number in the body or the log:

- a body of line breaks (an empty export) taken as a snapshot of nothing: everything in scope
  closed;
- names the caller sent echoed as ``field``: a CSV sent without its header row (the first
  person's row read as the header), a record keyed by its ID number, unknown members of JSON
  bodies, query parameter names;
- a money amount of more than 28 significant digits, a CSV count of thousands of digits;
- ``mode`` (or another one-value parameter, or a JSON member) given twice: the last one won;
- an NDJSON body starting with a byte-order mark refused on its first line;
- one list's cursor taken by another: a record list's cursor as the change feed's ``since``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.cursors import encode_pair_cursor
from linkage_hub.records import offload
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read

ROSTER = "/api/v1/datasets/roster/batches"
PAYROLL = "/api/v1/datasets/payroll/batches"
QUOTAS = "/api/v1/datasets/quotas/batches"
NDJSON = "application/x-ndjson"
JSON = "application/json"
CSV = "text/csv"
BOM = b"\xef\xbb\xbf"
# 31 digits before the point: quantizing to cents needs 33 > the decimal context's 28.
BIG_MONEY = "1234567890123456789012345678901.001"
ROSTER_HEADER = "id_number,unit_code,name,establishment_type,status,entered_on\n"


def problem(response: Any, row: int | None, field: str, code: str | None = None) -> dict[str, Any]:
    """A 422 problem with an error of ``row`` and ``field`` (and ``code``)."""
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert any(
        e["row"] == row and e["field"] == field and code in (None, e["code"])
        for e in body["errors"]
    ), body["errors"]
    return body


def changes(client: TestClient, headers: dict[str, str]) -> list[Any]:
    response = client.get("/api/v1/changes", params={"limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def post(
    client: TestClient,
    headers: dict[str, str],
    content: bytes | str,
    content_type: str,
    url: str = ROSTER,
    params: Any = None,
) -> Any:
    return client.post(
        url, content=content, headers={**headers, "content-type": content_type}, params=params
    )


def csv_rows(*numbers: int) -> str:
    return "".join(
        f"{f.id_number(n)},{f.unit_code(1)},张{n},institutional,active,2020-01-01\n"
        for n in numbers
    )


def raw_cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class TestBlankBodies:
    """``from_body`` refused an empty body, because in a snapshot "no records" closes all in
    scope; a body of line breaks alone (an empty export with its final newline) was taken as
    no records: 201, every record closed."""

    @pytest.mark.parametrize(
        ("content_type", "body"),
        [
            (NDJSON, b"\n"),
            (NDJSON, b"\r\n\r\n"),
            (NDJSON, b" \t\n  \n"),
            (NDJSON, BOM + b"\n"),
            (CSV, b"\n"),
            (CSV, b"\r\n"),
            (CSV, b"\r\n\r\n"),
            (CSV, BOM + b"\r\n"),
            (CSV, b" , \n"),
        ],
    )
    def test_a_snapshot_of_line_breaks_is_refused_and_closes_nothing(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        push: Push,
        read: Read,
        content_type: str,
        body: bytes,
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        audit = headers_for("audit")
        feed = changes(client, audit)
        response = post(
            client,
            headers_for("establishment"),
            body,
            content_type,
            params={"mode": "snapshot"},
        )
        problem(response, None, "body")
        assert len(read("roster")) == 2
        assert changes(client, audit) == feed

    def test_a_blank_header_row_before_records_is_refused(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        response = post(client, headers_for("establishment"), "\n" + csv_rows(1), CSV)
        problem(response, None, "body", "blank_header")
        assert read("roster") == []

    def test_an_empty_batch_is_still_sent_as_json_or_a_csv_header(
        self, client: TestClient, headers_for: HeadersFor, push: Push, read: Read
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        headers = headers_for("establishment")
        response = post(client, headers, ROSTER_HEADER, CSV, params={"mode": "upsert"})
        assert response.status_code == 201, response.text
        assert response.json()["received"] == 0
        response = push("roster", [], mode="snapshot")
        assert response.status_code == 201, response.text
        assert response.json()["closed"] == 2
        assert read("roster") == []


class TestNoNameEchoed:
    """A name the caller sent is its text: a CSV without its header row makes the first
    person's row the header, a record may be keyed by its ID number. None comes back as a
    ``field`` (or anywhere in the body, or in the log)."""

    def test_a_csv_sent_without_its_header_row(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        read: Read,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        response = post(client, headers_for("establishment"), csv_rows(1, 2), CSV)
        body = problem(response, None, "header[0]", "unknown_field")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            (f"header[{n}]", "unknown_field") for n in range(6)
        ]
        logged = caplog.text + "".join(capfd.readouterr())
        for text in (response.text, logged):
            assert f.id_number(1) not in text
            assert f.id_number(1)[6:14] not in text  # not even the birth date
            assert "张1" not in text
            assert f.unit_code(1) not in text
        assert read("roster") == []

    def test_a_csv_header_naming_a_field_twice_names_the_column(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        header = "id_number,unit_code,name,name,establishment_type,status,entered_on\n"
        response = post(client, headers_for("establishment"), header, CSV)
        body = problem(response, None, "header[3]", "duplicate")
        assert len(body["errors"]) == 1

    def test_a_record_keyed_by_its_id_number(self, push: Push, read: Read) -> None:
        response = push("roster", [f.roster(2), {f.id_number(1): f.roster(1)}])
        body = problem(response, 2, "2301**********" + f.id_number(1)[-4:], "unknown_field")
        assert f.id_number(1) not in response.text
        assert [e["code"] for e in body["errors"]].count("unknown_field") == 1
        assert read("roster") == []

    def test_a_batch_member_named_by_an_id_number(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        body = json.dumps({f.id_number(1): [f.roster(1)], "records": []})
        response = post(client, headers_for("establishment"), body, "application/json")
        problem(response, None, "2301**********" + f.id_number(1)[-4:], "unknown_field")
        assert f.id_number(1) not in response.text

    def test_a_scope_member_given_twice_named_by_an_id_number(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        member = json.dumps(f.id_number(1))
        body = f'{{"scope": {{{member}: 1, {member}: 2}}, "records": []}}'
        response = post(client, headers_for("establishment"), body, "application/json")
        problem(response, None, "scope.2301**********" + f.id_number(1)[-4:], "duplicate")
        assert f.id_number(1) not in response.text

    @pytest.mark.parametrize(
        "path", ["/api/v1/reconciliation/runs", "/api/v1/disclosures", "/api/v1/meetings"]
    )
    def test_an_unknown_member_of_a_json_body(
        self, client: TestClient, headers_for: HeadersFor, path: str
    ) -> None:
        body = json.dumps({"region": "230100", f.id_number(1): "x"})
        response = post(client, headers_for("establishment"), body, "application/json", path)
        assert response.status_code == 422, response.text
        assert f.id_number(1) not in response.text
        assert "2301**********" + f.id_number(1)[-4:] in [
            e["field"] for e in response.json()["errors"]
        ]

    def test_an_id_number_split_by_an_invisible_character(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """Invisible characters are dropped from a name before the mask looks for numbers."""
        number = f.id_number(1)
        body = json.dumps({"region": "230100", number[:6] + "\u200b" + number[6:]: "x"})
        response = post(
            client, headers_for("establishment"), body, "application/json", "/api/v1/meetings"
        )
        assert response.status_code == 422, response.text
        assert number not in response.text and number[6:] not in response.text

    def test_a_query_parameter_named_by_an_id_number(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(
            "/api/v1/datasets/roster/records",
            params={f.id_number(1): "a\x00b"},
            headers=headers_for("audit"),
        )
        problem(response, None, "2301**********" + f.id_number(1)[-4:], "nul_character")
        assert f.id_number(1) not in response.text


class TestLongNumbers:
    """``Decimal.quantize`` raised InvalidOperation past 28 significant digits and ``int()``
    refuses a string of over 4,300 digits: both were 500s."""

    def test_money_in_a_json_batch(self, push: Push, read: Read) -> None:
        records = [f.payroll(1), f.payroll(2, gross_pay=BIG_MONEY)]
        response = push("payroll", records, scope={"period": "2026-10"})
        problem(response, 2, "gross_pay", "range")
        assert read("payroll") == []

    @pytest.mark.parametrize("number", [BIG_MONEY, "-" + BIG_MONEY, "9" * 5000 + ".001"])
    def test_money_as_a_json_number(
        self, client: TestClient, headers_for: HeadersFor, read: Read, number: str
    ) -> None:
        body = json.dumps({"scope": {"period": "2026-10"}, "records": [f.payroll(1)]})
        body = body.replace('"8532.50"', number)
        response = post(client, headers_for("finance"), body, "application/json", PAYROLL)
        problem(response, 1, "gross_pay", "range")
        assert read("payroll") == []

    def test_money_in_an_ndjson_and_a_csv_batch(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        headers = headers_for("finance")
        lines = f.ndjson([f.payroll(1), f.payroll(2, gross_pay=BIG_MONEY)])
        response = post(client, headers, lines, NDJSON, PAYROLL, {"period": "2026-10"})
        problem(response, 2, "gross_pay", "range")
        fields = list(f.payroll(1))
        table = ",".join(fields) + "\n"
        for record in (f.payroll(1), f.payroll(2, gross_pay=BIG_MONEY)):
            table += ",".join(str(record[k]) for k in fields) + "\n"
        response = post(client, headers, table, CSV, PAYROLL, {"period": "2026-10"})
        problem(response, 2, "gross_pay", "range")
        assert read("payroll") == []

    def test_money_in_a_single_record(
        self, client: TestClient, headers_for: HeadersFor, push: Push, read: Read
    ) -> None:
        assert push("payroll", [f.payroll(1)], scope={"period": "2026-10"}).status_code == 201
        [record] = read("payroll")
        url = f"/api/v1/datasets/payroll/records/{record['record_key']}"
        headers = headers_for("finance")
        tag = client.get(url, headers=headers).headers["etag"]
        response = client.put(
            url,
            content=json.dumps(f.payroll(1, gross_pay=BIG_MONEY)),
            headers={**headers, "content-type": "application/json", "if-match": tag},
        )
        problem(response, 1, "gross_pay", "range")
        assert read("payroll")[0]["version"] == record["version"]

    def test_a_csv_count_of_thousands_of_digits(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        body = (
            "unit_code,establishment_type,approved\n"
            f"{f.unit_code(1)},institutional,5\n"
            f"{f.unit_code(2)},institutional,{'9' * 5000}\n"
            f"{f.unit_code(3)},institutional,{'0' * 5000}\n"
            f"{f.unit_code(4)},institutional,1000000001\n"
        )
        response = post(client, headers_for("establishment"), body, CSV, QUOTAS)
        errors = problem(response, 2, "approved", "range")["errors"]
        assert [(e["row"], e["code"]) for e in errors] == [(2, "range"), (4, "range")]
        assert read("quotas") == []

    def test_a_csv_count_with_leading_zeros_is_still_read(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        body = (
            "unit_code,establishment_type,approved\n"
            f"{f.unit_code(1)},institutional,{'0' * 50}1000000000\n"
        )
        response = post(client, headers_for("establishment"), body, CSV, QUOTAS)
        assert response.status_code == 201, response.text
        assert [q["approved"] for q in read("quotas")] == [1_000_000_000]

    @pytest.mark.parametrize("content_type", ["application/json", NDJSON])
    def test_a_json_count_of_thousands_of_digits(
        self, client: TestClient, headers_for: HeadersFor, read: Read, content_type: str
    ) -> None:
        record = json.dumps({"unit_code": f.unit_code(1), "establishment_type": "institutional"})
        record = record[:-1] + ', "approved": ' + "9" * 5000 + "}"
        body = f'{{"records": [{record}]}}' if content_type == "application/json" else record
        response = post(client, headers_for("establishment"), body, content_type, QUOTAS)
        assert response.status_code == 422, response.text[:300]
        assert response.json()["errors"][0]["row"] == 1
        assert read("quotas") == []


class TestGivenTwice:
    """A parameter taking one value, given twice: the framework kept the last, so
    ``mode=upsert&mode=snapshot`` applied a snapshot. A JSON member given twice: the decoder
    kept the last."""

    @pytest.mark.parametrize(
        "params",
        [
            [("mode", "upsert"), ("mode", "snapshot")],
            [("mode", "snapshot"), ("mode", "upsert")],
            [("mode", "bogus"), ("mode", "upsert")],
            [("dry_run", "true"), ("dry_run", "false")],
            [("region", "230102"), ("region", "230100")],
        ],
    )
    def test_two_values_of_a_parameter_are_refused(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        push: Push,
        read: Read,
        params: list[tuple[str, str]],
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        audit = headers_for("audit")
        feed = changes(client, audit)
        lines = f.ndjson([f.roster(1, name="改名")])
        response = post(client, headers_for("establishment"), lines, NDJSON, params=params)
        problem(response, None, params[0][0], "conflict")
        assert changes(client, audit) == feed

    def test_the_same_value_twice_is_one(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        lines = f.ndjson([f.roster(1)])
        params = [("mode", "upsert"), ("mode", "upsert")]
        response = post(client, headers_for("establishment"), lines, NDJSON, params=params)
        assert response.status_code == 201, response.text
        assert len(read("roster")) == 1

    @pytest.mark.parametrize(
        ("members", "field"),
        [
            ('"mode": "upsert", "mode": "snapshot"', "mode"),
            ('"scope": {"region": "230102", "region": "230100"}', "scope.region"),
            ('"records": [], "records": []', "records"),
        ],
    )
    def test_a_json_member_given_twice_is_refused(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        push: Push,
        read: Read,
        members: str,
        field: str,
    ) -> None:
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        body = f'{{{members}, "deletes": []}}'
        response = post(client, headers_for("establishment"), body, "application/json")
        problem(response, None, field, "duplicate")
        assert len(read("roster")) == 2

    @pytest.mark.parametrize(
        ("params", "members", "field"),
        [
            ({"mode": "upsert"}, {"mode": "snapshot"}, "mode"),
            ({"mode": "snapshot"}, {"mode": "upsert"}, "mode"),
            ({"region": "230102"}, {"scope": {"region": "230100"}}, "scope.region"),
        ],
    )
    def test_a_body_member_the_query_gives_otherwise_is_refused(
        self,
        client: TestClient,
        headers_for: HeadersFor,
        push: Push,
        read: Read,
        params: dict[str, str],
        members: dict[str, Any],
        field: str,
    ) -> None:
        """The body's member won without a word: ``?mode=upsert`` with a body saying
        ``snapshot`` closed every record in scope the body left out."""
        assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
        audit = headers_for("audit")
        feed = changes(client, audit)
        body = json.dumps({**members, "records": [f.roster(1, name="改名")]})
        response = post(client, headers_for("establishment"), body, JSON, params=params)
        problem(response, None, field, "conflict")
        assert changes(client, audit) == feed and len(read("roster")) == 2

    def test_the_same_answer_in_the_body_and_the_query_is_one(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        body = json.dumps({"mode": "upsert", "records": [f.roster(1)]})
        params = {"mode": "upsert"}
        response = post(client, headers_for("establishment"), body, JSON, params=params)
        assert response.status_code == 201, response.text
        assert len(read("roster")) == 1


class TestByteOrderMarks:
    """JSON and CSV bodies may start with a UTF-8 byte-order mark (``utf-8-sig``); the same
    NDJSON export (Windows tools write one) failed its first line as "not valid JSON"."""

    def test_an_ndjson_body(self, client: TestClient, headers_for: HeadersFor, read: Read) -> None:
        body = BOM + f.ndjson([f.roster(1), f.roster(2)])
        response = post(client, headers_for("establishment"), body, NDJSON)
        assert response.status_code == 201, response.text
        assert len(read("roster")) == 2

    def test_a_first_line_read_by_the_fallback_decoder(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        """A lone surrogate escape is refused by msgspec and read by the standard library's
        decoder, which names the field: the mark is gone before either sees the line."""
        line = json.dumps(f.roster(1, name="x")).replace('"x"', '"\\ud800"')
        body = BOM + line.encode() + b"\n" + f.ndjson([f.roster(2)])
        response = post(client, headers_for("establishment"), body, NDJSON)
        problem(response, 1, "name", "invalid_unicode")
        assert read("roster") == []

    def test_an_ndjson_body_checked_in_the_worker_pool(
        self, client: TestClient, headers_for: HeadersFor, read: Read
    ) -> None:
        people = [
            f.roster(n % 1000, id_number=f.id_number(n % 1000, born=f"19{70 + n // 1000}0101"))
            for n in range(2_000)
        ]
        body = BOM + f.ndjson(people)
        assert len(body) >= offload.OFFLOAD_BYTES
        response = post(client, headers_for("establishment"), body, NDJSON)
        assert response.status_code == 201, response.text
        assert response.json()["inserted"] == 2_000


class TestCursorsOfOtherLists:
    """The record lists, the change feed and the audit log all issued ``v1:<position>``: a
    record list's cursor sent as the feed's ``since`` was taken as a feed position, and the
    changes before it were skipped without a word."""

    def test_a_record_list_cursor_is_not_a_feed_position(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        assert push("roster", [f.roster(n) for n in range(1, 6)]).status_code == 201
        audit = headers_for("audit")
        page = client.get("/api/v1/datasets/roster/records", params={"limit": 2}, headers=audit)
        cursor = page.json()["next_cursor"]
        assert cursor
        response = client.get("/api/v1/changes", params={"since": cursor}, headers=audit)
        problem(response, None, "since", "cursor")

    def test_each_list_refuses_the_others_cursors(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        assert push("roster", [f.roster(n) for n in range(1, 4)]).status_code == 201
        assert push("units", [f.unit(n) for n in range(1, 4)]).status_code == 201
        audit = headers_for("audit")
        lists = {
            "roster": ("/api/v1/datasets/roster/records", "cursor"),
            "units": ("/api/v1/datasets/units/records", "cursor"),
            "changes": ("/api/v1/changes", "since"),
            "audit": ("/api/v1/audit-log", "cursor"),
        }
        cursors = {}
        for name, (path, _parameter) in lists.items():
            page = client.get(path, params={"limit": 1}, headers=audit)
            assert page.status_code == 200, page.text
            cursors[name] = page.json()["next_cursor"]
            assert cursors[name], name
        for name, (path, parameter) in lists.items():
            for other, cursor in cursors.items():
                response = client.get(path, params={parameter: cursor}, headers=audit)
                if other == name:
                    assert response.status_code == 200, (name, response.text)
                else:
                    problem(response, None, parameter, "cursor")

    def test_the_numbered_lists_refuse_each_others_cursors(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """The discrepancy, meeting and 12310 case lists and the publications page by a
        (rank, id) pair: a discrepancy cursor sent to the meeting list was read as a meeting
        number and answered an empty 200. Each list but the discrepancies (whose unkinded
        cursors departmental systems hold) now names its kind."""
        establishment = headers_for("establishment")  # reads all four lists
        key = "0" * 32
        issued = {
            "discrepancies": encode_pair_cursor(1, key),
            "meetings": encode_pair_cursor(1, key, "meetings"),
            "cases": encode_pair_cursor(1, key, "cases"),
            "disclosures": encode_pair_cursor(1, key, "disclosures"),
        }
        for name in issued:
            path = f"/api/v1/{name}"
            for other, cursor in issued.items():
                response = client.get(path, params={"cursor": cursor}, headers=establishment)
                if other == name:
                    assert response.status_code == 200, (name, response.text)
                else:
                    problem(response, None, "cursor")
        units = encode_pair_cursor(0, "x", "units")
        response = client.get("/public/v1/disclosures/230102", params={"cursor": units})
        assert response.status_code in (200, 404), response.text  # 404: nothing published
        for cursor in (issued["discrepancies"], issued["disclosures"]):
            response = client.get("/public/v1/disclosures/230102", params={"cursor": cursor})
            problem(response, None, "cursor")

    def test_a_feed_position_held_from_before_still_reads_on(
        self, client: TestClient, headers_for: HeadersFor, push: Push
    ) -> None:
        """Departmental systems hold feed cursors between polls (and webhook deliveries
        carry them): the ``v1:<seq>`` the feed always issued stays a feed position."""
        assert push("roster", [f.roster(n) for n in range(1, 4)]).status_code == 201
        audit = headers_for("audit")
        every = changes(client, audit)
        held = raw_cursor(f"v1:{every[0]['seq']}")
        response = client.get("/api/v1/changes", params={"since": held}, headers=audit)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == every[1:]
        assert response.json()["next_cursor"] == raw_cursor(f"v1:{every[-1]['seq']}")
