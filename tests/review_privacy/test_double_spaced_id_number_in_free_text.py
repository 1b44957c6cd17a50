"""An ID number typed in groups with two spaces (or " - ") between them is kept in clear.

The hub masks an ID number typed into free text as it enters (``inputs.CleanText`` →
``identifiers.mask_id_numbers_in``), also "in groups" (``230102 19900101 1234``). But the
group separator is matched only once (``_ID_SPACED``: ``{_SEP}?`` between digits), so
``110105  19491231  002X`` (two spaces, as people align numbers or a word processor
justifies them) or ``110105 - 19491231 - 002X`` is not masked at all: it is stored in the
finding's history and thread, in the audit log (append-only, never purged) and in the
``finding.transitioned`` webhook payload, in full.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.outbox.models import OutboxEvent
from tests.security.regions import CITY, SPREAD, Regions


def grouped(number: str, sep: str) -> str:
    return f"{number[:6]}{sep}{number[6:14]}{sep}{number[14:]}"


def digits_only(text: str) -> str:
    return "".join(c for c in text if c.isdigit() or c in "Xx")


@pytest.mark.parametrize("sep", ["  ", " - "], ids=["two-spaces", "spaced-hyphen"])
def test_a_number_in_groups_with_wider_separators_is_masked(
    regions: Regions, database: Database, sep: str
) -> None:
    """Should: the reason, document number and comment keep the number masked everywhere.
    Does: history, comments, audit-log detail and the outbox (webhook) payload hold it whole."""
    finding = regions.finding("DUPLICATE_PAYROLL", SPREAD)
    office = regions.headers_for("establishment", CITY)
    typed = grouped(SPREAD, sep)
    url = f"/api/v1/discrepancies/{finding['id']}"
    commented = regions.client.post(
        f"{url}/comments", json={"body": f"请核实 {typed} 的借调文件"}, headers=office
    )
    assert commented.status_code == 201, commented.text
    waived = regions.client.post(
        f"{url}/transitions",
        json={"to": "waived", "reason": f"经核实，{typed} 系借调人员", "document_no": f"哈编{typed}"},
        headers=office,
    )
    assert waived.status_code == 200, waived.text

    shown = regions.get(url, "audit", CITY).json()
    log = regions.get("/api/v1/audit-log", "audit", CITY, limit=1000).json()["items"]
    with database.transaction() as session:
        events: list[Any] = [
            row.data
            for row in session.scalars(
                select(OutboxEvent).where(OutboxEvent.finding_id == finding["id"])
            )
        ]
    places = {
        "comment": commented.json()["body"],
        "history": json.dumps(shown["history"], ensure_ascii=False),
        "comments": json.dumps(shown["comments"], ensure_ascii=False),
        "audit-log": json.dumps([e["detail"] for e in log], ensure_ascii=False),
        "webhook": json.dumps(events, ensure_ascii=False),
    }
    leaked = sorted(where for where, text in places.items() if SPREAD in digits_only(text))
    assert leaked == [], f"the ID number is kept in clear in {leaked}"


def test_a_number_in_groups_with_two_spaces_in_a_query_is_masked_in_the_access_log(
    regions: Regions, caplog: pytest.LogCaptureFixture
) -> None:
    """Should: the access log's ``target`` masks the number (``observability.masked_target``
    decodes the query and masks it, as for ``230102+19800101+0073``). Does: a number typed
    with two spaces between its groups (``110105++19491231++002X``) is logged whole."""
    typed = grouped(SPREAD, "  ")
    response = regions.get("/api/v1/datasets/roster/records", "audit", CITY, id_number=typed)
    assert response.status_code in (200, 422), response.text
    lines = [r.getMessage() + " " + str(getattr(r, "target", "")) for r in caplog.records]
    assert not [line for line in lines if SPREAD in digits_only(line)], "logged in full"
