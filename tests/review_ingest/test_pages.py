"""Pagination while writes happen between pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push


def test_record_updated_between_pages_is_not_listed_twice(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    assert push("roster", [f.roster(i) for i in range(1, 5)]).status_code == 201
    url = "/api/v1/datasets/roster/records"
    first = client.get(url, params={"limit": 2}, headers=headers_for("hr")).json()
    seen = [r["record_key"] for r in first["items"]]
    # the first record shown is updated before the second page is read
    changed = f.roster(1, name="张一")
    assert push("roster", [changed]).status_code == 201
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(
            url, params={"limit": 2, "cursor": cursor}, headers=headers_for("hr")
        ).json()
        seen += [r["record_key"] for r in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 4, seen
