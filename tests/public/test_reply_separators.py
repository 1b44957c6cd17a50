"""The 12310 follow-up masks an ID number the office quoted in its reply (README: "as typed and
in groups ... now masked"). A number pasted from a WPS/Word document keeps its non-breaking
spaces or tabs between the groups, or a zero-width space: the follow-up page showed it in full
(found by a review, 2026-12-06); the masking knew only the ASCII space, the hyphen and the
ideographic space as separators. Now any space, dash or invisible joiner."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linkage_hub.db import Database
from tests.conftest import HeadersFor
from tests.public.conftest import CITY
from tests.public.test_cases import REPORT, case_id, file, follow, step

pytestmark = pytest.mark.usefixtures("province_served")
NUMBER = "230102198001010014"


@pytest.mark.parametrize("sep", ["\u00a0", "\t", "\u200b"], ids=["nbsp", "tab", "zwsp"])
def test_a_grouped_number_in_the_reply_is_masked(
    client: TestClient, headers_for: HeadersFor, database: Database, sep: str
) -> None:
    receipt = file(client, REPORT)
    office = headers_for("establishment", CITY)
    cid = case_id(database, receipt)
    assert step(client, office, cid, to="accepted").status_code == 200
    assert step(client, office, cid, to="in_progress").status_code == 200
    typed = f"经查，身份证号 230102{sep}19800101{sep}0014 的人员已清退。"
    closed = step(client, office, cid, to="closed", reply=typed)
    assert closed.status_code == 200, closed.text
    answer = follow(client, receipt)
    assert answer.status_code == 200
    digits = "".join(c for c in answer.json()["reply"] if c.isdigit())
    assert NUMBER not in digits, answer.json()["reply"]
    page = client.post(
        f"/public/12310/{receipt['tracking_code']}", data={"secret": receipt["secret"]}
    )
    assert page.status_code == 200
    assert NUMBER not in "".join(c for c in page.text if c.isdigit())
