"""API1:2023 Broken Object Level Authorization — findings and person reads across regions.

A finding a caller cannot open (``GET /api/v1/discrepancies/{id}`` answers 404) appears in no
list, report or person view of that caller. Every route whose response can carry person data is
declared in ``PERSON_READS`` (``linkage_hub.auth.policy``) and leaves a ``read`` entry of the
audit log naming the persons it actually sent — streamed reports included, also when the client
went away half-way — so ``GET /api/v1/audit-log?id_number=`` finds every read of a person. A
route walk fails for a route whose response can carry person data without that declaration.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable
from typing import Any

import anyio
import openpyxl
import pytest
from fastapi import FastAPI
from httpx import Response

from linkage_hub.auth import access
from linkage_hub.auth.policy import PERSON_READS, served_routes
from tests.conftest import hub_today
from tests.records import factory as f
from tests.security.regions import CITY, CITYWIDE, COUNTY, LEADER, OTHER, SPREAD, Regions

TENURE = "/api/v1/reports/tenure"
ANNUAL = "/api/v1/reports/annual"
REPORT = "/api/v1/reports/discrepancies"
LEADER_UNIT = f.unit_code(2, region=COUNTY)


def _text(response: Response, fmt: str) -> str:
    """A report's content as text, whatever its format."""
    assert response.status_code == 200, response.text
    if fmt != "xlsx":
        return response.content.decode("utf-8-sig")
    book = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    return "\n".join(
        " ".join(str(v) for v in row if v is not None)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
    )


