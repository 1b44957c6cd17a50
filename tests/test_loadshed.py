"""The admission rule of :mod:`linkage_hub.loadshed`, without HTTP (the HTTP behaviour:
tests/security/test_api4_load_shedding.py)."""

from __future__ import annotations

import pytest

from linkage_hub.loadshed import Admission


def fill(admission: Admission, caller: str, n: int) -> None:
    for _ in range(n):
        assert admission.admit(caller) is None


def test_one_caller_may_take_its_share_of_an_idle_process_and_no_more() -> None:
    admission = Admission(limit=10, share=0.5)
    fill(admission, "a", 5)
    assert admission.admit("a") == "share"
    assert admission.total == 5 and admission.held == {"a": 5}


def test_a_second_caller_finds_room_while_the_first_holds_its_share() -> None:
    admission = Admission(limit=10, share=0.5)
    fill(admission, "bulk", 5)
    fill(admission, "b", 5)  # half taken: an equal split among two is 5 each
    assert admission.admit("b") == "capacity"
    assert admission.admit("bulk") == "capacity"


def test_a_caller_holding_nothing_gets_in_at_capacity_while_the_reserve_lasts() -> None:
    # Two departments' reads fill the bound; a third's push is still admitted (one slot each
    # of the reserve, a quarter of the bound), and those already in flight are not.
    admission = Admission(limit=12, share=0.5)
    fill(admission, "audit", 6)
    fill(admission, "finance", 6)
    assert admission.reserve == 3
    fill(admission, "roster push", 1)
    assert admission.admit("roster push") == "capacity"  # one slot of the reserve each
    assert admission.admit("audit") == "capacity"
    fill(admission, "hr", 1)
    fill(admission, "console", 1)
    assert admission.total == 15
    assert admission.admit("cadres push") == "capacity"  # the reserve is spent
    admission.release("hr")
    assert admission.admit("cadres push") is None


def test_past_half_no_caller_holds_more_than_an_equal_split() -> None:
    admission = Admission(limit=12, share=0.5)
    fill(admission, "a", 4)
    fill(admission, "b", 1)
    fill(admission, "c", 1)
    # Half the slots are taken by three callers: 12 // 3 = 4 each, though the share allows 6.
    assert admission.admit("a") == "share"
    assert admission.admit("b") is None
    assert admission.admit("d") is None  # a newcomer: 12 // 4 = 3, it holds none


def test_an_idle_process_allows_the_share_and_a_busy_one_the_split() -> None:
    admission = Admission(limit=12, share=0.75)
    fill(admission, "a", 6)  # half taken
    assert admission.cap("a") == 9  # alone: its share of 12
    assert admission.cap("b") == 6  # with b in flight: 12 // 2
    fill(admission, "b", 2)
    assert admission.admit("a") == "share"
    assert admission.admit("b") is None


def test_release_gives_back_slots_and_forgets_idle_callers() -> None:
    admission = Admission(limit=4, share=1.0)
    fill(admission, "a", 2)
    fill(admission, "b", 2)
    fill(admission, "c", 1)  # the reserve's one slot
    assert admission.admit("d") == "capacity"
    admission.release("c")
    admission.release("a")
    admission.release("a")
    assert admission.held == {"b": 2} and admission.total == 2
    assert admission.admit("c") is None


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_tiny_limits_still_admit_one_request_per_caller(limit: int) -> None:
    admission = Admission(limit=limit, share=0.1)
    assert admission.admit("a") is None


def test_without_the_newcomers_reserve_the_bound_is_a_cap() -> None:
    # The public shield's use (linkage_hub.public.shield): an address holds its share of the
    # public slots, and at the bound a newcomer is refused too, so the cap on public work holds.
    admission = Admission(limit=8, share=0.5, newcomers_reserve=False)
    fill(admission, "address:a", 4)
    assert admission.admit("address:a") == "share"
    fill(admission, "address:b", 4)
    assert admission.admit("address:c") == "capacity"
    assert admission.total == 8
