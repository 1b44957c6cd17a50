"""Schemathesis over every operation of the hub, in-process (ASGI), as each department.

Shared by the bounded run in the test suite (``test_fuzz.py``) and the long run
(``bench/fuzz.sh``). The standard is the issue's: zero server errors and zero responses that
break the documented schema (status code, content type, headers, body). Checks that judge the
*input* side (e.g. "the API accepted data the schema calls invalid") are left out: the hub is
deliberately stricter than its schema in places (ID-number checksums, unit codes, dates).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class FuzzReport:
    operations: int = 0
    examples: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)


def _send(client: TestClient, case: Any, headers: Mapping[str, str]) -> httpx.Response:
    """Send a case through the caller's client (its lifespan already running), not schemathesis'
    own ASGI client, which starts a second lifespan on the same app and keeps it to exit."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=dict(headers))
    body = kwargs.pop("data", None)
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["data"] = body
    if not kwargs.get("cookies"):
        kwargs.pop("cookies", None)
    kwargs.pop("verify", None)
    kwargs.pop("allow_redirects", None)
    kwargs["follow_redirects"] = False
    return client.request(**kwargs)


def fuzz(
    app: FastAPI,
    client: TestClient,
    headers_by_department: Mapping[str, Mapping[str, str]],
    *,
    max_examples: int = 25,
    negative: bool = False,
    derandomize: bool = True,
    operation_ids: set[str] | None = None,
) -> FuzzReport:
    """Run every operation for ``max_examples`` cases per generation mode; collect failures.

    Each case is sent with the token of a department drawn by Hypothesis, so every
    department's view of every operation is exercised.
    """
    schema = schemathesis.openapi.from_dict(app.openapi())
    modes = [schemathesis.GenerationMode.POSITIVE]
    if negative:
        modes.append(schemathesis.GenerationMode.NEGATIVE)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        op_id = str(operation.definition.raw.get("operationId", operation.label))
        if operation_ids is not None and op_id not in operation_ids:
            continue
        report.operations += 1
        for mode in modes:
            try:
                report.examples += _run_operation(
                    report,
                    op_id,
                    operation,
                    mode,
                    client,
                    headers_by_department,
                    max_examples=max_examples,
                    derandomize=derandomize,
                )
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to generate in this mode (e.g. no parameter can be made invalid)
            except (Exception, BaseExceptionGroup) as exc:
                report.failures[f"{op_id} [{mode.value}]"] = f"{type(exc).__name__}: {exc}"[:4000]
    return report


def _run_operation(
    report: FuzzReport,
    op_id: str,
    operation: Any,
    mode: Any,
    client: TestClient,
    headers_by_department: Mapping[str, Mapping[str, str]],
    *,
    max_examples: int,
    derandomize: bool,
) -> int:
    """Run one operation in one generation mode; the number of examples sent."""
    sent = 0
    statuses = report.statuses.setdefault(op_id, Counter())

    @hypothesis.given(
        case=operation.as_strategy(generation_mode=mode),
        department=st.sampled_from(sorted(headers_by_department)),
    )
    @hypothesis.settings(
        max_examples=max_examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    def run(case: Any, department: str) -> None:
        nonlocal sent
        sent += 1
        response = _send(client, case, headers_by_department[department])
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()
    return sent
