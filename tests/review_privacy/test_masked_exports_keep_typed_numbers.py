"""``mask=true`` (and ``LINKAGE_MASK_EXPORTS``) masks the ``id_number`` fields only.

A list or report asked for masked is one that "circulates beyond the departments" (privacy/
masking.py). The console learnt that an ID number a department's system writes into a
record's free text (a cadre's 职务 ``position``, a roster line's 控编单编号 ``quota_notice_no``)
must be masked too (tests/security/test_console_masking.py), but ``privacy.masking.mask_record``
masks only ``id_number`` / ``id_number_given``: the masked record list and the masked tenure
report download carry the number in full.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push

OTHER = f.id_number(77)  # another person's number, typed into the record's free text


def test_a_masked_record_list_masks_numbers_in_free_text(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """Should: with ``mask=true`` no full ID number is in the answer.
    Does: the cadre's ``position`` and the roster line's ``quota_notice_no`` hold one."""
    assert push("cadres", [f.cadre(1, position=f"借调人员（原 {OTHER} 岗位）")]).status_code == 201
    assert push("roster", [f.roster(1, quota_notice_no=f"控编{OTHER}")]).status_code == 201
    for dataset in ("cadres", "roster"):
        listed = client.get(
            f"/api/v1/datasets/{dataset}/records",
            params={"mask": "true"},
            headers=headers_for("audit", "230100"),
        )
        assert listed.status_code == 200, listed.text
        assert f.id_number(1) not in listed.text  # the id_number field is masked...
        assert OTHER not in listed.text, f"{dataset}: a typed ID number in a masked list"


def test_a_masked_tenure_download_masks_the_position(
    push: Push, client: TestClient, headers_for: HeadersFor
) -> None:
    """Should: the tenure report with ``mask=true`` holds no full ID number.
    Does: the leader's ``position`` is written as pushed, number and all."""
    leader = f.cadre(
        1, position=f"局长（{OTHER} 代）", leader_level="principal", appointed_on="2025-01-01"
    )
    assert push("cadres", [leader]).status_code == 201
    for fmt in ("json", "csv"):
        report = client.get(
            "/api/v1/reports/tenure",
            params={
                "id_number": f.id_number(1),
                "unit_code": f.unit_code(1),
                "mask": "true",
                "format": fmt,
            },
            headers=headers_for("audit", "230100"),
        )
        assert report.status_code == 200, report.text
        text = report.content.decode("utf-8-sig")
        assert f.id_number(1) not in text  # the leader's own number is masked...
        assert OTHER not in text, f"{fmt}: a typed ID number in a masked download"
