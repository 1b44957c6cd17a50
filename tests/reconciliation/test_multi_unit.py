"""Every rule for persons with records in one, two and three units, on both databases.

DOMAIN.md reads "any", "all", "none" and "at least" across every unit a person has records
in (moves, concurrent posts, two HR records): no rule reads "exactly one". Each test runs one
reconciliation over a county (see ``World``) holding, for n = 1, 2, 3 units, the persons who
must be found and the near misses (exactly at a boundary) who must not, and checks the exact
set of person rules found for each: "report every rule that holds", and nothing more.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from linkage_hub.reconciliation import queries
from tests.reconciliation.conftest import Reconcile, RunResult, World
from tests.reconciliation.factory import Factory, citizen_id, unit_code

D = dt.date
N = (1, 2, 3)
BEFORE = D(2026, 9, 30)  # the last day before the period 2026-10
FIRST = D(2026, 10, 1)  # the period's first day: not before it
EARLIER = (D(2025, 3, 31), D(2026, 3, 31))  # earlier moves of the same person


@dataclass
class Town:
    """The county with four organs, three institutions and three self-funded institutions."""

    world: World
    organs: list[str]
    institutions: list[str]
    selfs: list[str]

    @property
    def f(self) -> Factory:
        return self.world.f

    def rules(self, result: RunResult, id_number: str) -> set[str]:
        return result.person_rules(self.world.key(id_number))

    def departments(self, result: RunResult, rule: str, id_number: str) -> str:
        return result.one(rule, self.world.key(id_number)).departments


@pytest.fixture
def town(world: World) -> Town:
    organs = [world.organ, world.organ2, unit_code(21), unit_code(22)]
    institutions = [world.institution, unit_code(23, kind="12"), unit_code(24, kind="12")]
    selfs = [world.self_funded, unit_code(25, kind="12"), unit_code(26, kind="12")]
    for code in organs[2:]:
        world.f.unit(code, kind="organ")
    for code in institutions[1:]:
        world.f.unit(code, kind="institution")
    for code in selfs[1:]:
        world.f.unit(code, kind="institution", funding="self")
    for code in organs:
        world.f.quota(code, "administrative", 50)
    for code in institutions + selfs:
        world.f.quota(code, "institutional", 50)
    return Town(world, organs, institutions, selfs)


Expect = dict[str, set[str]]


def pid(group: int, n: int) -> str:
    """A distinct ID number per scenario group and unit count."""
    return citizen_id(100 * group + n)


def also(rule: str, n: int) -> set[str]:
    """``rule`` when the person's records span at least two units, else nothing."""
    return {rule} if n >= 2 else set()


def exits(n: int, last: dt.date | None) -> list[dt.date | None]:
    """Exit dates for n units: earlier moves first, ``last`` the latest."""
    return [*EARLIER[: n - 1], last]


def scenarios(town: Town, build: Callable[[Town, str, int], set[str]], group: int) -> Expect:
    return {pid(group, n): build(town, pid(group, n), n) for n in N}


def check(town: Town, result: RunResult, expected: Expect) -> None:
    assert {p: town.rules(result, p) for p in expected} == expected


# --- PAID_WITHOUT_ESTABLISHMENT ----------------------------------------------------------------


