"""API4:2023 Unrestricted Resource Consumption — a batch's ``scope.units``.

``scope.units`` narrows a batch to some units. It names at most 1,000 codes
(``records.scope.MAX_SCOPE_UNITS``), each a valid unit code (every bad one is named:
``scope.units[i]``) of a unit inside the batch's region (by the registry, else by the region in
its code: ``scope.units`` / ``outside_region``); a refused batch changes nothing. The audit log
keeps the list's count and SHA-256, not the list: 49,000 codes made a 1 MB permanent entry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read

CITY, COUNTY, SIBLING = "230100", "230102", "230103"
MINE = f.unit_code(41, region=COUNTY)
THEIRS = f.unit_code(42, region=SIBLING)
MOVED_IN = f.unit_code(43, region=SIBLING)  # code says 230103; the city moved it to 230102
MOVED_OUT = f.unit_code(44, region=COUNTY)  # code says 230102; the city moved it to 230103


def unit(code: str, region: str) -> dict[str, Any]:
    return {"unit_code": code, "name": "单位", "region": region, "kind": "institution"} | {
        "funding": "full",
        "status": "active",
    }


class Hub:
    def __init__(self, client: TestClient, headers_for: HeadersFor) -> None:
        self.client = client
        self.headers_for = headers_for

    def roster(self, units: Any, region: str = COUNTY, **body: Any) -> Response:
        return self.client.post(
            "/api/v1/datasets/roster/batches",
            content=json.dumps(
                {"records": [f.roster(1, unit_code=MINE)], "scope": {"units": units}, **body}
            ),
            headers={
                **self.headers_for("establishment", region),
                "content-type": "application/json",
            },
        )

    def count(self) -> int:
        answer = self.client.get(
            "/api/v1/datasets/roster/records", headers=self.headers_for("audit", CITY)
        )
        return len(answer.json()["items"])


@pytest.fixture
def hub(client: TestClient, headers_for: HeadersFor) -> Hub:
    h = Hub(client, headers_for)
    units = [unit(MINE, COUNTY), unit(THEIRS, SIBLING)]
    units += [unit(MOVED_IN, COUNTY), unit(MOVED_OUT, SIBLING)]
    answer = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": units},
        headers=headers_for("establishment", CITY),
    )
    assert answer.status_code == 201, answer.text
    return h


def errors(answer: Response) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    return [(e["field"], e["code"]) for e in answer.json()["errors"]]


class TestTheCap:
    def test_more_than_1000_codes_are_refused(self, hub: Hub) -> None:
        codes = [f.unit_code(n, region=COUNTY) for n in range(1001)]
        assert errors(hub.roster(codes)) == [("scope.units", "too_many")]
        assert hub.count() == 0

    def test_1000_are_accepted(self, hub: Hub) -> None:
        codes = [MINE] + [f.unit_code(n, region=COUNTY) for n in range(1000, 1999)]
        answer = hub.roster(codes)
        assert answer.status_code == 201, answer.text

    def test_the_query_parameter_of_an_ndjson_push_too(self, hub: Hub) -> None:
        codes = [f.unit_code(n, region=COUNTY) for n in range(1001)]
        answer = hub.client.post(
            "/api/v1/datasets/roster/batches",
            params={"units": codes[:1001]},
            content=json.dumps(f.roster(1, unit_code=MINE)) + "\n",
            headers={
                **hub.headers_for("establishment", COUNTY),
                "content-type": "application/x-ndjson",
            },
        )
        # a URL of 1,001 codes may be refused before the hub reads it; never accepted
        assert answer.status_code in (414, 422, 431), answer.text
        if answer.status_code == 422:
            assert errors(answer) == [("scope.units", "too_many")]


class TestEachCode:
    def test_every_bad_code_is_named(self, hub: Hub) -> None:
        answer = hub.roster([MINE, "not-a-code", MINE[:-1] + "0", 7])
        assert errors(answer) == [("scope.units", "type")]
        answer = hub.roster([MINE, "not-a-code", MINE, MINE[:-2] + "XX"])
        assert [field for field, _code in errors(answer)] == ["scope.units[1]", "scope.units[3]"]
        assert hub.count() == 0

    @pytest.mark.parametrize("code", [THEIRS, MOVED_OUT])
    def test_a_unit_outside_the_batch_region_is_refused(self, hub: Hub, code: str) -> None:
        answer = hub.roster([MINE, code])
        assert errors(answer) == [("scope.units", "outside_region")]
        assert code in answer.json()["errors"][0]["message"]
        assert hub.count() == 0

    def test_a_unit_the_registry_puts_inside_is_accepted(self, hub: Hub) -> None:
        assert hub.roster([MINE, MOVED_IN]).status_code == 201

    def test_the_city_may_name_both_counties(self, hub: Hub) -> None:
        answer = hub.roster([MINE, THEIRS], region=CITY)
        assert answer.status_code == 201, answer.text


class TestTheAuditLog:
    def test_keeps_a_count_and_digest_not_the_list(self, hub: Hub) -> None:
        codes = sorted([MINE] + [f.unit_code(n, region=COUNTY) for n in range(1000, 1999)])
        answer = hub.roster(codes)
        assert answer.status_code == 201, answer.text
        log = hub.client.get(
            "/api/v1/audit-log",
            params={"action": "batch.push"},
            headers=hub.headers_for("audit", COUNTY),
        )
        assert log.status_code == 200, log.text
        [entry] = [e for e in log.json()["items"] if e["detail"].get("dataset") == "roster"]
        units = entry["detail"]["scope"]["units"]
        digest = hashlib.sha256("\n".join(codes).encode()).hexdigest()
        assert units == {"count": 1000, "sha256": digest}
        assert len(json.dumps(entry)) < 2_000


class TestNamingNoUnit:
    """`scope.units: []` names no unit, yet it was read as "not narrowed": a snapshot of no
    units closed every roster record of the region (the validator, the check of the units'
    region and the closing query all took an empty list for no filter). Now a 422 `empty`
    naming `scope.units`, in the body and as the query's `units=`; nothing changes."""

    def test_an_empty_list_in_the_body_is_refused(self, push: Push, read: Read) -> None:
        assert push("roster", [f.roster(1, 1), f.roster(2, 2)]).status_code == 201
        answer = push("roster", [], mode="snapshot", scope={"units": []})
        assert errors(answer) == [("scope.units", "empty")]
        assert len(read("roster")) == 2

    def test_an_empty_query_parameter_is_refused(
        self, push: Push, read: Read, client: TestClient, headers_for: HeadersFor
    ) -> None:
        assert push("roster", [f.roster(1, 1), f.roster(2, 2)]).status_code == 201
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            params={"mode": "snapshot", "units": ""},
            content="id_number,unit_code,name,establishment_type,status,entered_on\n",
            headers={**headers_for("establishment"), "content-type": "text/csv"},
        )
        assert errors(answer) == [("scope.units", "empty")]
        assert len(read("roster")) == 2


