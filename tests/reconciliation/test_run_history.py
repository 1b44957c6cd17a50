"""The run history (``GET /reconciliation/runs``), run kinds, and runs that must not succeed
silently: an unknown region is refused, a run in which every rule was skipped says so."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from linkage_hub import cli
from linkage_hub.cli import CommandError
from linkage_hub.db import Database
from linkage_hub.reconciliation import cli as reconcile_cli
from linkage_hub.reconciliation import runs
from linkage_hub.reconciliation.executor import Scheduler
from linkage_hub.reconciliation.models import Run
from linkage_hub.reconciliation.runs import create_run, execute_run, recover
from linkage_hub.records.models import Batch, Change
from linkage_hub.settings import Settings, get_settings
from tests.conftest import HeadersFor
from tests.reconciliation.conftest import World
from tests.reconciliation.factory import Factory, citizen_id, unit_code
from tests.reconciliation.test_api import run_and_wait
from tests.reconciliation.test_run_audit import run_entries

RUNS = "/api/v1/reconciliation/runs"
P = citizen_id(1)


def listed(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = client.get(RUNS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def a_run(database: Database, region: str, kind: str) -> str:
    with database.transaction() as session:
        run, lock = create_run(
            session,
            database,
            region=region,
            period="2026-10",
            as_of=dt.date(2026, 10, 31),
            requested_by="hub",
            kind=kind,
        )
        run_id = run.id
    assert execute_run(database, run_id, lock) == "succeeded"
    return run_id


def incremental_run(
    database: Database, region: str, batch_ids: list[str], scopes: dict[str, str] | None = None
) -> tuple[str, str]:
    """A full run that settles ``region``, then batches ``batch_ids`` (scoped to ``region``
    or as ``scopes`` says) with feed rows naming no record, then the incremental run that
    covers them: (the full run's id, the incremental run's)."""
    full = a_run(database, region, "full")
    now = dt.datetime.now(dt.UTC)
    with database.transaction() as session:
        for batch_id in batch_ids:
            session.add(
                Batch(
                    batch_id=batch_id,
                    dataset="roster",
                    mode="upsert",
                    client_id="t",
                    department="establishment",
                    scope_region=(scopes or {}).get(batch_id, region),
                    recorded_at=now,
                )
            )
            session.add(
                Change(
                    dataset="roster",
                    record_key="0" * 32,
                    version=1,
                    op="upsert",
                    region=region,
                    batch_id=batch_id,
                    recorded_at=dt.datetime.now(dt.UTC),
                )
            )
    return full, a_run(database, region, "incremental")


class TestTheList:
    def test_newest_first_with_kind_and_batch_ids(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        city = headers_for("establishment", "230100")
        first = run_and_wait(client, city)["run_id"]
        second = run_and_wait(client, city, region="230102")["run_id"]
        items = listed(client, headers_for("hr", "230100"))
        assert [i["run_id"] for i in items] == [second, first]
        assert all(i["kind"] == "full" and i["batch_ids"] == [] for i in items)
        assert all(i["status"] == "succeeded" and i["warnings"] == [] for i in items)
        one = client.get(f"{RUNS}/{first}", headers=city).json()
        assert one == items[1]

    def test_pages_by_cursor(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        city = headers_for("establishment", "230100")
        made = [run_and_wait(client, city)["run_id"] for _ in range(3)]
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(4):
            params = {"limit": "1"} | ({"cursor": cursor} if cursor else {})
            page = client.get(RUNS, params=params, headers=city).json()
            seen += [i["run_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made[::-1]
        assert cursor is None

    def test_filters(
        self, world: World, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        city = headers_for("audit", "230100")
        full = run_and_wait(client, headers_for("establishment"))["run_id"]
        batch = "b" * 32  # the county's; "a" * 32 the city's, changing the county's records
        settled, incremental = incremental_run(
            database, "230102", [batch, "a" * 32], {"a" * 32: "230100"}
        )
        with database.transaction() as session:  # a run whose process died
            crashed, lock = create_run(
                session, database, region="230102", period=None, as_of=None, requested_by="t"
            )
        lock.release()
        recover(database)

        def ids(**params: str) -> list[str]:
            return [i["run_id"] for i in listed(client, city, **params)]

        assert ids() == [crashed.id, incremental, settled, full]
        assert ids(kind="full") == [crashed.id, settled, full]
        assert ids(kind="incremental") == [incremental]
        assert ids(batch_id=batch) == [incremental]
        assert ids(batch_id="c" * 32) == []
        assert ids(status="failed") == [crashed.id]
        assert ids(status="succeeded", region="230102") == [incremental, settled]
        assert ids(region="230100") == [crashed.id, incremental, settled, full]
        [shown] = listed(client, city, kind="incremental")
        assert shown["batch_ids"] == ["a" * 32, batch]
        detail = client.get(f"{RUNS}/{incremental}", headers=city).json()
        assert (detail["kind"], detail["batch_ids"]) == ("incremental", ["a" * 32, batch])

    def test_a_run_names_only_the_batches_its_reader_may_open(
        self, world: World, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        """The county reads its incremental run, which covered the city's batch too; that
        batch is the city's (404 to the county), so its id is left out of what the county
        reads of the run, and the city reads both."""
        mine, citys = "b" * 32, "a" * 32
        _, incremental = incremental_run(database, "230102", [mine, citys], {citys: "230100"})
        county = headers_for("audit", "230102")
        assert client.get(f"/api/v1/batches/{citys}", headers=county).status_code == 404
        [shown] = listed(client, county, kind="incremental")
        assert shown["batch_ids"] == [mine]
        assert client.get(f"{RUNS}/{incremental}", headers=county).json()["batch_ids"] == [mine]
        city = client.get(f"{RUNS}/{incremental}", headers=headers_for("audit", "230100"))
        assert city.json()["batch_ids"] == [citys, mine]

    def test_the_audit_entry_carries_the_kind(
        self, world: World, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        full, run_id = incremental_run(database, "230102", ["b" * 32])
        entries = run_entries(client, headers_for("audit", "230100"))
        kinds = {e["target_id"]: e["detail"]["kind"] for e in entries}
        assert kinds == {full: "full", run_id: "incremental"}

    def test_bad_filters_are_422(self, client: TestClient, headers_for: HeadersFor) -> None:
        headers = headers_for("hr", "230100")
        for params in ({"kind": "bogus"}, {"status": "done"}, {"region": "2301"}, {"limit": "0"}):
            response = client.get(RUNS, params=params, headers=headers)
            assert response.status_code == 422, params
            assert response.headers["content-type"].startswith("application/problem+json")


class TestUnknownRegion:
    def test_the_api_refuses_a_region_the_hub_holds_nothing_in(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        province = headers_for("establishment", "230000")
        response = client.post(RUNS, json={"region": "230199"}, headers=province)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert (error["field"], error["code"]) == ("region", "unknown_region")
        assert listed(client, province) == []
        # A region with the hub's records in it or below it is known.
        assert client.post(RUNS, json={"region": "230100"}, headers=province).status_code == 202

    def test_a_region_known_only_by_its_findings_may_still_be_run(
        self, factory: Factory, client: TestClient, headers_for: HeadersFor
    ) -> None:
        from linkage_hub.records.models import PayrollRecord, RosterRecord

        unit = unit_code(1, region="230103")
        roster = factory.roster(citizen_id(2), unit)
        line = factory.payroll(P, unit)  # paid, not on the roster: a finding
        city = headers_for("establishment", "230100")
        first = run_and_wait(client, city, region="230103")
        assert first["rules"]["PAID_WITHOUT_ESTABLISHMENT"]["new"] == 1
        factory.close(PayrollRecord, line)
        factory.close(RosterRecord, roster)  # nothing current is left: only the finding
        run = run_and_wait(client, city, region="230103")
        assert run["status"] == "succeeded"
        assert [w["code"] for w in run["warnings"]] == ["all_rules_skipped"]

    def test_the_command_refuses_it_with_exit_1(
        self,
        world: World,
        settings: Settings,
        operator_env: None,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        assert cli.main(["reconcile", "--region", "999999"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("linkage-hub reconcile: --region 999999:") and "\n" not in err
        with pytest.raises(CommandError, match="no units, records or findings"):
            reconcile_cli._reconcile(_args(region="230199"), settings)

    def test_the_schedule_logs_it_and_runs_nothing(
        self, world: World, database: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        slot = dt.datetime(2026, 10, 31, 2, tzinfo=dt.UTC)
        assert Scheduler(database, "0 2 * * *", ["230199"]).run_slot("230199", slot) is None
        assert "230199" in caplog.text and "refused" in caplog.text
        with database.transaction() as session:
            assert session.scalar(select(func.count()).select_from(Run)) == 0


class TestEveryRuleSkipped:
    def test_the_run_warns_and_the_command_exits_3(
        self,
        factory: Factory,
        client: TestClient,
        headers_for: HeadersFor,
        operator_env: None,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        factory.payroll(P, unit_code(1), period="2026-10")
        # A mistyped period: the region is known, but no department has records for it.
        run = run_and_wait(client, headers_for("establishment"), period="2026-09")
        assert run["status"] == "succeeded" and run["rules"] == {}
        [warning] = run["warnings"]
        assert warning["code"] == "all_rules_skipped"
        assert "payroll" in warning["message"]
        argv = ["reconcile", "--region", "230100", "--period", "2026-09"]
        assert cli.main(argv) == reconcile_cli.EXIT_ALL_SKIPPED == 3
        assert "every rule was skipped" in capsys.readouterr().err
        assert cli.main(["reconcile", "--region", "230100", "--period", "2026-10"]) == 0

    def test_a_run_with_rules_that_ran_has_no_warning(
        self, world: World, client: TestClient, headers_for: HeadersFor
    ) -> None:
        run = run_and_wait(client, headers_for("establishment"))
        assert run["skipped"] == {} and run["warnings"] == []


class TestPeriodBehind:
    """A run that judged pay of a month older than its province's latest says so: runs of
    regions that hold the newer month judge that month instead (issue 16's nested runs)."""

    def test_a_county_a_month_behind_its_city_is_warned_and_a_given_period_agrees(
        self,
        factory: Factory,
        client: TestClient,
        headers_for: HeadersFor,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        county = unit_code(1, region="230103")
        factory.roster(citizen_id(2), county)
        factory.payroll(P, county, period="2026-09")  # the county's newest lines: September
        factory.payroll(citizen_id(3), unit_code(2, region="230102"), period="2026-10")
        city = headers_for("establishment", "230100")

        behind = run_and_wait(client, city, region="230103", period=None)
        assert behind["period"] == "2026-09"
        assert behind["rules"]["PAID_WITHOUT_ESTABLISHMENT"]["new"] == 1
        [warning] = behind["warnings"]
        assert warning["code"] == "period_behind"
        assert "2026-09" in warning["message"] and "2026-10" in warning["message"]
        logged = [r for r in caplog.records if "period_behind" in r.getMessage()]
        assert [r.levelno for r in logged] == [logging.WARNING]  # a full run: the operator's

        given = run_and_wait(client, city, region="230103", period="2026-10")
        assert "PAID_WITHOUT_ESTABLISHMENT" in given["skipped"]  # no October line there
        assert given["warnings"] == []
        whole = run_and_wait(client, city, region="230100", period=None)
        assert whole["period"] == "2026-10" and whole["warnings"] == []

    def test_an_on_write_run_logs_it_at_info_and_keeps_it(self) -> None:
        behind = {"code": "period_behind", "message": "..."}
        assert runs._log_level(Run(kind="incremental"), behind) == logging.INFO
        assert runs._log_level(Run(kind="full"), behind) == logging.WARNING
        other = {"code": "read_in_full", "message": "..."}
        assert runs._log_level(Run(kind="incremental"), other) == logging.WARNING

    def test_a_run_that_judged_no_pay_is_not_warned(
        self, factory: Factory, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county = unit_code(1, region="230103")
        factory.roster(citizen_id(2), county)
        factory.payroll(P, unit_code(2, region="230102"), period="2026-10")
        run = run_and_wait(client, headers_for("establishment"), region="230103", period=None)
        assert run["period"] is None and run["rules"] and run["warnings"] == []


def test_an_incremental_run_turns_jit_off_and_a_full_run_keeps_it(
    world: World, database: Database
) -> None:
    """PostgreSQL's JIT compiled an incremental run's statements over a few thousand persons
    for ~5 % of the run; a full run's GROUP BYs over the region gain from it (bench/RESULTS.md).
    Read from the server in the middle of each run."""
    if database.dialect != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    seen: list[str] = []

    def probe(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("CREATE TEMP TABLE rc_unit "):
            seen.append(cursor.connection.execute("SHOW jit").fetchone()[0])

    event.listen(database.engine, "before_cursor_execute", probe)
    try:
        incremental_run(database, "230100", ["b1"])
    finally:
        event.remove(database.engine, "before_cursor_execute", probe)
    assert seen == ["on", "off"]  # the full run's, then the incremental run's


def _args(**kw: str | None) -> argparse.Namespace:
    base: dict[str, str | None] = {"region": "230100", "period": "2026-10", "as_of": "2026-10-31"}
    return argparse.Namespace(**(base | kw))


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[None]:
    """``linkage-hub`` as an operator runs it: its settings from the environment."""
    monkeypatch.setenv("LINKAGE_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LINKAGE_SIGNING_KEY", "test-signing-key-" + "x" * 32)
    monkeypatch.setenv("LINKAGE_RECORD_KEY_SECRET", "test-record-key-secret-" + "x" * 32)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