def paid_typed_everywhere(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.payroll(p, unit)
    return {"PAID_WITHOUT_ESTABLISHMENT"} | also("DUPLICATE_PAYROLL", n)


def paid_typed_in_the_last_unit_only(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[: n - 1]:
        t.f.payroll(p, unit, establishment_type="none")
    t.f.payroll(p, t.organs[n - 1])
    return {"PAID_WITHOUT_ESTABLISHMENT"} | also("DUPLICATE_PAYROLL", n)


def paid_outside_any_quota(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.payroll(p, unit, establishment_type="none")
    return also("DUPLICATE_PAYROLL", n)


def exited_entry_in_another_unit(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.payroll(p, unit)
    t.f.roster(p, t.organs[3], status="exited", exited_on=FIRST)
    return also("DUPLICATE_PAYROLL", n)


class TestPaidWithoutEstablishment:
    def test_in_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, paid_typed_everywhere, 1)
        expected |= scenarios(town, paid_typed_in_the_last_unit_only, 2)
        expected |= scenarios(town, paid_outside_any_quota, 3)
        expected |= scenarios(town, exited_entry_in_another_unit, 4)
        check(town, reconcile(), expected)


# --- PAID_AFTER_EXIT ---------------------------------------------------------------------------


def roster_exits(last: dt.date | None, then: set[str]) -> Callable[[Town, str, int], set[str]]:
    """Exited from the roster of n units (a move, then the exit), paid by the first."""

    def build(t: Town, p: str, n: int) -> set[str]:
        for unit, day in zip(t.organs, exits(n, last), strict=False):
            t.f.roster(p, unit, status="exited", exited_on=day)
        t.f.payroll(p, t.organs[0])
        return then

    return build


def hr_exits(last: dt.date | None, then: set[str]) -> Callable[[Town, str, int], set[str]]:
    """HR records in n units, the later ones transfers, the last a death; the roster entry
    of the first unit still active and paid there."""

    def build(t: Town, p: str, n: int) -> set[str]:
        t.f.roster(p, t.organs[0])
        statuses = ["transferred_out"] * (n - 1) + ["deceased"]
        for unit, day, status in zip(t.organs, exits(n, last), statuses, strict=False):
            t.f.employment(p, unit, status=status, status_on=day)
        t.f.payroll(p, t.organs[0])
        return then

    return build


def hr_exits_and_one_active(t: Town, p: str, n: int) -> set[str]:
    t.f.consistent(p, t.organs[0])
    for unit, day in zip(t.organs[1:], exits(n, BEFORE), strict=False):
        t.f.employment(p, unit, status="transferred_out", status_on=day)
    return set()


class TestPaidAfterExit:
    def test_roster_in_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, roster_exits(BEFORE, {"PAID_AFTER_EXIT"}), 1)
        expected |= scenarios(town, roster_exits(FIRST, set()), 2)
        expected |= scenarios(town, roster_exits(None, set()), 3)  # latest exit date unknown
        check(town, reconcile(), expected)

    def test_hr_in_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, hr_exits(BEFORE, {"PAID_AFTER_EXIT", "LATE_EXIT"}), 1)
        expected |= scenarios(town, hr_exits(FIRST, {"LATE_EXIT"}), 2)
        expected |= scenarios(town, hr_exits(None, set()), 3)  # latest exit date unknown
        expected |= scenarios(town, hr_exits_and_one_active, 4)
        check(town, reconcile(), expected)


# --- DUPLICATE_PAYROLL, DUPLICATE_ESTABLISHMENT ------------------------------------------------


def paid_by_n_units(status: str, period: str = "2026-10") -> Callable[[Town, str, int], set[str]]:
    def build(t: Town, p: str, n: int) -> set[str]:
        t.f.consistent(p, t.organs[0])
        for unit in t.organs[1:n]:
            t.f.payroll(p, unit, status=status, period=period)
        return also("DUPLICATE_PAYROLL", n) if status == "paid" and period == "2026-10" else set()

    return build


def on_n_rosters(status: str) -> Callable[[Town, str, int], set[str]]:
    def build(t: Town, p: str, n: int) -> set[str]:
        t.f.consistent(p, t.organs[0])
        for unit in t.organs[1:n]:
            t.f.roster(p, unit, status=status, exited_on=FIRST if status == "exited" else None)
        return also("DUPLICATE_ESTABLISHMENT", n) if status == "active" else set()

    return build


class TestDuplicatePayroll:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, paid_by_n_units("paid"), 1)
        expected |= scenarios(town, paid_by_n_units("suspended"), 2)
        expected |= scenarios(town, paid_by_n_units("paid", period="2026-09"), 3)
        check(town, reconcile(), expected)


class TestDuplicateEstablishment:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, on_n_rosters("active"), 1)
        expected |= scenarios(town, on_n_rosters("exited"), 2)
        check(town, reconcile(), expected)


# --- MIXED_ESTABLISHMENT -----------------------------------------------------------------------


