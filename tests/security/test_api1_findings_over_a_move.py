"""API1 across time: a finding that follows its unit to another region.

A finding keeps its id when its unit moves from county A to the sibling county B (it is the
same subject). What A's departments wrote about it while it was A's — comments, a waiver's
reason and document number, who acknowledged it — is A's, as the records' versions from
before the move are: B reads the statuses and their times, not the rest. What is written
after the move is B's, and the city above both reads everything.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import HeadersFor
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
