"""The authorization matrix: every route of ``ROUTE_POLICY`` × department × region relation.

Every route needs a row in ``SAMPLES``: how to make one request to it about a resource that
lives in ``RESOURCE_REGION`` (230100), and which status each department should get from each
region relation of the caller to that resource:

=========  ==============  =====================================================
relation   caller region   the resource in 230100 is ...
=========  ==============  =====================================================
same       230100          visible
parent     230000          visible (province ⊃ city)
child      230102          invisible: a county does not see its city's own units
sibling    230200          invisible: another city
=========  ==============  =====================================================

Invisible means 404 for a single resource, and absent from the items of a list (``shows``).
A route missing from ``SAMPLES`` fails ``test_every_route_has_a_sample``: when you add a route,
add its ``ROUTE_POLICY`` row and its sample row in the same change. ``setup`` runs once per
cell, so samples may change or consume their resource (use ``ctx.once`` to share costly setup).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text

from linkage_hub.auth.policy import ROUTE_POLICY, Permission
from linkage_hub.db import Database
from linkage_hub.domain import Department
from tests.auth.helpers import new_client
from tests.conftest import HeadersFor, hub_today
from tests.records import factory as records_factory

RESOURCE_REGION = "230100"
RELATIONS = {"same": "230100", "parent": "230000", "child": "230102", "sibling": "230200"}
VISIBLE = frozenset({"same", "parent"})
EVERYONE = frozenset(Department)


@dataclass
class Ctx:
    """What a sample's setup gets: the test client, tokens for any department, the database."""

    client: TestClient
    headers_for: HeadersFor
    database: Database
    memo: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


@dataclass(frozen=True)
class Call:
    """One concrete request; ``shows`` says whether a list response contains the resource."""

    path: str
    json: Any = None
    data: dict[str, str] | None = None
    params: dict[str, str] | None = None
    shows: Callable[[Response], bool] | None = None
    headers: dict[str, str] | None = None


Expect = Callable[[Department, str], int]


@dataclass(frozen=True)
class Sample:
    setup: Callable[[Ctx], Call]
    expect: Expect
    anonymous: int = 401  # the status without any token


# --- Expectations -----------------------------------------------------------------------------


def always(status: int) -> Expect:
    """Public routes, and lists that filter by region (status does not depend on region)."""
    return lambda department, relation: status


def departments(allowed: Collection[Department], ok: int = 200) -> Expect:
    """A list or action open to ``allowed`` (others 403) whatever the region relation."""
    return lambda department, relation: ok if department in allowed else 403


def region_first(allowed: Collection[Department], ok: int = 200) -> Expect:
    """A rule the service decides about a resource: outside the region it does not exist (404)
    for anyone; inside, ``allowed`` departments succeed and the others get 403."""

    def expect(department: Department, relation: str) -> int:
        if relation not in VISIBLE:
            return 404
        return ok if department in allowed else 403

    return expect


def in_region(allowed: Collection[Department] = EVERYONE, ok: int = 200) -> Expect:
    """A single resource: ``allowed`` departments see it from same/parent, 404 otherwise."""

    def expect(department: Department, relation: str) -> int:
        if department not in allowed:
            return 403
        return ok if relation in VISIBLE else 404

    return expect


# --- Samples ----------------------------------------------------------------------------------


def _static(path: str) -> Callable[[Ctx], Call]:
    return lambda ctx: Call(path)