def disallowed_in_every_unit(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.roster(p, unit, establishment_type="institutional")
    t.f.employment(p, t.organs[0])
    t.f.payroll(p, t.organs[0], establishment_type="none")
    return {"MIXED_ESTABLISHMENT"} | also("DUPLICATE_ESTABLISHMENT", n)


def allowed_in_every_unit(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.roster(p, unit)
    t.f.employment(p, t.organs[0])
    t.f.payroll(p, t.organs[0], establishment_type="none")
    return also("DUPLICATE_ESTABLISHMENT", n)


def paid_line_type(paid_as: str, then: set[str]) -> Callable[[Town, str, int], set[str]]:
    """Administrative on the roster of n organs, HR and a paid line in the last of them."""

    def build(t: Town, p: str, n: int) -> set[str]:
        for unit in t.organs[:n]:
            t.f.roster(p, unit)
        t.f.employment(p, t.organs[n - 1])
        t.f.payroll(p, t.organs[n - 1], establishment_type=paid_as)
        return then | also("DUPLICATE_ESTABLISHMENT", n)

    return build


def registered_civil_servant(registered: bool) -> Callable[[Town, str, int], set[str]]:
    """Institutional in n institutions, a cadre record in the last one."""

    def build(t: Town, p: str, n: int) -> set[str]:
        last = t.institutions[n - 1]
        for unit in t.institutions[:n]:
            t.f.roster(p, unit, establishment_type="institutional")
        t.f.employment(p, last, category="institution_staff")
        t.f.payroll(p, last, establishment_type="institutional")
        t.f.cadre(p, last, civil_servant_registered=registered)
        mixed = {"MIXED_ESTABLISHMENT"} if registered else set()
        return mixed | also("DUPLICATE_ESTABLISHMENT", n)

    return build


class TestMixedEstablishment:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, disallowed_in_every_unit, 1)
        expected |= scenarios(town, allowed_in_every_unit, 2)
        expected |= scenarios(town, paid_line_type("worker", {"MIXED_ESTABLISHMENT"}), 3)
        expected |= scenarios(town, paid_line_type("none", set()), 4)
        expected |= scenarios(town, registered_civil_servant(True), 5)
        expected |= scenarios(town, registered_civil_servant(False), 6)
        check(town, reconcile(), expected)

    def test_the_comparison_stays_inside_one_unit(self, town: Town, reconcile: Reconcile) -> None:
        # administrative here, paid as worker by another organ: not mixed use (the two units
        # differing is UNIT_MISMATCH's business)
        p = pid(7, 2)
        town.f.roster(p, town.organs[0])
        town.f.employment(p, town.organs[0])
        town.f.payroll(p, town.organs[1], establishment_type="worker")
        check(town, reconcile(), {p: {"UNIT_MISMATCH"}})


# --- EMPLOYED_WITHOUT_ESTABLISHMENT ------------------------------------------------------------


def hr_active_roster_exited(category: str) -> Callable[[Town, str, int], set[str]]:
    def build(t: Town, p: str, n: int) -> set[str]:
        for unit in t.organs[:n]:
            t.f.employment(p, unit, category=category)
            t.f.roster(p, unit, status="exited", exited_on=BEFORE)
        return {"EMPLOYED_WITHOUT_ESTABLISHMENT"} if category != "contract" else set()

    return build


def hr_active_roster_active_in_one(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.employment(p, unit)
    t.f.roster(p, t.organs[n - 1])
    t.f.payroll(p, t.organs[n - 1])
    return set()


class TestEmployedWithoutEstablishment:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, hr_active_roster_exited("civil_servant"), 1)
        expected |= scenarios(town, hr_active_roster_exited("contract"), 2)
        expected |= scenarios(town, hr_active_roster_active_in_one, 3)
        check(town, reconcile(), expected)


# --- LATE_EXIT ---------------------------------------------------------------------------------

# As of Friday 2026-10-30 the 11th working day back is Friday 2026-10-16.
LATE, IN_TIME = D(2026, 10, 15), D(2026, 10, 16)


def late_exit(last: dt.date | None, then: set[str]) -> Callable[[Town, str, int], set[str]]:
    """Active on n rosters, left HR in n units (the latest ``last``), paid by the first."""

    def build(t: Town, p: str, n: int) -> set[str]:
        for unit, day in zip(t.organs, exits(n, last), strict=False):
            t.f.roster(p, unit)
            t.f.employment(p, unit, status="retired", status_on=day)
        t.f.payroll(p, t.organs[0])
        return then | also("DUPLICATE_ESTABLISHMENT", n)

    return build


class TestLateExit:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, late_exit(LATE, {"LATE_EXIT"}), 1)
        expected |= scenarios(town, late_exit(IN_TIME, set()), 2)
        expected |= scenarios(town, late_exit(None, set()), 3)
        check(town, reconcile(as_of=D(2026, 10, 30)), expected)


