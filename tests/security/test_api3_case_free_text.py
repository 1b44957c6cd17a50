"""API3: an ID number a 12310 office types into a case step's reason or the reply.

inputs.py: "An ID number a person types into free text (a comment, a reason, a document or
minutes number) is masked as it enters ... it lives only in the encrypted columns, never in clear
in what the text is copied into." Finding transitions, comments and meeting decisions use
``CleanText``; the case transition body (cases/schemas.py ``TransitionIn``) does not, so the
number is stored in clear and handed in clear to audit and to the supervising office."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.cases.models import Case, CaseStep
from linkage_hub.db import Database
from tests.conftest import HeadersFor

CITY = "230100"
ID = "11010519491231002X"

pytestmark = pytest.mark.usefixtures("province_served")


def _file(client: TestClient) -> str:
    response = client.post(
        "/public/v1/reports",
        json={"category": "ghost_pay", "region": CITY, "facts": "某单位有人长期不上班仍领工资。"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["tracking_code"])


def _case_id(database: Database, code: str) -> str:
    with database.transaction() as session:
        return str(session.scalar(select(Case.id).where(Case.tracking_code == code)))


def _step(client: TestClient, headers: dict[str, str], cid: str, **body: Any) -> Any:
    answer = client.post(f"/api/v1/cases/{cid}/transitions", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


def test_an_id_number_typed_into_a_case_reason_or_reply_is_masked_for_audit(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    cid = _case_id(database, _file(client))
    office = headers_for("establishment", CITY)
    _step(client, office, cid, to="accepted", reason=f"涉及人员身份证号 {ID}")
    _step(client, office, cid, to="in_progress", reason=f"核查 {ID} 的工资发放")
    _step(client, office, cid, to="extended", reason=f"需调取 {ID} 的财政数据")
    _step(client, office, cid, to="closed", reply=f"经核查，{ID} 已停发工资。")
    seen = client.get(f"/api/v1/cases/{cid}", headers=headers_for("audit", CITY))
    assert seen.status_code == 200, seen.text
    body = seen.json()
    clear = [k for k in ("reply", "extension_reason") if ID in (body[k] or "")]
    clear += [f"steps[{s['action']}].reason" for s in body["steps"] if ID in (s["reason"] or "")]
    assert clear == [], f"the office's typed ID number reaches audit in clear in {clear}"
    with database.transaction() as session:
        case = session.scalars(select(Case).where(Case.id == cid)).one()
        stored = [case.reply, case.extension_reason]
        stored += session.scalars(select(CaseStep.reason).where(CaseStep.case_id == cid)).all()
    assert [s for s in stored if s and ID in s] == [], "stored in clear"
