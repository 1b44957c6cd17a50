"""The change feed's only sign of "caught up" is an empty page; hidden changes must not fake it
(found by the sync-contract review of 2026-12-06)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from linkage_hub.records import feed
from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push


def _poll_until_empty(client: TestClient, headers: dict[str, str], since: str | None) -> Any:
    """What a follower does: poll with the last next_cursor until a page brings nothing (the
    feed's next_cursor is never null, so an empty page is the only end it can see)."""
    seen: list[tuple[str, int]] = []
    while True:
        query: dict[str, Any] = {"dataset": "payroll", "limit": 2}
        if since:
            query["since"] = since
        page = client.get("/api/v1/changes", params=query, headers=headers).json()
        since = page["next_cursor"]
        if not page["items"]:
            return seen, since
        seen += [(c["record"]["name"], c["version"]) for c in page["items"]]


@pytest.mark.parametrize("round_rows", [2, feed.ROUND_ROWS], ids=["rounds-of-2", "default"])
def test_a_page_of_pay_only_changes_does_not_end_the_hr_followers_poll(
    push: Push,
    client: TestClient,
    headers_for: HeadersFor,
    monkeypatch: pytest.MonkeyPatch,
    round_rows: int,
) -> None:
    """HR keeps a copy of payroll by polling ``/changes`` until a page is empty. Finance's
    monthly push raises the pay of two lines (no change to HR) and then renames a third
    person. HR's page of 2 holds the two pay-only rows, filtered out after the ``limit``
    was applied: an empty page with a cursor. HR's system takes it as "caught up" and
    goes to sleep with the rename committed and not in its copy; with a payroll of
    thousands of raises, each poll cycle advances one empty page at a time. (Rounds of 2
    rows: the page reads on past a whole round of hidden changes.)"""
    monkeypatch.setattr(feed, "ROUND_ROWS", round_rows)
    lines = [f.payroll(n) for n in (1, 2, 3)]
    assert push("payroll", lines, scope={"period": "2026-10"}).status_code == 201
    hr = headers_for("hr")
    first, cursor = _poll_until_empty(client, hr, None)
    assert len(first) == 3
    raised = [f.payroll(n, gross_pay="9999.00") for n in (1, 2)]
    assert push("payroll", raised, scope={"period": "2026-10"}).status_code == 201
    renamed = [f.payroll(3, name="李三")]
    assert push("payroll", renamed, scope={"period": "2026-10"}).status_code == 201
    seen, _ = _poll_until_empty(client, hr, cursor)
    assert seen == [("李三", 2)], "HR stopped at an empty page before the rename"
