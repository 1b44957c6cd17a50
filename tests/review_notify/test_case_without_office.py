"""12310: a report about a county the hub serves only through its city lands where no one can
work it.

cases.service.file_report takes a report when its region "or its city" holds units or records,
and makes the reported region the handling region. For a county with nothing in the hub (no
units, no records - so no county office using it), the city office sees the case (supervision)
but every step is 403 ("Only the establishment office handling the case may work it": handles()
wants principal.region == handler_region), and nobody can accept, refuse, assign or close it:
the case goes overdue forever while the reporter is told it was received."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linkage_hub.cases.models import Case
from linkage_hub.db import Database
from tests.conftest import HeadersFor

CITY = "230100"
EMPTY_COUNTY = "230105"  # under the served city; the hub holds nothing of it

pytestmark = pytest.mark.usefixtures("province_served")


def test_a_report_of_a_county_without_an_office_can_be_worked_by_the_city(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    filed = client.post(
        "/public/v1/reports",
        json={"category": "ghost_pay", "region": EMPTY_COUNTY, "facts": "某单位有人吃空饷。"},
    )
    if filed.status_code == 422:
        return  # refused at the door: the reporter is told, nothing is lost
    assert filed.status_code == 201, filed.text
    with database.transaction() as session:
        cid = session.scalar(
            select(Case.id).where(Case.tracking_code == filed.json()["tracking_code"])
        )
    city = headers_for("establishment", CITY)
    assert client.get(f"/api/v1/cases/{cid}", headers=city).status_code == 200  # it sees it
    step = client.post(f"/api/v1/cases/{cid}/transitions", json={"to": "accepted"}, headers=city)
    assert step.status_code != 403, "the only office that sees the case may not work it"
