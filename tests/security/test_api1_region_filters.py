"""API1 against every ``?region=`` filter of a list: a region outside the caller's is a 404.

API.md: anything outside the caller's region behaves as if it did not exist (404, never a leak).
The cases, meetings, reports and dataset records answered a sibling's region (or one above) with
the problem :func:`linkage_hub.auth.policy.ensure_in_region` raises; the change feed and the audit
log answered an empty page (a region above: the caller's own), telling apart "outside yours" from
"nothing here". Every GET route of the OpenAPI document taking ``region`` as a query parameter is
walked here, so a route added later cannot forget the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.console.conftest import ConsoleAs, console_as

__all__ = ["console_as"]  # the fixture

COUNTY, SIBLING, CITY, PROVINCE, OTHER_CITY = "230102", "230103", "230100", "230000", "230200"
OUTSIDE = (SIBLING, CITY, PROVINCE, OTHER_CITY)
# A department reading each route in its own region: the first of these that does.
READERS = ("audit", "establishment")
# The values path parameters take on the walk (a new one fails the walk until it is named).
PATH_VALUES = {"dataset": "roster"}


def _query_names(dependant: Any) -> Iterator[str]:
    yield from (p.alias for p in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def region_routes(app: FastAPI, prefix: str) -> list[str]:
    """The GET paths under ``prefix`` (path parameters filled in) taking a ``region`` query
    parameter, of the endpoint or a dependency of it (the findings' filters)."""
    paths = []
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if not (route.path or "").startswith(prefix) or "GET" not in (route.methods or ()):
            continue
        if dependant is None or "region" not in set(_query_names(dependant)):
            continue
        path = route.path
        for name in re.findall(r"{(\w+)}", route.path):
            assert name in PATH_VALUES, f"{route.path}: name a value for {name}"
            path = path.replace("{" + name + "}", PATH_VALUES[name])
        paths.append(path)
    return paths


def problem(response: Any) -> dict[str, Any]:
    return {k: v for k, v in response.json().items() if k not in ("instance", "request_id")}


def test_the_walk_finds_the_lists(app: FastAPI) -> None:
    """The walk is no empty loop: the lists of this issue and their neighbours are on it."""
    found = set(region_routes(app, "/api/"))
    assert {
        "/api/v1/changes",
        "/api/v1/audit-log",
        "/api/v1/datasets/roster/records",
        "/api/v1/cases",
        "/api/v1/meetings",
        "/api/v1/bulletins",
        "/api/v1/discrepancies",
        "/api/v1/reconciliation/runs",
    } <= found
    assert {"/console/", "/console/findings", "/console/runs", "/console/meetings"} <= set(
        region_routes(app, "/console/")
    )


def test_a_region_outside_the_callers_is_the_cases_404_on_every_list(
    app: FastAPI, client: TestClient, headers_for: HeadersFor
) -> None:
    """A county naming its sibling, its city, its province or another city: the 404 problem the
    cases answer, on every route; its own region still reads (200)."""
    reference = client.get(
        "/api/v1/cases", params={"region": SIBLING}, headers=headers_for("audit", COUNTY)
    )
    assert reference.status_code == 404
    expected = problem(reference)
    for path in region_routes(app, "/api/"):
        readers = [
            headers_for(department, COUNTY)
            for department in READERS
            if client.get(
                path, params={"region": COUNTY}, headers=headers_for(department, COUNTY)
            ).status_code
            == 200
        ]
        assert readers, f"{path}: no department of {READERS} reads it in its own region"
        for region in OUTSIDE:
            answer = client.get(path, params={"region": region}, headers=readers[0])
            assert answer.status_code == 404, (path, region, answer.text)
            assert expected.items() <= answer.json().items(), (path, region)


def test_the_consoles_pages_answer_a_404_page(app: FastAPI, console_as: ConsoleAs) -> None:
    """The console's pages taking ``region`` (the overview, findings, runs, meetings, cases,
    reports, the disclosure preview): a 404 page for a region outside the officer's, never a
    500 or an empty page; their own region reads."""
    officers = [console_as(department, COUNTY) for department in READERS]
    for path in region_routes(app, "/console/"):
        readers = [o for o in officers if o.get(path, params={"region": COUNTY}).status_code == 200]
        assert readers, f"{path}: no officer of {READERS} reads it in their own region"
        for region in OUTSIDE:
            answer = readers[0].get(path, params={"region": region})
            assert answer.status_code == 404, (path, region, answer.text[:200])
            assert answer.headers["content-type"].startswith("text/html"), path


def test_the_feed_and_the_audit_log_still_narrow_inside(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """Inside the caller's region the filter narrows as before; a region that is no division
    code is still the 422 naming ``region``."""
    city = headers_for("audit", CITY)
    for path in ("/api/v1/changes", "/api/v1/audit-log"):
        assert client.get(path, params={"region": COUNTY}, headers=city).status_code == 200
        assert client.get(path, params={"region": CITY}, headers=city).status_code == 200
        bad = client.get(path, params={"region": "23010"}, headers=city)
        assert bad.status_code == 422, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == ["region"]
