"""The findings summary (``GET /api/v1/discrepancies/summary``), through HTTP, on both databases.

Its numbers are checked against the list they summarise: whatever the caller and the filters,
a count is what paging ``GET /api/v1/discrepancies`` with the same filters counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Finding, Run
from linkage_hub.records.models import PayrollRecord
from tests.conftest import HeadersFor
from tests.reconciliation.conftest import World
from tests.reconciliation.factory import citizen_id, unit_code
from tests.reconciliation.test_api import run_and_wait

SUMMARY = "/api/v1/discrepancies/summary"
LIST = "/api/v1/discrepancies"
RUNS = "/api/v1/reconciliation/runs"
CITY, COUNTY, SIBLING, OTHER_CITY = "230100", "230102", "230103", "230200"
P1 = citizen_id(1)  # paid and employed at the organ, on no roster
P2 = citizen_id(2)  # on the roster of organ2, paid by organ2 and by the institution too
P3 = citizen_id(3, region=SIBLING)  # paid in the sibling county, on no roster
P4 = citizen_id(4)  # paid at the managed institution in the first run only: resolved
P5 = citizen_id(5)  # consistent, at a unit nobody registered
P6 = citizen_id(6)  # paid at the organ from the second run on: new
GHOST_UNIT = unit_code(99)
SIBLING_UNIT = unit_code(1, region=SIBLING)
PAID = "PAID_WITHOUT_ESTABLISHMENT"
WAITING = ("open", "reopened")


@dataclass
class Hub:
    """Two counties of one city, reconciled twice by the city (``runs``: oldest first).

    Found, in county 230102: at the organ P1 paid and employed without a roster entry (two
    findings) and P6 paid without one (new in the second run); P2's two payrolls (organ2 and
    the institution); the unregistered unit; P4's pay at the managed institution, resolved by
    the second run. In county 230103: P3 paid without a roster entry.
    """

    world: World
    runs: list[dict[str, Any]]


@pytest.fixture
def hub(world: World, client: TestClient, headers_for: HeadersFor) -> Hub:
    f = world.f
    f.payroll(P1, world.organ)
    f.employment(P1, world.organ)
    f.consistent(P2, world.organ2)
    f.payroll(P2, world.institution, establishment_type="institutional")
    f.unit(SIBLING_UNIT, kind="organ", name="乙县单位")
    f.payroll(P3, SIBLING_UNIT)
    line = f.payroll(P4, world.managed, establishment_type="institutional")
    f.consistent(P5, GHOST_UNIT)
    office = headers_for("establishment", CITY)
    first = run_and_wait(client, office)
    f.close(PayrollRecord, line)
    f.payroll(P6, world.organ)
    second = run_and_wait(client, office)
    assert first["status"] == second["status"] == "succeeded"
    return Hub(world, [first, second])


def summary(client: TestClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = client.get(SUMMARY, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listed(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    """Every finding the list shows with ``params``, page after page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": "3", **({"cursor": cursor} if cursor else {})}
        response = client.get(LIST, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def the_finding(client: TestClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    items = listed(client, headers, **params)
    assert len(items) == 1, items
    return items[0]


def counts(entries: list[dict[str, Any]]) -> dict[str, int]:
    return {e["key"]: e["count"] for e in entries}


def live(items: list[dict[str, Any]]) -> int:
    return sum(1 for i in items if i["status"] != "resolved")


def move(client: TestClient, headers: dict[str, str], finding: dict[str, Any], **body: str) -> None:
    url = f"{LIST}/{finding['id']}/transitions"
    response = client.post(url, json=body, headers=headers)
    assert response.status_code == 200, response.text


def set_back(database: Database, finding: dict[str, Any], days: int, **values: str) -> None:
    """Make a finding first seen ``days`` ago (and set other columns, such as its status)."""
    with database.transaction() as session:
        session.execute(
            update(Finding)
            .where(Finding.id == finding["id"])
            .values(first_seen_at=utcnow() - dt.timedelta(days=days), **values)
        )


def assert_matches_the_list(
    client: TestClient, headers: dict[str, str], **params: str
) -> dict[str, Any]:
    """Each count of the summary is what the list with the same filters shows."""
    got = summary(client, headers, **params)
    items = listed(client, headers, **params)

    def also(name: str, key: str) -> list[dict[str, Any]]:
        """The list with one more filter (none shown when it contradicts one given)."""
        if params.get(name, key) != key:
            return []
        return listed(client, headers, **{**params, name: key})

    assert got["live"] == live(items)
    assert counts(got["by_rule"]) == dict(Counter(i["rule"] for i in items))
    for key, n in counts(got["by_rule"]).items():
        assert n == len(also("rule", key)), key
    for key, n in counts(got["by_severity"]).items():
        assert n == len(also("severity", key)), key
    for key, n in counts(got["by_status"]).items():
        assert n == len(also("status", key)), key
    for key, n in counts(got["by_department"]).items():
        assert n == live([i for i in items if key in i["departments"]]), key
        if "department" not in params:  # departments are not exclusive: a finding names two
            assert n == live(also("department", key)), key
    for unit in got["units"]:
        at_unit = listed(client, headers, **{**params, "unit_code": unit["unit_code"]})
        mine = [i for i in at_unit if i["region"] == unit["region"]]
        assert unit["live"] == live(mine), unit
        assert unit["critical"] == sum(
            1 for i in mine if i["severity"] == "critical" and i["status"] in WAITING
        ), unit
    return got


class TestTheCountsAreTheLists:
    def test_every_count_for_every_caller(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        audit = headers_for("audit", CITY)
        move(
            client,
            headers_for("hr"),
            the_finding(client, audit, rule="EMPLOYED_WITHOUT_ESTABLISHMENT"),
            to="acknowledged",
        )
        duplicate = the_finding(client, audit, rule="DUPLICATE_PAYROLL")
        move(client, audit, duplicate, to="waived", reason="兼职", document_no="哈编〔2026〕7号")

        city = assert_matches_the_list(client, audit)
        assert city["live"] == 6  # acknowledged and waived findings are live; P4's is not
        assert [(e["key"], e["count"]) for e in city["by_rule"]] == [
            (PAID, 4),  # most first, then by code
            ("DUPLICATE_PAYROLL", 1),
            ("EMPLOYED_WITHOUT_ESTABLISHMENT", 1),
            ("UNREGISTERED_UNIT", 1),
        ]
        assert [e["key"] for e in city["by_severity"]] == ["critical", "high", "medium", "low"]
        assert counts(city["by_severity"]) == {"critical": 5, "high": 2, "medium": 0, "low": 0}
        assert counts(city["by_status"]) == {
            "open": 4,
            "acknowledged": 1,
            "waived": 1,
            "resolved": 1,
            "reopened": 0,
        }
        assert counts(city["by_department"]) == {
            "establishment": 5,  # every live finding but the duplicate payroll
            "organization": 0,
            "hr": 2,  # EMPLOYED_WITHOUT_ESTABLISHMENT, and the unregistered unit HR lists
            "finance": 5,
        }
        for department, region in (("finance", COUNTY), ("hr", SIBLING), ("organization", CITY)):
            assert_matches_the_list(client, headers_for(department, region))

    @pytest.mark.parametrize(
        "params",
        [
            {"region": COUNTY},
            {"severity": "critical"},
            {"department": "hr"},
            {"status": "resolved"},
            {"id_number": P1},
            {"rule": PAID, "region": SIBLING},
        ],
        ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
    )
    def test_the_filters_narrow_every_count(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor, params: dict[str, str]
    ) -> None:
        got = assert_matches_the_list(client, headers_for("audit", CITY), **params)
        everything = summary(client, headers_for("audit", CITY))
        assert (
            0
            < sum(counts(got["by_status"]).values())
            < sum(counts(everything["by_status"]).values())
        )

    def test_the_unit_filter_and_a_status_filter(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        audit = headers_for("audit", CITY)
        organ = assert_matches_the_list(client, audit, unit_code=hub.world.organ)
        assert [u["unit_code"] for u in organ["units"]] == [hub.world.organ]
        resolved = summary(client, audit, status="resolved")
        assert resolved["live"] == 0  # the status filter holds for `live` too
        assert counts(resolved["by_status"])["resolved"] == 1
        assert counts(resolved["by_department"]) == dict.fromkeys(
            ("establishment", "organization", "hr", "finance"), 0
        )


class TestRegions:
    def test_a_county_counts_only_its_own_findings(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        city = summary(client, headers_for("finance", CITY))
        county = summary(client, headers_for("finance", COUNTY))
        sibling = summary(client, headers_for("finance", SIBLING))
        assert (county["live"], sibling["live"], city["live"]) == (5, 1, 6)
        assert counts(sibling["by_rule"]) == {PAID: 1}
        assert counts(county["by_rule"])[PAID] == 3  # P1, P6 and P4's resolved one: not P3's
        for rule, n in counts(city["by_rule"]).items():
            assert (
                counts(county["by_rule"]).get(rule, 0) + counts(sibling["by_rule"]).get(rule, 0)
                == n
            )
        assert counts(sibling["by_department"]) == {
            "establishment": 1,
            "organization": 0,
            "hr": 0,
            "finance": 1,
        }
        assert {u["region"] for u in county["units"]} == {COUNTY}
        assert SIBLING_UNIT not in {u["unit_code"] for u in county["units"]}
        assert [(u["unit_code"], u["unit_name"], u["rag"]) for u in sibling["units"]] == [
            (SIBLING_UNIT, "乙县单位", "red")
        ]

    def test_another_city_sees_zeros(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        other = summary(client, headers_for("audit", OTHER_CITY))
        assert other["live"] == 0
        assert other["by_rule"] == other["units"] == other["trend"] == []
        assert set(counts(other["by_status"]).values()) == {0}
        assert other["ageing"] == {"over_30": 0, "over_60": 0, "over_90": 0}

    def test_a_region_filter_outside_the_callers_region_adds_nothing(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        """A sibling's region, or one above: the 404 the cases answer (until 2026-12-07 a
        sibling's counted nothing and one above the caller's own;
        ``tests/security/test_api1_region_filters.py``)."""
        county = headers_for("audit", COUNTY)
        for region in (SIBLING, CITY):
            outside = client.get(SUMMARY, params={"region": region}, headers=county)
            assert outside.status_code == 404, outside.text
        assert summary(client, county, region=COUNTY)["live"] == summary(client, county)["live"]


class TestAgeing:
    def test_waiting_findings_by_how_long_ago_they_were_first_found(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        audit = headers_for("audit", CITY)
        fresh = summary(client, audit)["ageing"]
        assert fresh == {"over_30": 0, "over_60": 0, "over_90": 0}
        employed = the_finding(client, audit, rule="EMPLOYED_WITHOUT_ESTABLISHMENT")
        set_back(database, employed, 40)
        set_back(database, the_finding(client, audit, rule="DUPLICATE_PAYROLL"), 70)
        set_back(
            database, the_finding(client, audit, rule=PAID, region=SIBLING), 100, status="reopened"
        )
        p1 = the_finding(client, audit, rule=PAID, id_number=P1)
        set_back(database, p1, 120)
        move(client, headers_for("finance"), p1, to="acknowledged")  # answered: off the clock
        resolved = the_finding(client, audit, status="resolved")
        set_back(database, resolved, 200)
        set_back(database, the_finding(client, audit, rule=PAID, id_number=P6), 29)

        assert summary(client, audit)["ageing"] == {"over_30": 3, "over_60": 2, "over_90": 1}
        county = summary(client, headers_for("audit", COUNTY))["ageing"]
        assert county == {"over_30": 2, "over_60": 1, "over_90": 0}  # not the sibling's
        critical = summary(client, audit, severity="critical")["ageing"]
        assert critical == {"over_30": 2, "over_60": 2, "over_90": 1}
        reopened = summary(client, audit, status="reopened")["ageing"]
        assert reopened == {"over_30": 1, "over_60": 1, "over_90": 1}


class TestUnits:
    def test_ranked_by_open_critical_then_live_with_their_colours(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        w = hub.world
        audit = headers_for("audit", CITY)
        ranked = summary(client, audit)["units"]
        assert [(u["unit_code"], u["critical"], u["live"], u["rag"]) for u in ranked] == [
            (w.organ, 2, 3, "red"),
            (w.organ2, 1, 1, "red"),  # a tie: by unit code
            (SIBLING_UNIT, 1, 1, "red"),
            (GHOST_UNIT, 0, 1, "amber"),
            (w.managed, 0, 0, "green"),  # its one finding was resolved
        ]
        names = {u["unit_code"]: u["unit_name"] for u in ranked}
        assert names[w.organ] == "测试单位" and names[SIBLING_UNIT] == "乙县单位"
        assert names[GHOST_UNIT] is None  # not in the registry

        finance = headers_for("finance")
        for id_number in (P1, P6):  # the organ's open critical findings answered
            move(
                client,
                finance,
                the_finding(client, audit, rule=PAID, id_number=id_number),
                to="acknowledged",
            )
        ranked = assert_matches_the_list(client, audit)["units"]
        assert [(u["unit_code"], u["critical"], u["live"], u["rag"]) for u in ranked] == [
            (w.organ2, 1, 1, "red"),
            (SIBLING_UNIT, 1, 1, "red"),
            (w.organ, 0, 3, "amber"),  # still live: before a unit with fewer
            (GHOST_UNIT, 0, 1, "amber"),
            (w.managed, 0, 0, "green"),
        ]

    def test_at_most_units_limit(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        audit = headers_for("audit", CITY)
        every = summary(client, audit)["units"]
        assert summary(client, audit, units_limit="2")["units"] == every[:2]


class TestTrend:
    def test_the_last_full_runs_oldest_first(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        first, second = hub.runs
        trend = summary(client, headers_for("audit", CITY))["trend"]
        assert [p["run_id"] for p in trend] == [first["run_id"], second["run_id"]]
        for point, run in zip(trend, hub.runs, strict=True):
            assert point["region"] == CITY
            assert point["finished_at"] is not None
            for key in ("found", "new", "resolved"):
                assert point[key] == sum(r[key] for r in run["rules"].values()), key
        assert [(p["found"], p["new"], p["resolved"]) for p in trend] == [(6, 6, 0), (6, 1, 1)]
        latest = summary(client, headers_for("audit", CITY), runs="1")["trend"]
        assert [p["run_id"] for p in latest] == [second["run_id"]]
        paid = summary(client, headers_for("audit", CITY), rule=PAID)["trend"]
        assert [(p["found"], p["new"], p["resolved"]) for p in paid] == [(3, 3, 0), (3, 1, 1)]

    def test_incremental_and_failed_runs_are_left_out(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        with database.transaction() as session:
            seq = session.scalar(select(func.max(Run.seq))) or 0
            for n, (kind, status) in enumerate(
                [("incremental", "succeeded"), ("full", "failed")], start=1
            ):
                now = utcnow()
                session.add(
                    Run(
                        id=uuid.uuid4().hex,
                        seq=seq + n,
                        kind=kind,
                        region=CITY,
                        region_lo="230100",
                        region_hi="230199",
                        period="2026-10",
                        as_of=dt.date(2026, 10, 31),
                        parameters={},
                        status=status,
                        requested_by="test",
                        created_at=now,
                        started_at=now,
                        finished_at=now,
                        counts={PAID: {"found": 9, "new": 9, "resolved": 0, "reopened": 0}},
                    )
                )
        trend = summary(client, headers_for("audit", CITY))["trend"]
        assert [p["run_id"] for p in trend] == [r["run_id"] for r in hub.runs]

    def test_the_runs_a_caller_sees_as_the_run_list_shows_them(
        self, hub: Hub, client: TestClient, headers_for: HeadersFor
    ) -> None:
        county = headers_for("audit", COUNTY)
        # The city's runs count findings of the sibling county: a county does not see them.
        assert summary(client, county)["trend"] == []
        own = run_and_wait(client, headers_for("establishment", COUNTY), region=COUNTY)
        for headers in (county, headers_for("audit", CITY), headers_for("audit", SIBLING)):
            trend = summary(client, headers)["trend"]
            runs = client.get(
                RUNS, params={"kind": "full", "status": "succeeded"}, headers=headers
            ).json()["items"]
            assert [p["run_id"] for p in trend] == [r["run_id"] for r in reversed(runs)]
        assert [p["run_id"] for p in summary(client, county)["trend"]] == [own["run_id"]]
        city = summary(client, headers_for("audit", CITY))["trend"]
        assert [p["region"] for p in city] == [CITY, CITY, COUNTY]
        narrowed = summary(client, headers_for("audit", CITY), region=COUNTY)["trend"]
        assert [p["run_id"] for p in narrowed] == [own["run_id"]]


class TestBadInput:
    def test_a_bad_region_filter_is_a_problem_naming_it(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        response = client.get(SUMMARY, params={"region": "abc"}, headers=headers_for("audit"))
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["region"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"units_limit": "0"}, "units_limit"),
            ({"units_limit": "101"}, "units_limit"),
            ({"runs": "61"}, "runs"),
            ({"rule": "NOPE"}, "rule"),
            ({"status": "closed"}, "status"),
        ],
    )
    def test_out_of_range_parameters(
        self, client: TestClient, headers_for: HeadersFor, params: dict[str, str], field: str
    ) -> None:
        response = client.get(SUMMARY, params=params, headers=headers_for("audit"))
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]

    def test_needs_a_token(self, client: TestClient) -> None:
        response = client.get(SUMMARY)
        assert response.status_code == 401
