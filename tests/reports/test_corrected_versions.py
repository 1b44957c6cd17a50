"""A corrected quota: the version recorded last of those in force on a day is the one shown
(:func:`linkage_hub.validtime.effective_version`), by the reports and the public disclosure."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

U1 = f.unit_code(1)


def quota(approved: int, effective_on: str, doc: str = "哈编〔2026〕1号") -> dict[str, Any]:
    return {
        "unit_code": U1,
        "establishment_type": "institutional",
        "approved": approved,
        "document_no": doc,
        "effective_on": effective_on,
    }


def unit_one(client: TestClient, headers: dict[str, str], as_of: str) -> tuple[int, int]:
    response = client.get("/api/v1/reports/staffing", params={"as_of": as_of}, headers=headers)
    assert response.status_code == 200, response.text
    row = next(r for r in response.json()["items"] if r["unit_code"] == U1)
    return row["approved"], row["on_roster"]


def test_the_staffing_report_shows_the_correction(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """The office pushes quota 8 effective 2026-06-01 (a typo: the approval, 哈编〔2026〕5号,
    is for 5 and took effect on 2026-02-01) and corrects the record. The current record now
    says 5 since 2026-02-01, and so does reconciliation; the staffing report still picks the
    withdrawn version for every day from 2026-06-01 on (it preferred the version with the
    latest effective_on over the later-recorded one)."""
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("quotas", [quota(8, "2026-06-01")]).status_code == 201
    assert push("quotas", [quota(5, "2026-02-01", "哈编〔2026〕5号")]).status_code == 201
    assert push("roster", [f.roster(n) for n in (1, 2, 3, 4, 5, 6)]).status_code == 201
    audit = headers_for("audit")
    assert unit_one(client, audit, "2026-03-01") == (5, 6)
    # the record as it stands: 5 approved since 2026-02-01
    assert unit_one(client, audit, "2026-10-31") == (5, 6)


def test_a_deleted_quota_is_not_in_force_again_when_the_record_is_pushed_anew(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """The office pushes quota 8 from 2026-01-01 by mistake and deletes the record: the
    staffing report of 2026-03-31 rightly shows approved 0. Later it approves 5 from
    2026-07-01 and pushes that. The auditor was then told that on 2026-03-31 the unit had 8
    approved: the push revived the record key, and every version before the delete counted
    again (found by the reports review of 2026-12-06)."""
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    assert push("quotas", [quota(8, "2026-01-01")]).status_code == 201
    audit = headers_for("audit")
    assert unit_one(client, audit, "2026-03-31") == (8, 1)
    gone = push("quotas", [], deletes=[{"unit_code": U1, "establishment_type": "institutional"}])
    assert gone.status_code == 201, gone.text
    assert unit_one(client, audit, "2026-03-31") == (0, 1)
    assert push("quotas", [quota(5, "2026-07-01", "哈编〔2026〕7号")]).status_code == 201
    assert unit_one(client, audit, "2026-08-31") == (5, 1)
    assert unit_one(client, audit, "2026-03-31") == (0, 1)
    # An update (not a delete) keeps the record's earlier versions: 5 corrected to 6 from
    # 2026-09-01 leaves 5 in force for August.
    assert push("quotas", [quota(6, "2026-09-01", "哈编〔2026〕9号")]).status_code == 201
    assert unit_one(client, audit, "2026-08-31") == (5, 1)
    assert unit_one(client, audit, "2026-09-30") == (6, 1)


def test_the_disclosure_publishes_the_correction(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """The same withdrawn version went to the public: the disclosure of today showed 8 places
    under the document number that the office corrected away (哈编〔2026〕1号)."""
    assert push("units", [f.unit(1)]).status_code == 201
    assert push("quotas", [quota(8, "2026-06-01")]).status_code == 201
    assert push("quotas", [quota(5, "2026-02-01", "哈编〔2026〕5号")]).status_code == 201
    assert push("roster", [f.roster(1)]).status_code == 201
    response = client.get(
        "/api/v1/disclosures/preview",
        params={"region": "230100"},
        headers=headers_for("establishment", "230100"),
    )
    assert response.status_code == 200, response.text
    unit = next(u for u in response.json()["units"] if u["unit_code"] == U1)
    quotas = [(q["approved"], q["document_no"]) for q in unit["quotas"]]
    assert quotas == [(5, "哈编〔2026〕5号")]
