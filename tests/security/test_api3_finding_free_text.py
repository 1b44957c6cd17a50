"""API3: no ID number kept from what a person typed about a finding.

An ID number lives only in the encrypted columns. A transition's reason and document number and
a comment's body were masked in the audit entry alone (test_api3_audit_free_text.py): the
finding's history, its thread, the ``finding.transitioned`` webhook payload and a meeting's
minutes number copied into the history all kept it in clear. The text is now masked as it
enters (``2301**********1234``), the rest of it kept as typed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.outbox.models import OutboxEvent
from tests.conftest import hub_today
from tests.security.regions import CITY, CITYWIDE, SPREAD, Regions


def detail(regions: Regions, finding_id: str) -> dict[str, Any]:
    response = regions.get(f"/api/v1/discrepancies/{finding_id}", "audit", CITY)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def queued(database: Database, finding_id: str) -> dict[str, dict[str, Any]]:
    """The outbox events of the finding (what the webhooks deliver), by type."""
    with database.transaction() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.finding_id == finding_id))
        return {row.type: row.data for row in rows}


class TestTypedIdNumbersAreMaskedAsTheyEnter:
    def test_a_comment_and_a_waiver(self, regions: Regions, database: Database) -> None:
        finding = regions.finding("DUPLICATE_PAYROLL", SPREAD)
        office = regions.headers_for("establishment", CITY)
        masked = mask_citizen_id(SPREAD)
        url = f"/api/v1/discrepancies/{finding['id']}"
        commented = regions.client.post(
            f"{url}/comments", json={"body": f"请核实 {SPREAD} 的借调文件"}, headers=office
        )
        assert commented.status_code == 201, commented.text
        assert commented.json()["body"] == f"请核实 {masked} 的借调文件"
        waived = regions.client.post(
            f"{url}/transitions",
            json={
                "to": "waived",
                "reason": f"经核实，{SPREAD} 系借调人员",
                "document_no": f"哈编〔2026〕7号（{SPREAD}）",
            },
            headers=office,
        )
        assert waived.status_code == 200, waived.text

        shown = detail(regions, finding["id"])
        said = json.dumps([shown["history"], shown["comments"]], ensure_ascii=False)
        assert SPREAD not in said
        assert [c["body"] for c in shown["comments"]] == [f"请核实 {masked} 的借调文件"]
        [change] = [h for h in shown["history"] if h["to"] == "waived"]
        assert change["reason"] == f"经核实，{masked} 系借调人员"
        assert change["document_no"] == f"哈编〔2026〕7号（{masked}）"

        events = queued(database, finding["id"])
        assert {"finding.commented", "finding.transitioned"} <= set(events)
        assert SPREAD not in json.dumps(events, ensure_ascii=False)
        assert events["finding.transitioned"]["document_no"] == f"哈编〔2026〕7号（{masked}）"

    def test_a_meeting_minutes_number_in_the_history(
        self, regions: Regions, database: Database
    ) -> None:
        finding = regions.finding("DUPLICATE_PAYROLL", CITYWIDE)
        office = regions.headers_for("establishment", finding["region"])
        meeting = regions.client.post(
            "/api/v1/meetings",
            json={
                "region": finding["region"],
                "held_on": hub_today().isoformat(),
                "title": "联席会议",
                "minutes_no": f"联席〔2026〕{CITYWIDE}号",
                "departments": ["finance"],
                "finding_ids": [finding["id"]],
            },
            headers=office,
        )
        assert meeting.status_code == 201, meeting.text
        decision = {"finding_id": finding["id"], "to": "waived", "reason": f"{CITYWIDE} 借调"}
        decided = regions.client.post(
            f"/api/v1/meetings/{meeting.json()['id']}/decisions",
            json={"decisions": [decision]},
            headers=office,
        )
        assert decided.status_code == 200, decided.text
        masked = mask_citizen_id(CITYWIDE)
        assert meeting.json()["minutes_no"] == f"联席〔2026〕{masked}号"

        [change] = [h for h in detail(regions, finding["id"])["history"] if h["to"] == "waived"]
        assert change["document_no"] == f"联席〔2026〕{masked}号"
        assert change["reason"] == f"{masked} 借调"
        transitioned = queued(database, finding["id"])["finding.transitioned"]
        assert CITYWIDE not in json.dumps(transitioned, ensure_ascii=False)
        assert transitioned["document_no"] == f"联席〔2026〕{masked}号"


def grouped(number: str, sep: str) -> str:
    return f"{number[:6]}{sep}{number[6:14]}{sep}{number[14:]}"


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit() or c in "Xx")


class TestNumbersInWidelySeparatedGroups:
    """A number typed in groups with two spaces (as people align numbers, or a word processor
    justifies them) or `` - `` between them: the masking took one separator between two digits
    only, so these were kept whole in the thread, the history, the audit log, the webhook
    payload and the access log (found by a review, 2026-12-06)."""

    @pytest.mark.parametrize(
        "sep",
        # five spaces (a justified line) and the separators the masking did not know: a soft
        # hyphen, a point, a slash, the full-width comma (found by a review, 2026-12-07)
        ["  ", " - ", "     ", "\u00ad", ".", "/", "\uff0c"],
        ids=[
            "two-spaces",
            "spaced-hyphen",
            "five-spaces",
            "soft-hyphen",
            "point",
            "slash",
            "fw-comma",
        ],
    )
    def test_a_comment_and_a_waiver(self, regions: Regions, database: Database, sep: str) -> None:
        finding = regions.finding("DUPLICATE_PAYROLL", SPREAD)
        office = regions.headers_for("establishment", CITY)
        typed = grouped(SPREAD, sep)
        url = f"/api/v1/discrepancies/{finding['id']}"
        commented = regions.client.post(
            f"{url}/comments", json={"body": f"请核实 {typed} 的借调文件"}, headers=office
        )
        assert commented.status_code == 201, commented.text
        assert commented.json()["body"] == f"请核实 {mask_citizen_id(SPREAD)} 的借调文件"
        waived = regions.client.post(
            f"{url}/transitions",
            json={"to": "waived", "reason": f"经核实，{typed} 系借调人员", "document_no": typed},
            headers=office,
        )
        assert waived.status_code == 200, waived.text

        shown = detail(regions, finding["id"])
        log = regions.get("/api/v1/audit-log", "audit", CITY, limit=1000).json()["items"]
        places = {
            "history": json.dumps(shown["history"], ensure_ascii=False),
            "comments": json.dumps(shown["comments"], ensure_ascii=False),
            "audit-log": json.dumps([e["detail"] for e in log], ensure_ascii=False),
            "webhook": json.dumps(queued(database, finding["id"]), ensure_ascii=False),
        }
        assert [where for where, text in places.items() if SPREAD in digits_of(text)] == []

    def test_a_query_in_the_access_log(
        self, regions: Regions, caplog: pytest.LogCaptureFixture
    ) -> None:
        typed = grouped(SPREAD, "  ")  # sent as 110105++19491231++002X
        response = regions.get("/api/v1/datasets/roster/records", "audit", CITY, id_number=typed)
        assert response.status_code in (200, 422), response.text
        lines = [f"{r.getMessage()} {getattr(r, 'target', '')}" for r in caplog.records]
        assert [line for line in lines if SPREAD in digits_of(line)] == []