# --- ESTABLISHED_NOT_EMPLOYED ------------------------------------------------------------------


def unknown_to_hr(hr_exit: bool) -> Callable[[Town, str, int], set[str]]:
    def build(t: Town, p: str, n: int) -> set[str]:
        for unit in t.organs[:n]:
            t.f.roster(p, unit)
        t.f.payroll(p, t.organs[0])
        if hr_exit:  # left on the as-of date: a record, and not yet late
            t.f.employment(p, t.organs[n - 1], status="transferred_out", status_on=D(2026, 10, 31))
        found = set() if hr_exit else {"ESTABLISHED_NOT_EMPLOYED"}
        return found | also("DUPLICATE_ESTABLISHMENT", n)

    return build


class TestEstablishedNotEmployed:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, unknown_to_hr(False), 1)
        expected |= scenarios(town, unknown_to_hr(True), 2)
        check(town, reconcile(), expected)


# --- ESTABLISHED_NOT_PAID ----------------------------------------------------------------------


def on_rosters_not_paid(funded: int, paid: bool) -> Callable[[Town, str, int], set[str]]:
    """Roster and HR in n units, the last ``funded`` of them funded organs, the rest
    self-funded institutions; paid by the last unit when ``paid``."""

    def build(t: Town, p: str, n: int) -> set[str]:
        k = min(funded, n)
        units = [(u, "institutional") for u in t.selfs[: n - k]]
        units += [(u, "administrative") for u in t.organs[:k]]
        for unit, kind in units:
            t.f.roster(p, unit, establishment_type=kind)
            category = "institution_staff" if kind == "institutional" else "civil_servant"
            t.f.employment(p, unit, category=category)
        if paid:
            unit, kind = units[-1]
            t.f.payroll(p, unit, establishment_type=kind, funding="budget" if k else "self_funded")
        found = {"ESTABLISHED_NOT_PAID"} if k and not paid else set()
        return found | also("DUPLICATE_ESTABLISHMENT", n)

    return build


class TestEstablishedNotPaid:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, on_rosters_not_paid(3, False), 1)  # every unit funded
        expected |= scenarios(town, on_rosters_not_paid(1, False), 2)  # only the last
        expected |= scenarios(town, on_rosters_not_paid(0, False), 3)  # none funded
        expected |= scenarios(town, on_rosters_not_paid(3, True), 4)
        check(town, reconcile(), expected)


# --- CADRE_WITHOUT_ESTABLISHMENT ---------------------------------------------------------------


def leader_roster_exited(level: str) -> Callable[[Town, str, int], set[str]]:
    def build(t: Town, p: str, n: int) -> set[str]:
        for unit in t.organs[:n]:
            t.f.cadre(p, unit, leader_level=level)
            t.f.roster(p, unit, status="exited", exited_on=BEFORE)
        return {"CADRE_WITHOUT_ESTABLISHMENT"} if level != "none" else set()

    return build


def leader_with_one_active_entry(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.cadre(p, unit, leader_level="deputy")
    t.f.consistent(p, t.organs[0])
    return set()


class TestCadreWithoutEstablishment:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, leader_roster_exited("deputy"), 1)
        expected |= scenarios(town, leader_roster_exited("none"), 2)
        expected |= scenarios(town, leader_with_one_active_entry, 3)
        check(town, reconcile(), expected)


# --- UNIT_MISMATCH -----------------------------------------------------------------------------


def hr_elsewhere(t: Town, p: str, n: int) -> set[str]:
    t.f.roster(p, t.organs[0])
    t.f.payroll(p, t.organs[0])
    for unit in t.organs[1 : n + 1]:
        t.f.employment(p, unit)
    return {"UNIT_MISMATCH"}


