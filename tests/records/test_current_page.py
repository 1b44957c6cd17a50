"""The current page of a region listing (``GET /datasets/{d}/records`` without ``as_of``): a
bounded walk in record-key order first, the region index after it when the region is thin.

Before, the page was one statement the planners answered from the region index, sorting every
current row of the region before the LIMIT (SQLite always, PostgreSQL with the generic plan of
a prepared statement): a page of 50 cost in proportion to the caller's region. Paging stays
exact whichever way a page is read: each record once, in key order, across any share of the
region in the table, any page size and any window size."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select, text

from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.records import service
from linkage_hub.records.models import PayrollRecord, RosterRecord
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

URL = "/api/v1/datasets/roster/records"
DISTRICT, OTHER = "230102", "230103"


def _pages(
    client: TestClient, headers: dict[str, str], limit: int, url: str = URL, **params: Any
) -> Iterator[list[dict[str, Any]]]:
    """The pages of a listing, following its cursor."""
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        answer = client.get(url, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        yield body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return


def _current_keys(database: Database, lo: str, hi: str) -> list[str]:
    t = RosterRecord.__table__
    with database.transaction() as session:
        return list(
            session.scalars(
                select(t.c.record_key)
                .where(t.c.closed_at.is_(None), t.c.region.between(lo, hi))
                .order_by(t.c.record_key)
            )
        )


class TestPaging:
    # 30 records: every 10th in the district (3, a tenth of the table), 1 of them in OTHER's
    # sub-range alone: read as the city (every row), the district, and OTHER (one row).
    def _push(self, push: Push) -> None:
        records = [
            f.roster(n, n, region=DISTRICT if n % 10 == 0 else OTHER if n == 7 else "230100")
            for n in range(1, 31)
        ]
        assert push("roster", records).status_code == 201

    @pytest.mark.parametrize("factor", [1, 2, 20])
    def test_each_record_once_in_key_order_at_any_share_page_and_window(
        self,
        factor: int,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Window = factor × (page + 1) rows: factor 1 puts the page's extra row on the window's
        last row when every row is the caller's; pages of 29, 30, 31 of 30 rows put the end of
        the rows on a page boundary and on the extra row; the district's 3 rows in 30 leave
        most windows short (the region index finishes the page), OTHER's 1 row every one."""
        monkeypatch.setattr(service, "PROBE_ROWS_A_ROW", factor)
        self._push(push)
        for region, (lo, hi) in {
            "230100": ("230100", "230199"),
            DISTRICT: (DISTRICT, DISTRICT),
            OTHER: (OTHER, OTHER),
        }.items():
            expected = _current_keys(database, lo, hi)
            assert len(expected) == {"230100": 30, DISTRICT: 3, OTHER: 1}[region]
            headers = headers_for("audit", region)
            for limit in (1, 2, 3, 5, 29, 30, 31):
                pages = list(_pages(client, headers, limit))
                keys = [r["record_key"] for page in pages for r in page]
                assert keys == expected, (region, limit)
                assert all(len(page) == limit for page in pages[:-1]), (region, limit)
                assert 0 < len(pages[-1]) <= limit, (region, limit)

    @pytest.mark.parametrize("factor", [1, 20])
    def test_records_updated_between_pages_are_listed_once(
        self,
        factor: int,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Every record, of the region or not, gets a new version (a new row) after each
        page; the district is read a page of one at a time, the window and the region index
        both in play: each of its records comes once, in key order."""
        monkeypatch.setattr(service, "PROBE_ROWS_A_ROW", factor)
        self._push(push)
        expected = _current_keys(database, DISTRICT, DISTRICT)
        seen: list[str] = []
        for round_, page in enumerate(_pages(client, headers_for("audit", DISTRICT), 1)):
            seen += [r["record_key"] for r in page]
            changed = [
                f.roster(
                    n,
                    n,
                    region=DISTRICT if n % 10 == 0 else OTHER if n == 7 else "230100",
                    name=f"张{n}改{round_}",
                )
                for n in range(1, 31)
            ]
            assert push("roster", changed).status_code == 201
        assert seen == expected

    @pytest.mark.parametrize("factor", [1, 20])
    def test_a_periods_pages(
        self,
        factor: int,
        push: Push,
        client: TestClient,
        headers_for: HeadersFor,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A period's lines among three periods' (a third of the window each): each once, in
        key order, the other periods' never."""
        monkeypatch.setattr(service, "PROBE_ROWS_A_ROW", factor)
        for period in ("2026-09", "2026-10", "2026-11"):
            lines = [f.payroll(n, n, period=period) for n in range(1, 11)]
            assert push("payroll", lines, scope={"period": period}).status_code == 201
        t = PayrollRecord.__table__
        with database.transaction() as session:
            expected = list(
                session.scalars(
                    select(t.c.record_key)
                    .where(t.c.closed_at.is_(None), t.c.period == "2026-10")
                    .order_by(t.c.record_key)
                )
            )
        assert len(expected) == 10
        for limit in (1, 3, 9, 10, 11):
            pages = _pages(
                client,
                headers_for("audit"),
                limit,
                "/api/v1/datasets/payroll/records",
                period="2026-10",
            )
            assert [r["record_key"] for page in pages for r in page] == expected, limit


# --- the plan ---------------------------------------------------------------------------------

ROWS = 5_000


def _fill(database: Database, push: Push, every: int = 1) -> None:
    """A roster of every ``every``-th record in the district (1: the caller's whole region),
    the rest in the city: one record pushed, the rest inserted with its sealed ID number,
    each with a closed first version and a current second one."""
    assert push("roster", [f.roster(1, 1, region=DISTRICT)]).status_code == 201
    t = RosterRecord.__table__
    with database.transaction() as session:
        sealed = session.execute(select(t.c.id_number)).scalar_one()
    now = utcnow()
    rows = [
        {
            "record_key": key,
            "region": DISTRICT if n % every == 0 else "230100",
            "client_id": "filler",
            "recorded_at": now,
            **version,
            "person_key": f"filler{n:026d}",
            "id_number": sealed,
            "unit_code": f.unit_code(n % 50),
            "name": "李四",
            "name_norm": "李四",
            "establishment_type": "institutional",
            "status": "active",
        }
        for n, key in enumerate(uuid.uuid4().hex for _ in range(ROWS))
        for version in (
            {"version": 1, "batch_id": "b1", "closed_at": now, "closed_batch_id": "b2"},
            {"version": 2, "batch_id": "b2"},
        )
    ]
    with database.transaction() as session:
        session.execute(insert(RosterRecord), rows)
        session.execute(text("ANALYZE records_roster"))


def _statements(database: Database, client: TestClient, headers: dict[str, str]) -> list[Any]:
    """The SELECTs of records_roster with a LIMIT that a first page of 50 runs."""
    seen: list[tuple[str, Any]] = []

    def spy(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM records_roster" in statement and "LIMIT" in statement:
            seen.append((statement, parameters))

    event.listen(database.read_engine, "before_cursor_execute", spy)
    try:
        answer = client.get(URL, params={"limit": 50}, headers=headers)
    finally:
        event.remove(database.read_engine, "before_cursor_execute", spy)
    assert answer.status_code == 200 and len(answer.json()["items"]) == 50, answer.text
    return seen


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _plan(database: Database, statement: str, parameters: Any) -> list[str]:
    """The plan's nodes, one line each; on PostgreSQL the generic plan of the statement
    prepared (what psycopg runs from the sixth execution on), whatever the values."""
    with database.engine.connect() as conn:
        if database.dialect == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return [str(r[3]) for r in rows]
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            names.append(match.group(1))
            return f"${len(names)}"

        prepared = re.sub(r"%\((\w+)\)s", number, statement)
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql("PREPARE page AS " + prepared)
        values = ", ".join(_literal(parameters[name]) for name in names)
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE page({values})").scalar()
        conn.rollback()
    plan = json.loads(raw) if isinstance(raw, str) else raw
    lines: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        lines.append(f"{node['Node Type']} {node.get('Index Name') or ''}".strip())
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return lines


def test_a_wide_regions_page_walks_the_record_key_index_and_sorts_nothing(
    database: Database, client: TestClient, headers_for: HeadersFor, push: Push
) -> None:
    """Every row the caller's: the first page is read in key order from the current rows'
    record-key index and stops after the window, no sort of the region's 5,000 rows (the
    plan before: the region index, then a sort of all of them)."""
    _fill(database, push)
    statements = _statements(database, client, headers_for("audit", DISTRICT))
    assert len(statements) == 1, statements  # the window held the page: nothing else read
    plan = _plan(database, *statements[0])
    assert any("ix_records_roster_current_record_key" in line for line in plan), plan
    assert not any("current_region" in line for line in plan), plan
    if database.dialect == "sqlite":  # it sorts the window's rows it kept (SQLite does
        # not carry a subquery's order out of it), at most a page and one more
        walk = "SEARCH records_roster USING INDEX ix_records_roster_current_record_key"
        assert any(line.startswith(walk) for line in plan), plan
        assert not any(line.startswith("SCAN records_roster") for line in plan), plan
    else:
        assert not any(line.startswith(("Sort", "Incremental Sort")) for line in plan), plan


def test_a_region_of_a_few_per_cent_walks_on_instead_of_sorting(
    database: Database, client: TestClient, headers_for: HeadersFor, push: Push
) -> None:
    """A district of 2.5 % of the table: the first window (1,020 rows) holds about half a page
    of its rows; on SQLite their share sends one more walk, sized to the rest, that finishes
    the page, and the region index, which would sort all its rows, is not read. PostgreSQL
    sorts them faster than it walks: the region index finishes the page there."""
    _fill(database, push, every=40)
    t = RosterRecord.__table__
    with database.transaction() as session:
        expected = list(
            session.scalars(
                select(t.c.record_key)
                .where(t.c.closed_at.is_(None), t.c.region == DISTRICT)
                .order_by(t.c.record_key)
                .limit(50)
            )
        )
    answer = client.get(URL, params={"limit": 50}, headers=headers_for("audit", DISTRICT))
    assert [r["record_key"] for r in answer.json()["items"]] == expected
    statements = _statements(database, client, headers_for("audit", DISTRICT))
    assert len(statements) == 2, statements
    walks = ["window_end" in statement for statement, _ in statements]
    assert walks == [True, database.dialect == "sqlite"], statements
