"""API1 across time: a finding that follows its unit to another region.

A finding keeps its id when its unit moves from county A to the sibling county B (it is the
same subject). What A's departments wrote about it while it was A's — comments, a waiver's
reason and document number, who acknowledged it — is A's, as the records' versions from
before the move are: B reads the statuses and their times, not the rest. What is written
after the move is B's, and the city above both reads everything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from linkage_hub.db import Database
from linkage_hub.reconciliation.models import Finding
from tests.conftest import HeadersFor, hub_today
from tests.notifications.test_webhooks import ghost_pay, run
from tests.records import factory as f

CITY, COUNTY, SIBLING = "230100", "230102", "230103"
SECRET = "县财政局内部意见：此人系县长亲属"
REASON, DOCUMENT = "县编办内部理由", "县编〔2026〕9号"


def _findings(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/discrepancies", headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _detail(client: TestClient, headers: dict[str, str], fid: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/discrepancies/{fid}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _moved(client: TestClient, headers_for: HeadersFor) -> str:
    """County A's ghost-pay finding, discussed and waived in A, then its unit moved to B by
    the city and the city's run: the finding's id."""
    ghost_pay(client, headers_for, COUNTY, 70)
    run(client, headers_for, CITY)
    [found] = _findings(client, headers_for("audit", COUNTY))
    said = client.post(
        f"/api/v1/discrepancies/{found['id']}/comments",
        json={"body": SECRET},
        headers=headers_for("finance", COUNTY),
    )
    assert said.status_code == 201, said.text
    waived = client.post(
        f"/api/v1/discrepancies/{found['id']}/transitions",
        json={"to": "waived", "reason": REASON, "document_no": DOCUMENT},
        headers=headers_for("establishment", COUNTY),
    )
    assert waived.status_code == 200, waived.text
    moved = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(70, region=COUNTY) | {"region": SIBLING}]},
        headers=headers_for("establishment", CITY),
    )
    assert moved.status_code == 201, moved.text
    run(client, headers_for, CITY)
    return str(found["id"])


class TestAFindingThatFollowedItsUnit:
    def test_the_region_it_entered_reads_the_statuses_not_the_old_regions_words(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _moved(client, headers_for)
        b = headers_for("audit", SIBLING)
        [there] = _findings(client, b)
        assert (there["id"], there["region"], there["status"]) == (fid, SIBLING, "waived")
        detail = _detail(client, b, fid)
        assert SECRET not in str(detail) and REASON not in str(detail)
        assert DOCUMENT not in str(detail) and "user:" not in str(detail)
        assert detail["comments"] == []
        steps = [(h["from"], h["to"], h["withheld"]) for h in detail["history"]]
        assert steps == [(None, "open", True), ("open", "waived", True)]
        assert all(h["client_id"] is None and h["run_id"] is None for h in detail["history"])

    def test_what_is_written_after_the_move_is_the_new_regions(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _moved(client, headers_for)
        for who, region, body in (
            ("hr", SIBLING, "县人社局：已核实"),
            ("audit", CITY, "市审计局：跟进"),
        ):
            said = client.post(
                f"/api/v1/discrepancies/{fid}/comments",
                json={"body": body},
                headers=headers_for(who, region),
            )
            assert said.status_code == 201, said.text
        reopened = client.post(  # B takes the waiver back: B's step, B's to read
            f"/api/v1/discrepancies/{fid}/transitions",
            json={"to": "open"},
            headers=headers_for("establishment", SIBLING),
        )
        assert reopened.status_code == 200, reopened.text
        detail = _detail(client, headers_for("audit", SIBLING), fid)
        assert [c["body"] for c in detail["comments"]] == ["县人社局：已核实", "市审计局：跟进"]
        last = detail["history"][-1]
        assert (last["from"], last["to"], last["withheld"]) == ("waived", "open", False)
        assert last["department"] == "establishment"

    def test_the_city_reads_the_whole_thread(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _moved(client, headers_for)
        detail = _detail(client, headers_for("audit", CITY), fid)
        assert [c["body"] for c in detail["comments"]] == [SECRET]
        waiver = detail["history"][-1]
        assert (waiver["reason"], waiver["document_no"], waiver["withheld"]) == (
            REASON,
            DOCUMENT,
            False,
        )

    def test_the_region_it_left_no_longer_reads_it(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = _moved(client, headers_for)
        a = headers_for("audit", COUNTY)
        assert fid not in {x["id"] for x in _findings(client, a)}
        assert client.get(f"/api/v1/discrepancies/{fid}", headers=a).status_code == 404


class TestAnAcknowledgementOverAMove:
    """Who answers for a finding and by when are the acknowledging region's: B reads that it
    is acknowledged (its status), not A's department and due date, nor ``overdue`` judged on
    that date (a filter, the discrepancy report). The city reads them; B's own
    acknowledgement after the move is B's."""

    def _acknowledged_then_moved(self, client: TestClient, headers_for: HeadersFor) -> str:
        ghost_pay(client, headers_for, COUNTY, 71)
        run(client, headers_for, CITY)
        [found] = _findings(client, headers_for("audit", COUNTY))
        due = (hub_today() + dt.timedelta(days=40)).isoformat()
        acked = client.post(
            f"/api/v1/discrepancies/{found['id']}/transitions",
            json={"to": "acknowledged", "due_on": due},
            headers=headers_for("finance", COUNTY),
        )
        assert acked.status_code == 200, acked.text
        assert (acked.json()["responsible_department"], acked.json()["due_on"]) == (
            "finance",
            due,
        )
        moved = client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [f.unit(71, region=COUNTY) | {"region": SIBLING}]},
            headers=headers_for("establishment", CITY),
        )
        assert moved.status_code == 201, moved.text
        run(client, headers_for, CITY)
        return str(found["id"])

    def test_the_region_it_entered_reads_the_status_not_who_or_when(
        self, client: TestClient, headers_for: HeadersFor
    ) -> None:
        fid = self._acknowledged_then_moved(client, headers_for)
        b = headers_for("audit", SIBLING)
        detail = _detail(client, b, fid)
        assert detail["status"] == "acknowledged"
        assert (detail["responsible_department"], detail["due_on"]) == (None, None)
        [listed] = _findings(client, b)
        assert (listed["responsible_department"], listed["due_on"]) == (None, None)
        report = client.get("/api/v1/reports/discrepancies", params={"format": "json"}, headers=b)
        assert report.status_code == 200, report.text
        [row] = report.json()["items"]
        assert (row["responsible_department"], row["due_on"]) == (None, None)
        city = _detail(client, headers_for("audit", CITY), fid)
        assert city["responsible_department"] == "finance" and city["due_on"] is not None

    def test_overdue_is_judged_only_where_it_was_acknowledged(
        self, client: TestClient, headers_for: HeadersFor, database: Database
    ) -> None:
        fid = self._acknowledged_then_moved(client, headers_for)
        with database.transaction() as session:  # A's deadline passes
            session.execute(
                update(Finding).where(Finding.id == fid).values(due_on=dt.date(2020, 1, 1))
            )
        late = {"overdue": "true"}
        for region, expected in ((SIBLING, []), (CITY, [fid])):
            answer = client.get(
                "/api/v1/discrepancies", params=late, headers=headers_for("audit", region)
            )
            assert [x["id"] for x in answer.json()["items"]] == expected, region
        assert _detail(client, headers_for("audit", SIBLING), fid)["overdue"] is False
        assert _detail(client, headers_for("audit", CITY), fid)["overdue"] is True
