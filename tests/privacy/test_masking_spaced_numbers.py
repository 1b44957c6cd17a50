"""mask=true promises "no full ID number anywhere" in a masked list (privacy/masking.py), and
this session widened the separators a number in groups may have (identifiers._ID_SPACED: up to
three). Numbers typed one digit per box, or with four spaces / " -- " between groups, still
come whole in a masked list."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.records.conftest import Push, push  # noqa: F401

OTHER = f.id_number(77)  # 230102198001010779-like: someone else's number typed into 职务


@pytest.mark.parametrize(
    "typed",
    [
        " ".join(OTHER),  # one digit per box, as printed forms have them
        f"{OTHER[:6]}    {OTHER[6:14]}    {OTHER[14:]}",  # four spaces to line numbers up
        f"{OTHER[:6]} -- {OTHER[6:14]} -- {OTHER[14:]}",
    ],
    ids=["digit-per-box", "four-spaces", "double-dash"],
)
def test_a_masked_list_masks_a_spaced_number_in_free_text(
    typed: str,
    push: Push,  # noqa: F811
    client: TestClient,
    headers_for: HeadersFor,
) -> None:
    """Should: GET /api/v1/datasets/cadres/records?mask=true shows no full ID number: the one
    typed into the cadre's position is masked. Does: it comes in clear (only its separators
    between), readable by anyone the masked list circulates to."""
    assert push("cadres", [f.cadre(1, position=f"借调（原 {typed} 岗位）")]).status_code == 201
    listed = client.get(
        "/api/v1/datasets/cadres/records",
        params={"mask": "true"},
        headers=headers_for("audit", "230100"),
    )
    assert listed.status_code == 200, listed.text
    [record] = listed.json()["items"]
    digits = "".join(c for c in record["position"] if c.isdigit() or c in "Xx")
    assert OTHER not in digits, record["position"]
