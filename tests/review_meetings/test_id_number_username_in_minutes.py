"""A console user whose username is an ID number (a common login name in government
systems, and one `linkage-hub users create` accepts) puts that ID number, unmasked, into a
joint meeting's record and minutes workbook: the thread's "发言方" and `client_id` carry
`user:<username>` as it is. The hub promises that no ID number reaches a download or an answer
outside the encrypted columns (README "What is logged"; minutes "never a person")."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as  # noqa: F401
from tests.meetings.test_meetings import COUNTY, MEETINGS, convene, found  # noqa: F401
from tests.records import factory as f

ID_NUMBER = f.id_number(777)  # a valid, checksummed citizen ID number


def test_a_username_that_is_an_id_number_does_not_reach_the_minutes(
    found: dict[str, Any],  # noqa: F811
    client: TestClient,
    headers_for: HeadersFor,
    console_as: ConsoleAs,  # noqa: F811
) -> None:
    """Should: the minutes (JSON and XLSX) never hold a full ID number — the username is refused
    at creation or masked (2301**********1234) wherever it is shown. Does: the ID number is
    accepted as a username and written in clear in the meeting's thread (`client_id`) and in
    the workbook's 会商记录 sheet."""
    office = headers_for("establishment", COUNTY)
    made = convene(client, office, found["county"], departments=("finance",))
    assert made.status_code == 201, made.text
    meeting = made.json()

    finance = console_as("finance", COUNTY, username=ID_NUMBER.lower())
    said = finance.post(f"/console/meetings/{meeting['id']}/comments", {"body": "财政局：已核实"})
    assert said.status_code == 303, said.text

    record = client.get(f"{MEETINGS}/{meeting['id']}", headers=headers_for("audit"))
    assert record.status_code == 200
    minutes = client.get(
        f"{MEETINGS}/{meeting['id']}/minutes",
        params={"format": "xlsx"},
        headers=headers_for("audit"),
    )
    assert minutes.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(minutes.content), read_only=True)
    cells = " ".join(
        str(v)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for v in row
        if v is not None
    )
    leaks = [
        where
        for where, text in (("meeting JSON", record.text), ("minutes XLSX", cells))
        if ID_NUMBER.lower() in text.lower()
    ]
    assert leaks == [], f"the ID number {ID_NUMBER} is in clear in: {leaks}"


def test_a_username_that_is_an_id_number_does_not_reach_the_audit_log(
    found: dict[str, Any],  # noqa: F811
    client: TestClient,
    headers_for: HeadersFor,
    console_as: ConsoleAs,  # noqa: F811
) -> None:
    """Should: "An entry holds no ID number" (README, What is logged) — the meeting.comment
    entry's actor is masked or the username refused. Does: the entry names the actor
    `user:<the ID number>` in clear, and `GET /api/v1/audit-log` returns it."""
    office = headers_for("establishment", COUNTY)
    meeting = convene(client, office, found["county"], departments=("finance",)).json()
    finance = console_as("finance", COUNTY, username=ID_NUMBER.lower())
    said = finance.post(f"/console/meetings/{meeting['id']}/comments", {"body": "财政局：已核实"})
    assert said.status_code == 303, said.text
    log = client.get(
        "/api/v1/audit-log", params={"limit": 1000}, headers=headers_for("audit", COUNTY)
    )
    assert log.status_code == 200, log.text
    assert ID_NUMBER.lower() not in log.text.lower()