class TestGivenTwice:
    """`?units=U1` with a JSON body whose `scope.units` is [U2]: the body won without a word,
    so a snapshot closed U2's people, whom the query never named. Now, as for `mode`,
    `scope.region` and `scope.period`, two different lists are a 422 naming `scope.units`
    (`conflict`); the same units in either order are one answer."""

    def test_different_units_are_refused(self, push: Push, read: Read) -> None:
        assert push("roster", [f.roster(1, 1), f.roster(2, 2)]).status_code == 201
        answer = push(
            "roster",
            [],
            mode="snapshot",
            scope={"units": [f.unit_code(2)]},
            params={"units": [f.unit_code(1)], "mode": "snapshot"},
        )
        assert errors(answer) == [("scope.units", "conflict")]
        assert len(read("roster")) == 2

    def test_the_same_units_are_one_answer(self, push: Push) -> None:
        units = [f.unit_code(1), f.unit_code(2)]
        answer = push(
            "roster",
            [f.roster(1, 1)],
            scope={"units": units},
            params={"units": units[::-1]},
        )
        assert answer.status_code == 201, answer.text


def quota(unit: int, approved: int = 10) -> dict[str, object]:
    return {
        "unit_code": f.unit_code(unit),
        "establishment_type": "institutional",
        "approved": approved,
    }


