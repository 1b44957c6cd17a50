"""ID numbers never in error bodies or logs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f


def test_unknown_dataset_segment_is_not_echoed(
    client: TestClient, headers_for: HeadersFor, capsys: pytest.CaptureFixture[str]
) -> None:
    """A department system that puts the person's ID number in the wrong path segment (or a
    URL template filled in the wrong order) gets a 404 that repeats the number in `detail`."""
    number = f.id_number(7)
    answer = client.get(f"/api/v1/datasets/{number}/records", headers=headers_for("hr"))
    assert answer.status_code == 404
    assert number not in answer.text
    assert number[:17] not in answer.text