def _token_request(ctx: Ctx) -> Call:
    client_id, secret = ctx.once("token-client", lambda: new_client(ctx.database, "hr"))
    return Call(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def _access_record(ctx: Ctx) -> Call:
    """The resource: an access record of an HR client in 230100, found by its request id."""
    # Hyphenated: a bare hex uuid holds a run of 15 digits about once in a hundred, and the hub
    # refuses a caller's id that could be an ID number (the record would then carry none).
    request_id = f"matrix-{uuid.uuid4()}"
    ctx.client.get(
        "/api/v1/access-records",
        headers=ctx.headers_for("hr", RESOURCE_REGION) | {"X-Request-ID": request_id},
    )

    ctx.client.app.state.auth.recorder.flush()  # type: ignore[attr-defined]

    def shows(response: Response) -> bool:
        return any(item["client_request_id"] == request_id for item in response.json()["items"])

    # Narrowed to HR's reads of this route: the matrix writes thousands of access records.
    params = {"limit": "1000", "department": "hr", "route": "/api/v1/access-records"}
    return Call("/api/v1/access-records", params=params, shows=shows)


def _failed_sign_in(ctx: Ctx) -> Call:
    """A wrong password, with the lockout's counts cleared (21 failures from one address would
    lock it: the lockout has tests of its own)."""
    with ctx.database.transaction() as session:
        session.execute(text("DELETE FROM auth_throttle"))
    return Call("/console/login", data={"username": "nobody", "password": "x" * 12})


def _fresh_n(ctx: Ctx) -> int:
    n = int(ctx.memo.get("n", 0)) + 1
    ctx.memo["n"] = n
    return n


def _pushed_roster(ctx: Ctx, n: int) -> tuple[str, str, str]:
    """A roster record in 230100: (record_key, etag, id_number)."""
    owner = ctx.headers_for("establishment", RESOURCE_REGION)
    record = records_factory.roster(n)
    pushed = ctx.client.post(
        "/api/v1/datasets/roster/batches", json={"records": [record]}, headers=owner
    )
    assert pushed.status_code == 201, pushed.text
    listed = ctx.client.get(
        "/api/v1/datasets/roster/records",
        params={"id_number": record["id_number"]},
        headers=owner,
    ).json()["items"]
    key = listed[0]["record_key"]
    etag = ctx.client.get(f"/api/v1/datasets/roster/records/{key}", headers=owner).headers["etag"]
    return key, etag, record["id_number"]


def _shared_roster(ctx: Ctx) -> tuple[str, str, str]:
    result: tuple[str, str, str] = ctx.once("roster", lambda: _pushed_roster(ctx, 900))
    return result


def _push_batch(ctx: Ctx) -> Call:
    return Call(
        "/api/v1/datasets/roster/batches",
        json={"records": [records_factory.roster(_fresh_n(ctx))]},
    )


def _writes_roster(ok: int) -> Expect:
    """The establishment office writes the roster in its region; a unit outside it is a bad row."""

    def expect(department: Department, relation: str) -> int:
        if department is not Department.establishment:
            return 403
        return ok if relation in VISIBLE else 422

    return expect


def _edits_roster(ok: int) -> Expect:
    def expect(department: Department, relation: str) -> int:
        if department is not Department.establishment:
            return 403
        return ok if relation in VISIBLE else 404

    return expect


def _batch_id(ctx: Ctx) -> str:
    def make() -> str:
        owner = ctx.headers_for("establishment", RESOURCE_REGION)
        body = {"records": [records_factory.roster(901)]}
        pushed = ctx.client.post("/api/v1/datasets/roster/batches", json=body, headers=owner)
        return str(pushed.json()["batch_id"])

    return str(ctx.once("batch", make))


def _batch(ctx: Ctx) -> Call:
    return Call(f"/api/v1/batches/{_batch_id(ctx)}")


def _audit_log(ctx: Ctx) -> Call:
    """The resource: the audit-log entry of a batch pushed in 230100."""
    batch_id = _batch_id(ctx)
    return Call(
        "/api/v1/audit-log",
        params={"action": "batch.push", "limit": "1000"},
        shows=lambda r: any(i["target_id"] == batch_id for i in r.json()["items"]),
    )


def _record_list(ctx: Ctx) -> Call:
    key = _shared_roster(ctx)[0]
    return Call(
        "/api/v1/datasets/roster/records",
        params={"limit": "1000"},
        shows=lambda r: any(i["record_key"] == key for i in r.json()["items"]),
    )


def _record(suffix: str = "") -> Callable[[Ctx], Call]:
    return lambda ctx: Call(f"/api/v1/datasets/roster/records/{_shared_roster(ctx)[0]}{suffix}")


def _replace(ctx: Ctx) -> Call:
    n = _fresh_n(ctx)
    key, etag, _ = _pushed_roster(ctx, n)
    record = records_factory.roster(n, name="李四")
    return Call(f"/api/v1/datasets/roster/records/{key}", json=record, headers={"If-Match": etag})


def _delete(ctx: Ctx) -> Call:
    key, etag, _ = _pushed_roster(ctx, _fresh_n(ctx))
    return Call(f"/api/v1/datasets/roster/records/{key}", headers={"If-Match": etag})


def _changes(ctx: Ctx) -> Call:
    key = _shared_roster(ctx)[0]
    return Call(
        "/api/v1/changes",
        params={"limit": "1000"},
        shows=lambda r: any(i["record_key"] == key for i in r.json()["items"]),
    )


def _person(ctx: Ctx) -> Call:
    return Call(f"/api/v1/persons/{_shared_roster(ctx)[2]}")


def _wait_for_no_active_run(ctx: Ctx) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with ctx.database.transaction() as session:
            active = session.execute(
                text("SELECT COUNT(*) FROM reconciliation_run WHERE status IN ('queued','running')")
            ).scalar_one()
        if not active:
            return
        time.sleep(0.05)
    raise AssertionError("a reconciliation run did not finish")


def _ghost_finding(ctx: Ctx) -> tuple[str, str]:
    """A run over 230100 that finds a person paid with no roster entry: (run_id, finding_id)."""

    def make() -> tuple[str, str]:
        owner = ctx.headers_for("establishment", RESOURCE_REGION)
        ghost = records_factory.payroll(902)
        body = {"scope": {"region": RESOURCE_REGION, "period": "2026-10"}, "records": [ghost]}
        finance = ctx.headers_for("finance", RESOURCE_REGION)
        assert (
            ctx.client.post(
                "/api/v1/datasets/payroll/batches", json=body, headers=finance
            ).status_code
            == 201
        )
        _wait_for_no_active_run(ctx)
        run = ctx.client.post(
            "/api/v1/reconciliation/runs", json={"region": RESOURCE_REGION}, headers=owner
        ).json()
        _wait_for_no_active_run(ctx)
        items = ctx.client.get(
            "/api/v1/discrepancies",
            params={"rule": "PAID_WITHOUT_ESTABLISHMENT"},
            headers=owner,
        ).json()["items"]
        return str(run["run_id"]), str(items[0]["id"])

    result: tuple[str, str] = ctx.once("ghost", make)
    return result


def _start_run(ctx: Ctx) -> Call:
    _ghost_finding(ctx)  # the hub holds records in the region: a run of it may start
    _wait_for_no_active_run(ctx)
    return Call("/api/v1/reconciliation/runs", json={"region": RESOURCE_REGION})


def _run_list(ctx: Ctx) -> Call:
    run_id = _ghost_finding(ctx)[0]
    return Call(
        "/api/v1/reconciliation/runs",
        params={"limit": "1000"},
        shows=lambda r: any(i["run_id"] == run_id for i in r.json()["items"]),
    )


def _finding_list(ctx: Ctx) -> Call:
    finding = _ghost_finding(ctx)[1]
    return Call(
        "/api/v1/discrepancies",
        params={"limit": "1000"},
        shows=lambda r: any(i["id"] == finding for i in r.json()["items"]),
    )


def _finding_summary(ctx: Ctx) -> Call:
    _ghost_finding(ctx)
    return Call(
        "/api/v1/discrepancies/summary",
        params={"units_limit": "100"},
        shows=lambda r: any(u["region"] == RESOURCE_REGION for u in r.json()["units"]),
    )


def _acknowledge(ctx: Ctx) -> Call:
    finding = _ghost_finding(ctx)[1]
    with ctx.database.transaction() as session:  # every cell starts from an open finding
        session.execute(
            text("UPDATE reconciliation_finding SET status = 'open' WHERE id = :id"),
            {"id": finding},
        )
    return Call(f"/api/v1/discrepancies/{finding}/transitions", json={"to": "acknowledged"})


def _console_findings(ctx: Ctx) -> Call:
    finding = _ghost_finding(ctx)[1]
    return Call(
        "/console/findings",
        params={"rule": "PAID_WITHOUT_ESTABLISHMENT"},
        shows=lambda r: f'href="/console/findings/{finding}"' in r.text,
    )


def _console_acknowledge(ctx: Ctx) -> Call:
    """The API sample's finding (made open again), acknowledged by the console's form."""
    path = _acknowledge(ctx).path.replace("/api/v1/discrepancies/", "/console/findings/")
    return Call(path, data={"to": "acknowledged"})


def _tenure(ctx: Ctx) -> Call:
    def make() -> str:
        cadre = records_factory.cadre(903, leader_level="principal", appointed_on="2026-01-01")
        organization = ctx.headers_for("organization", RESOURCE_REGION)
        pushed = ctx.client.post(
            "/api/v1/datasets/cadres/batches", json={"records": [cadre]}, headers=organization
        )
        assert pushed.status_code == 201, pushed.text
        return str(cadre["id_number"])

    number = ctx.once("tenure", make)
    unit = records_factory.unit_code(1)
    return Call("/api/v1/reports/tenure", params={"id_number": number, "unit_code": unit})


def _meeting_body(ctx: Ctx, departments: list[str]) -> dict[str, Any]:
    """A meeting of 230100 on the ghost finding (reset to open), minutes numbered afresh."""
    finding = _ghost_finding(ctx)[1]
    with ctx.database.transaction() as session:
        session.execute(
            text("UPDATE reconciliation_finding SET status = 'open' WHERE id = :id"),
            {"id": finding},
        )
    return {
        "region": RESOURCE_REGION,
        "held_on": hub_today().isoformat(),
        "title": "矩阵联席会议",
        "minutes_no": f"矩阵〔{_fresh_n(ctx)}〕号",
        "departments": departments,
        "finding_ids": [finding],
    }


def _meeting(ctx: Ctx, departments: tuple[str, ...] = ("finance",)) -> str:
    """A fresh meeting convened by the establishment office of 230100: its id."""
    made = ctx.client.post(
        "/api/v1/meetings",
        json=_meeting_body(ctx, list(departments)),
        headers=ctx.headers_for("establishment", RESOURCE_REGION),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _shared_meeting(ctx: Ctx) -> str:
    return str(ctx.once("meeting", lambda: _meeting(ctx)))


def _meeting_list(ctx: Ctx) -> Call:
    meeting = _shared_meeting(ctx)
    return Call(
        "/api/v1/meetings",
        params={"limit": "1000"},
        shows=lambda r: any(i["id"] == meeting for i in r.json()["items"]),
    )


def _decide(ctx: Ctx) -> Call:
    meeting = _meeting(ctx)
    finding = _ghost_finding(ctx)[1]
    decision = {"finding_id": finding, "to": "acknowledged", "responsible_department": "finance"}
    return Call(f"/api/v1/meetings/{meeting}/decisions", json={"decisions": [decision]})


def _console_meetings(ctx: Ctx) -> Call:
    meeting = _shared_meeting(ctx)
    return Call(
        "/console/meetings", shows=lambda r: f'href="/console/meetings/{meeting}"' in r.text
    )


def _console_decide(ctx: Ctx) -> Call:
    """The API sample's decision, posted by the console's form on a fresh meeting."""
    call = _decide(ctx)
    finding = _ghost_finding(ctx)[1]
    data = {f"to.{finding}": "acknowledged", f"responsible.{finding}": "finance"}
    return Call(call.path.replace("/api/v1/meetings/", "/console/meetings/"), data=data)


def _annual(ctx: Ctx) -> Call:
    params = {"unit_code": _registered_unit(ctx), "year": str(hub_today().year)}
    return Call("/api/v1/reports/annual", params=params)


def _discrepancy_report(ctx: Ctx) -> Call:
    finding = _ghost_finding(ctx)[1]
    return Call(
        "/api/v1/reports/discrepancies",
        shows=lambda r: any(i["id"] == finding for i in r.json()["items"]),
    )


def _console_runs(ctx: Ctx) -> Call:
    run_id = _ghost_finding(ctx)[0]
    return Call(
        "/console/runs",
        params={"kind": "full"},  # the page shows 50; the matrix's writes start incremental runs
        shows=lambda r: f'href="/console/runs/{run_id}"' in r.text,
    )


def _console_start_run(ctx: Ctx) -> Call:
    _start_run(ctx)
    return Call("/console/runs", data={"region": RESOURCE_REGION})


def _in_console(setup: Callable[[Ctx], Call]) -> Callable[[Ctx], Call]:
    """The API report sample, sent to the console's mount of the same endpoint."""

    def make(ctx: Ctx) -> Call:
        call = setup(ctx)
        return replace(call, path=call.path.replace("/api/v1/reports/", "/console/reports/", 1))

    return make


# A subscription belongs to the client that made it (the establishment office of 230100 here):
# every other client, whatever its department or region, finds no such subscription. The URL
# is a public address literal (no DNS lookup) and the event is one nothing emits yet, so the
# delivery worker never calls out.
HOOK = {"url": "https://93.184.216.34/hook", "events": ["bulletin.published"]}


def _subscribe(ctx: Ctx) -> str:
    owner = ctx.headers_for("establishment", RESOURCE_REGION)
    made = ctx.client.post("/api/v1/subscriptions", json=HOOK, headers=owner)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _subscription(suffix: str = "", **call: Any) -> Callable[[Ctx], Call]:
    def setup(ctx: Ctx) -> Call:
        sub = ctx.once("subscription", lambda: _subscribe(ctx))
        return Call(f"/api/v1/subscriptions/{sub}{suffix}", **call)

    return setup


def _bulletin(ctx: Ctx) -> str:
    """The finance bulletin of 230100 for November 2026."""

    def make() -> str:
        import datetime as dt

        from linkage_hub.notifications.bulletins import publish

        with ctx.database.transaction() as session:
            made = publish(
                session,
                ctx.client.app.state.settings,  # type: ignore[attr-defined]
                RESOURCE_REGION,
                dt.date(2026, 11, 1),
                dt.date(2026, 12, 1),
                dt.datetime.now(dt.UTC),
            )
            return next(b.id for b in made if b.department == "finance")

    result: str = ctx.once("bulletin", make)
    return result


def _bulletin_list(ctx: Ctx) -> Call:
    bulletin = _bulletin(ctx)
    return Call(
        "/api/v1/bulletins",
        params={"limit": "1000"},
        shows=lambda r: any(i["id"] == bulletin for i in r.json()["items"]),
    )


# --- the public face (issue 18) ---


def _registered_unit(ctx: Ctx) -> str:
    """A registered unit of 230100 (so the region is known, and publishable)."""

    def make() -> str:
        unit = records_factory.unit(1)
        response = ctx.client.post(
            "/api/v1/datasets/units/batches",
            json={"records": [unit]},
            headers=ctx.headers_for("establishment", RESOURCE_REGION),
        )
        assert response.status_code == 201, response.text
        return str(unit["unit_code"])

    return str(ctx.once("unit", make))


def _publication(ctx: Ctx) -> str:
    def make() -> str:
        _registered_unit(ctx)
        made = ctx.client.post(
            "/api/v1/disclosures",
            json={"region": RESOURCE_REGION},
            headers=ctx.headers_for("establishment", RESOURCE_REGION),
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    return str(ctx.once("publication", make))


def _publish(ctx: Ctx) -> Call:
    _registered_unit(ctx)
    return Call("/api/v1/disclosures", json={"region": RESOURCE_REGION})


def _publications(ctx: Ctx) -> Call:
    publication = _publication(ctx)
    return Call(
        "/api/v1/disclosures",
        params={"limit": "1000"},
        shows=lambda r: any(i["id"] == publication for i in r.json()["items"]),
    )


def _console_publish(ctx: Ctx) -> Call:
    _registered_unit(ctx)
    return Call("/console/disclosures", data={"region": RESOURCE_REGION})


def _console_publications(ctx: Ctx) -> Call:
    publication = _publication(ctx)
    return Call("/console/disclosures", shows=lambda r: f'id="d-{publication}"' in r.text)


def _public(path: str) -> Callable[[Ctx], Call]:
    def setup(ctx: Ctx) -> Call:
        _publication(ctx)
        return Call(path.format(region=RESOURCE_REGION, unit=_registered_unit(ctx)))

    return setup


REPORT = {"category": "ghost_pay", "region": RESOURCE_REGION, "facts": "矩阵测试"}


def _file_case(ctx: Ctx) -> tuple[str, str, str]:
    """A fresh 12310 case of 230100: (case id, tracking code, secret)."""
    from sqlalchemy import select

    from linkage_hub.cases.models import Case

    _registered_unit(ctx)  # the hub serves the region: it takes reports about it
    receipt = ctx.client.post("/public/v1/reports", json=REPORT).json()
    with ctx.database.transaction() as session:
        case_id = session.scalar(
            select(Case.id).where(Case.tracking_code == receipt["tracking_code"])
        )
    return str(case_id), receipt["tracking_code"], receipt["secret"]


def _shared_case(ctx: Ctx) -> tuple[str, str, str]:
    result: tuple[str, str, str] = ctx.once("case", lambda: _file_case(ctx))
    return result


def _case_list(ctx: Ctx) -> Call:
    case = _shared_case(ctx)[0]
    return Call(
        "/api/v1/cases",
        params={"limit": "1000"},
        shows=lambda r: any(i["id"] == case for i in r.json()["items"]),
    )


def _console_cases(ctx: Ctx) -> Call:
    case = _shared_case(ctx)[0]
    return Call("/console/cases", shows=lambda r: f'href="/console/cases/{case}"' in r.text)


def _follow(ctx: Ctx) -> Call:
    _, code, secret = _shared_case(ctx)
    return Call(f"/public/v1/reports/{code}", headers={"X-Report-Secret": secret})


def _follow_page(ctx: Ctx) -> Call:
    _, code, secret = _shared_case(ctx)
    return Call(f"/public/12310/{code}", data={"secret": secret})


def handling_office(ok: int = 200) -> Expect:
    """A 12310 case is worked by the establishment office of exactly its region; an office
    above reads it (supervision) but may not act: 403; below or beside: it does not exist."""

    def expect(department: Department, relation: str) -> int:
        if department is not Department.establishment:
            return 403
        return {"same": ok, "parent": 403}.get(relation, 404)

    return expect


def owner_only(ok: int = 200) -> Expect:
    return lambda department, relation: (
        ok if department is Department.establishment and relation == "same" else 404
    )


SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/health/live"): Sample(_static("/health/live"), always(200), anonymous=200),
    ("GET", "/health/ready"): Sample(_static("/health/ready"), always(200), anonymous=200),
    ("GET", "/metrics"): Sample(_static("/metrics"), always(200), anonymous=200),
    ("GET", "/openapi.json"): Sample(_static("/openapi.json"), always(200), anonymous=200),
    ("GET", "/docs"): Sample(_static("/docs"), always(200), anonymous=200),
    ("GET", "/docs/oauth2-redirect"): Sample(
        _static("/docs/oauth2-redirect"), always(200), anonymous=200
    ),
    ("GET", "/redoc"): Sample(_static("/redoc"), always(200), anonymous=200),
    ("GET", "/"): Sample(_static("/"), always(200), anonymous=200),
    ("GET", "/assets/{name}"): Sample(
        _static("/assets/swagger-ui.css"), always(200), anonymous=200
    ),
    ("POST", "/oauth/token"): Sample(_token_request, always(200), anonymous=200),
    ("GET", "/oauth/jwks"): Sample(_static("/oauth/jwks"), always(200), anonymous=200),
    ("GET", "/api/v1/access-records"): Sample(_access_record, departments({Department.audit})),
    ("POST", "/api/v1/datasets/{dataset}/batches"): Sample(_push_batch, _writes_roster(201)),
    ("GET", "/api/v1/batches/{batch_id}"): Sample(_batch, in_region()),
    ("GET", "/api/v1/datasets/{dataset}/records"): Sample(_record_list, always(200)),
    ("GET", "/api/v1/datasets/{dataset}/records/{record_key}"): Sample(_record(), in_region()),
    ("PUT", "/api/v1/datasets/{dataset}/records/{record_key}"): Sample(
        _replace, _edits_roster(200)
    ),
    ("DELETE", "/api/v1/datasets/{dataset}/records/{record_key}"): Sample(
        _delete, _edits_roster(204)
    ),
    ("GET", "/api/v1/datasets/{dataset}/records/{record_key}/history"): Sample(
        _record("/history"), in_region()
    ),
    ("GET", "/api/v1/changes"): Sample(_changes, always(200)),
    ("GET", "/api/v1/persons/{id_number}"): Sample(_person, in_region()),
    ("GET", "/api/v1/reconciliation/rules"): Sample(
        _static("/api/v1/reconciliation/rules"), always(200)
    ),
    ("GET", "/api/v1/reconciliation/runs"): Sample(_run_list, always(200)),
    ("POST", "/api/v1/reconciliation/runs"): Sample(
        _start_run, in_region({Department.establishment}, ok=202)
    ),
    ("GET", "/api/v1/reconciliation/runs/{run_id}"): Sample(
        lambda ctx: Call(f"/api/v1/reconciliation/runs/{_ghost_finding(ctx)[0]}"), in_region()
    ),
    ("GET", "/api/v1/discrepancies"): Sample(_finding_list, always(200)),
    ("GET", "/api/v1/discrepancies/summary"): Sample(_finding_summary, always(200)),
    ("GET", "/api/v1/discrepancies/{finding_id}"): Sample(
        lambda ctx: Call(f"/api/v1/discrepancies/{_ghost_finding(ctx)[1]}"), in_region()
    ),
    ("POST", "/api/v1/discrepancies/{finding_id}/comments"): Sample(
        lambda ctx: Call(
            f"/api/v1/discrepancies/{_ghost_finding(ctx)[1]}/comments", json={"body": "会商"}
        ),
        in_region(ok=201),
    ),
    ("POST", "/api/v1/discrepancies/{finding_id}/transitions"): Sample(
        _acknowledge, region_first({Department.finance, Department.establishment})
    ),
    ("GET", "/api/v1/reports/discrepancies"): Sample(_discrepancy_report, always(200)),
    ("GET", "/api/v1/reports/tenure"): Sample(_tenure, in_region()),
    ("POST", "/api/v1/meetings"): Sample(
        lambda ctx: Call("/api/v1/meetings", json=_meeting_body(ctx, ["finance"])),
        in_region({Department.establishment, Department.audit}, ok=201),
    ),
    ("GET", "/api/v1/meetings"): Sample(_meeting_list, always(200)),
    ("GET", "/api/v1/meetings/{meeting_id}"): Sample(
        lambda ctx: Call(f"/api/v1/meetings/{_shared_meeting(ctx)}"), in_region()
    ),
    ("POST", "/api/v1/meetings/{meeting_id}/decisions"): Sample(
        _decide, in_region({Department.establishment, Department.audit})
    ),
    # Attending: finance and the establishment office (the convener); others 403 in region.
    ("POST", "/api/v1/meetings/{meeting_id}/comments"): Sample(
        lambda ctx: Call(
            f"/api/v1/meetings/{_shared_meeting(ctx)}/comments", json={"body": "会商意见"}
        ),
        region_first({Department.finance, Department.establishment}, ok=201),
    ),
    ("GET", "/api/v1/meetings/{meeting_id}/minutes"): Sample(
        lambda ctx: Call(
            f"/api/v1/meetings/{_shared_meeting(ctx)}/minutes", params={"format": "xlsx"}
        ),
        in_region(),
    ),
    ("GET", "/api/v1/reports/annual"): Sample(_annual, in_region()),
    ("GET", "/api/v1/audit-log"): Sample(_audit_log, departments({Department.audit})),
    ("GET", "/api/v1/audit-log/verify"): Sample(
        _static("/api/v1/audit-log/verify"), departments({Department.audit})
    ),
    ("POST", "/api/v1/subscriptions"): Sample(
        lambda ctx: Call(
            "/api/v1/subscriptions", json=HOOK | {"filters": {"region": RESOURCE_REGION}}
        ),
        in_region(ok=201),
    ),
    ("GET", "/api/v1/subscriptions"): Sample(_static("/api/v1/subscriptions"), always(200)),
    ("GET", "/api/v1/subscriptions/{subscription_id}"): Sample(_subscription(), owner_only()),
    ("PATCH", "/api/v1/subscriptions/{subscription_id}"): Sample(
        _subscription(json={"description": "矩阵"}), owner_only()
    ),
    ("DELETE", "/api/v1/subscriptions/{subscription_id}"): Sample(
        lambda ctx: Call(f"/api/v1/subscriptions/{_subscribe(ctx)}"), owner_only(204)
    ),
    ("POST", "/api/v1/subscriptions/{subscription_id}/rotate-secret"): Sample(
        _subscription("/rotate-secret"), owner_only()
    ),
    ("GET", "/api/v1/subscriptions/{subscription_id}/deliveries"): Sample(
        _subscription("/deliveries"), owner_only()
    ),
    ("POST", "/api/v1/subscriptions/{subscription_id}/replay"): Sample(
        _subscription("/replay", json={"from_seq": 1}),
        owner_only(422),  # nothing sent yet
    ),
    ("GET", "/api/v1/bulletins"): Sample(_bulletin_list, always(200)),
    ("GET", "/api/v1/bulletins/{bulletin_id}"): Sample(
        lambda ctx: Call(f"/api/v1/bulletins/{_bulletin(ctx)}"), in_region()
    ),
    ("POST", "/api/v1/disclosures"): Sample(
        _publish, in_region({Department.establishment}, ok=201)
    ),
    ("GET", "/api/v1/disclosures"): Sample(_publications, departments({Department.establishment})),
    ("GET", "/api/v1/disclosures/preview"): Sample(
        lambda ctx: Call("/api/v1/disclosures/preview", params={"region": RESOURCE_REGION}),
        in_region({Department.establishment}),
    ),
    ("GET", "/api/v1/cases"): Sample(
        _case_list, departments({Department.establishment, Department.audit})
    ),
    ("GET", "/api/v1/cases/{case_id}"): Sample(
        lambda ctx: Call(f"/api/v1/cases/{_shared_case(ctx)[0]}"),
        in_region({Department.establishment, Department.audit}),
    ),
    ("POST", "/api/v1/cases/{case_id}/transitions"): Sample(
        lambda ctx: Call(
            f"/api/v1/cases/{_file_case(ctx)[0]}/transitions", json={"to": "accepted"}
        ),
        handling_office(),
    ),
    ("POST", "/api/v1/cases/{case_id}/links"): Sample(
        lambda ctx: Call(
            f"/api/v1/cases/{_shared_case(ctx)[0]}/links",
            json={"unit_code": _registered_unit(ctx)},
        ),
        handling_office(),
    ),
    ("GET", "/public/v1/disclosures/{region}"): Sample(
        _public("/public/v1/disclosures/{region}"), always(200), anonymous=200
    ),
    ("GET", "/public/v1/disclosures/{region}/units/{unit_code}"): Sample(
        _public("/public/v1/disclosures/{region}/units/{unit}"), always(200), anonymous=200
    ),
    ("POST", "/public/v1/reports"): Sample(
        lambda ctx: (_registered_unit(ctx), Call("/public/v1/reports", json=REPORT))[1],
        always(201),
        anonymous=201,
    ),
    ("GET", "/public/v1/reports/{tracking_code}"): Sample(_follow, always(200), anonymous=200),
    ("GET", "/public/"): Sample(_public("/public/"), always(200), anonymous=200),
    ("GET", "/public/assets/public.css"): Sample(
        _static("/public/assets/public.css"), always(200), anonymous=200
    ),
    ("GET", "/public/disclosures/{region}"): Sample(
        _public("/public/disclosures/{region}"), always(200), anonymous=200
    ),
    ("GET", "/public/disclosures/{region}/units/{unit_code}"): Sample(
        _public("/public/disclosures/{region}/units/{unit}"), always(200), anonymous=200
    ),
    ("GET", "/public/12310"): Sample(_static("/public/12310"), always(200), anonymous=200),
    ("POST", "/public/12310"): Sample(
        lambda ctx: (_registered_unit(ctx), Call("/public/12310", data=REPORT))[1],
        always(201),
        anonymous=201,
    ),
    ("GET", "/public/12310/lookup"): Sample(
        lambda ctx: Call("/public/12310/lookup", params={"tracking_code": _shared_case(ctx)[1]}),
        always(303),  # to the follow-up page
        anonymous=303,
    ),
    ("GET", "/public/12310/{tracking_code}"): Sample(
        lambda ctx: Call(f"/public/12310/{_shared_case(ctx)[1]}"), always(200), anonymous=200
    ),
    ("POST", "/public/12310/{tracking_code}"): Sample(_follow_page, always(200), anonymous=200),
    ("GET", "/api/v1/reports/staffing"): Sample(
        lambda ctx: Call("/api/v1/reports/staffing", params={"region": RESOURCE_REGION}),
        in_region(),
    ),
    # The console: a person's session cookie instead of a token; signed out, a page redirects
    # (303) to the sign-in page.
    ("GET", "/console/assets/console.css"): Sample(
        _static("/console/assets/console.css"), always(200), anonymous=200
    ),
    ("GET", "/console/login"): Sample(_static("/console/login"), always(200), anonymous=200),
    ("POST", "/console/login"): Sample(_failed_sign_in, always(401), anonymous=401),
    ("POST", "/console/logout"): Sample(_static("/console/logout"), always(303), anonymous=303),
    ("GET", "/console/"): Sample(_static("/console/"), always(200), anonymous=303),
    ("GET", "/console/findings"): Sample(_console_findings, always(200), anonymous=303),
    ("GET", "/console/findings/{finding_id}"): Sample(
        lambda ctx: Call(f"/console/findings/{_ghost_finding(ctx)[1]}"), in_region(), anonymous=303
    ),
    ("POST", "/console/findings/{finding_id}/comments"): Sample(
        lambda ctx: Call(
            f"/console/findings/{_ghost_finding(ctx)[1]}/comments", data={"body": "会商"}
        ),
        in_region(ok=303),
        anonymous=303,
    ),
    ("POST", "/console/findings/{finding_id}/transitions"): Sample(
        _console_acknowledge,
        region_first({Department.finance, Department.establishment}, ok=303),
        anonymous=303,
    ),
    # 12310 cases: as their API rows
    ("GET", "/console/cases"): Sample(
        _console_cases, departments({Department.establishment, Department.audit}), anonymous=303
    ),
    ("GET", "/console/cases/{case_id}"): Sample(
        lambda ctx: Call(f"/console/cases/{_shared_case(ctx)[0]}"),
        in_region({Department.establishment, Department.audit}),
        anonymous=303,
    ),
    ("POST", "/console/cases/{case_id}/transitions"): Sample(
        lambda ctx: Call(
            f"/console/cases/{_file_case(ctx)[0]}/transitions", data={"to": "accepted"}
        ),
        handling_office(ok=303),
        anonymous=303,
    ),
    ("POST", "/console/cases/{case_id}/links"): Sample(
        lambda ctx: Call(
            f"/console/cases/{_shared_case(ctx)[0]}/links",
            data={"unit_code": _registered_unit(ctx)},
        ),
        handling_office(ok=303),
        anonymous=303,
    ),
    # runs and reports: as their API rows
    ("GET", "/console/meetings"): Sample(
        _console_meetings,
        always(200),
        anonymous=303,
    ),
    ("GET", "/console/meetings/{meeting_id}"): Sample(
        lambda ctx: Call(f"/console/meetings/{_shared_meeting(ctx)}"), in_region(), anonymous=303
    ),
    ("POST", "/console/meetings/{meeting_id}/comments"): Sample(
        lambda ctx: Call(
            f"/console/meetings/{_shared_meeting(ctx)}/comments", data={"body": "会商意见"}
        ),
        region_first({Department.finance, Department.establishment}, ok=303),
        anonymous=303,
    ),
    ("POST", "/console/meetings/{meeting_id}/decisions"): Sample(
        _console_decide,
        in_region({Department.establishment, Department.audit}, ok=303),
        anonymous=303,
    ),
    ("GET", "/console/meetings/{meeting_id}/minutes"): Sample(
        lambda ctx: Call(f"/console/meetings/{_shared_meeting(ctx)}/minutes"),
        in_region(),
        anonymous=303,
    ),
    # the console's disclosures: the API's rows (the establishment office, in its region)
    ("GET", "/console/disclosures"): Sample(
        _console_publications, departments({Department.establishment}), anonymous=303
    ),
    ("GET", "/console/disclosures/preview"): Sample(
        lambda ctx: Call("/console/disclosures/preview", params={"region": RESOURCE_REGION}),
        in_region({Department.establishment}),
        anonymous=303,
    ),
    ("POST", "/console/disclosures"): Sample(
        _console_publish, in_region({Department.establishment}, ok=303), anonymous=303
    ),
    ("GET", "/console/runs"): Sample(_console_runs, always(200), anonymous=303),
    ("POST", "/console/runs"): Sample(
        _console_start_run, in_region({Department.establishment}, ok=303), anonymous=303
    ),
    ("GET", "/console/runs/{run_id}"): Sample(
        lambda ctx: Call(f"/console/runs/{_ghost_finding(ctx)[0]}"), in_region(), anonymous=303
    ),
    ("GET", "/console/reports"): Sample(_static("/console/reports"), always(200), anonymous=303),
    ("GET", "/console/reports/staffing"): Sample(
        lambda ctx: Call("/console/reports/staffing", params={"region": RESOURCE_REGION}),
        in_region(),
        anonymous=303,
    ),
    ("GET", "/console/reports/discrepancies"): Sample(
        _in_console(_discrepancy_report), always(200), anonymous=303
    ),
    ("POST", "/console/reports/tenure"): Sample(
        lambda ctx: Call("/console/reports/tenure", data=_tenure(ctx).params),
        in_region(),
        anonymous=303,
    ),
    ("GET", "/console/reports/annual"): Sample(_in_console(_annual), in_region(), anonymous=303),
    ("GET", "/console/password/{token}"): Sample(
        _static("/console/password/no-such-link"), always(200), anonymous=200
    ),
    ("POST", "/console/password/{token}"): Sample(
        lambda ctx: Call("/console/password/no-such-link", data={"password": "p", "confirm": "p"}),
        always(404),
        anonymous=404,
    ),
    # the unit page and the person search: as the API's person view and staffing report
    ("GET", "/console/units/{unit_code}"): Sample(
        lambda ctx: Call(f"/console/units/{_registered_unit(ctx)}"), in_region(), anonymous=303
    ),
    ("GET", "/console/persons"): Sample(_static("/console/persons"), always(200), anonymous=303),
    ("POST", "/console/persons"): Sample(
        lambda ctx: Call("/console/persons", data={"id_number": _shared_roster(ctx)[2]}),
        in_region(),
        anonymous=303,
    ),
}


# --- The tests --------------------------------------------------------------------------------


class TestCoverage:
    def test_every_route_has_a_sample(self) -> None:
        assert set(ROUTE_POLICY) - set(SAMPLES) == set(), "add a sample row to SAMPLES"

    def test_no_sample_without_a_route(self) -> None:
        assert set(SAMPLES) - set(ROUTE_POLICY) == set()


def _send(ctx: Ctx, method: str, call: Call, headers: dict[str, str]) -> Response:
    ctx.client.cookies.clear()  # every cell's caller is named by its own headers only
    return ctx.client.request(
        method,
        call.path,
        json=call.json,
        data=call.data,
        params=call.params,
        headers={**(call.headers or {}), **headers},
        follow_redirects=False,
    )


def _console_session(ctx: Ctx, department: Department, region: str) -> str:
    """A signed-in person of ``department`` in ``region``: a session token of their own for
    this cell (the ``POST /console/logout`` cells end theirs; routes sorted after it need one)."""
    from linkage_hub.auth.sessions import open_session

    def make() -> tuple[str, int]:
        from linkage_hub.auth.users import create_user

        with ctx.database.transaction() as session:
            user = create_user(
                session,
                username=f"matrix.{department}.{region}",
                name=f"matrix {department}",
                department=department,
                region=region,
            ).user
            return user.client_id, user.secret_version

    client_id, version = ctx.once(f"console {department} {region}", make)
    return open_session(ctx.database, client_id, version, None)


def _as(
    ctx: Ctx, template: str, method: str, call: Call, department: Department, region: str
) -> Call:
    """The cell's caller: a bearer token for the API, a person's session (and the form's CSRF
    token) for a console route."""
    if not template.startswith("/console/"):
        return replace(
            call, headers={**(call.headers or {}), **ctx.headers_for(department, region)}
        )
    from linkage_hub.auth.sessions import COOKIE, csrf_token

    token = _console_session(ctx, department, region)
    data = call.data
    if method != "GET":
        data = {**(data or {}), "csrf_token": csrf_token(token)}
    return replace(call, data=data, headers={**(call.headers or {}), "Cookie": f"{COOKIE}={token}"})


def _cells(ctx: Ctx, route: tuple[str, str], sample: Sample) -> list[str]:
    method, template = route
    wrong: list[str] = []
    anonymous = _send(ctx, method, sample.setup(ctx), {})
    if anonymous.status_code != sample.anonymous:
        wrong.append(
            f"{method} {template} no token: {anonymous.status_code}, not {sample.anonymous}"
        )
    # A console page's refusal is a page for people; the API's a problem for programs.
    error_type = "text/html" if template.startswith("/console/") else "application/problem+json"
    for department in Department:
        for relation, region in RELATIONS.items():
            call = _as(ctx, template, method, sample.setup(ctx), department, region)
            response = _send(ctx, method, call, {})
            expected = sample.expect(department, relation)
            cell = f"{method} {template} as {department} {relation} ({region})"
            if response.status_code != expected:
                wrong.append(f"{cell}: {response.status_code}, not {expected}")
            elif response.status_code >= 400:
                if not response.headers["content-type"].startswith(error_type):
                    wrong.append(f"{cell}: not {error_type}")
            elif call.shows is not None and call.shows(response) != (relation in VISIBLE):
                wrong.append(f"{cell}: resource {'hidden' if relation in VISIBLE else 'shown'}")
    return wrong


def test_matrix(client: TestClient, headers_for: HeadersFor, database: Database) -> None:
    """One database and one set of tokens for all routes: 20 clients, not 20 per route."""
    ctx = Ctx(client, headers_for, database)
    wrong = [line for route in sorted(SAMPLES) for line in _cells(ctx, route, SAMPLES[route])]
    assert wrong == [], "\n".join(wrong)


class TestPermissionsAreNamedOnce:
    def test_every_permission_needs_a_scope_or_is_public(self) -> None:
        from linkage_hub.auth.policy import REQUIRED_SCOPE

        assert set(Permission) - set(REQUIRED_SCOPE) == {Permission.public}
