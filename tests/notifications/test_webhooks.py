"""Webhooks end to end, on both databases: the hub's own delivery worker (the app's lifespan)
POSTs to a real receiver, which verifies every delivery with ``standardwebhooks``."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from linkage_hub.db import Database
from linkage_hub.notifications.models import Delivery, Subscription
from linkage_hub.outbox.models import OutboxEvent
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, hub_today, make_settings
from tests.notifications.conftest import Receiver, verifies
from tests.records.factory import id_number, payroll, roster, unit, unit_code

SUBS = "/api/v1/subscriptions"
COUNTY, SIBLING = "230102", "230103"
PERIOD = "2026-10"


def subscribe(
    client: TestClient, headers: dict[str, str], url: str, events: list[str], **filters: Any
) -> dict[str, Any]:
    answer = client.post(
        SUBS, json={"url": url, "events": events, "filters": filters}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    assert body["secret"].startswith("whsec_") and body["last_seq"] == 0
    return body


def push(
    client: TestClient, headers_for: HeadersFor, dataset: str, records: list[Any], region: str
) -> str:
    department = {"units": "establishment", "roster": "establishment", "payroll": "finance"}[
        dataset
    ]
    body: dict[str, Any] = {"records": records}
    if dataset == "payroll":
        body["scope"] = {"period": PERIOD}
    answer = client.post(
        f"/api/v1/datasets/{dataset}/batches", json=body, headers=headers_for(department, region)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["batch_id"])


def ghost_pay(client: TestClient, headers_for: HeadersFor, region: str, n: int) -> None:
    """A unit of ``region`` with one person on the roster and paid, and person ``n`` paid
    without being on it (PAID_WITHOUT_ESTABLISHMENT)."""
    push(client, headers_for, "units", [unit(n, region=region)], region)
    code = unit_code(n, region=region)
    push(client, headers_for, "roster", [roster(n + 1, unit_code=code)], region)
    paid = [payroll(m, unit_code=code, period=PERIOD) for m in (n, n + 1)]
    push(client, headers_for, "payroll", paid, region)


def run(client: TestClient, headers_for: HeadersFor, region: str) -> str:
    answer = client.post(
        "/api/v1/reconciliation/runs",
        json={"region": region, "period": PERIOD},
        headers=headers_for("establishment", region),
    )
    assert answer.status_code == 202, answer.text
    run_id = str(answer.json()["run_id"])
    for _ in range(400):
        status = client.get(
            f"/api/v1/reconciliation/runs/{run_id}", headers=headers_for("establishment", region)
        ).json()["status"]
        if status not in ("queued", "running"):
            assert status == "succeeded"
            return run_id
        time.sleep(0.05)
    raise AssertionError("run did not end")


def sub_owner(database: Database, sub_id: str) -> str:
    with database.transaction() as session:
        sub = session.get(Subscription, sub_id)
        assert sub is not None
        return sub.client_id


def types_of(receiver: Receiver) -> list[str]:
    return [r.json["type"] for r in receiver.received]


def test_events_arrive_signed_in_order_thin_and_complete(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver, database: Database
) -> None:
    events = ["records.changed", "finding.opened", "finding.transitioned", "run.finished"]
    sub = subscribe(client, headers_for("audit", COUNTY), receiver.url, events)
    ghost_pay(client, headers_for, COUNTY, 10)
    run_id = run(client, headers_for, COUNTY)
    # This run's end (an incremental run after the pushes may finish first, or after it).
    # Its run.finished, not any event naming the run: finding.opened names it too, and may
    # arrive first (the test then failed now and then).
    receiver.wait(
        lambda got: any(
            r.json["type"] == "run.finished" and r.json["data"].get("run_id") == run_id for r in got
        )
    )

    bodies = receiver.verified(sub["secret"])  # every one verifies with the reference library
    assert [b["seq"] for b in bodies] == list(range(1, len(bodies) + 1))
    assert [b["type"] for b in bodies][:3] == ["records.changed"] * 3
    changed = bodies[0]["data"]
    assert changed["dataset"] == "units" and changed["changes"] == 1
    units = client.get("/api/v1/datasets/units/records", headers=headers_for("audit", COUNTY))
    assert changed["record_keys"] == [units.json()["items"][0]["record_key"]]
    assert changed["links"]["batch"] == f"/api/v1/batches/{changed['batch_id']}"
    opened = [b["data"] for b in bodies if b["type"] == "finding.opened"]
    assert [o["rule"] for o in opened] == ["PAID_WITHOUT_ESTABLISHMENT"]
    assert opened[0]["unit_code"] == unit_code(10, region=COUNTY) and opened[0]["run_id"] == run_id
    [finished] = [
        b for b in bodies if b["type"] == "run.finished" and b["data"]["run_id"] == run_id
    ]
    assert (
        finished["data"]["counts"]["new"]
        + sum(
            b["data"]["counts"]["new"]
            for b in bodies
            if b["type"] == "run.finished" and b is not finished
        )
        == 1
    )  # the finding was opened once: by this run or an incremental run before it
    # Thin: no ID number, no name, no pay anywhere in what was sent.
    raw = b"".join(r.body for r in receiver.received).decode()
    for secret_thing in (id_number(10), id_number(11), "张10", "8532.50"):
        assert secret_thing not in raw
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(ids) == len(receiver.received)

    # The receiver fetches the finding through the API: it exists and the link is right.
    link = opened[0]["links"]["finding"]
    assert client.get(link, headers=headers_for("audit", COUNTY)).status_code == 200

    # A transition by a person arrives as finding.transitioned, next in seq.
    answer = client.post(
        f"{link}/transitions",
        json={"to": "acknowledged", "reason": "核实中"},
        headers=headers_for("finance", COUNTY),
    )
    assert answer.status_code == 200, answer.text
    receiver.wait(lambda got: "finding.transitioned" in [r.json["type"] for r in got])
    seqs = sorted(r.json["seq"] for r in receiver.received)
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    [last] = [r.json for r in receiver.received if r.json["type"] == "finding.transitioned"]
    assert last["seq"] > bodies[-1]["seq"]
    assert last["data"]["status"] == "acknowledged" and last["data"]["from_status"] == "open"
    said_bodies = b"".join(r.body for r in receiver.received).decode()
    assert "核实中" not in said_bodies  # reasons are free text: not sent

    # A comment by another department: finding.commented, without its text.
    said = client.post(
        f"{link}/comments", json={"body": "请财政局核对工资"}, headers=headers_for("hr", COUNTY)
    )
    assert said.status_code == 201
    # ... not subscribed to comments: nothing more arrives; subscribe and comment again, once
    # the fan-out has looked at the first comment's event (a subscription widened before then
    # asks for it too: under load in CI it arrived, and the test found two comments).
    looked_at(database, sub["id"])
    answer = client.patch(
        f"{SUBS}/{sub['id']}",
        json={"events": [*events, "finding.commented"]},
        headers=headers_for("audit", COUNTY),
    )
    assert answer.status_code == 200
    said = client.post(
        f"{link}/comments", json={"body": "已核对"}, headers=headers_for("hr", COUNTY)
    )
    receiver.wait(lambda got: "finding.commented" in [r.json["type"] for r in got])
    [commented] = [r for r in receiver.received if r.json["type"] == "finding.commented"]
    assert commented.json["seq"] > last["seq"]  # the first comment was not for it
    assert commented.json["data"]["comment_id"] == said.json()["id"]
    assert commented.json["data"]["department"] == "hr" and "已核对" not in commented.body.decode()

    # The owner is revoked: its subscription gets nothing more.
    from linkage_hub.auth.service import revoke_client

    with database.transaction() as session:
        revoke_client(session, sub_owner(database, sub["id"]))
    count = len(receiver.received)
    push(client, headers_for, "units", [unit(19, region=COUNTY)], COUNTY)
    time.sleep(1.0)
    assert len(receiver.received) == count


def looked_at(database: Database, subscription_id: str, seconds: float = 20) -> None:
    """Wait until the fan-out has looked at every outbox event so far for the subscription
    (its cursor is the newest event's id): a bound, not a speed requirement."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with database.transaction() as session:
            high = session.scalar(select(func.max(OutboxEvent.id)))
            cursor = session.scalar(
                select(Subscription.cursor).where(Subscription.id == subscription_id)
            )
        if high is not None and cursor is not None and cursor >= high:
            return
        time.sleep(0.05)
    raise AssertionError("the fan-out did not reach the newest event in time")


def test_a_subscriber_gets_only_its_region_and_filters(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    county = subscribe(client, headers_for("finance", COUNTY), receiver.url, ["finding.opened"])
    sibling = subscribe(
        client, headers_for("finance", SIBLING), receiver.url + "?who=sibling", ["finding.opened"]
    )
    only_low = subscribe(
        client,
        headers_for("hr", COUNTY),
        receiver.url + "?who=low",
        ["finding.opened", "records.changed"],
        severities=["low"],
        datasets=["roster"],
    )
    ghost_pay(client, headers_for, COUNTY, 20)
    run(client, headers_for, COUNTY)
    receiver.wait(lambda got: any(r.json["type"] == "finding.opened" for r in got))
    ghost_pay(client, headers_for, SIBLING, 30)
    run(client, headers_for, SIBLING)
    receiver.wait(lambda got: sum(r.json["type"] == "finding.opened" for r in got) >= 2)

    by_secret = {
        name: [r.json for r in receiver.received if verifies(sub["secret"], r)]
        for name, sub in (("county", county), ("sibling", sibling), ("low", only_low))
    }
    assert [b["data"]["region"] for b in by_secret["county"]] == [COUNTY]
    assert [b["data"]["region"] for b in by_secret["sibling"]] == [SIBLING]
    # severity filter: PAID_WITHOUT_ESTABLISHMENT is not low; dataset filter: roster only.
    low = by_secret["low"]
    assert [b["type"] for b in low] == ["records.changed"]
    assert low[0]["data"]["dataset"] == "roster" and low[0]["seq"] == 1

    # A region outside the caller's is as if it did not exist.
    answer = client.post(
        SUBS,
        json={"url": receiver.url, "events": ["finding.opened"], "filters": {"region": SIBLING}},
        headers=headers_for("finance", COUNTY),
    )
    assert answer.status_code == 404
    # Another client's subscription: 404 for every verb.
    other = headers_for("audit", COUNTY)
    for method, path in (
        ("GET", f"{SUBS}/{county['id']}"),
        ("PATCH", f"{SUBS}/{county['id']}"),
        ("DELETE", f"{SUBS}/{county['id']}"),
        ("POST", f"{SUBS}/{county['id']}/rotate-secret"),
        ("GET", f"{SUBS}/{county['id']}/deliveries"),
    ):
        kwargs: dict[str, Any] = {"json": {"description": "x"}} if method == "PATCH" else {}
        assert client.request(method, path, headers=other, **kwargs).status_code == 404
    listed = client.get(SUBS, headers=other).json()["items"]
    assert listed == []


def test_retries_back_off_honour_retry_after_and_410_disables(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver, database: Database
) -> None:
    headers = headers_for("establishment", COUNTY)
    sub = subscribe(client, headers, receiver.url, ["records.changed"])
    receiver.answers = [(503, {"Retry-After": "120"}), (500, {})]
    before = dt.datetime.now(dt.UTC)
    push(client, headers_for, "units", [unit(40, region=COUNTY)], COUNTY)
    receiver.wait(lambda got: len(got) == 1)

    def due() -> dt.datetime:
        with database.transaction() as session:
            return session.scalars(select(Delivery.next_attempt_at)).one()

    wait_for_attempts(client, headers, sub["id"], 1)
    assert due() >= before + dt.timedelta(seconds=119)  # Retry-After over the 4-6 s backoff
    make_due(database)
    receiver.wait(lambda got: len(got) == 2)
    wait_for_attempts(client, headers, sub["id"], 2)
    after_second = dt.datetime.now(dt.UTC)
    assert (
        after_second + dt.timedelta(seconds=20) <= due() <= after_second + dt.timedelta(seconds=40)
    )
    make_due(database)
    receiver.wait(lambda got: len(got) == 3)  # third try: 204
    log = wait_for_attempts(client, headers, sub["id"], 3)
    assert [(a["attempt"], a["status_code"]) for a in log] == [(3, 204), (2, 500), (1, 503)]
    assert {a["seq"] for a in log} == {1} and len({a["event_id"] for a in log}) == 1
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1

    # 410 Gone: the subscription is disabled and says why; resuming sends what waited.
    receiver.answers = [(410, {})]
    push(client, headers_for, "units", [unit(41, region=COUNTY)], COUNTY)
    receiver.wait(lambda got: len(got) == 4)
    shown = wait_until(
        lambda: client.get(f"{SUBS}/{sub['id']}", headers=headers).json(), lambda s: not s["active"]
    )
    assert "410" in shown["disabled_reason"]
    push(client, headers_for, "units", [unit(42, region=COUNTY)], COUNTY)
    answer = client.patch(f"{SUBS}/{sub['id']}", json={"active": True}, headers=headers)
    assert answer.status_code == 200 and answer.json()["disabled_reason"] is None
    receiver.wait(lambda got: len(got) == 6)
    assert sorted(r.json["seq"] for r in receiver.received[3:]) == [2, 2, 3]


def test_nothing_more_is_posted_to_a_subscription_after_410_gone(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    """A 410 disables the subscription at once; the deliveries claimed with the one that got
    it are not POSTed in the same round but wait, unsent, for a resume."""
    city = "230100"
    headers = headers_for("establishment", city)
    sub = subscribe(client, headers, receiver.url, ["records.changed"])
    receiver.answers = [(410, {})]
    # One batch, one commit: a records.changed event per region, all due together.
    units = [unit(1, region=city), unit(2, region=COUNTY), unit(3, region=SIBLING)]
    push(client, headers_for, "units", units, city)
    receiver.wait(lambda got: len(got) >= 1)
    shown = wait_until(
        lambda: client.get(f"{SUBS}/{sub['id']}", headers=headers).json(), lambda s: not s["active"]
    )
    assert "410" in shown["disabled_reason"]
    time.sleep(1.0)
    assert [r.json["seq"] for r in receiver.received] == [1], (
        "POSTed after the receiver answered 410 Gone: "
        f"{[(r.json['seq'], r.json['data']['region']) for r in receiver.received]}"
    )
    answer = client.patch(f"{SUBS}/{sub['id']}", json={"active": True}, headers=headers)
    assert answer.status_code == 200
    receiver.wait(lambda got: len(got) == 4)
    assert sorted(r.json["seq"] for r in receiver.received[1:]) == [1, 2, 3]


def test_replay_and_rotation(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver, database: Database
) -> None:
    headers = headers_for("organization", COUNTY)
    sub = subscribe(client, headers, receiver.url, ["records.changed"])
    for n in (50, 51, 52):
        push(client, headers_for, "units", [unit(n, region=COUNTY)], COUNTY)
    receiver.wait(lambda got: len(got) == 3)
    first_ids = [r.headers["webhook-id"] for r in receiver.received]

    answer = client.post(f"{SUBS}/{sub['id']}/replay", json={"from_seq": 2}, headers=headers)
    assert answer.status_code == 202 and answer.json() == {"replayed": 2}
    receiver.wait(lambda got: len(got) == 5)
    again = sorted(receiver.received[3:], key=lambda r: r.json["seq"])
    assert [r.json["seq"] for r in again] == [2, 3]
    assert [r.headers["webhook-id"] for r in again] == first_ids[1:]
    bad = client.post(f"{SUBS}/{sub['id']}/replay", json={"from_seq": 4}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from_seq"

    rotated = client.post(f"{SUBS}/{sub['id']}/rotate-secret", headers=headers)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != sub["secret"]
    push(client, headers_for, "units", [unit(53, region=COUNTY)], COUNTY)
    receiver.wait(lambda got: len(got) == 6)
    last = receiver.received[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 2  # both, during the overlap
    assert verifies(new_secret, last) and verifies(sub["secret"], last)

    # The overlap over, only the new secret signs.
    with database.transaction() as session:
        session.execute(
            update(Subscription).values(previous_until=dt.datetime.now(dt.UTC) - dt.timedelta(1))
        )
    push(client, headers_for, "units", [unit(54, region=COUNTY)], COUNTY)
    receiver.wait(lambda got: len(got) == 7)
    last = receiver.received[-1]
    assert verifies(new_secret, last) and not verifies(sub["secret"], last)


def test_bad_subscriptions_are_clear_4xx(client: TestClient, headers_for: HeadersFor) -> None:
    headers = headers_for("hr", COUNTY)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "https://example.org/h", "events": []}, "events"),
        ({"url": "https://example.org/h", "events": ["finding.eaten"]}, "events"),
        ({"url": "ftp://example.org/h", "events": ["run.finished"]}, "url"),
        ({"url": "https://example.org/h", "events": ["run.finished"], "x": 1}, "x"),
        (
            {
                "url": "https://example.org/h",
                "events": ["run.finished"],
                "filters": {"rules": ["NO"]},
            },
            "rules",
        ),
    ]
    for body, field in cases:
        answer = client.post(SUBS, json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert any(field in str(e.get("field", "")) for e in answer.json()["errors"]), answer.json()
    assert client.get(SUBS, headers=headers).json()["items"] == []


def make_due(database: Database) -> None:
    """Time passes: every pending delivery is due now."""
    with database.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.status == "pending")
            .values(next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )


def wait_until(fetch: Any, ok: Any, seconds: float = 20) -> Any:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = fetch()
        if ok(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"not in time: {value}")


def wait_for_attempts(
    client: TestClient, headers: dict[str, str], sub_id: str, n: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = wait_until(
        lambda: client.get(f"{SUBS}/{sub_id}/deliveries", headers=headers).json()["items"],
        lambda items: len(items) >= n,
    )
    return items


def test_critical_findings_arrive_with_the_incremental_run_that_finds_them(
    settings: Settings, database: Database, headers_for: HeadersFor, receiver: Receiver
) -> None:
    """及时通报: nobody starts a run; the push's own incremental run opens the finding and its
    event goes out in the same breath, to a subscriber filtering on critical severity."""
    from linkage_hub.app import create_app

    live = make_settings(
        settings.database_url or "",
        settings.data_dir,
        webhook_allow_hosts=["127.0.0.1"],
        webhook_poll_seconds=0.1,
        reconcile_on_write=True,
        reconcile_on_write_delay=0.05,
        reconcile_on_write_poll=0.2,
        schedule_regions=[COUNTY],
    )
    db = Database(live)
    try:
        with TestClient(create_app(live, database=db), raise_server_exceptions=False) as client:
            sub = subscribe(
                client,
                headers_for("audit", COUNTY),  # a token of the same hub: any process takes it
                receiver.url,
                ["finding.opened"],
                severities=["critical"],
            )
            ghost_pay(client, headers_for, COUNTY, 60)
            receiver.wait(lambda got: len(got) >= 1, 30)
    finally:
        db.dispose()
    bodies = receiver.verified(sub["secret"])
    assert [(b["type"], b["data"]["rule"], b["data"]["severity"]) for b in bodies] == [
        ("finding.opened", "PAID_WITHOUT_ESTABLISHMENT", "critical")
    ]
    assert bodies[0]["data"]["kind"] == "incremental"


def test_a_meeting_comment_and_decision_arrive_once_with_each_transition(
    client: TestClient, headers_for: HeadersFor, receiver: Receiver
) -> None:
    events = ["meeting.decided", "meeting.commented", "finding.transitioned"]
    sub = subscribe(client, headers_for("finance", COUNTY), receiver.url, events)
    for n in (10, 20):
        ghost_pay(client, headers_for, COUNTY, n)
    run(client, headers_for, COUNTY)
    office = headers_for("establishment", COUNTY)
    found = [i["id"] for i in client.get("/api/v1/discrepancies", headers=office).json()["items"]]
    assert len(found) == 2
    meeting = client.post(
        "/api/v1/meetings",
        json={
            "region": COUNTY, "held_on": hub_today().isoformat(), "title": "联席会议",
            "minutes_no": "纪要〔2026〕7号", "departments": ["finance"], "finding_ids": found,
        },
        headers=office,
    ).json()  # fmt: skip
    said = client.post(
        f"/api/v1/meetings/{meeting['id']}/comments",
        json={"body": "财政局：两人已停发，请核销"},
        headers=headers_for("finance", COUNTY),
    )
    assert said.status_code == 201, said.text
    decisions = [
        {"finding_id": found[0], "to": "acknowledged", "responsible_department": "finance"},
        {"finding_id": found[1], "to": "waived", "reason": "会议决定豁免"},
    ]
    decided = client.post(
        f"/api/v1/meetings/{meeting['id']}/decisions", json={"decisions": decisions}, headers=office
    )
    assert decided.status_code == 200, decided.text
    receiver.wait(lambda got: "meeting.decided" in [r.json["type"] for r in got])
    bodies = receiver.verified(sub["secret"])
    assert [b["type"] for b in bodies] == [
        "meeting.commented",
        "finding.transitioned",
        "finding.transitioned",
        "meeting.decided",
    ]
    assert all(b["data"]["meeting_id"] == meeting["id"] for b in bodies)
    commented = bodies[0]["data"]
    assert (commented["comment_id"], commented["department"]) == (said.json()["id"], "finance")
    assert commented["links"]["meeting"] == f"/api/v1/meetings/{meeting['id']}"
    assert {b["data"]["document_no"] for b in bodies[1:3]} == {"纪要〔2026〕7号"}
    data = bodies[-1]["data"]
    assert (data["decisions"], data["acknowledged"], data["waived"]) == (2, 1, 1)
    link = data["links"]["meeting"]
    assert client.get(link, headers=headers_for("finance", COUNTY)).json()["id"] == meeting["id"]
    sent = b"".join(r.body for r in receiver.received).decode()
    assert "会议决定豁免" not in sent and "两人已停发" not in sent  # never a reason or a comment
