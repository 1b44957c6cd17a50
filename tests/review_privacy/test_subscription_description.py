"""A subscription's ``description`` is free text a person types, but not ``CleanText``.

Every other free-text field of a request (a comment, a reason, a document or minutes
number, a meeting's title) is ``inputs.CleanText``: an ID number typed in it is masked as it
enters ("An ID number lives only in the encrypted columns"). ``notifications.schemas.
Description`` is a plain ``str`` with a NUL pattern: the ID number is stored in clear and
answered back in full by ``GET /api/v1/subscriptions`` (and the subscription's PATCH).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

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
    """Should: the description keeps the number masked (``2301**********xxxx``), as every
    other typed text does. Does: 201 with the number in full, and GET answers it again."""
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
    listed = client.get("/api/v1/subscriptions", headers=headers)
    assert NUMBER not in made.text and NUMBER not in listed.text
