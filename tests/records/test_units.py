"""Units, quotas and leader posts are datasets too; a unit's region moves its records."""

from __future__ import annotations

from tests.records import factory as f
from tests.records.conftest import Push, Read


class TestRegistryDatasets:
    def test_quotas_and_leader_posts_are_versioned(self, push: Push, read: Read) -> None:
        unit = f.unit_code(1)
        quota = {"unit_code": unit, "establishment_type": "institutional", "approved": 10}
        posts = {
            "unit_code": unit,
            "level": "deputy",
            "approved": 2,
            "document_no": "哈编〔2026〕1号",
        }
        assert push("units", [f.unit(1)]).status_code == 201
        assert push("quotas", [quota]).status_code == 201
        assert push("leader_posts", [posts]).status_code == 201
        again = push("quotas", [{**quota, "approved": 12}]).json()
        assert (again["updated"], again["inserted"]) == (1, 0)
        assert [(q["approved"], q["version"]) for q in read("quotas")] == [(12, 2)]
        gone = push("leader_posts", [], deletes=[{"unit_code": unit, "level": "deputy"}])
        assert gone.json()["closed"] == 1 and read("leader_posts") == []

    def test_unit_fields_are_checked(self, push: Push) -> None:
        bad = push("units", [f.unit(1, kind="shop", internal_unit_limit=-1, parent_code="X")])
        assert bad.status_code == 422
        fields = {e["field"] for e in bad.json()["errors"]}
        assert fields == {"kind", "internal_unit_limit", "parent_code"}

    def test_a_unit_is_not_its_own_parent(self, push: Push, read: Read) -> None:
        """It would count as its own internal unit (OVER_INTERNAL_UNITS at a limit of 0) and
        list itself among its children on the public pages."""
        push("units", [f.unit(2)])
        itself = f.unit(1) | {"parent_code": f.unit_code(1), "internal_unit_limit": 0}
        bad = push("units", [f.unit(3), itself])
        assert bad.status_code == 422
        assert [(e["row"], e["field"]) for e in bad.json()["errors"]] == [(2, "parent_code")]
        assert [u["unit_code"] for u in read("units")] == [f.unit_code(2)]  # nothing applied
        fine = push("units", [f.unit(1) | {"parent_code": f.unit_code(2)}])
        assert fine.status_code == 201, fine.text

    def test_a_units_region_change_moves_the_current_records(self, push: Push, read: Read) -> None:
        unit = f.unit_code(5)
        push("roster", [f.roster(1, 5)])
        push("quotas", [{"unit_code": unit, "establishment_type": "institutional", "approved": 3}])
        assert read("roster", department="hr", region="230102") == []
        push("units", [f.unit(5, region="230100") | {"region": "230102"}])
        assert [r["region"] for r in read("roster", department="hr", region="230102")] == ["230102"]
        assert [q["region"] for q in read("quotas", department="hr", region="230102")] == ["230102"]
        # Removing the unit from the registry falls back to the region in its code.
        push("units", [], deletes=[{"unit_code": unit}])
        assert read("roster", department="hr", region="230102") == []
        assert [r["region"] for r in read("roster")] == ["230100"]

    def test_a_unit_closed_by_a_snapshot_gives_its_records_back_their_code_region(
        self, push: Push, read: Read
    ) -> None:
        push("units", [f.unit(5, region="230100") | {"region": "230102"}, f.unit(6)])
        push("roster", [f.roster(1, 5)])
        assert [r["region"] for r in read("roster")] == ["230102"]
        push("units", [f.unit(6)], mode="snapshot")
        assert [r["region"] for r in read("roster")] == ["230100"]
