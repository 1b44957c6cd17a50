"""The console's runs: the history is the API's, a run started from the form is the API's run,
and the establishment office alone may start one, one at a time."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Run
from linkage_hub.reconciliation.runs import create_run
from linkage_hub.records.demo_data import PERIOD
from tests.conftest import HeadersFor, hub_today
from tests.console.conftest import ConsoleAs
from tests.reconciliation.test_api import run_and_wait

RUNS = "/api/v1/reconciliation/runs"
RUN_LINK = re.compile(r'href="/console/runs/([0-9a-f]{32})"')


def _listed(html: str) -> list[str]:
    """The runs a console history page lists, in its order."""
    return list(dict.fromkeys(RUN_LINK.findall(html)))


def _api_runs(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get(RUNS, params={"limit": 50, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return [item["run_id"] for item in response.json()["items"]]


def _run_count(database: Database) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Run)) or 0)


def _wait(client: TestClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"{RUNS}/{run_id}", headers=headers).json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError("the run did not finish")


def _run(client: TestClient, headers_for: HeadersFor, region: str) -> str:
    city = headers_for("establishment", "230100")
    run = run_and_wait(client, city, region=region, period=PERIOD, as_of=hub_today().isoformat())
    assert run["status"] == "succeeded", run
    return str(run["run_id"])


class TestTheHistory:
    def test_the_console_lists_the_runs_the_api_lists(
        self, demo_city: Any, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        county_run = _run(client, headers_for, "230102")
        person = console_as("audit", "230100")
        page = person.get("/console/runs")
        assert page.status_code == 200, page.text
        api = _api_runs(client, headers_for("audit", "230100"))
        assert _listed(page.text) == api
        assert county_run in api
        assert "已完成" in page.text and "全量" in page.text
        filtered = person.get("/console/runs", params={"region": "", "kind": "full", "status": ""})
        assert filtered.status_code == 200  # the form's empty fields are no filter
        kind_only = _api_runs(client, headers_for("audit", "230100"), kind="full")
        assert _listed(filtered.text) == kind_only
        failed = person.get("/console/runs", params={"status": "failed"})
        assert _listed(failed.text) == [] and "没有符合条件的运行记录" in failed.text

    def test_the_county_sees_only_its_runs(
        self, demo_city: Any, client: TestClient, headers_for: HeadersFor, console_as: ConsoleAs
    ) -> None:
        city_run = _run(client, headers_for, "230100")
        county_run = _run(client, headers_for, "230102")
        province_runs = _api_runs(client, headers_for("audit", "230000"))
        county = _listed(console_as("finance", "230102").get("/console/runs").text)
        assert county == [county_run]
        city = _listed(console_as("finance", "230100").get("/console/runs").text)
        assert city == [county_run, city_run]
        assert set(province_runs) - set(city)  # the province's run is not the city's to see
        outside = console_as("finance", "230102").get(f"/console/runs/{city_run}")
        assert outside.status_code == 404
        assert outside.headers["content-type"].startswith("text/html")

    def test_a_bad_filter_is_a_page(self, client: TestClient, console_as: ConsoleAs) -> None:
        answer = console_as("hr", "230100").get("/console/runs", params={"kind": "weekly"})
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("text/html")


class TestStartingARun:
    def test_the_establishment_office_starts_a_run_from_the_form(
        self,
        demo_city: Any,
        client: TestClient,
        headers_for: HeadersFor,
        console_as: ConsoleAs,
    ) -> None:
        person = console_as("establishment", "230100")
        form = person.get("/console/runs")
        assert 'method="post" action="/console/runs"' in form.text and 'value="230100"' in form.text
        started = person.post("/console/runs", {"region": "230100", "period": "", "as_of": ""})
        assert started.status_code == 303, started.text
        run_id = started.headers["location"].removeprefix("/console/runs/")
        run = _wait(client, headers_for("audit", "230100"), run_id)
        assert run["status"] == "succeeded", run
        assert run["requested_by"] == f"user:{person.username}"
        assert run["period"] == PERIOD  # the latest period pushed: the API's default
        page = person.get(f"/console/runs/{run_id}")
        assert page.status_code == 200
        for code, counts in run["rules"].items():
            assert f"/console/findings?rule={code}&amp;region=230100" in page.text
            assert f'<td class="num">{counts["found"]}</td>' in page.text
        assert run_id in _listed(person.get("/console/runs").text)

    def test_other_departments_are_refused_and_start_nothing(
        self, client: TestClient, console_as: ConsoleAs, database: Database
    ) -> None:
        person = console_as("hr", "230100")
        assert 'method="post" action="/console/runs"' not in person.get("/console/runs").text
        before = _run_count(database)
        refused = person.post("/console/runs", {"region": "230100"})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
        assert "无权操作" in refused.text
        assert _run_count(database) == before

    def test_a_region_outside_is_404_and_a_bad_one_422(
        self, demo_city: Any, console_as: ConsoleAs, database: Database
    ) -> None:
        county = console_as("establishment", "230102")
        county.get("/console/runs")  # the form's page, and its CSRF token
        before = _run_count(database)
        outside = county.post("/console/runs", {"region": "230100"})
        assert outside.status_code == 404
        assert outside.headers["content-type"].startswith("text/html")
        for bad in ({"region": "2301"}, {"region": "230102", "period": "2026-13"}):
            answer = county.post("/console/runs", bad)
            assert answer.status_code == 422, bad
            assert answer.headers["content-type"].startswith("text/html")
        assert _run_count(database) == before

    def test_an_overlapping_run_is_409(
        self, demo_city: Any, console_as: ConsoleAs, database: Database
    ) -> None:
        with database.transaction() as session:
            held, lock = create_run(
                session, database, region="230102", period=None, as_of=None, requested_by="x"
            )
        try:
            before = _run_count(database)
            person = console_as("establishment", "230100")
            person.get("/console/runs")
            busy = person.post("/console/runs", {"region": "230100"})
            assert busy.status_code == 409
            assert busy.headers["content-type"].startswith("text/html")
            assert f'href="/console/runs/{held.id}"' in busy.text
            assert _run_count(database) == before
        finally:
            lock.release()


def test_a_run_stopped_at_its_time_limit_says_so(
    demo_city: Any, client: TestClient, database: Database, console_as: ConsoleAs
) -> None:
    """The run's ``error_code`` in Chinese, on its page and in the history."""
    from linkage_hub.reconciliation.runs import TIMEOUT, Deadline, fail_run

    with database.transaction() as session:
        run, lock = create_run(
            session, database, region="230102", period=None, as_of=None, requested_by="t"
        )
        run_id = run.id
    lock.release()
    fail_run(database, run_id, Deadline(0.2).message(), code=TIMEOUT)
    person = console_as("establishment", "230100")
    assert "比对超时" in person.get(f"/console/runs/{run_id}").text
    assert "比对超时" in person.get("/console/runs").text


def test_a_running_run_shows_when_it_will_be_stopped(
    demo_city: Any, client: TestClient, database: Database, console_as: ConsoleAs
) -> None:
    """A running run's page says by when its time limit stops it (``deadline_at``)."""
    import datetime as dt

    from sqlalchemy import update

    with database.transaction() as session:
        run, lock = create_run(
            session, database, region="230102", period=None, as_of=None, requested_by="t"
        )
        run_id = run.id
    lock.release()
    person = console_as("establishment", "230100")
    assert "最迟结束" not in person.get(f"/console/runs/{run_id}").text  # queued: not started
    deadline = dt.datetime(2026, 12, 7, 2, 30, tzinfo=dt.UTC)  # 10:30 in the hub's zone
    with database.transaction() as session:
        session.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status="running", started_at=deadline, deadline_at=deadline)
        )
    page = person.get(f"/console/runs/{run_id}").text
    assert "最迟结束" in page
    assert "2026-12-07 10:30" in page
