"""API1 across time: the person view's findings, and which auditors learn that they were read.

County A (230102) deleted its records of a person paid by A and by sibling county B (230103),
one ``DELETE /api/v1/datasets/{dataset}/records/{key}`` each, while the person's
``DUPLICATE_PAYROLL`` finding, filed under A, stays live until a run settles it. The city's
person view (``GET /api/v1/persons/{id_number}``, the console's person search and its "show")
then sends B's payroll line and A's finding: its rule, A's unit and summary. The read entry
(and the ``person.reveal`` entry) was filed under the regions of the records sent alone, so A's
auditor, who finds the city reading A's finding in the findings list
(``test_api1_cross_region_reads.py``), found nothing here. Now a person view files its read
under the regions of the findings it sends too, the person named to each region's auditor.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.console.conftest import ConsoleAs, console_as
from tests.security.regions import CITY, COUNTY, OTHER, SPREAD, Regions

__all__ = ["console_as"]

A, B = COUNTY, OTHER
REF = re.compile(r'name="ref" value="([^"]+)"')
OWNER = {"roster": "establishment", "payroll": "finance"}


def _delete_a_records(regions: Regions) -> None:
    """A closes the person's roster entry and payroll line, one single-record DELETE each."""
    for dataset, department in OWNER.items():
        headers = regions.headers_for(department, A)
        listed = regions.get(
            f"/api/v1/datasets/{dataset}/records", department, A, id_number=SPREAD
        ).json()["items"]
        assert listed, dataset
        for record in listed:
            gone = regions.client.delete(
                f"/api/v1/datasets/{dataset}/records/{record['record_key']}",
                headers={**headers, "If-Match": f'"v{record["version"]}"'},
            )
            assert gone.status_code == 204, gone.text


def _entries(
    regions: Regions, auditor: str, action: str, route: str | None
) -> list[dict[str, Any]]:
    """The city finance's entries naming the person that ``auditor`` finds (``route``: the
    read's route; None for a ``person.reveal``)."""
    regions.app.state.auth.recorder.flush()
    listed = regions.get(
        "/api/v1/audit-log", "audit", auditor, id_number=SPREAD, action=action, limit=1000
    )
    assert listed.status_code == 200, listed.text
    return [
        e
        for e in listed.json()["items"]
        if (route is None or e["target_id"] == route)
        and e["region"] == CITY
        and e["department"] == "finance"
    ]


class TestThePersonViewsFindingsReachTheirRegion:
    def test_the_api_read_is_filed_under_the_findings_region(self, regions: Regions) -> None:
        _delete_a_records(regions)
        answer = regions.get(f"/api/v1/persons/{SPREAD}", "finance", CITY)
        assert answer.status_code == 200, answer.text
        view = answer.json()
        assert {r["region"] for rows in view["records"].values() for r in rows} == {B}
        assert {d["region"] for d in view["discrepancies"]} == {A}  # A's finding, sent
        route = "GET /api/v1/persons/{id_number}"
        for auditor in (A, B):
            (entry,) = _entries(regions, auditor, "read", route)
            assert entry["regions"] == [auditor] and entry["persons"] == 1
        (entry,) = _entries(regions, CITY, "read", route)
        assert entry["regions"] == [A, B]

    def test_the_console_search_and_its_reveal_too(
        self, regions: Regions, console_as: ConsoleAs
    ) -> None:
        _delete_a_records(regions)
        officer = console_as("finance", CITY)
        shown = officer.post("/console/persons", {"id_number": SPREAD})
        assert shown.status_code == 200, shown.text
        (ref,) = REF.findall(shown.text)
        revealed = officer.post("/console/persons", {"ref": ref, "reveal": "1"})
        assert revealed.status_code == 200, revealed.text
        assert SPREAD in revealed.text
        reads = _entries(regions, A, "read", "POST /console/persons")
        assert len(reads) == 2 and all(e["regions"] == [A] for e in reads)
        (reveal,) = _entries(regions, A, "person.reveal", None)
        assert reveal["regions"] == [A]
        assert len(_entries(regions, B, "read", "POST /console/persons")) == 2

    def test_a_view_of_no_finding_of_a_names_no_more(
        self, regions: Regions, client: TestClient
    ) -> None:
        """B's own view sends B's line alone (A's finding is not B's): filed under B only."""
        _delete_a_records(regions)
        answer = regions.get(f"/api/v1/persons/{SPREAD}", "finance", B)
        assert answer.status_code == 200, answer.text
        assert answer.json()["discrepancies"] == []
        regions.app.state.auth.recorder.flush()
        listed = regions.get("/api/v1/audit-log", "audit", A, id_number=SPREAD, action="read")
        assert [e for e in listed.json()["items"] if e["region"] == B] == []
