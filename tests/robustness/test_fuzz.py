"""Bounded schemathesis run over every operation, as every department (SQLite only: the run
is about the HTTP contract, which does not depend on the database; PostgreSQL gets the fault and
concurrency tests). The long run with negative data is ``bench/fuzz.sh``."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linkage_hub.domain import Department
from tests.conftest import HeadersFor
from tests.robustness.fuzzing import fuzz


@pytest.fixture
def backend() -> str:
    return "sqlite"


def test_every_operation_holds_its_documented_contract(
    app: FastAPI, client: TestClient, headers_for: HeadersFor
) -> None:
    headers = {str(d): headers_for(d) for d in Department}
    report = fuzz(app, client, headers, max_examples=25)
    assert report.operations >= 27
    assert not report.failures, "\n\n".join(f"{k}:\n{v}" for k, v in report.failures.items())
