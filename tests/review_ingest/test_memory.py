"""A batch body's members other than records and deletes: held whole in memory."""

from __future__ import annotations

import tracemalloc

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor


def test_unknown_members_are_not_all_held_in_memory(
    client: TestClient, headers_for: HeadersFor
) -> None:
    """A JSON batch is walked as a stream so that a body of hundreds of megabytes is never held
    whole, let alone blown up into Python objects. But every member other than `records` and
    `deletes` is decoded and kept (``JsonBatch.members``) until the whole body has been read,
    and only then are unknown members refused. A client sending `{"x0": [{},{},…], "x1": …}`
    (each member under the 1 MB window, the body under the 512 MB cap) makes the hub build
    ~20 bytes of Python objects per byte sent: 512 MB is ~10 GB, the process is killed.
    Here 8 MB of body must not cost more than 4 times its size in memory at once (it costs
    some 25 times)."""
    member = "[" + ",".join(["{}"] * 300_000) + "]"  # ~900 KB: under the reader's window
    body = "{" + ",".join(f'"x{i}": {member}' for i in range(9)) + ', "records": []}'
    headers = {**headers_for("establishment"), "content-type": "application/json"}
    tracemalloc.start()
    try:
        answer = client.post("/api/v1/datasets/roster/batches", content=body, headers=headers)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 422, answer.text
    assert peak < 4 * len(body), (peak, len(body))
