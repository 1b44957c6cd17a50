"""The tenure report refuses a tenure whose start lies after its end (422 ``order`` on
``from``) only when both ends are given. With one end given and the other defaulted from the
cadre record (``from`` = appointed_on, ``to`` = removed_on or today), an inverted tenure is a
200 whose body says ``"from": "2026-03-01", "to": "2026-02-01"`` with no months: an audit file
stating the leader was in office for a negative span instead of a refusal."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
from tests.records import factory as f
from tests.reports.conftest import U1


def test_a_to_before_the_appointment_is_refused_as_from_after_to(
    unit: None, client: TestClient, headers_for: HeadersFor
) -> None:
    # Person 1 was appointed principal on 2026-03-01 (tests/reports/conftest.py).
    for params in ({"to": "2026-02-01"}, {"from": "2999-01-01"}):
        response = client.get(
            "/api/v1/reports/tenure",
            params={"id_number": f.id_number(1), "unit_code": U1, **params},
            headers=headers_for("audit"),
        )
        assert response.status_code == 422, (params, response.text[:300])
        assert response.json()["errors"][0]["field"] in ("from", "to")
