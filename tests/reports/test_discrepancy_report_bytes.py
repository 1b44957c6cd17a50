"""The discrepancy report's output, byte for byte, against a golden file.

The report's rows are formatted for speed (a million findings stream through it); this test
keeps that formatting from changing a byte of what readers get. A varied set of findings
(persons and units; every status and severity; acknowledged inside and outside the reader's
region, overdue or not; text with commas, quotes, line breaks, formula starts, XML specials,
control characters, CJK and astral characters, ID numbers typed into free text; nulls; a
person without a record, a person of a sibling county, an ID number stored before encryption)
is rendered through the HTTP API in JSON, CSV and XLSX for several readers, masked and not, and
compared with ``discrepancy_report_golden.json``. A larger set (past every chunk and buffer
size of the writers) is compared by digest.

The golden file was written by the implementation before the fast formatting (main at
a794e22, written again with the finding ID number rule of 35472bc in, before the fast
formatting was taken); to write it again, deliberately, after a change of the report's content:

    LINKAGE_WRITE_GOLDEN=1 .venv/bin/pytest tests/reports/test_discrepancy_report_bytes.py
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from linkage_hub.db import Database
from linkage_hub.keys import Keyring
from linkage_hub.reconciliation.models import Finding
from linkage_hub.reconciliation.rules import RuleCode
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.records import factory as f
from tests.records.conftest import Push

REPORT = "/api/v1/reports/discrepancies"
GOLDEN = Path(__file__).with_name("discrepancy_report_golden.json")
WRITE = os.environ.get("LINKAGE_WRITE_GOLDEN") == "1"
CITY, COUNTY, OTHER = "230100", "230102", "230103"

TEXTS = [
    "超编：核定 10 人，实名在编 11 人",
    'comma, "quoted" and\nnewline\r\nCRLF, then a lone \r',
    '=HYPERLINK("http://example.invalid","点这里")',
    "-5 人",
    "+1 人",
    "@SUM(A1:A2)",
    "\t以制表符开头",
    "＝全角等号",
    "＋全角加号；－全角减号；＠",
    "号码 230102198001010019 写在摘要里",
    "分组的号码 230102 19800101 0019，以及 2301-0219-8001-0100-19",
    "XML <t>&amp; \"q\" 'a' > ]]> </is>",
    "control \x01\x0b\x1f chars, \x7f and the non-characters \ufffe \uffff",
    "\u2028line and paragraph\u2029separators",
    "emoji 😀, astral 𠀀, zero\u200bwidth",
    "backslash \\ slash / unicode escape \\u0041",
    "",
    " leading space and trailing newline\n",
    "' already quoted",
]
UNIT_NAMES = {
    1: '=单位,"一"\n号',
    2: "Unit 230102198001010027 & <Co> 县单位",
    3: "＋其他县\t单位",
}
PERSON_NAMES = {1: '-张,"一"', 2: "李二", 3: "Ω 王\n三"}
STATUSES = ["open", "acknowledged", "waived", "resolved", "reopened"]
SEVERITIES = ["critical", "high", "medium", "low"]
DEPARTMENTS = [",establishment,", ",finance,hr,", ",audit,organization,establishment,", ",x,", ""]
RULES = list(RuleCode)
BASE = dt.datetime(2026, 3, 1, 15, 59, 59, 999999, tzinfo=dt.UTC)

CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "province": ("audit", "230000", {}),
    "county": ("audit", COUNTY, {}),
    "city masked": ("finance", CITY, {"mask": "true"}),
    "city acknowledged": ("establishment", CITY, {"status": "acknowledged"}),
}


def _persons(push: Push, settings: Settings, database: Database) -> list[str | None]:
    """Person keys: three persons on rosters (1 and 3 in the counties, 2 in the city; names and
    unit names full of odd text), one ID number stored in clear, one key of no record."""
    units = [f.unit(1, region=CITY), f.unit(2, region=COUNTY), f.unit(3, region=OTHER)]
    assert push("units", units).status_code == 201
    roster = [
        f.roster(1) | {"unit_code": f.unit_code(2, region=COUNTY)},
        f.roster(2) | {"unit_code": f.unit_code(1, region=CITY)},
        f.roster(3) | {"unit_code": f.unit_code(3, region=OTHER)},
        f.roster(4) | {"unit_code": f.unit_code(1, region=CITY)},
    ]
    assert push("roster", roster).status_code == 201
    keyring = Keyring(settings)
    keys = [keyring.person_keys(f.id_number(n))[0] for n in (1, 2, 3, 4)]
    with database.transaction() as session:
        for n, name in UNIT_NAMES.items():
            session.execute(
                text("UPDATE registry_unit SET name = :name WHERE unit_code = :code"),
                {"name": name, "code": f.unit_code(n, region=(CITY, COUNTY, OTHER)[n - 1])},
            )
        for n, name in PERSON_NAMES.items():
            session.execute(
                text("UPDATE records_roster SET name = :name WHERE person_key = :key"),
                {"name": name, "key": keys[n - 1]},
            )
        # a value stored before encryption (version 0) is revealed as it is
        session.execute(
            text("UPDATE records_roster SET id_number = :plain WHERE person_key = :key"),
            {"plain": f.id_number(4), "key": keys[3]},
        )
    return [None, *keys, "f" * 32]


def _findings(keys: list[str | None], count: int) -> list[dict[str, Any]]:
    unit_codes = [
        f.unit_code(1, region=CITY),
        f.unit_code(2, region=COUNTY),
        f.unit_code(3, region=OTHER),
        None,
        f.unit_code(9, region=CITY),  # no such unit in the registry
    ]
    rows = []
    for i in range(count):
        status = STATUSES[i % 5]
        seen = BASE + dt.timedelta(days=i % 11, hours=i % 7, microseconds=-(i % 3) * 999999)
        rows.append(
            {
                "id": f"{(i * 7919) % 1000003:032x}",
                "identity": f"G:{i}",
                "rule": RULES[i % len(RULES)].value,
                "severity": SEVERITIES[i % 4],
                "severity_rank": i % 4,
                "status": status,
                "region": (CITY, COUNTY, OTHER)[i % 3],
                "unit_code": unit_codes[i % 5],
                "person_key": keys[i % len(keys)],
                "establishment_type": ("administrative", None, "institutional")[i % 3],
                "level": (None, "deputy", "principal", None)[i % 4],
                "departments": DEPARTMENTS[i % len(DEPARTMENTS)],
                "summary_zh": TEXTS[i % len(TEXTS)],
                "summary_en": TEXTS[(i + 5) % len(TEXTS)],
                "first_seen_at": seen,
                "last_seen_at": seen + dt.timedelta(hours=i % 13, seconds=i),
                "resolved_at": seen + dt.timedelta(days=3) if status == "resolved" else None,
                "first_run_id": "run",
                "last_run_id": "run",
                "resolved_run_id": "run" if status == "resolved" else None,
                "responsible_department": (None, "hr", "finance", "establishment")[i % 4],
                "due_on": (None, dt.date(2020, 1, 1), dt.date(2099, 12, 31))[i % 3],
                "acknowledged_in": (None, CITY, COUNTY, OTHER)[(i // 5) % 4],
            }
        )
    return rows


def _rendered(response: Any, fmt: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    disposition = response.headers.get("content-disposition", "")
    out: dict[str, Any] = {
        "content-type": response.headers["content-type"],
        "content-disposition": disposition.replace(hub_today().isoformat(), "TODAY"),
    }
    if fmt == "xlsx":  # the ZIP's entries (their times are the clock's)
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            out["entries"] = {
                i.filename: archive.read(i.filename).decode() for i in archive.infolist()
            }
    else:
        out["body"] = response.content.decode()
    return out


def _digest(rendered: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(rendered, sort_keys=True).encode()).hexdigest()


@pytest.fixture
def findings(
    push: Push, settings: Settings, database: Database
) -> tuple[list[str | None], Database]:
    return _persons(push, settings, database), database


def _insert(database: Database, rows: list[dict[str, Any]]) -> None:
    with database.transaction() as session:
        session.execute(insert(Finding), rows)


def _check(name: str, backend: str, got: Any) -> None:
    """``got`` is the golden ``name``; a backend whose output differs has its own (PostgreSQL
    sorts a unit count without a unit code last, SQLite first)."""
    golden = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else {}
    own = f"{backend}: {name}"
    if WRITE:
        if backend == "sqlite":
            golden[name] = got
        elif got != golden[name]:
            golden[own] = got
        GOLDEN.write_text(
            json.dumps(golden, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        return
    expected = golden.get(own, golden[name])
    if isinstance(got, dict) and "entries" in got:  # entry by entry: a readable difference
        assert sorted(got["entries"]) == sorted(expected["entries"])
        for entry, content in got["entries"].items():
            assert (entry, content) == (entry, expected["entries"][entry])
    assert got == expected


class TestTheReportKeepsItsBytes:
    @pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
    @pytest.mark.parametrize("case", list(CASES))
    def test_varied_findings(
        self,
        findings: tuple[list[str | None], Database],
        client: TestClient,
        headers_for: HeadersFor,
        backend: str,
        case: str,
        fmt: str,
    ) -> None:
        keys, database = findings
        _insert(database, _findings(keys, 60))
        department, region, params = CASES[case]
        response = client.get(
            REPORT, params={**params, "format": fmt}, headers=headers_for(department, region)
        )
        _check(f"{case} {fmt}", backend, _rendered(response, fmt))

    @pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
    def test_past_every_chunk(
        self,
        findings: tuple[list[str | None], Database],
        client: TestClient,
        headers_for: HeadersFor,
        backend: str,
        fmt: str,
    ) -> None:
        keys, database = findings
        _insert(database, _findings(keys, 2345))
        response = client.get(
            REPORT, params={"format": fmt}, headers=headers_for("audit", "230000")
        )
        _check(f"2345 findings {fmt} sha256", backend, _digest(_rendered(response, fmt)))


class TestPerRowWork:
    def test_each_stored_id_number_is_opened_once(
        self,
        findings: tuple[list[str | None], Database],
        client: TestClient,
        headers_for: HeadersFor,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A person has several findings: the report opens (decrypts) their stored ID number
        once, not once a row."""
        keys, database = findings
        rows = _findings(keys, 60)
        _insert(database, rows)
        opened: list[str] = []
        reveal = Keyring.reveal_id

        def counted(self: Keyring, stored: str) -> str:
            opened.append(stored)
            return reveal(self, stored)

        monkeypatch.setattr(Keyring, "reveal_id", counted)
        headers = headers_for("audit", "230000")
        response = client.get(REPORT, params={"format": "csv"}, headers=headers)
        assert response.status_code == 200
        shown = [r for r in rows if r["person_key"] in keys[1:5]]
        assert len(shown) > 4 * 2  # each of the four persons in several rows
        assert sorted(opened) == sorted(set(opened)) and len(opened) == 4