class TestRegistryRows:
    """push_batch's contract: "A row naming a unit outside your region (or the scope) is a
    bad row". Person datasets kept it; the registry datasets (units, quotas, leader posts)
    wrote such rows and deletes, so a quotas snapshot "of unit 1" changed unit 2's approved
    quota. Now every dataset refuses them as `outside_scope` on `unit_code`."""

    def test_a_quota_row_outside_the_scope_is_a_bad_row(self, push: Push, read: Read) -> None:
        assert push("quotas", [quota(1), quota(2)]).status_code == 201
        answer = push(
            "quotas",
            [quota(1), quota(2, approved=99)],
            mode="snapshot",
            scope={"units": [f.unit_code(1)]},
        )
        assert answer.status_code == 422, answer.text
        assert [(e["row"], e["field"], e["code"]) for e in answer.json()["errors"]] == [
            (2, "unit_code", "outside_scope")
        ]
        assert {r["approved"] for r in read("quotas")} == {10}

    def test_a_unit_delete_outside_the_scope_is_a_bad_row(self, push: Push, read: Read) -> None:
        assert push("units", [f.unit(1), f.unit(2)]).status_code == 201
        answer = push(
            "units", [], deletes=[{"unit_code": f.unit_code(2)}], scope={"units": [f.unit_code(1)]}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["code"] == "outside_scope"
        assert len(read("units")) == 2

    def test_a_person_row_outside_the_scope_is_refused_as_before(self, push: Push) -> None:
        answer = push("roster", [f.roster(1, 1), f.roster(2, 2)], scope={"units": [f.unit_code(1)]})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["code"] == "outside_scope"


class TestABlankRegion:
    """`?region=` (a nightly job's empty county variable) or `"region": ""`, `[]`, `{}`, `0`,
    `false` in the body were read as "the caller's region": a city's snapshot of one county's
    rows closed the roster of every other county of the city (found by the sync-contract
    review of 2026-12-06). As for `units=`, a blank region is a 422 `empty` naming
    `scope.region` (a value of another type: `type`), and nothing changes; `null` or no
    region still means the caller's."""

    @pytest.fixture
    def two_counties(self, push: Push, read: Read) -> None:
        rows = [
            f.roster(1, unit_code=f.unit_code(1, region=COUNTY)),
            f.roster(2, unit_code=f.unit_code(2, region=SIBLING)),
        ]
        assert push("roster", rows).status_code == 201
        assert len(read("roster")) == 2

    def test_a_blank_query_parameter_is_refused(
        self,
        two_counties: None,
        read: Read,
        client: TestClient,
        headers_for: HeadersFor,
    ) -> None:
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            params={"mode": "snapshot", "region": ""},
            content=json.dumps(f.roster(1, unit_code=f.unit_code(1, region=COUNTY))) + "\n",
            headers={**headers_for("establishment"), "content-type": "application/x-ndjson"},
        )
        assert errors(answer) == [("scope.region", "empty")]
        assert len(read("roster")) == 2

    @pytest.mark.parametrize(
        ("region", "code"),
        [
            ("", "empty"),
            ("  ", "empty"),
            ([], "type"),
            ({}, "type"),
            (0, "format"),
            (False, "type"),
        ],
    )
    def test_a_blank_or_wrong_body_region_is_refused(
        self, two_counties: None, push: Push, read: Read, region: Any, code: str
    ) -> None:
        rows = [f.roster(1, unit_code=f.unit_code(1, region=COUNTY))]
        answer = push("roster", rows, mode="snapshot", scope={"region": region})
        assert errors(answer) == [("scope.region", code)]
        assert len(read("roster")) == 2

    def test_null_is_the_callers_region(self, two_counties: None, push: Push, read: Read) -> None:
        rows = [f.roster(1, unit_code=f.unit_code(1, region=COUNTY))]
        answer = push("roster", rows, mode="snapshot", scope={"region": None})
        assert answer.status_code == 201, answer.text
        assert answer.json()["closed"] == 1  # the city-wide snapshot closed the other county's
        assert len(read("roster")) == 1
