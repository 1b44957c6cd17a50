"""The units' head counts (records.tally): each batch keeps them equal to a count of the records,
whatever it did — new records, status and type changes, deletes, snapshots, single writes, a
unit that moves its records to another region, a first load straight into an empty table."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from linkage_hub.db import Database
from linkage_hub.records import tally
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, Read

Counts = dict[tuple[str, str, str, str], int]

RECOUNT = """
SELECT 'roster', unit_code, region, establishment_type, COUNT(*) FROM records_roster
WHERE closed_at IS NULL AND status = 'active' GROUP BY unit_code, region, establishment_type
UNION ALL
SELECT 'cadres', unit_code, region, leader_level, COUNT(*) FROM records_cadre
WHERE closed_at IS NULL AND status = 'active' GROUP BY unit_code, region, leader_level
"""


def stored(database: Database) -> Counts:
    with database.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT dataset, unit_code, region, category, n FROM records_unit_count")
        )
        return {(d, u, r, c): int(n) for d, u, r, c, n in rows if n != 0}


def recounted(database: Database) -> Counts:
    with database.engine.connect() as conn:
        return {(d, u, r, c): int(n) for d, u, r, c, n in conn.execute(text(RECOUNT))}


def assert_kept(database: Database) -> Counts:
    counts = stored(database)
    assert counts == recounted(database)
    assert all(n > 0 for n in counts.values())  # nothing counted below zero
    return counts


U1, U2, U5 = f.unit_code(1), f.unit_code(2), f.unit_code(5)


class TestKeptByDifference:
    def test_batches_and_single_writes(
        self, push: Push, read: Read, database: Database, client: TestClient,
        headers_for: HeadersFor,
    ) -> None:  # fmt: skip
        rows = [f.roster(n, unit=1 + n % 2) for n in range(1, 7)]
        rows.append(f.roster(7, establishment_type="administrative"))
        rows.append(f.roster(8, status="exited", exited_on="2026-01-31"))  # not counted
        assert push("roster", rows).status_code == 201
        counts = assert_kept(database)
        assert counts[("roster", U1, "230100", "institutional")] == 3
        assert counts[("roster", U2, "230100", "institutional")] == 3
        assert counts[("roster", U1, "230100", "administrative")] == 1

        # a status flip, a type change, a name change (no move), a new record, one deleted
        changed = [
            f.roster(2, unit=1, status="exited", exited_on="2026-02-01"),
            f.roster(3, unit=2, establishment_type="worker"),
            f.roster(4, unit=1, name="张改"),
            f.roster(8, status="active"),
            f.roster(9, unit=2),
        ]
        deletes = [{"id_number": f.id_number(5), "unit_code": U2}]
        assert push("roster", changed, deletes=deletes).status_code == 201
        counts = assert_kept(database)
        assert counts[("roster", U1, "230100", "institutional")] == 3  # −2 +8
        assert counts[("roster", U2, "230100", "institutional")] == 2  # −3 −5 +9
        assert counts[("roster", U2, "230100", "worker")] == 1

        # a snapshot of unit 1 closes what it does not hold
        keep = [f.roster(4, unit=1, name="张改"), f.roster(7, establishment_type="administrative")]
        answer = push("roster", keep, mode="snapshot", scope={"units": [U1]})
        assert answer.status_code == 201, answer.text
        counts = assert_kept(database)
        assert counts[("roster", U1, "230100", "institutional")] == 1

        # single writes: a PUT that exits a person, a DELETE
        key = next(r["record_key"] for r in read("roster") if r["id_number"] == f.id_number(4))
        url = f"/api/v1/datasets/roster/records/{key}"
        owner = headers_for("establishment")
        body = f.roster(4, unit=1, status="exited", exited_on="2026-03-01")
        put = client.put(url, json=body, headers={**owner, "If-Match": '"v2"'})
        assert put.status_code == 200, put.text
        assert ("roster", U1, "230100", "institutional") not in assert_kept(database)
        gone = client.delete(url, headers={**owner, "If-Match": '"v3"'})
        assert gone.status_code == 204
        assert_kept(database)

    def test_cadres_by_level(self, push: Push, database: Database) -> None:
        rows = [
            f.cadre(1, leader_level="principal"),
            f.cadre(2, leader_level="deputy"),
            f.cadre(3, leader_level="deputy"),
            f.cadre(4, leader_level="deputy", status="removed"),
        ]
        assert push("cadres", rows).status_code == 201
        counts = assert_kept(database)
        assert counts[("cadres", U1, "230100", "deputy")] == 2
        assert push("cadres", [f.cadre(3, leader_level="principal")]).status_code == 201
        counts = assert_kept(database)
        assert counts[("cadres", U1, "230100", "principal")] == 2
        assert counts[("cadres", U1, "230100", "deputy")] == 1

    def test_a_unit_moving_region_moves_its_counts(self, push: Push, database: Database) -> None:
        assert push("roster", [f.roster(1, 5), f.roster(2, 5), f.roster(3, 1)]).status_code == 201
        assert push("cadres", [f.cadre(1, 5, leader_level="principal")]).status_code == 201
        assert push("units", [f.unit(5) | {"region": "230102"}]).status_code == 201
        counts = assert_kept(database)
        assert counts[("roster", U5, "230102", "institutional")] == 2
        assert ("roster", U5, "230100", "institutional") not in counts
        assert counts[("cadres", U5, "230102", "principal")] == 1
        # gone from the registry: the records fall back to their code's region
        assert push("units", [], deletes=[{"unit_code": U5}]).status_code == 201
        counts = assert_kept(database)
        assert counts[("roster", U5, "230100", "institutional")] == 2

    def test_a_dry_run_counts_nothing(self, push: Push, database: Database) -> None:
        answer = push("roster", [f.roster(1)], params={"dry_run": "true"})
        assert answer.status_code == 200, answer.text
        assert stored(database) == {}


class TestFirstLoad:
    def test_a_load_straight_into_the_table_is_counted(
        self, direct: list[str], database: Database, client: TestClient,
        headers_for: HeadersFor,
    ) -> None:  # fmt: skip
        rows = [f.roster(n, unit=1 + n % 2) for n in range(1, 8)]
        rows.append(f.roster(8, status="exited", exited_on="2026-01-31"))
        answer = client.post(
            "/api/v1/datasets/roster/batches",
            content=f.ndjson(rows),
            headers={**headers_for("establishment"), "content-type": "application/x-ndjson"},
        )
        assert answer.status_code == 201, answer.text
        assert direct == [answer.json()["batch_id"]]
        counts = assert_kept(database)
        assert counts[("roster", U1, "230100", "institutional")] == 3
        assert counts[("roster", U2, "230100", "institutional")] == 4


def test_a_count_falls_to_zero_and_stays_as_a_row(push: Push, database: Database) -> None:
    assert push("roster", [f.roster(1)]).status_code == 201
    gone = push("roster", [], deletes=[{"id_number": f.id_number(1), "unit_code": U1}])
    assert gone.status_code == 201
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT n FROM records_unit_count")).all()
    assert [r[0] for r in rows] == [0]  # kept, at zero
    assert stored(database) == recounted(database) == {}


def test_drift_is_found_and_repaired(push: Push, database: Database) -> None:
    """What only a change past the hub can cause (``linkage-hub unit-counts``)."""
    assert push("roster", [f.roster(1), f.roster(2)]).status_code == 201
    with Session(database.engine) as session:
        assert tally.drift(session) == 0
        session.execute(text("UPDATE records_unit_count SET n = n + 1"))
        assert tally.drift(session) == 1
        tally.repair(session)
        assert tally.drift(session) == 0
        session.commit()
    assert assert_kept(database)[("roster", U1, "230100", "institutional")] == 2
