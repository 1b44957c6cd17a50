"""API1 across a move, in the file forms: what a CSV or workbook shows that its JSON hides.

Every report that comes as JSON, CSV and XLSX (staffing, discrepancies, tenure, annual), the
meeting minutes and the console's downloads was suspected (review of 2026-12-08) of carrying
in its file forms what the JSON of the same route withholds from the same reader after the
city moved a unit between counties: in a second sheet, a title block, a sheet name, a header,
a hidden part of the ZIP (document properties, comments) or a date cell. Two conditions:

- county A's joint meeting acknowledged A's finding (finance, a due date, A's minutes number
  and reason, a comment in the meeting's thread), then the finding followed its unit to B;
- a person finding whose ID number and name the reader may not read (``id_number_of``): A
  deleted its payroll line, the city moved A's unit, with its leader, to C before any run.

Each file is read whole — every part of the XLSX's ZIP as text, and every cell, sheet name and
document property through openpyxl — and whatever the JSON hides must be nowhere in it. Not
so: each file is laid out from the rows or model its JSON is made of; kept as a guard.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import zipfile
from typing import Any

import openpyxl
from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import ConsoleAs, console_as
from tests.meetings.test_meetings import MEETINGS, convene
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f
from tests.security.test_api1_finding_id_numbers import PERSON, C, U
from tests.security.test_api1_tenure_id_numbers import LEADER, _moved_with_its_leader

__all__ = ["console_as"]  # the fixture

CITY, A, B = "230100", "230102", "230103"
N = 74
MINUTES, REASON, SAID = "县联席〔2026〕9号", "县编办会商内部理由九", "县财政局会上发言九"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORTS = "/api/v1/reports"


def shown(response: Any) -> str:
    """All a file holds as text: a CSV as decoded; a workbook's every ZIP part (XML unescaped)
    and, through openpyxl, its sheet names, every cell (dates as ``2026-12-08 00:00:00``),
    cell comments, hidden rows and columns and document properties."""
    assert response.status_code == 200, response.text
    if not response.headers["content-type"].startswith(XLSX):
        return str(response.content.decode("utf-8-sig"))
    data = io.BytesIO(response.content)
    with zipfile.ZipFile(data) as archive:
        parts = [html.unescape(archive.read(n).decode()) for n in archive.namelist()]
    book = openpyxl.load_workbook(data)
    parts += book.sheetnames
    parts += [str(v) for v in vars(book.properties).values() if v is not None]
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                parts.append(str(cell.value))
                if cell.comment is not None:
                    parts.append(cell.comment.text)
    return "\n".join(parts)


def hidden_from(json_text: str, secrets: tuple[str, ...]) -> tuple[str, ...]:
    """The secrets the JSON withholds (each test also asserts which those are)."""
    return tuple(s for s in secrets if s not in json_text)


def assert_none_in(text: str, secrets: tuple[str, ...], where: str) -> None:
    for secret in secrets:
        assert secret not in text, (where, secret)


class MeetingThenMoved:
    """A's finding acknowledged by A's meeting, then its unit (and it) moved to B."""

    def __init__(self, client: TestClient, headers_for: HeadersFor) -> None:
        ghost_pay(client, headers_for, A, N)
        run(client, headers_for, CITY)
        [found] = client.get("/api/v1/discrepancies", headers=headers_for("audit", A)).json()[
            "items"
        ]
        self.finding = str(found["id"])
        held = convene(client, headers_for("establishment", A), [self.finding], minutes_no=MINUTES)
        assert held.status_code == 201, held.text
        self.meeting = str(held.json()["id"])
        said = client.post(
            f"{MEETINGS}/{self.meeting}/comments",
            json={"body": SAID},
            headers=headers_for("finance", A),
        )
        assert said.status_code == 201, said.text
        self.due = (hub_today() + dt.timedelta(days=30)).isoformat()
        decision = {
            "finding_id": self.finding,
            "to": "acknowledged",
            "responsible_department": "finance",
            "due_on": self.due,
            "reason": REASON,
        }
        decided = client.post(
            f"{MEETINGS}/{self.meeting}/decisions",
            json={"decisions": [decision]},
            headers=headers_for("establishment", A),
        )
        assert decided.status_code == 200, decided.text
        moved = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [f.unit(N, region=A) | {"region": B}]},
            headers=headers_for("establishment", CITY),
        )
        assert moved.status_code == 201, moved.text
        run(client, headers_for, CITY)
        self.unit = f.unit_code(N, region=A)
        self.secrets = (MINUTES, REASON, SAID, self.meeting, self.due)


def test_the_region_it_entered_reads_in_no_file_what_the_json_withholds(
    client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
) -> None:
    moved = MeetingThenMoved(client, headers_for)
    b = headers_for("audit", B)
    annual = {"unit_code": moved.unit, "year": str(hub_today().year)}
    routes: list[tuple[str, dict[str, str]]] = [
        (f"{REPORTS}/annual", annual),
        (f"{REPORTS}/discrepancies", {}),
        (f"{REPORTS}/staffing", {}),
    ]
    for path, params in routes:
        as_json = client.get(path, params=params | {"format": "json"}, headers=b)
        assert as_json.status_code == 200, as_json.text
        assert moved.finding in as_json.text or path.endswith("staffing")
        secrets = hidden_from(as_json.text, moved.secrets)
        assert secrets == moved.secrets, path  # B reads none of A's words, JSON
        for fmt in ("csv", "xlsx"):
            text = shown(client.get(path, params=params | {"format": fmt}, headers=b))
            assert_none_in(text, secrets, f"{path} {fmt}")
            person = console_as("audit", B).get(
                path.replace("/api/v1", "/console"), params=params | {"format": fmt}
            )
            assert_none_in(shown(person), secrets, f"console {path} {fmt}")
    # Nor who answers for it: the report's column of the acknowledging department is empty.
    book = openpyxl.load_workbook(
        io.BytesIO(
            client.get(f"{REPORTS}/discrepancies", params={"format": "xlsx"}, headers=b).content
        )
    )
    rows = list(book["问题清单"].iter_rows(values_only=True))
    column = rows[0].index("确认承办部门")
    assert [r[column] for r in rows[1:]] == [None]
    # The city reads them all, JSON and workbook alike.
    city = headers_for("audit", CITY)
    report = client.get(f"{REPORTS}/annual", params=annual | {"format": "xlsx"}, headers=city)
    text = shown(report)
    assert MINUTES in text and moved.meeting in text and moved.due in text


def test_the_region_it_left_reads_its_minutes_file_as_its_json(
    client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
) -> None:
    moved = MeetingThenMoved(client, headers_for)
    a = headers_for("audit", A)
    record = client.get(f"{MEETINGS}/{moved.meeting}/minutes", headers=a)
    assert record.status_code == 200, record.text
    [entry] = record.json()["agenda"]
    assert entry["withheld"] is True
    hidden = (moved.unit, "PAID_WITHOUT_ESTABLISHMENT", *(entry.get("summary") or {}).values())
    assert hidden_from(record.text, hidden) == hidden
    files = {
        "api": client.get(
            f"{MEETINGS}/{moved.meeting}/minutes", params={"format": "xlsx"}, headers=a
        ),
        "console": console_as("audit", A).get(f"/console/meetings/{moved.meeting}/minutes"),
    }
    for where, response in files.items():
        text = shown(response)
        assert_none_in(text, hidden, where)
        assert REASON in text and MINUTES in text  # A's own decision, as its JSON shows
    # A's reports do not hold the finding, in any form.
    for fmt in ("json", "csv", "xlsx"):
        text = client.get(f"{REPORTS}/discrepancies", params={"format": fmt}, headers=a).text
        assert moved.finding not in text
    assert (
        client.get(
            f"{REPORTS}/annual",
            params={"unit_code": moved.unit, "year": str(hub_today().year), "format": "xlsx"},
            headers=a,
        ).status_code
        == 404
    )


def test_a_person_the_reader_may_not_name_is_in_no_file_either(
    client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
) -> None:
    fid = _moved_with_its_leader(client, headers_for)
    c = headers_for("audit", C)
    person = (PERSON, mask_citizen_id(PERSON), "张81")
    tenure = {"id_number": LEADER, "unit_code": U}
    annual = {"unit_code": U, "year": str(hub_today().year)}
    routes = [
        (f"{REPORTS}/discrepancies", {}),
        (f"{REPORTS}/annual", annual),
        (f"{REPORTS}/tenure", tenure),
    ]
    for path, params in routes:
        as_json = client.get(path, params=params | {"format": "json"}, headers=c)
        assert as_json.status_code == 200, as_json.text
        assert fid in as_json.text
        assert hidden_from(as_json.text, person) == person, path
        for fmt in ("csv", "xlsx"):
            response = client.get(path, params=params | {"format": fmt}, headers=c)
            text = shown(response)
            assert "DUPLICATE_PAYROLL" in text
            assert_none_in(text, person, f"{path} {fmt}")
    for fmt in ("csv", "xlsx"):
        console = console_as("audit", C)
        posted = console.post("/console/reports/tenure", data=tenure | {"format": fmt})
        assert_none_in(shown(posted), person, f"console tenure {fmt}")
        for path, params in routes[:2]:
            got = console.get(path.replace("/api/v1", "/console"), params=params | {"format": fmt})
            assert_none_in(shown(got), person, f"console {path} {fmt}")
    # The city reads the person, JSON and files alike.
    city = client.get(
        f"{REPORTS}/tenure", params=tenure | {"format": "xlsx"}, headers=headers_for("audit", CITY)
    )
    assert PERSON in shown(city)
