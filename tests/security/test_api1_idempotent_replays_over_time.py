"""API1 across time: an ``Idempotency-Key``'s first answer replayed after the caller's rights,
or where its object is filed, changed.

A create with an ``Idempotency-Key`` stores its first answer, and a retry with the same key and
body got that answer back (``Idempotent-Replayed: true``) before any rights were asked: the
route's region check ran only inside the work that creates. So the stored answer honoured the
rights the caller had when it was made:

- **A client moved in the database.** County A's establishment office started a run, convened
  a meeting, commented in it and published A's data; its client row was then moved to the
  sibling county B (or an auditor's to HR). Its new token is checked against the row, and a
  request naming A is a 404 to it, yet a retry of each create answered 202 or 201 with A's
  run, meeting record (the agenda's findings: rule, unit, summary), comment and publication,
  and the auditor's retried subscription its secret for a department no longer its own. Its
  units batch, replayed from the batch row (``ingest.Pusher.replay``), gave back A's batch id
  and counts, the batch a 404 to it (``GET /batches/{id}``).
- **A finding that followed its unit.** A's finance commented on A's finding, and A's office
  convened a meeting on it; the city then moved the unit, and the finding, to B. The finding is
  404 to A now, yet the retried comment was answered 201, and the retried meeting showed the
  agenda as it stood (the moved finding's rule, unit and summary), where ``GET`` withholds it.

Now a first answer is replayed only to a caller who may still read it (``idempotency.once``'s
``still``, by the client row as it stands and where the object is filed now): a meeting's
record is shown as ``GET`` shows it today; anything the caller may no longer read is answered
as a new request, by the rights of now (a region it left is a 404, and nothing is made; a
subscription is made for its new department). A batch is replayed only while the caller may
open it (``records.visibility.batch_openable``), else pushed as a new batch, the key staying
the first's (a scope outside the caller's region is the 422 any push naming one gets). A retry
by an unchanged caller is replayed as before.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from linkage_hub.auth.models import AuthClient
from linkage_hub.auth.service import create_client
from linkage_hub.db import Database
from linkage_hub.meetings.models import Meeting
from linkage_hub.public.models import Disclosure
from linkage_hub.reconciliation.models import Run
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today
from tests.notifications.conftest import local_hooks
from tests.notifications.test_webhooks import PERIOD, ghost_pay, run
from tests.records import factory as f

CITY, A, B = "230100", "230102", "230103"
MOVED = f.unit_code(70, region=A)  # ghost_pay's unit of person 70
REPLAYED = "Idempotent-Replayed"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every request reads the client row (no cached row), as one does within half a minute;
    webhooks may name 127.0.0.1."""
    return local_hooks(settings, client_cache_seconds=0)


class Client:
    """A client made here, so its row can be changed and a new token asked for."""

    def __init__(self, client: TestClient, database: Database, department: str) -> None:
        self.client, self.database = client, database
        with database.transaction() as session:
            made = create_client(
                session, name=f"mover {department}", department=department, region=A
            )
            self.id, self.secret = made.client.client_id, made.client_secret

    def headers(self) -> dict[str, str]:
        token = self.client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.id,
                "client_secret": self.secret,
            },
        )
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def change(self, **values: str) -> dict[str, str]:
        """Change the row as an operator would; the token asked for afterwards."""
        with self.database.transaction() as session:
            session.execute(
                update(AuthClient).where(AuthClient.client_id == self.id).values(values)
            )
        return self.headers()


def _count(database: Database, model: Any) -> int:
    with database.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _findings_of_a(client: TestClient, headers_for: HeadersFor) -> list[str]:
    """A's ghost-pay findings of persons 70 (unit MOVED) and 80, by the city's run."""
    for n in (70, 80):
        ghost_pay(client, headers_for, A, n)
    run(client, headers_for, CITY)
    items = client.get("/api/v1/discrepancies", headers=headers_for("audit", A)).json()["items"]
    return sorted(i["id"] for i in items)


def _move_the_unit(client: TestClient, headers_for: HeadersFor) -> None:
    moved = client.post(
        "/api/v1/datasets/units/batches",
        json={"records": [f.unit(70, region=A) | {"region": B}]},
        headers=headers_for("establishment", CITY),
    )
    assert moved.status_code == 201, moved.text
    run(client, headers_for, CITY)


