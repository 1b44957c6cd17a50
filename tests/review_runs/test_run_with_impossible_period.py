"""A run of a payroll period the hub refuses to hold (later than next month) is accepted, and
it resolves live findings that the next ordinary run reopens.

The hub refuses payroll of a month later than next month (README, "A payroll period is never
later than next month ...: 2062-11 is a typo of 2026-11"; 422 code ``future``), and refuses a run
``as_of`` a later day because such a run "would file ... findings ..., and the next run would
resolve them: a history of findings that never were" (``runs.create_run``). A run's ``period``
gets no such check (``RunCreate._period`` only checks the YYYY-MM shape). A run of ``2062-11``
finds no pay at all: the pay rules are skipped, but the rules that also read pay lines
(UNIT_MISMATCH, NAME_MISMATCH, MIXED_ESTABLISHMENT, UNREGISTERED_UNIT) run on no pay and
resolve the findings the paid lines made — and no warning says anything went wrong
("A run must not succeed silently on a mistake", README).
"""

from __future__ import annotations

import time
from typing import Any

from tests.reconciliation.test_incremental import CITY, Hub, hub

__all__ = ["hub"]


def _wait(h: Hub, run_id: str) -> dict[str, Any]:
    for _ in range(400):
        r = h.client.get(
            f"/api/v1/reconciliation/runs/{run_id}", headers=h.headers_for("establishment", CITY)
        )
        body: dict[str, Any] = r.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("run did not finish")


def test_a_run_of_a_period_after_next_month_is_refused(hub: Hub) -> None:
    """Should: 422 naming `period` (code `future`), as for `as_of` and for payroll batches;
    nothing changes. Does: 202; the run succeeds with no warning and resolves live findings
    that only the typo made disappear (here a MIXED_ESTABLISHMENT finding of kind (b), roster
    type against a paid line; the next ordinary run reopens it)."""
    answer = hub.client.post(
        "/api/v1/reconciliation/runs",
        json={"region": CITY, "period": "2062-11"},  # a typo of 2026-11
        headers=hub.headers_for("establishment", CITY),
    )
    if answer.status_code == 202:
        run = _wait(hub, answer.json()["run_id"])
        resolved = {rule: c["resolved"] for rule, c in run["rules"].items() if c["resolved"]}
        raise AssertionError(
            f"accepted: run {run['status']}, warnings {run['warnings']}, resolved {resolved}"
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "period"
