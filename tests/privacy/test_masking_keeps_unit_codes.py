"""mask=true (or LINKAGE_MASK_EXPORTS) now runs every text field of a discrepancy row through
mask_id_numbers_in, the summaries included. A summary quotes unit codes (OVER_QUOTA: "单位
<code> ..."), and a unified social credit code whose first 15+ characters are digits (common:
an organisation code of digits) is "masked" as if it were an ID number."""

from __future__ import annotations

from fastapi.testclient import TestClient

from linkage_hub.identifiers import uscc_check_char
from tests.conftest import HeadersFor
from tests.reconciliation.test_api import run_and_wait
from tests.records import factory as f
from tests.records.conftest import Push, push  # noqa: F401

BODY = "12230100400000123"  # 统一社会信用代码: 12 + 230100 + an organisation code of digits
CODE = BODY + uscc_check_char(BODY)


def test_a_masked_discrepancy_report_keeps_the_unit_code_in_the_summary(
    push: Push,  # noqa: F811
    client: TestClient,
    headers_for: HeadersFor,
) -> None:
    """Should: a masked report masks ID numbers only; the unit's code, shown in full in the
    unit_code column, is shown in full in the summary too. Does: the summary reads
    "单位 122301********123X ..." (the code cut to look like a masked ID number)."""
    unit = {**f.unit(1, kind="organ"), "unit_code": CODE}
    assert push("units", [unit]).status_code == 201
    quota = {
        "unit_code": CODE,
        "establishment_type": "administrative",
        "approved": 1,
        "document_no": "哈编〔2026〕1号",
        "effective_on": "2026-01-01",
    }
    assert push("quotas", [quota]).status_code == 201
    roster = [
        {**f.roster(n, establishment_type="administrative"), "unit_code": CODE} for n in (1, 2)
    ]
    assert push("roster", roster).status_code == 201
    run = run_and_wait(client, headers_for("establishment", "230100"))
    assert run["status"] == "succeeded", run
    office = headers_for("establishment", "230100")
    plain = client.get(
        "/api/v1/reports/discrepancies", params={"rule": "OVER_QUOTA"}, headers=office
    )
    [row] = plain.json()["items"]
    assert CODE in row["summary_zh"], row
    masked = client.get(
        "/api/v1/reports/discrepancies",
        params={"rule": "OVER_QUOTA", "mask": "true"},
        headers=office,
    )
    assert masked.status_code == 200, masked.text
    [row] = masked.json()["items"]
    assert row["unit_code"] == CODE
    assert CODE in row["summary_zh"], row["summary_zh"]
    assert CODE in row["summary_en"], row["summary_en"]