def _meeting(finding_ids: list[str]) -> dict[str, Any]:
    return {
        "region": A,
        "held_on": hub_today().isoformat(),
        "title": "联席会议",
        "minutes_no": "纪要〔2026〕7号",
        "departments": ["finance"],
        "finding_ids": finding_ids,
    }


def _twice(
    client: TestClient, path: str, body: dict[str, Any], headers: dict[str, str], key: str
) -> Any:
    """The create and a retry by the unchanged caller: the first answer, replayed."""
    with_key = headers | {"Idempotency-Key": key}
    first = client.post(path, json=body, headers=with_key)
    assert first.status_code in (201, 202), first.text
    again = client.post(path, json=body, headers=with_key)
    assert again.status_code == first.status_code and again.headers[REPLAYED] == "true"
    assert again.json() == first.json()
    return first.json()


def _wait_runs(client: TestClient, headers_for: HeadersFor) -> None:
    for _ in range(400):
        runs = client.get(
            "/api/v1/reconciliation/runs", headers=headers_for("establishment", CITY)
        ).json()["items"]
        if all(r["status"] not in ("queued", "running") for r in runs):
            return
        time.sleep(0.05)
    raise AssertionError("a run did not end")


def test_a_client_moved_to_the_sibling_county_gets_no_replay_of_its_old_county(
    client: TestClient, headers_for: HeadersFor, database: Database
) -> None:
    findings = _findings_of_a(client, headers_for)
    office = Client(client, database, "establishment")
    mine = office.headers()
    started = _twice(
        client, "/api/v1/reconciliation/runs", {"region": A, "period": PERIOD}, mine, "run-1"
    )
    _wait_runs(client, headers_for)
    meeting = _twice(client, "/api/v1/meetings", _meeting(findings), mine, "meeting-1")
    said = _twice(
        client, f"/api/v1/meetings/{meeting['id']}/comments", {"body": "县里的意见"}, mine, "say-1"
    )
    published = _twice(client, "/api/v1/disclosures", {"region": A}, mine, "publish-1")
    counts = [_count(database, m) for m in (Run, Meeting, Disclosure)]

    moved = office.change(region=B)
    retries = {
        "run": (
            "/api/v1/reconciliation/runs",
            {"region": A, "period": PERIOD},
            "run-1",
            started["run_id"],
        ),
        "meeting": ("/api/v1/meetings", _meeting(findings), "meeting-1", meeting["id"]),
        "comment": (
            f"/api/v1/meetings/{meeting['id']}/comments",
            {"body": "县里的意见"},
            "say-1",
            said["id"],
        ),
        "disclosure": ("/api/v1/disclosures", {"region": A}, "publish-1", published["id"]),
    }
    for what, (path, body, key, made_id) in retries.items():
        retry = client.post(path, json=body, headers=moved | {"Idempotency-Key": key})
        assert retry.status_code == 404, (what, retry.text)
        assert REPLAYED not in retry.headers, what
        problem = retry.json()
        assert problem["status"] == 404 and not {"id", "run_id", "body"} & set(problem), what
        assert not isinstance(made_id, str) or made_id not in retry.text, what
        assert not any(i in retry.text for i in findings), what
    # Nothing was made by the refused retries, and B reads none of A's.
    assert [_count(database, m) for m in (Run, Meeting, Disclosure)] == counts
    run_read = client.get(f"/api/v1/reconciliation/runs/{started['run_id']}", headers=moved)
    assert run_read.status_code == 404
    assert client.get(f"/api/v1/meetings/{meeting['id']}", headers=moved).status_code == 404

    # Back in A, the same keys are replayed again: the first answers were kept.
    back = office.change(region=A)
    again = client.post(
        "/api/v1/meetings", json=_meeting(findings), headers=back | {"Idempotency-Key": "meeting-1"}
    )
    assert again.status_code == 201 and again.headers[REPLAYED] == "true", again.text
    assert again.json()["id"] == meeting["id"]