def posts_elsewhere(t: Town, p: str, n: int) -> set[str]:
    t.f.consistent(p, t.organs[0])
    for unit in t.organs[1 : n + 1]:
        t.f.cadre(p, unit)
    return {"UNIT_MISMATCH"}


def posts_with_one_in_common(t: Town, p: str, n: int) -> set[str]:
    t.f.consistent(p, t.organs[0])
    for unit in t.organs[:n]:
        t.f.cadre(p, unit)
    return set()


def organization_alone(t: Town, p: str, n: int) -> set[str]:
    for unit in t.organs[:n]:
        t.f.cadre(p, unit)
    return set()


class TestUnitMismatch:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, hr_elsewhere, 1)
        expected |= scenarios(town, posts_elsewhere, 2)
        expected |= scenarios(town, posts_with_one_in_common, 3)
        expected |= scenarios(town, organization_alone, 4)
        result = reconcile()
        check(town, result, expected)
        for n in N:
            assert town.departments(result, "UNIT_MISMATCH", pid(1, n)) == (
                ",establishment,hr,finance,"
            )
            assert town.departments(result, "UNIT_MISMATCH", pid(2, n)) == (
                ",establishment,organization,hr,finance,"
            )


# --- FUNDING_MISMATCH --------------------------------------------------------------------------


def paid_by_self_funded(funding: str, status: str = "paid") -> Callable[[Town, str, int], set[str]]:
    """On the roster of the first self-funded unit, lines from n of them."""

    def build(t: Town, p: str, n: int) -> set[str]:
        home = t.selfs[0]
        t.f.roster(p, home, establishment_type="institutional")
        t.f.employment(p, home, category="institution_staff")
        t.f.payroll(p, home, establishment_type="institutional", funding="self_funded")
        for unit in t.selfs[1:n]:
            t.f.payroll(p, unit, establishment_type="institutional", funding=funding, status=status)
        if n == 1 and funding == "budget" and status == "paid":
            t.f.payroll(p, home, establishment_type="institutional", funding="budget")
        budget = funding == "budget" and status == "paid"
        found = {"FUNDING_MISMATCH"} if budget else set()
        return found | (also("DUPLICATE_PAYROLL", n) if status == "paid" else set())

    return build


class TestFundingMismatch:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, paid_by_self_funded("budget"), 1)
        expected |= scenarios(town, paid_by_self_funded("self_funded"), 2)
        expected |= scenarios(town, paid_by_self_funded("budget", status="suspended"), 3)
        check(town, reconcile(), expected)


# --- NAME_MISMATCH -----------------------------------------------------------------------------


def names_in_n_units(dataset: str, last_name: str) -> Callable[[Town, str, int], set[str]]:
    """Consistent in the first organ; records of ``dataset`` in n organs, the last named
    ``last_name``."""

    def build(t: Town, p: str, n: int) -> set[str]:
        t.f.consistent(p, t.organs[0])
        add = t.f.employment if dataset == "employment" else t.f.cadre
        for k, unit in enumerate(t.organs[:n]):
            add(p, unit, name=last_name if k == n - 1 else "张 三")
        return {"NAME_MISMATCH"} if last_name == "张叁" else set()

    return build


class TestNameMismatch:
    def test_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        expected = scenarios(town, names_in_n_units("employment", "张叁"), 1)
        expected |= scenarios(town, names_in_n_units("cadres", "张叁"), 2)
        expected |= scenarios(town, names_in_n_units("employment", "张　三"), 3)
        expected |= scenarios(town, names_in_n_units("cadres", "张三"), 4)
        result = reconcile()
        check(town, result, expected)
        for n in N:
            assert town.departments(result, "NAME_MISMATCH", pid(1, n)) == (
                ",establishment,hr,finance,"
            )
            assert town.departments(result, "NAME_MISMATCH", pid(2, n)) == (
                ",establishment,organization,hr,finance,"
            )


# --- the unit rules, counted over persons in several units ------------------------------------


def fresh_units(first: int, count: int) -> list[str]:
    return [unit_code(first + k, kind="11") for k in range(count)]