def _ids(response: Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {str(item["id"]) for item in response.json().get("items", [])}


class TestAFindingOutsideTheRegionIsInNoReport:
    def test_the_county_cannot_open_the_city_finding(self, regions: Regions) -> None:
        citywide = regions.finding("DUPLICATE_PAYROLL", CITYWIDE)
        assert citywide["region"] == CITY
        path = f"/api/v1/discrepancies/{citywide['id']}"
        assert regions.get(path, "audit", CITY).status_code == 200
        assert regions.get(path, "audit", COUNTY).status_code == 404
        assert citywide["id"] not in {x["id"] for x in regions.findings("audit", COUNTY)}

    def test_the_tenure_report_shows_only_findings_the_caller_can_open(
        self, regions: Regions
    ) -> None:
        citywide = regions.finding("DUPLICATE_PAYROLL", CITYWIDE)["id"]
        params = {"id_number": LEADER, "unit_code": LEADER_UNIT}
        city = regions.get(TENURE, "audit", CITY, **params)
        assert city.status_code == 200, city.text
        assert citywide in {x["id"] for x in city.json()["findings"]}  # the city sees it
        for department in ("audit", "finance", "establishment"):
            county = regions.get(TENURE, department, COUNTY, **params)
            assert county.status_code == 200, county.text
            shown = {x["id"] for x in county.json()["findings"]}
            openable = {x["id"] for x in regions.findings(department, COUNTY)}
            assert citywide not in shown
            assert shown <= openable
            assert CITYWIDE not in county.text

    @pytest.mark.parametrize("fmt", ["csv", "xlsx"])
    def test_the_tenure_download_names_no_one_from_a_hidden_finding(
        self, regions: Regions, fmt: str
    ) -> None:
        params = {"id_number": LEADER, "unit_code": LEADER_UNIT, "format": fmt}
        assert CITYWIDE in _text(regions.get(TENURE, "audit", CITY, **params), fmt)
        assert CITYWIDE not in _text(regions.get(TENURE, "audit", COUNTY, **params), fmt)

    @pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
    def test_the_annual_report_names_no_one_from_a_hidden_finding(
        self, regions: Regions, fmt: str
    ) -> None:
        params = {"unit_code": LEADER_UNIT, "year": hub_today().year, "format": fmt}
        assert CITYWIDE in _text(regions.get(ANNUAL, "audit", CITY, **params), fmt)
        county = regions.get(ANNUAL, "audit", COUNTY, **params)
        assert CITYWIDE not in _text(county, fmt)
        if fmt == "json":
            citywide = regions.finding("DUPLICATE_PAYROLL", CITYWIDE)["id"]
            shown = {x["id"] for x in county.json()["findings"]}
            assert citywide not in shown
            assert shown <= {x["id"] for x in regions.findings("audit", COUNTY)}
        other = regions.get(ANNUAL, "audit", OTHER, **params)
        assert other.status_code == 404  # the county's unit does not exist for its sibling

    @pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
    def test_the_discrepancy_report_holds_only_openable_findings(
        self, regions: Regions, fmt: str
    ) -> None:
        assert CITYWIDE in _text(regions.get(REPORT, "audit", CITY, format=fmt), fmt)
        county = _text(regions.get(REPORT, "audit", COUNTY, format=fmt), fmt)
        assert CITYWIDE not in county
        assert SPREAD in county  # its finding is filed in the county

    def test_the_person_view_lists_only_openable_findings(self, regions: Regions) -> None:
        citywide = regions.finding("DUPLICATE_PAYROLL", CITYWIDE)["id"]
        city = regions.get(f"/api/v1/persons/{CITYWIDE}", "audit", CITY)
        assert citywide in {x["id"] for x in city.json()["discrepancies"]}
        county = regions.get(f"/api/v1/persons/{CITYWIDE}", "audit", COUNTY)
        assert county.status_code == 200, county.text  # the county's own records of them
        assert citywide not in {x["id"] for x in county.json()["discrepancies"]}

    def test_another_county_sees_nothing_of_either(self, regions: Regions) -> None:
        for fmt in ("json", "csv"):
            text = _text(regions.get(REPORT, "audit", OTHER, format=fmt), fmt)
            assert CITYWIDE not in text
        spread = regions.finding("DUPLICATE_PAYROLL", SPREAD)
        if spread["region"] != OTHER:
            path = f"/api/v1/discrepancies/{spread['id']}"
            assert regions.get(path, "audit", OTHER).status_code == 404
            assert SPREAD not in _text(regions.get(REPORT, "audit", OTHER, format="csv"), "csv")


# --- every read of person data is audited --------------------------------------------------

Sample = Callable[[Regions], Response]


def _record_key(regions: Regions, id_number: str) -> str:
    listed = regions.get("/api/v1/datasets/roster/records", "establishment", CITY)
    (record,) = [r for r in listed.json()["items"] if r["id_number"] == id_number]
    return str(record["record_key"])


def _replace(regions: Regions) -> Response:
    key = _record_key(regions, SPREAD)
    path = f"/api/v1/datasets/roster/records/{key}"
    headers = regions.headers_for("establishment", CITY)
    tag = regions.client.get(path, headers=headers).headers["etag"]
    body = f.roster(2, name="张二") | {"unit_code": LEADER_UNIT}
    return regions.client.put(path, json=body, headers=headers | {"If-Match": tag})


def _finding_path(regions: Regions) -> str:
    return f"/api/v1/discrepancies/{regions.finding('DUPLICATE_PAYROLL', SPREAD)['id']}"


def _acknowledge(regions: Regions) -> Response:
    return regions.client.post(
        f"{_finding_path(regions)}/transitions",
        json={"to": "acknowledged"},
        headers=regions.headers_for("finance", CITY),
    )


def _console(path: Callable[[Regions], str], form: dict[str, str] | None = None) -> Sample:
    """A console page, as the city's audit officer signed in to it (``form``: posted there)."""

    def request(regions: Regions) -> Response:
        from linkage_hub.auth.users import create_user
        from tests.console.conftest import PASSWORD, Console

        with regions.app.state.db.transaction() as session:
            create_user(
                session,
                username="reads.audit",
                name="审计",
                department="audit",
                region=CITY,
                password=PASSWORD,
            )
        person = Console(regions.app, "reads.audit")
        assert person.sign_in().status_code == 303
        response: Response = (
            person.get(path(regions)) if form is None else person.post(path(regions), form)
        )
        return response

    return request


def _console_search(regions: Regions) -> Response:
    """The console's person search, posted by the city's audit officer (the number travels in
    the form body)."""
    from linkage_hub.auth.users import create_user
    from tests.console.conftest import PASSWORD, Console

    with regions.app.state.db.transaction() as session:
        create_user(
            session,
            username="search.audit",
            name="审计",
            department="audit",
            region=CITY,
            password=PASSWORD,
        )
    person = Console(regions.app, "search.audit")
    assert person.sign_in().status_code == 303
    response: Response = person.post("/console/persons", {"id_number": SPREAD})
    return response


def _tenure(fmt: str) -> Sample:
    return lambda r: r.get(
        TENURE, "audit", CITY, id_number=LEADER, unit_code=LEADER_UNIT, format=fmt
    )


def _annual(fmt: str) -> Sample:
    return lambda r: r.get(
        ANNUAL, "audit", CITY, unit_code=LEADER_UNIT, year=hub_today().year, format=fmt
    )


def _report(fmt: str) -> Sample:
    return lambda r: r.get(REPORT, "audit", CITY, format=fmt)


# One request per declared route (reports: per format), the route and a person it shows.
SAMPLES: dict[str, tuple[tuple[str, str], Sample, str]] = {
    **{f"report-{fmt}": (("GET", REPORT), _report(fmt), SPREAD) for fmt in ("json", "csv", "xlsx")},
    **{
        f"tenure-{fmt}": (("GET", TENURE), _tenure(fmt), CITYWIDE)
        for fmt in ("json", "csv", "xlsx")
    },
    **{
        f"annual-{fmt}": (("GET", ANNUAL), _annual(fmt), CITYWIDE)
        for fmt in ("json", "csv", "xlsx")
    },
    "records": (
        ("GET", "/api/v1/datasets/{dataset}/records"),
        lambda r: r.get("/api/v1/datasets/payroll/records", "audit", CITY),
        SPREAD,
    ),
    "record": (
        ("GET", "/api/v1/datasets/{dataset}/records/{record_key}"),
        lambda r: r.get(f"/api/v1/datasets/roster/records/{_record_key(r, SPREAD)}", "audit", CITY),
        SPREAD,
    ),
    "replace": (("PUT", "/api/v1/datasets/{dataset}/records/{record_key}"), _replace, SPREAD),
    "history": (
        ("GET", "/api/v1/datasets/{dataset}/records/{record_key}/history"),
        lambda r: r.get(
            f"/api/v1/datasets/roster/records/{_record_key(r, SPREAD)}/history", "audit", CITY
        ),
        SPREAD,
    ),
    "changes": (
        ("GET", "/api/v1/changes"),
        lambda r: r.get("/api/v1/changes", "audit", CITY, dataset="roster"),
        SPREAD,
    ),
    "person": (
        ("GET", "/api/v1/persons/{id_number}"),
        lambda r: r.get(f"/api/v1/persons/{SPREAD}", "audit", CITY),
        SPREAD,
    ),
    "discrepancies": (
        ("GET", "/api/v1/discrepancies"),
        lambda r: r.get("/api/v1/discrepancies", "audit", CITY),
        SPREAD,
    ),
    "discrepancy": (
        ("GET", "/api/v1/discrepancies/{finding_id}"),
        lambda r: r.get(_finding_path(r), "audit", CITY),
        SPREAD,
    ),
    "transition": (
        ("POST", "/api/v1/discrepancies/{finding_id}/transitions"),
        _acknowledge,
        SPREAD,
    ),
    "console-findings": (
        ("GET", "/console/findings"),
        _console(lambda r: "/console/findings?rule=DUPLICATE_PAYROLL"),
        SPREAD,
    ),
    "console-finding": (
        ("GET", "/console/findings/{finding_id}"),
        _console(
            lambda r: _finding_path(r).replace("/api/v1/discrepancies/", "/console/findings/")
        ),
        SPREAD,
    ),
    "console-unit": (
        ("GET", "/console/units/{unit_code}"),
        _console(lambda r: f"/console/units/{LEADER_UNIT}"),  # its findings name persons
        SPREAD,
    ),
    "console-person": (("POST", "/console/persons"), _console_search, SPREAD),
    # the API's report endpoints mounted for the console: the same door, the console's route
    "console-report-csv": (
        ("GET", "/console/reports/discrepancies"),
        _console(lambda r: "/console/reports/discrepancies?format=csv"),
        SPREAD,
    ),
    "console-tenure-xlsx": (  # a posted form: the leader's ID number is not in the address
        ("POST", "/console/reports/tenure"),
        _console(
            lambda r: "/console/reports/tenure",
            {"id_number": LEADER, "unit_code": LEADER_UNIT, "format": "xlsx", "from": ""},
        ),
        CITYWIDE,
    ),
    "console-annual-csv": (
        ("GET", "/console/reports/annual"),
        _console(
            lambda r: (
                f"/console/reports/annual?unit_code={LEADER_UNIT}&year={hub_today().year}"
                "&format=csv"
            )
        ),
        CITYWIDE,
    ),
}


def _access_record(regions: Regions, route: str, request_id: str) -> dict[str, Any]:
    regions.app.state.auth.recorder.flush()
    listed = regions.get("/api/v1/access-records", "audit", "230000", route=route, limit=1000)
    (record,) = [r for r in listed.json()["items"] if r["request_id"] == request_id]
    return dict(record)


class TestEveryPersonReadIsAudited:
    def test_every_declared_route_has_a_sample(self) -> None:
        assert {route for route, _, _ in SAMPLES.values()} == set(PERSON_READS)

    @pytest.mark.parametrize("sample", sorted(SAMPLES))
    def test_the_read_entry_names_the_persons_sent(self, regions: Regions, sample: str) -> None:
        (method, route), request, person = SAMPLES[sample]
        response = request(regions)
        assert response.status_code < 300, response.text
        request_id = response.headers["x-request-id"]
        entries = [
            e
            for e in regions.reads(person)
            if e["request_id"] == request_id and e["target_id"] == f"{method} {route}"
        ]
        assert entries, f"no read entry of {method} {route} names the person"
        assert all(e["persons"] >= 1 and e["detail"]["person_records"] >= 1 for e in entries)
        record = _access_record(regions, route, request_id)
        assert record["person_records"] >= 1
        assert record["person_records"] == sum(e["detail"]["person_records"] for e in entries)

    def test_the_discrepancy_report_counts_every_person_row(self, regions: Regions) -> None:
        response = regions.get(REPORT, "audit", CITY, format="csv")
        rows = list(csv.reader(io.StringIO(_text(response, "csv"))))
        people = [row for row in rows[1:] if row[7]]  # the ID number column
        assert len(people) == 2
        record = _access_record(regions, REPORT, response.headers["x-request-id"])
        assert record["person_records"] == 2
        for person in (SPREAD, CITYWIDE):
            assert [e for e in regions.reads(person) if e["target_id"] == f"GET {REPORT}"]


class TestStreamedReportsAreAuditedAsSent:
    def test_a_large_report_spills_its_persons_in_chunks(
        self, regions: Regions, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(access, "KEY_CHUNK", 1)
        response = regions.get(REPORT, "audit", CITY, format="xlsx")
        request_id = response.headers["x-request-id"]
        entries = {
            e["seq"]: e
            for person in (SPREAD, CITYWIDE)
            for e in regions.reads(person)
            if e["request_id"] == request_id
        }
        assert len(entries) == 2  # one entry per chunk of one person
        assert all(e["persons"] == 1 for e in entries.values())
        assert _access_record(regions, REPORT, request_id)["person_records"] == 2

    def test_a_download_cut_short_is_audited(self, regions: Regions) -> None:
        headers = regions.headers_for("audit", CITY)
        status, request_id = anyio.run(_cut_short, regions.app, REPORT, headers)
        assert status == 200
        entries = [e for e in regions.reads(SPREAD) if e["request_id"] == request_id]
        assert [e["target_id"] for e in entries] == [f"GET {REPORT}"]


class ClientGone(Exception):
    pass


async def _cut_short(app: FastAPI, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """GET ``path`` as a client that goes away after the first part of the body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"format=csv",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    got: dict[str, Any] = {"status": 0, "request_id": "", "parts": 0}
    gone = anyio.Event()

    async def receive() -> dict[str, Any]:
        if not got.get("asked"):
            got["asked"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            got["status"] = message["status"]
            found = dict(message["headers"]).get(b"x-request-id", b"")
            got["request_id"] = found.decode()
        elif message["type"] == "http.response.body":
            got["parts"] += 1
            if got["parts"] > 1:
                gone.set()
                raise ClientGone()

    with contextlib.suppress(ClientGone, OSError):
        await app(scope, receive, send)
    return int(got["status"]), str(got["request_id"])


# --- the route walk --------------------------------------------------------------------------

PERSON_FIELDS = {"id_number", "id_number_given", "name", "names", "gross_pay"}
DOWNLOADS = {"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# Routes whose response could carry person data by its shape (a download, or an object with
# open-ended properties) but does not, each with the reason.
NO_PERSON_DATA: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/reports/staffing"): "head counts per unit × establishment type",
    ("GET", "/api/v1/reconciliation/rules"): "open: rule parameters",
    ("GET", "/api/v1/reconciliation/runs"): "open: run parameters and timings (a page of runs)",
    ("GET", "/api/v1/reconciliation/runs/{run_id}"): "open: run parameters and timings",
    ("GET", "/api/v1/audit-log"): "open: entry details (counts and codes, never persons)",
    ("GET", "/api/v1/bulletins/{bulletin_id}"): "counts by rule and unit code (JSON or XLSX)",
    ("GET", "/api/v1/meetings/{meeting_id}/minutes"): "findings by id, rule, unit and summary",
    # The public face: `name` is a unit's name (tests/security/test_public_leaks.py scans every
    # public answer for roster names and ID numbers).
    ("GET", "/api/v1/disclosures/preview"): "units' names and head counts",
    ("GET", "/public/v1/disclosures/{region}"): "units' names and head counts",
    ("GET", "/public/v1/disclosures/{region}/units/{unit_code}"): "a unit's name and head counts",
    # A case holds no person record; the reporter's own contact goes to the office handling the
    # case only, and each reveal is an audit entry of its own (case.contact_read).
    ("GET", "/api/v1/cases/{case_id}"): "the reporter's contact, audited as case.contact_read",
    ("POST", "/api/v1/cases/{case_id}/transitions"): "as GET /api/v1/cases/{case_id}",
    ("POST", "/api/v1/cases/{case_id}/links"): "as GET /api/v1/cases/{case_id}",
}


def _shape(schema: Any, components: dict[str, Any], seen: set[str]) -> tuple[set[str], bool]:
    """The property names anywhere in ``schema``, and whether any object in it is open."""
    if not isinstance(schema, dict):
        return set(), False
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set(), False
        return _shape(components[name], components, seen | {name})
    names: set[str] = set(schema.get("properties", {}))
    is_open = schema == {} or schema.get("additionalProperties") not in (None, False)
    parts = list(schema.get("properties", {}).values())
    nested = ("items", "additionalProperties")
    parts += [schema[k] for k in nested if isinstance(schema.get(k), dict)]
    parts += [s for k in ("anyOf", "allOf", "oneOf") for s in schema.get(k, [])]
    for part in parts:
        more, part_open = _shape(part, components, seen)
        names |= more
        is_open = is_open or part_open
    return names, is_open


def may_carry_persons(app: FastAPI) -> dict[tuple[str, str], str]:
    """Every route whose successful response can carry person data, and why we think so."""
    document = app.openapi()
    components = document.get("components", {}).get("schemas", {})
    found: dict[tuple[str, str], str] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            reasons: list[str] = []
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                for media, content in response.get("content", {}).items():
                    names, is_open = _shape(content.get("schema", {}), components, set())
                    if names & PERSON_FIELDS:
                        reasons.append(f"0 person fields {sorted(names & PERSON_FIELDS)}")
                    if media in DOWNLOADS:
                        reasons.append("1 a report download")
                    if is_open and "json" in media:
                        reasons.append("2 open-ended objects")
            if reasons:
                found[(method.upper(), path)] = min(reasons)[2:]
    return found


class TestEveryRouteThatCarriesPersonsIsDeclared:
    def test_the_walk(self, app: FastAPI) -> None:
        flagged = may_carry_persons(app)
        missing = {
            route: why
            for route, why in flagged.items()
            if route not in PERSON_READS and route not in NO_PERSON_DATA
        }
        assert missing == {}, "declare these in PERSON_READS (auth/policy.py)"
        assert set(PERSON_READS) <= served_routes(app)
        assert set(NO_PERSON_DATA) <= set(flagged), "stale NO_PERSON_DATA rows"
        assert not set(NO_PERSON_DATA) & PERSON_READS

    def test_the_walk_sees_person_fields(self, app: FastAPI) -> None:
        flagged = may_carry_persons(app)
        assert "id_number" in flagged[("GET", "/api/v1/discrepancies")]
        assert flagged[("GET", REPORT)] == "a report download"