def test_a_subscription_retried_after_the_client_moved_is_made_for_its_rights_of_now(
    client: TestClient, database: Database
) -> None:
    auditor = Client(client, database, "audit")
    body = {"url": "http://127.0.0.1:9/hook", "events": ["records.changed"]}
    first = _twice(client, "/api/v1/subscriptions", body, auditor.headers(), "sub-1")

    for change in ({"department": "hr"}, {"region": B}):
        moved = auditor.change(**change)
        retry = client.post(
            "/api/v1/subscriptions", json=body, headers=moved | {"Idempotency-Key": "sub-1"}
        )
        assert retry.status_code == 201, retry.text
        assert REPLAYED not in retry.headers, change
        assert retry.json()["id"] != first["id"] and retry.json()["secret"] != first["secret"]
        # Its retry now is the new subscription's.
        again = client.post(
            "/api/v1/subscriptions", json=body, headers=moved | {"Idempotency-Key": "sub-1"}
        )
        assert again.headers[REPLAYED] == "true" and again.json()["id"] == retry.json()["id"]
        first = retry.json()


def test_retries_after_the_finding_followed_its_unit_to_the_sibling_county(
    client: TestClient, headers_for: HeadersFor
) -> None:
    findings = _findings_of_a(client, headers_for)
    finance = headers_for("finance", A)
    office = headers_for("establishment", A)
    [gone] = [
        i
        for i in findings
        if client.get(f"/api/v1/discrepancies/{i}", headers=finance).json()["unit_code"] == MOVED
    ]
    comment = {"body": "县里的意见"}
    said = _twice(client, f"/api/v1/discrepancies/{gone}/comments", comment, finance, "c-1")
    meeting = _twice(client, "/api/v1/meetings", _meeting(findings), office, "m-1")
    assert MOVED in str(meeting["agenda"])

    _move_the_unit(client, headers_for)
    assert client.get(f"/api/v1/discrepancies/{gone}", headers=finance).status_code == 404

    retry = client.post(
        f"/api/v1/discrepancies/{gone}/comments",
        json=comment,
        headers=finance | {"Idempotency-Key": "c-1"},
    )
    assert retry.status_code == 404, retry.text
    assert REPLAYED not in retry.headers and retry.json()["detail"] == "No such discrepancy."
    assert "body" not in retry.json() and said["body"] not in retry.text

    # The meeting is still A's: its retry is replayed as A reads the record today.
    retry = client.post(
        "/api/v1/meetings", json=_meeting(findings), headers=office | {"Idempotency-Key": "m-1"}
    )
    assert retry.status_code == 201 and retry.headers[REPLAYED] == "true", retry.text
    record = retry.json()
    assert record["id"] == meeting["id"]
    assert record == client.get(f"/api/v1/meetings/{meeting['id']}", headers=office).json()
    entry = next(a for a in record["agenda"] if a["finding_id"] == gone)
    assert entry["withheld"] is True and MOVED not in str(record)
    # The city, which holds both counties, reads it whole.
    city = client.get(f"/api/v1/meetings/{meeting['id']}", headers=headers_for("audit"))
    assert MOVED in str(city.json()["agenda"])


def test_a_batch_retried_after_the_client_moved_is_pushed_by_its_rights_of_now(
    client: TestClient, database: Database
) -> None:
    office = Client(client, database, "establishment")
    units = "/api/v1/datasets/units/batches"
    body = {"scope": {"region": A}, "records": [f.unit(90, region=A)]}
    first = _twice(client, units, body, office.headers(), "push-1")

    moved = office.change(region=B)
    assert client.get(f"/api/v1/batches/{first['batch_id']}", headers=moved).status_code == 404
    retry = client.post(units, json=body, headers=moved | {"Idempotency-Key": "push-1"})
    # What any push naming a region outside the caller's gets; nothing is written.
    assert retry.status_code == 422, retry.text
    assert [(e["field"], e["code"]) for e in retry.json()["errors"]] == [
        ("scope.region", "outside_region")
    ]
    assert REPLAYED not in retry.headers and first["batch_id"] not in retry.text

    back = office.change(region=A)
    again = client.post(units, json=body, headers=back | {"Idempotency-Key": "push-1"})
    assert again.status_code == 201 and again.headers[REPLAYED] == "true", again.text
    assert again.json()["batch_id"] == first["batch_id"]