class TestOverQuota:
    def test_persons_on_one_two_three_rosters(self, town: Town, reconcile: Reconcile) -> None:
        over: set[str] = set()
        for n in N:
            full, at = fresh_units(40 + 10 * n, n), fresh_units(45 + 10 * n, n)
            for unit in full + at:
                town.f.unit(unit)
                town.f.quota(unit, "worker", 1)
                town.f.roster(pid(1, n), unit, establishment_type="worker")
            for unit in full:
                town.f.roster(pid(2, n), unit, establishment_type="worker")
            over |= set(full)
        result = reconcile()
        found = result.live("OVER_QUOTA")
        assert {f.unit_code for f in found} == over
        assert {f.establishment_type for f in found} == {"worker"}


class TestOverLeaderPosts:
    def test_leaders_in_one_two_three_units(self, town: Town, reconcile: Reconcile) -> None:
        over: set[str] = set()
        for n in N:
            full, at = fresh_units(40 + 10 * n, n), fresh_units(45 + 10 * n, n)
            for unit in full + at:
                town.f.unit(unit)
                town.f.leader_posts(unit, "deputy", 1)
                town.f.leader_posts(unit, "principal", 1)
                town.f.cadre(pid(1, n), unit, leader_level="deputy")
            for unit in full:
                town.f.cadre(pid(2, n), unit, leader_level="deputy")
                town.f.cadre(
                    pid(3, n), unit, leader_level="deputy", status="removed", removed_on=BEFORE
                )
            over |= set(full)
        found = reconcile().live("OVER_LEADER_POSTS")
        assert {f.unit_code for f in found} == over
        assert {f.level for f in found} == {"deputy"}


class TestOverInternalUnits:
    def test_a_tree_three_levels_deep(self, town: Town, reconcile: Reconcile) -> None:
        # Decision: a unit's internal units are its direct children; grandchildren count for
        # their own parent, not for the root.
        root, c1, c2, g1, g2, g3, g4 = fresh_units(70, 7)
        town.f.unit(root, internal_unit_limit=2)
        town.f.unit(c1, parent=root, internal_unit_limit=1)
        town.f.unit(c2, parent=root, internal_unit_limit=2)
        for child, parent in ((g1, c1), (g2, c1), (g3, c2), (g4, c2)):
            town.f.unit(child, parent=parent)
        for n in N:  # persons in one, two and three units of the tree change nothing
            for unit in (g1, g2, g3)[:n]:
                town.f.consistent(pid(1, n), unit)
        result = reconcile()
        assert {f.unit_code for f in result.live("OVER_INTERNAL_UNITS")} == {c1}


class TestUnregisteredUnit:
    def test_persons_in_one_two_three_unregistered_units(
        self, town: Town, reconcile: Reconcile
    ) -> None:
        named: set[str] = set()
        for n in N:
            active, inactive = fresh_units(80 + 10 * n, n), fresh_units(85 + 10 * n, n)
            for unit in active:  # never registered
                town.f.roster(pid(1, n), unit)
                town.f.employment(pid(1, n), unit)
                town.f.payroll(pid(1, n), unit)
                town.f.cadre(pid(1, n), unit)
            for unit in inactive:
                town.f.roster(pid(2, n), unit, status="exited", exited_on=BEFORE)
                town.f.employment(pid(2, n), unit, status="retired", status_on=BEFORE)
                town.f.cadre(pid(2, n), unit, status="removed", removed_on=BEFORE)
                town.f.payroll(pid(2, n), unit, status="suspended")
            named |= set(active)
        found = reconcile().live("UNREGISTERED_UNIT")
        assert {f.unit_code for f in found} == named
        assert {f.departments for f in found} == {",establishment,organization,hr,finance,"}


class TestPredicates:
    def test_no_predicate_tests_a_count_of_units_for_exactly_one(self) -> None:
        texts = [r.predicate for r in queries.PERSON_RULES.values()]
        texts += [queries.ACTIVE_DEPARTMENTS, queries.ANY_DEPARTMENTS, queries.ACTIVE_COUNT]
        for text in texts:
            assert not re.search(r"p\.\w+\s*=\s*1\b", text), text
        assert re.search(r"CASE WHEN p\.c_act > 0", queries.ACTIVE_COUNT)

    def test_every_person_rule_says_how_it_reads_domain_md(self) -> None:
        assert all(len(r.doc) > 40 for r in queries.PERSON_RULES.values())
