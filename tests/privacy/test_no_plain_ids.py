"""No plain ID number anywhere: push the demo city, run every activity, scan everything.

The scan covers the whole SQLite file with its WAL (or a ``pg_dump`` of the PostgreSQL
database), every log line captured and every error body answered, for every pushed ID number
in its 18-digit, 15-digit and lower-case forms (and as it was given, e.g. full-width). Add new
activities (reconciliation runs, reports) to ``ACTIVITIES``: each gets a :class:`Scene`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.engine import make_url

from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.records.demo import load_city
from linkage_hub.records.demo_data import City, generate_city
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor
from tests.records import factory as records_factory

PERSON_DATASETS = ("roster", "cadres", "employment", "payroll")


@dataclass
class Scene:
    client: TestClient
    app: FastAPI
    headers_for: HeadersFor
    settings: Settings
    database: Database
    city: City
    numbers: list[str]  # normalised, a sample spread over the city
    answers: list[Response] = field(default_factory=list)

    def get(self, path: str, department: str = "audit", **params: Any) -> Response:
        response = self.client.get(
            path, params=params, headers=self.headers_for(department, "230000")
        )
        self.answers.append(response)
        return response

    def send(self, method: str, path: str, department: str, **kwargs: Any) -> Response:
        headers = {**self.headers_for(department, "230000"), **kwargs.pop("headers", {})}
        response = self.client.request(method, path, headers=headers, **kwargs)
        self.answers.append(response)
        return response


# --- activities -------------------------------------------------------------------------------


def read_every_dataset(scene: Scene) -> None:
    for dataset in PERSON_DATASETS:
        now = dt.datetime.now(dt.UTC).isoformat()  # a moment read: not in the future (422)
        for params in ({}, {"mask": "true"}, {"as_of": now}):
            assert scene.get(f"/api/v1/datasets/{dataset}/records", limit=1000, **params).is_success


def look_up_persons(scene: Scene) -> None:
    for number in scene.numbers:
        scene.get(f"/api/v1/persons/{number}")
        scene.get(f"/api/v1/persons/{number.lower()}", department="hr")
        legacy = number[:6] + number[8:17]
        scene.get("/api/v1/datasets/roster/records", id_number=legacy)
    unknown = records_factory.id_number(999, region="110105")
    assert scene.get(f"/api/v1/persons/{unknown}").status_code == 404
    bad = unknown[:17] + ("0" if unknown[17] != "0" else "1")
    assert scene.get(f"/api/v1/persons/{bad}").status_code == 422


def single_records_and_history(scene: Scene) -> None:
    items = scene.get("/api/v1/datasets/roster/records", "establishment", limit=5).json()["items"]
    for item in items[:3]:
        key = item["record_key"]
        got = scene.get(f"/api/v1/datasets/roster/records/{key}", "establishment")
        scene.get(f"/api/v1/datasets/roster/records/{key}/history")
        body = {k: v for k, v in item.items() if k in _ROSTER_FIELDS} | {"name": "改名"}
        put = scene.send(
            "PUT",
            f"/api/v1/datasets/roster/records/{key}",
            "establishment",
            json=body,
            headers={"If-Match": got.headers["etag"]},
        )
        assert put.status_code == 200, put.text
    stale = scene.send(
        "DELETE",
        f"/api/v1/datasets/roster/records/{items[0]['record_key']}",
        "establishment",
        headers={"If-Match": '"v1"'},
    )
    assert stale.status_code == 412


def push_over_http(scene: Scene) -> None:
    """Pushes with the quirks (15 digits, lower-case x), a replay, a rejected batch."""
    rows = scene.get("/api/v1/datasets/employment/records", "hr", limit=50).json()["items"]
    records = [{k: v for k, v in r.items() if k in _EMPLOYMENT_FIELDS} for r in rows]
    records[0]["id_number"] = records[0]["id_number"].lower()
    body = {"mode": "upsert", "records": records}
    key = {"Idempotency-Key": "scan-1"}
    assert scene.send("POST", _BATCHES, "hr", json=body, headers=key).status_code == 201
    assert scene.send("POST", _BATCHES, "hr", json=body, headers=key).status_code == 201
    bad = [dict(r, status="nope") for r in records[:5]] + [
        dict(records[5], id_number=records[5]["id_number"][:17] + "0")
    ]
    assert scene.send("POST", _BATCHES, "hr", json={"records": bad}).status_code == 422
    csv = "id_number,unit_code,name,category,status\n" + "\n".join(
        f"{r['id_number']},{r['unit_code']},{r['name']},{r['category']},bad" for r in records
    )
    answer = scene.send(
        "POST", _BATCHES, "hr", content=csv.encode(), headers={"content-type": "text/csv"}
    )
    assert answer.status_code == 422


def follow_the_change_feed(scene: Scene) -> None:
    cursor = None
    for _ in range(10):
        page = scene.get("/api/v1/changes", limit=1000, **({"since": cursor} if cursor else {}))
        cursor = page.json()["next_cursor"]


def read_the_records_of_access_and_audit(scene: Scene) -> None:
    scene.app.state.auth.recorder.flush()
    scene.get("/api/v1/access-records", limit=1000)
    for number in scene.numbers[:3]:
        scene.get("/api/v1/audit-log", id_number=number, limit=1000)
    assert scene.get("/api/v1/audit-log/verify").json()["ok"]


_BATCHES = "/api/v1/datasets/employment/batches"
_ROSTER_FIELDS = {
    "id_number",
    "unit_code",
    "name",
    "establishment_type",
    "status",
    "entered_on",
    "exited_on",
    "exit_reason",
    "quota_notice_no",
}
_EMPLOYMENT_FIELDS = {"id_number", "unit_code", "name", "category", "status", "hired_on"}


def reconcile_and_handle_findings(scene: Scene) -> None:
    started = scene.send(
        "POST", "/api/v1/reconciliation/runs", "establishment", json={"region": "230000"}
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    for _ in range(2400):  # a bound, not a speed requirement
        run = scene.get(f"/api/v1/reconciliation/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert run["status"] == "succeeded", run
    items = scene.get("/api/v1/discrepancies", limit=1000).json()["items"]
    person = next(i for i in items if i["id_number"])
    assert scene.get("/api/v1/discrepancies", id_number=person["id_number"]).is_success
    assert scene.get(f"/api/v1/discrepancies/{person['id']}").is_success
    url = f"/api/v1/discrepancies/{person['id']}"
    assert scene.send("POST", f"{url}/comments", "audit", json={"body": "会商"}).is_success
    # Creates with an Idempotency-Key keep their first answer (a meeting's agenda names the
    # person) for a retry: sealed, like the ID numbers.
    meeting = {
        "region": "230000", "held_on": "2026-10-01", "title": "联席会议",
        "minutes_no": "纪要〔2026〕9号", "departments": ["establishment", "finance"],
        "finding_ids": [person["id"]],
    }  # fmt: skip
    for _ in range(2):
        once = {"Idempotency-Key": "privacy-1"}
        said = scene.send("POST", f"{url}/comments", "audit", json={"body": "再议"}, headers=once)
        assert said.status_code == 201, said.text
        convened = scene.send(
            "POST", "/api/v1/meetings", "establishment", json=meeting, headers=once
        )
        assert convened.status_code == 201, convened.text
    waive = {"to": "waived", "reason": "特批", "document_no": "哈编〔2026〕7号"}
    assert scene.send("POST", f"{url}/transitions", "audit", json=waive).is_success
    assert scene.get(f"/api/v1/persons/{person['id_number']}").is_success


def pull_every_report(scene: Scene) -> None:
    for fmt in ("json", "csv", "xlsx"):
        for mask in ("false", "true"):
            assert scene.get("/api/v1/reports/discrepancies", format=fmt, mask=mask).is_success
        assert scene.get("/api/v1/reports/staffing", format=fmt).is_success
    cadres = scene.get("/api/v1/datasets/cadres/records", limit=1000).json()["items"]
    leader = next(c for c in cadres if c["leader_level"] != "none")
    for fmt in ("json", "csv", "xlsx"):
        tenure = scene.get(
            "/api/v1/reports/tenure",
            id_number=leader["id_number"],
            unit_code=leader["unit_code"],
            format=fmt,
        )
        assert tenure.is_success, tenure.text


ACTIVITIES: list[Callable[[Scene], None]] = [
    read_every_dataset,
    look_up_persons,
    single_records_and_history,
    push_over_http,
    follow_the_change_feed,
    reconcile_and_handle_findings,
    pull_every_report,
    read_the_records_of_access_and_audit,
]


# --- the scan ---------------------------------------------------------------------------------


def pushed_forms(city: City) -> tuple[set[str], set[str]]:
    """(every ID number in its 18-digit, 15-digit and lower-case forms; the forms as given
    that are not plain ASCII, e.g. full-width digits)."""
    forms: set[str] = set()
    given: set[str] = set()
    rows: Iterator[dict[str, Any]] = (
        r for d, rows in city.datasets().items() if d.value in PERSON_DATASETS for r in rows
    )
    for row in [*rows, *city.previous_payroll()]:
        raw = str(row["id_number"]).strip()
        if not raw.isascii():
            given.add(raw)
        from linkage_hub.identifiers import parse_citizen_id

        number = parse_citizen_id(raw).number
        forms |= {number, number.lower(), number[:6] + number[8:17], raw}
    return {f for f in forms if f.isascii()}, given


ID_LIKE = re.compile(rb"\d{15}[\dXx]{0,3}")


def hits(blob: bytes, forms: set[str], given: set[str]) -> set[str]:
    """The pushed forms found in ``blob``: every 15-18 character digit run is looked up (a
    number inside a longer run is found through its own run), the rare non-ASCII forms as
    UTF-8 bytes."""
    found = set()
    for match in ID_LIKE.finditer(blob):
        run = match.group().decode()
        for length in (18, 15):
            for start in range(len(run) - length + 1):
                if run[start : start + length] in forms:
                    found.add(run[start : start + length])
    found |= {g for g in given if g.encode() in blob}
    return found


def database_bytes(settings: Settings, database: Database, tmp_path: Path) -> bytes:
    if database.dialect == "sqlite":
        path = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    url = make_url(settings.sqlalchemy_url)
    dump = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.database or "postgres",
        ],
        capture_output=True,
        check=True,
    )
    return dump.stdout


@pytest.fixture
def scene(
    client: TestClient,
    app: FastAPI,
    headers_for: HeadersFor,
    settings: Settings,
    database: Database,
) -> Scene:
    city = generate_city(7, 600)
    load_city(settings, database, city)
    roster = list(city.datasets()["roster"])  # type: ignore[index]
    numbers = sorted({r["id_number"] for r in roster if r["id_number"].isascii()})[::40][:10]
    from linkage_hub.identifiers import normalise_citizen_id

    numbers = [normalise_citizen_id(n) for n in numbers]
    return Scene(client, app, headers_for, settings, database, city, numbers)


def test_no_plain_id_number_anywhere(
    scene: Scene,
    settings: Settings,
    database: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    forms, given = pushed_forms(scene.city)
    assert len(forms) > 1000 and scene.numbers
    for activity in ACTIVITIES:
        activity(scene)
    scene.app.state.auth.recorder.flush()

    stored = database_bytes(settings, database, tmp_path)
    assert len(stored) > 100_000
    assert hits(stored, forms, given) == set(), "plain ID numbers in the database"

    logged = capsys.readouterr()
    lines = (logged.err + logged.out + caplog.text).encode()
    assert b"/api/v1/persons/" in lines  # the log was captured...
    assert mask_citizen_id(scene.numbers[0]).encode() in lines  # ...with masked targets
    assert hits(lines, forms, given) == set(), "plain ID numbers in the logs"

    errors = [r for r in scene.answers if r.status_code >= 400]
    assert {r.status_code for r in errors} >= {404, 412, 422}
    assert hits(b"\n".join(r.content for r in errors), forms, given) == set()
    # ...while the departments still get full numbers, unless they ask for masks
    full = scene.get("/api/v1/datasets/roster/records", limit=1000).json()["items"]
    assert {r["id_number"] for r in full} & set(scene.numbers)
    masked = scene.get("/api/v1/datasets/roster/records", limit=1000, mask="true").json()
    assert hits(json.dumps(masked["items"]).encode(), forms, given) == set()


class TestTheScanFinds:
    """The scan is not blind: a number stored in plain is found."""

    def test_plain_numbers_in_each_form(self) -> None:
        number = "230102197604030423"
        forms = {number, number[:6] + number[8:17], "11010519491231002x"}
        assert hits(f"x{number}y".encode(), forms, set()) == {number}
        assert hits(b"id 230102760403042,", forms, set()) == {"230102760403042"}
        assert hits(b'"11010519491231002x"', forms, set()) == {"11010519491231002x"}
        assert hits("３４０５".encode(), set(), {"３４０５"}) == {"３４０５"}
        assert hits(mask_citizen_id(number).encode(), forms, set()) == set()
