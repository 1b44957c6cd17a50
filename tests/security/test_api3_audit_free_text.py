"""API3: no ID number in the audit log's entries, not even one a person typed.

The log is append-only and never purged, and promises its detail holds "counts and codes; never
an ID number" (README "Who read whom"). Free text copied into an entry — a transition's reason
and document number, a meeting's minutes number and its decisions' reasons, a client's name — is
masked on the way in (``2301**********1234``), the rest of it kept as typed.
"""

from __future__ import annotations

from typing import Any

from linkage_hub.auth.service import create_client
from linkage_hub.db import Database
from linkage_hub.identifiers import mask_citizen_id
from tests.conftest import hub_today
from tests.security.regions import CITY, CITYWIDE, SPREAD, Regions

LOG = "/api/v1/audit-log"


def entries(regions: Regions, **params: Any) -> tuple[str, list[dict[str, Any]]]:
    """The province auditor's view (it sees every region), as text and as items."""
    regions.app.state.auth.recorder.flush()
    response = regions.get(LOG, "audit", "230000", limit=1000, **params)
    assert response.status_code == 200, response.text
    return response.text, response.json()["items"]


class TestTypedIdNumbersAreMasked:
    def test_a_waiver_quoting_an_id_number(self, regions: Regions) -> None:
        finding = regions.finding("DUPLICATE_PAYROLL", SPREAD)
        waived = regions.client.post(
            f"/api/v1/discrepancies/{finding['id']}/transitions",
            json={
                "to": "waived",
                "reason": f"经核实，{SPREAD} 系借调人员，两单位分段发放",
                "document_no": f"哈编〔2026〕7号（{SPREAD}）",
            },
            headers=regions.headers_for("establishment", CITY),
        )
        assert waived.status_code == 200, waived.text
        text, [entry] = entries(regions, action="finding.transition")
        assert entry["target_id"] == finding["id"]
        assert SPREAD not in text
        assert entry["detail"]["reason"] == (
            f"经核实，{mask_citizen_id(SPREAD)} 系借调人员，两单位分段发放"
        )
        assert entry["detail"]["document_no"] == f"哈编〔2026〕7号（{mask_citizen_id(SPREAD)}）"

    def test_a_meeting_minutes_number_and_decision_reason(self, regions: Regions) -> None:
        finding = regions.finding("DUPLICATE_PAYROLL", CITYWIDE)
        office = regions.headers_for("establishment", finding["region"])
        minutes = f"联席〔2026〕{CITYWIDE}号"
        meeting = regions.client.post(
            "/api/v1/meetings",
            json={
                "region": finding["region"],
                "held_on": hub_today().isoformat(),
                "title": "联席会议",
                "minutes_no": minutes,
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
        masked = f"联席〔2026〕{mask_citizen_id(CITYWIDE)}号"
        for action, field in (
            ("meeting.convene", "minutes_no"),
            ("meeting.decide", "minutes_no"),
            ("finding.transition", "document_no"),
        ):
            text, [entry] = entries(regions, action=action)
            assert CITYWIDE not in text, action
            assert entry["detail"][field] == masked, action
        assert entry["detail"]["reason"] == f"{mask_citizen_id(CITYWIDE)} 借调"

    def test_a_client_name(self, regions: Regions, database: Database) -> None:
        with database.transaction() as session:
            made = create_client(session, name=f"代办 {SPREAD}", department="finance", region=CITY)
        text, [entry] = entries(regions, client_id=made.client.client_id, action="client.create")
        assert SPREAD not in text
        assert entry["detail"]["name"] == f"代办 {mask_citizen_id(SPREAD)}"
