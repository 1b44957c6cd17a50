"""The console's report downloads are the API's: the same file for the same caller and
parameters, and the same person-read audit, with the person (``user:<username>``) as reader."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import Console, ConsoleAs

FORMATS = ("json", "csv", "xlsx")
# What the discrepancy form sends when a person picks a status and a severity only.
DISCREPANCY_FORM = {
    "region": "",
    "unit_code": "",
    "id_number": "",
    "rule": "",
    "status": "open",
    "severity": "critical",
    "department": "",
}


def _workbook(content: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def _same_file(console: Response, api: Response, fmt: str) -> None:
    assert api.status_code == 200, api.text
    assert console.status_code == 200, console.text
    assert console.headers["content-type"] == api.headers["content-type"]
    disposition = api.headers.get("content-disposition")
    assert console.headers.get("content-disposition") == disposition
    if fmt == "xlsx":  # a workbook's zip carries its own timestamps: compare it row for row
        rows = _workbook(api.content)
        assert sum(len(sheet) for sheet in rows.values()) > 1
        assert _workbook(console.content) == rows
    else:
        assert console.content == api.content
        if fmt == "csv":
            assert api.content.count(b"\n") > 1  # a header and rows
        elif "items" in api.json():
            assert api.json()["items"]


def _without_blanks(params: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in params.items() if value}


def _both(
    person: Console,
    client: TestClient,
    headers: dict[str, str],
    report: str,
    params: dict[str, str],
) -> tuple[Response, Response]:
    console = person.get(f"/console/reports/{report}", params=params)
    api = client.get(f"/api/v1/reports/{report}", params=_without_blanks(params), headers=headers)
    return console, api


def _leader(client: TestClient, headers_for: HeadersFor) -> tuple[str, str]:
    """A leader of the demo city: (ID number, unit code)."""
    listed = client.get(
        "/api/v1/datasets/cadres/records",
        params={"limit": 1000},
        headers=headers_for("organization", "230100"),
    )
    assert listed.status_code == 200, listed.text
    leaders = [r for r in listed.json()["items"] if r["leader_level"] != "none"]
    return str(leaders[0]["id_number"]), str(leaders[0]["unit_code"])


class TestTheReportsPage:
    def test_the_four_forms_target_the_console_downloads(
        self, client: TestClient, console_as: ConsoleAs
    ) -> None:
        page = console_as("finance", "230102").get("/console/reports")
        assert page.status_code == 200
        for report in ("staffing", "discrepancies", "annual"):
            assert f'<form method="get" action="/console/reports/{report}"' in page.text
        # The tenure report asks for a leader's ID number: posted, never in the address.
        assert '<form method="post" action="/console/reports/tenure"' in page.text
        for field in ('name="as_of"', 'name="from"', 'name="to"', 'name="mask"'):
            assert field in page.text
        assert 'value="PAID_AFTER_EXIT"' in page.text
        assert 'value="230102"' in page.text  # the region field defaults to theirs
        assert (
            f'name="year" required inputmode="numeric" maxlength="4" value="{hub_today().year}"'
            in (page.text)
        )


class TestTheDownloadsAreTheApis:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_staffing(
        self,
        demo_city: Any,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
        fmt: str,
    ) -> None:
        person, headers = console_as("hr", "230100"), headers_for("hr", "230100")
        params = {"region": "230102", "as_of": hub_today().isoformat(), "format": fmt}
        _same_file(*_both(person, client, headers, "staffing", params), fmt)
        blank = {"region": "", "as_of": "", "format": fmt}  # defaults: their region, today
        _same_file(*_both(person, client, headers, "staffing", blank), fmt)

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_discrepancies(
        self,
        demo_city: Any,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
        fmt: str,
    ) -> None:
        person, headers = console_as("audit", "230100"), headers_for("audit", "230100")
        params = {**DISCREPANCY_FORM, "format": fmt}
        _same_file(*_both(person, client, headers, "discrepancies", params), fmt)
        masked = {"region": "230103", "format": fmt, "mask": "true"}
        _same_file(*_both(person, client, headers, "discrepancies", masked), fmt)

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_tenure(
        self,
        demo_city: Any,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
        fmt: str,
    ) -> None:
        person, headers = console_as("audit", "230100"), headers_for("audit", "230100")
        id_number, unit_code = _leader(client, headers_for)
        form = {"id_number": id_number, "unit_code": unit_code, "from": "", "to": ""}
        form |= {"format": fmt, "mask": ""}
        console = person.post("/console/reports/tenure", form)
        api = client.get("/api/v1/reports/tenure", params=_without_blanks(form), headers=headers)
        _same_file(console, api, fmt)
        # The same report asked by address: not served (no ID number in a console address).
        by_address = person.get("/console/reports/tenure", params=_without_blanks(form))
        assert by_address.status_code == 405

    def test_a_bad_tenure_form_comes_back_as_a_page_without_the_number(
        self, console_as: ConsoleAs
    ) -> None:
        person = console_as("audit", "230100")
        number = "230102198001010073"
        for form in (
            {},
            {"id_number": number},
            {"id_number": number, "unit_code": "U1", "from": "notadate"},
            {"id_number": number, "unit_code": "U1", "format": "pdf"},
            {"id_number": "1" * 41, "unit_code": "U1"},
        ):
            page = person.post("/console/reports/tenure", form)
            assert page.status_code == 422, (form, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert number not in page.text

    def test_a_refusal_is_a_page_as_the_api_refuses(
        self, demo_city: Any, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        person, headers = console_as("hr", "230102"), headers_for("hr", "230102")
        for params, status in (({"region": "230100"}, 404), ({"region": "23x"}, 422)):
            console, api = _both(person, client, headers, "staffing", params)
            assert console.status_code == api.status_code == status
            assert console.headers["content-type"].startswith("text/html")
        signed_out = client.get("/console/reports/discrepancies", follow_redirects=False)
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/console/login?next=")

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_annual(
        self,
        demo_city: Any,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
        fmt: str,
    ) -> None:
        person, headers = console_as("establishment", "230100"), headers_for("establishment")
        _, unit_code = _leader(client, headers_for)
        params = {"unit_code": unit_code, "year": str(hub_today().year), "format": fmt}
        _same_file(*_both(person, client, headers, "annual", params), fmt)


class TestTheDownloadIsAudited:
    def test_the_same_read_entry_as_the_apis_with_the_person_as_reader(
        self,
        demo_city: Any,
        app: FastAPI,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
        client_id_for: Any,
    ) -> None:
        person, headers = console_as("audit", "230100"), headers_for("audit", "230100")
        console, api = _both(person, client, headers, "discrepancies", {"format": "csv"})
        assert console.status_code == api.status_code == 200
        app.state.auth.recorder.flush()
        auditor = headers_for("audit", "230000")

        def read_of(actor: str, route: str) -> dict[str, Any]:
            log = client.get(
                "/api/v1/audit-log",
                params={"client_id": actor, "action": "read", "limit": 1000},
                headers=auditor,
            )
            assert log.status_code == 200, log.text
            (entry,) = [e for e in log.json()["items"] if e["target_id"] == f"GET {route}"]
            return dict(entry)

        mine = read_of(f"user:{person.username}", "/console/reports/discrepancies")
        theirs = read_of(client_id_for("audit", "230100"), "/api/v1/reports/discrepancies")
        assert mine["actor"] == f"user:{person.username}"
        assert mine["request_id"] == console.headers["x-request-id"]
        assert mine["persons"] == theirs["persons"] > 0
        assert mine["detail"] == theirs["detail"]
        assert mine["regions"] == theirs["regions"]
        records = client.get(
            "/api/v1/access-records",
            params={"route": "/console/reports/discrepancies"},
            headers=auditor,
        ).json()["items"]
        (record,) = [r for r in records if r["request_id"] == console.headers["x-request-id"]]
        assert record["client_id"] == f"user:{person.username}"
        assert record["person_records"] == theirs["detail"]["person_records"]
