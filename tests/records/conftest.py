"""Helpers for the datasets tests: push a batch as a department, read it back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from linkage_hub.records import ingest, queries
from tests.conftest import HeadersFor

OWNER = {
    "units": "establishment",
    "quotas": "establishment",
    "leader_posts": "establishment",
    "roster": "establishment",
    "cadres": "organization",
    "employment": "hr",
    "payroll": "finance",
}

Push = Callable[..., Response]


@pytest.fixture
def push(client: TestClient, headers_for: HeadersFor) -> Push:
    """``push(dataset, records, deletes=None, mode=None, scope=None, as_=..., region=...)``."""

    def do(
        dataset: str,
        records: list[dict[str, Any]],
        *,
        deletes: list[dict[str, Any]] | None = None,
        mode: str | None = None,
        scope: dict[str, Any] | None = None,
        as_: str | None = None,
        region: str = "230100",
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Response:
        body: dict[str, Any] = {"records": records}
        if deletes is not None:
            body["deletes"] = deletes
        if mode is not None:
            body["mode"] = mode
        if scope is not None:
            body["scope"] = scope
        return client.post(
            f"/api/v1/datasets/{dataset}/batches",
            content=json.dumps(body, ensure_ascii=False),
            headers={
                **headers_for(as_ or OWNER[dataset], region),
                "content-type": "application/json",
                **(headers or {}),
            },
            params=params,
        )

    return do


Read = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def read(client: TestClient, headers_for: HeadersFor) -> Read:
    """All records of a dataset (following cursors) as ``department`` in ``region``."""

    def do(
        dataset: str, department: str = "audit", region: str = "230100", **params: Any
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            response = client.get(
                f"/api/v1/datasets/{dataset}/records",
                params=query,
                headers=headers_for(department, region),
            )
            assert response.status_code == 200, response.text
            body = response.json()
            items.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return items

    return do


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Lower the bulk-load threshold to one row; record what each defer_indexes answered."""
    monkeypatch.setattr(ingest, "BULK_LOAD_ROWS", 1)
    answers: list[bool] = []
    original = queries.defer_indexes

    def spy(*args: Any) -> bool:
        answers.append(original(*args))
        return answers[-1]

    monkeypatch.setattr(queries, "defer_indexes", spy)
    return answers


@pytest.fixture
def direct(deferred: list[bool], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Also copy any NDJSON/CSV body straight into an empty table. The batch ids of the
    loads that did."""
    monkeypatch.setattr(ingest, "DIRECT_LOAD_BYTES", 0)
    loads: list[str] = []
    original = queries.direct_stage_view

    def spy(session: Any, spec: Any, batch_id: str) -> None:
        loads.append(batch_id)
        original(session, spec, batch_id)

    monkeypatch.setattr(queries, "direct_stage_view", spy)
    return loads
