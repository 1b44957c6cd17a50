"""API.md, Conventions: "Errors are RFC 9457 `application/problem+json`: `type`, `title`,
`status`, `detail` ... Every bad input gets a 4xx with the reason".

A request to a path the API does not have (a typo, an endpoint of a later version) and a method a
path does not take are answered with a problem that has no `detail`: the one member a
departmental system logs to tell its operator what went wrong is missing.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/dataset/roster/records"),  # "datasets" misspelt
        ("DELETE", "/api/v1/changes"),
        ("PUT", "/api/v1/datasets/roster/batches"),
    ],
)
def test_every_error_has_a_detail(
    client: TestClient, headers_for: HeadersFor, method: str, path: str
) -> None:
    answer = client.request(method, path, headers=headers_for("establishment"))
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    for member in ("type", "title", "status", "detail"):
        assert problem.get(member), (member, problem)
