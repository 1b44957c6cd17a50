"""A CSV batch is read row by row, but a row has no bound on its cells: a data row of 4 MB of
commas becomes a list of four million cells (8 bytes each at least) before it is refused for
its width. The header row is guarded against exactly this (``MAX_CSV_COLUMNS``: "a megabyte
of commas would be a million of them"); the data rows are not."""

from __future__ import annotations

import tracemalloc

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.review_capacity.test_ndjson_line_memory import BODY_BYTES, ROSTER, in_process  # noqa: F401


def test_a_csv_row_of_commas_is_not_built_into_millions_of_cells(
    in_process: TestClient,  # noqa: F811
    headers_for: HeadersFor,
) -> None:
    """Should: a row wider than the header (or than any dataset, 200 cells) is refused as
    one error without building every cell, so a 4 MB body costs at most a few times 4 MB.
    Does: ``parsing.csv_rows`` lets ``csv.reader`` build the whole row (4 million cells) and
    only then compares its width: the traced peak is ~41 MiB, ten times the body, and grows
    with the row up to the 512 MB batch cap."""
    headers = {**headers_for("establishment"), "content-type": "text/csv"}
    body = b"id_number,unit_code,name\n" + b"," * BODY_BYTES + b"\n"
    in_process.get("/api/v1/datasets/roster/records", headers=headers)  # warm up
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        answer = in_process.post(
            ROSTER, params={"mode": "upsert", "region": "230100"}, content=body, headers=headers
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code in (413, 422), answer.text[:300]
    assert peak < 4 * len(body), f"peak {peak / 2**20:.0f} MiB for a {len(body) / 2**20:.0f} MiB body"
