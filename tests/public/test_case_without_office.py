"""12310: a report about a county the hub serves only through its city lands where no one can
work it.

cases.service.file_report takes a report when its region "or its city" holds units or records,
and makes the reported region the handling region. For a county with nothing in the hub (no
units, no records - so no county office using it), the city office sees the case (supervision)
but every step is 403 ("Only the establishment office handling the case may work it": handles()
wants principal.region == handler_region), and nobody can accept, refuse, assign or close it:
the case goes overdue forever while the reporter is told it was received.

Now a case is worked by the establishment office of its handling region or, when the hub has no
active establishment client or console account there, by the nearest office above that has one
(the city, then the province), looked up at each step (cases.service.handling_office)."""

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
    assert filed.status_code == 201, filed.text  # taken: the city serves the county
    with database.transaction() as session:
        cid = session.scalar(
            select(Case.id).where(Case.tracking_code == filed.json()["tracking_code"])
        )
    city = headers_for("establishment", CITY)
    assert client.get(f"/api/v1/cases/{cid}", headers=city).status_code == 200  # it sees it
    step = client.post(f"/api/v1/cases/{cid}/transitions", json={"to": "accepted"}, headers=city)
    assert step.status_code != 403, "the only office that sees the case may not work it"


def test_the_city_works_it_until_the_county_office_joins_the_hub(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    city = headers_for("establishment", CITY)
    filed = client.post(
        "/public/v1/reports",
        json={
            "category": "ghost_pay",
            "region": EMPTY_COUNTY,
            "facts": "某单位有人吃空饷。",
            "contact": {"name": "王五", "phone": "13900000000"},
        },
    )
    assert filed.status_code == 201, filed.text
    with database.transaction() as session:
        cid = session.scalar(
            select(Case.id).where(Case.tracking_code == filed.json()["tracking_code"])
        )
    seen = client.get(f"/api/v1/cases/{cid}", headers=city).json()
    assert seen["contact"] == {"name": "王五", "phone": "13900000000"}  # the handler's
    step = client.post(f"/api/v1/cases/{cid}/transitions", json={"to": "accepted"}, headers=city)
    assert step.status_code == 200, step.text
    province = headers_for("establishment", "230000")
    above = client.post(
        f"/api/v1/cases/{cid}/transitions", json={"to": "in_progress"}, headers=province
    )
    assert above.status_code == 403  # the nearest office handles it, not every one above

    county = headers_for("establishment", EMPTY_COUNTY)  # the county's office joins
    taken = client.post(
        f"/api/v1/cases/{cid}/transitions", json={"to": "in_progress"}, headers=county
    )
    assert taken.status_code == 200, taken.text
    assert client.get(f"/api/v1/cases/{cid}", headers=city).json()["contact"] is None
    later = client.post(
        f"/api/v1/cases/{cid}/transitions",
        json={"to": "extended", "reason": "需核查"},
        headers=city,
    )
    assert later.status_code == 403
