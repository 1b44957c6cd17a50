"""API3: an ID number typed into a subscription's description.

Every free-text field of a request (a comment, a reason, a document or minutes number, a
meeting's title) is ``inputs.CleanText``: an ID number typed in it is masked as it enters ("An
ID number lives only in the encrypted columns"). A subscription's ``description`` was a plain
``str``: the number was stored in clear and answered back in full by ``GET
/api/v1/subscriptions`` and the subscription's PATCH; now it is masked as it enters, typed in
groups too (found by a review, 2026-12-06).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linkage_hub.identifiers import mask_citizen_id
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings
from tests.records import factory as f

NUMBER = f.id_number(5)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return make_settings(
        settings.database_url or "", settings.data_dir, webhook_allow_hosts=["127.0.0.1"]
    )


def test_an_id_number_in_the_description_is_masked(
    client: TestClient, headers_for: HeadersFor
) -> None:
    headers = headers_for("finance", "230100")
    made = client.post(
        "/api/v1/subscriptions",
        json={
            "url": "http://127.0.0.1:9/hub",
            "events": ["finding.opened"],
            "description": f"通知张三（{NUMBER}）的核查系统",
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["description"] == f"通知张三（{mask_citizen_id(NUMBER)}）的核查系统"
    grouped = f"{NUMBER[:6]} {NUMBER[6:14]} {NUMBER[14:]}"
    changed = client.patch(
        f"/api/v1/subscriptions/{made.json()['id']}",
        json={"description": f"改由 {grouped} 接收"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == f"改由 {mask_citizen_id(NUMBER)} 接收"
    listed = client.get("/api/v1/subscriptions", headers=headers)
    assert NUMBER not in made.text + changed.text + listed.text
