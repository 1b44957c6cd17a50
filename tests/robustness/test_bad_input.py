"""Bad-input sweep: every malformed request is a 4xx problem that says what is wrong, and
nothing is applied (no record, batch, change or run appears). Runs on both databases.

Each pushed body carries one valid record next to the bad part, so "nothing applied" is a
real claim: a partial apply would leave that record behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Run
from linkage_hub.records.models import (
    Batch,
    CadreRecord,
    Change,
    PayrollRecord,
    RosterRecord,
)
from tests.conftest import HeadersFor
from tests.records import factory as f

GOOD = json.dumps(f.roster(1), ensure_ascii=False)
GOOD_CSV_HEAD = "id_number,unit_code,name,establishment_type,status,entered_on\n"
GOOD_CSV_ROW = f"{f.id_number(1)},{f.unit_code(1)},张一,institutional,active,2020-01-01\n"
NESTING = 100_000


@dataclass(frozen=True)
class Bad:
    """One malformed request and what the problem must mention."""

    name: str
    path: str
    body: bytes
    content_type: str | None = "application/json"
    department: str = "establishment"
    method: str = "POST"
    statuses: tuple[int, ...] = (400, 422)
    field: str | None = None  # an entry of ``errors`` must name this field
    row: int | None = None  # ... and this row
    detail: str | None = None  # the detail must contain this text


ROSTER = "/api/v1/datasets/roster/batches"
RUNS = "/api/v1/reconciliation/runs"

CASES = [
    Bad("malformed JSON", ROSTER, f'{{"records": [{GOOD}, {{"b": '.encode()),
    Bad("wrong content type", ROSTER, GOOD.encode(), "text/plain", statuses=(415,)),
    Bad(
        "missing content type, CSV body",
        ROSTER,
        (GOOD_CSV_HEAD + GOOD_CSV_ROW).encode(),
        None,
    ),
    Bad("empty body", ROSTER, b""),
    Bad("empty NDJSON body", ROSTER, b"", "application/x-ndjson"),
    Bad("empty CSV body", ROSTER, b"", "text/csv"),
    Bad(
        "deeply nested JSON",
        ROSTER,
        f'{{"records": [{GOOD}, {"[" * NESTING}{"]" * NESTING}]}}'.encode(),
    ),
    Bad(
        "deeply nested NDJSON line",
        ROSTER,
        f"{GOOD}\n{'[' * NESTING}{']' * NESTING}\n".encode(),
        "application/x-ndjson",
        row=2,
    ),
    Bad(
        "deeply nested CSV-free JSON object",
        ROSTER,
        f'{{"records": [{GOOD}], "scope": {"{" + chr(34) + "a" + chr(34) + ":" * 1}'.encode()
        + b'{"a":' * NESTING
        + b"1"
        + b"}" * NESTING
        + b"}",
    ),
    Bad(
        "invalid UTF-8 in JSON",
        ROSTER,
        f'{{"records": [{GOOD}, '.encode() + b'{"name": "\xff\xfe"}]}',
    ),
    Bad(
        "invalid UTF-8 in NDJSON",
        ROSTER,
        f"{GOOD}\n".encode() + b'{"name": "\xc3\x28"}\n',
        "application/x-ndjson",
        row=2,
    ),
    Bad(
        "invalid UTF-8 in CSV",
        ROSTER,
        (GOOD_CSV_HEAD + GOOD_CSV_ROW).encode() + b"\xff,\xfe,x,institutional,active,2020-01-01\n",
        "text/csv",
    ),
    Bad(
        "CSV with an unknown column",
        ROSTER,
        (GOOD_CSV_HEAD.rstrip("\n") + ",colour\n" + GOOD_CSV_ROW.rstrip("\n") + ",red\n").encode(),
        "text/csv",
        field="header[6]",  # by its place: a headerless CSV's "header" is a person's row
    ),
    Bad(
        "CSV with a missing column",
        ROSTER,
        b"id_number,unit_code,establishment_type,status,entered_on\n"
        + f"{f.id_number(1)},{f.unit_code(1)},institutional,active,2020-01-01\n".encode(),
        "text/csv",
        field="name",
    ),
    Bad(
        "NDJSON with one broken line",
        ROSTER,
        f"{GOOD}\n{{not json\n{json.dumps(f.roster(2))}\n".encode(),
        "application/x-ndjson",
        row=2,
    ),
    Bad(
        "a number where a string belongs",
        ROSTER,
        json.dumps({"records": [f.roster(1), f.roster(2, name=12345)]}).encode(),
        row=2,
        field="name",
    ),
    Bad(
        "a string where a number belongs",
        "/api/v1/datasets/quotas/batches",
        json.dumps(
            {
                "records": [
                    {
                        "unit_code": f.unit_code(1),
                        "establishment_type": "institutional",
                        "approved": 5,
                    },
                    {
                        "unit_code": f.unit_code(2),
                        "establishment_type": "institutional",
                        "approved": "five",
                    },
                ]
            }
        ).encode(),
        row=2,
        field="approved",
    ),
    Bad(
        "a string where a boolean belongs",
        "/api/v1/datasets/cadres/batches",
        json.dumps(
            {"records": [f.cadre(1), f.cadre(2, civil_servant_registered="maybe")]}
        ).encode(),
        department="organization",
        row=2,
        field="civil_servant_registered",
    ),
    Bad(
        "an impossible date",
        ROSTER,
        json.dumps({"records": [f.roster(1), f.roster(2, entered_on="2026-02-30")]}).encode(),
        row=2,
        field="entered_on",
    ),
    Bad(
        "an impossible date in CSV",
        ROSTER,
        (
            GOOD_CSV_HEAD
            + GOOD_CSV_ROW
            + f"{f.id_number(2)},{f.unit_code(1)},张二,institutional,active,2026-02-30\n"
        ).encode(),
        "text/csv",
        row=2,
        field="entered_on",
    ),
    Bad(
        "an impossible period",
        "/api/v1/datasets/payroll/batches",
        json.dumps({"records": [f.payroll(1, period="2026-13")]}).encode(),
        department="finance",
    ),
    # The JSON operations outside the batch endpoint.
    Bad("run: malformed JSON", RUNS, b'{"region": ', department="establishment"),
    Bad("run: invalid UTF-8", RUNS, b'{"region": "\xff"}', department="establishment"),
    Bad(
        "run: deeply nested JSON",
        RUNS,
        b'{"region": "230100", "x": ' + b"[" * NESTING + b"]" * NESTING + b"}",
        department="establishment",
    ),
    Bad("run: empty body", RUNS, b"", department="establishment"),
    Bad(
        "run: wrong content type",
        RUNS,
        b"region=230100",
        "text/plain",
        department="establishment",
        statuses=(400, 415, 422),
    ),
    Bad(
        "run: a number where a string belongs",
        RUNS,
        b'{"region": 230100}',
        department="establishment",
        field="region",
    ),
    Bad(
        "run: an impossible date",
        RUNS,
        b'{"region": "230100", "as_of": "2026-02-30"}',
        department="establishment",
        field="as_of",
    ),
    # Text no encoder can write, or no XML file may hold (see linkage_hub.inputs).
    Bad(
        "a lone surrogate in JSON",
        ROSTER,
        f'{{"records": [{GOOD}, '.encode()
        + json.dumps(f.roster(2)).replace('"\\u5f202"', '"\\ud800"').encode()
        + b"]}",
        row=2,
        field="name",
    ),
    Bad(
        "a non-character in NDJSON",
        ROSTER,
        f"{GOOD}\n".encode() + json.dumps(f.roster(2, name="张\uffff")).encode(),
        "application/x-ndjson",
        row=2,
        field="name",
    ),
    Bad(
        "a non-character in CSV",
        ROSTER,
        (
            GOOD_CSV_HEAD
            + GOOD_CSV_ROW
            + f"{f.id_number(2)},{f.unit_code(1)},张\U0010ffff,institutional,active,2020-01-01\n"
        ).encode(),
        "text/csv",
        row=2,
        field="name",
    ),
    Bad(
        "a name starting like a formula",
        ROSTER,
        json.dumps({"records": [f.roster(1), f.roster(2, name="=cmd|' /C calc'!A0")]}).encode(),
        row=2,
        field="name",
    ),
    Bad(
        "run: a date out of range",
        RUNS,
        b'{"region": "230100", "as_of": "0001-01-01"}',
        department="establishment",
        field="as_of",
    ),
]


def applied(database: Database) -> tuple[int, ...]:
    with database.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (RosterRecord, CadreRecord, PayrollRecord, Batch, Change, Run)
        )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_a_problem_and_applies_nothing(
    case: Bad, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    headers = dict(headers_for(case.department))
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    before = applied(database)
    response = client.request(case.method, case.path, content=case.body, headers=headers)
    assert response.status_code in case.statuses, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem.get("detail"), problem
    errors = problem.get("errors") or []
    if case.field is not None:
        assert any(e.get("field") == case.field for e in errors), problem
    if case.row is not None:
        assert any(e.get("row") == case.row for e in errors), problem
    assert applied(database) == before


def test_a_huge_body_is_413_and_applies_nothing(
    app: FastAPI, client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"max_body_bytes": 1 << 20})
    rows = "\n".join(json.dumps(f.roster(i % 1000)) for i in range(20_000))
    body = rows.encode()
    assert len(body) > 2 << 20
    response = client.post(
        ROSTER,
        content=body,
        headers={**headers_for("establishment"), "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 413, response.text[:500]
    assert "bytes" in response.json()["detail"]
    assert applied(database) == (0, 0, 0, 0, 0, 0)
