"""Two hub processes at once on one PostgreSQL: steps on one case run one after the other, and
the daily cap of 12310 reports holds (SQLite has one writer at a time: nothing to race)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from linkage_hub import idempotency
from linkage_hub.auth.principal import Principal
from linkage_hub.cases import service, workflow
from linkage_hub.cases.models import Case, CaseStep
from linkage_hub.cases.schemas import ReportIn, TransitionIn
from linkage_hub.db import Database
from linkage_hub.domain import Department
from linkage_hub.errors import HubError
from linkage_hub.keys import Keyring
from linkage_hub.settings import Settings
from tests.conftest import HeadersFor, make_settings
from tests.public.conftest import CITY

pytestmark = [pytest.mark.postgres_only, pytest.mark.usefixtures("province_served")]
OFFICE = Principal("office", "office", Department.establishment, CITY, frozenset({"reconcile"}))
REPORT = ReportIn(category="ghost_pay", region=CITY, facts="并发")  # type: ignore[arg-type]


def together(*work: Any) -> list[Any]:
    """Run each callable in its own thread, released at once; their results or errors."""
    start = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(i: int, fn: Any) -> None:
        start.wait()
        try:
            results[i] = fn()
        except HubError as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_steps_on_one_case_never_both_start_from_the_same_status(
    backend: str,
    client: TestClient,
    database: Database,
    settings: Settings,
    headers_for: HeadersFor,
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    headers_for("establishment", CITY)  # the city's office is in the hub: it handles the case
    keyring = Keyring(settings)
    for _ in range(5):
        with database.transaction() as session:
            case, _secret = service.file_report(session, settings, keyring, REPORT)
            cid = case.id
        for to in ("accepted", "in_progress"):
            with database.transaction() as session:
                workflow.transition(session, settings, OFFICE, cid, TransitionIn(to=to))  # type: ignore[arg-type]

        def step(body: dict[str, Any], cid: str = cid) -> Any:
            def go() -> Any:
                with database.transaction() as session:
                    return workflow.transition(
                        session, settings, OFFICE, cid, TransitionIn(**body)
                    ).status

            return go

        together(
            step({"to": "closed", "reply": "办结"}),
            step({"to": "extended", "reason": "延期"}),
            step({"to": "extended", "reason": "再延期"}),
        )
        with database.transaction() as session:
            steps = session.execute(
                select(CaseStep.from_status, CaseStep.to_status)
                .where(CaseStep.case_id == cid)
                .order_by(CaseStep.id)
            ).all()
            extended = session.scalar(select(Case.extended).where(Case.id == cid))
        # Each step starts where the one before it ended: none overtook another.
        assert all(a.to_status == b.from_status for a, b in pairwise(steps))
        extensions = sum(1 for s in steps if s.from_status == s.to_status)
        assert extensions <= 1 and extended == (extensions == 1)  # extended once, or not


def test_the_daily_cap_holds_when_reports_arrive_together(
    backend: str, client: TestClient, database: Database, settings: Settings
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    capped = make_settings(settings.database_url or "", settings.data_dir, public_reports_per_day=2)
    keyring = Keyring(capped)

    def file() -> Any:
        with database.transaction() as session:
            return service.file_report(session, capped, keyring, REPORT)[0].id

    results = together(*(file for _ in range(6)))
    filed = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, HubError)]
    assert len(filed) == 2 and len(refused) == 4
    assert all(r.status == 503 for r in refused)


def test_a_form_sent_twice_at_once_files_once_and_both_answers_are_its_receipt(
    backend: str, client: TestClient, database: Database, settings: Settings
) -> None:
    """A double click: the browser shows only the second answer, so the second waits for the
    first and gets its receipt (a 409 would show an error page for a report that was filed).
    The first is held at the key's lock until both have arrived."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time")
    keyring = Keyring(settings)
    body = REPORT.model_dump(mode="json")
    _owner, keyed, _digest = idempotency.named(keyring, None, "file_report", "page-1", body)
    form = {"category": "ghost_pay", "region": CITY, "facts": "并发", "submission": "page-1"}
    with database.transaction() as holder:
        holder.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": idempotency.LOCK_SPACE, "key": idempotency.lock_key(keyed)},
        )
        pending = together_started(
            lambda: client.post("/public/12310", data=form),
            lambda: client.post("/public/12310", data=form),
        )
        time.sleep(0.5)  # both are now waiting at the lock the holder has
    first, second = (p.result(timeout=30) for p in pending)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    receipt = re.compile(r'id="receipt-code">([^<]+)<')
    assert receipt.search(first.text).group(1) == receipt.search(second.text).group(1)  # type: ignore[union-attr]
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in (first, second)) == ["", "true"]
    with database.transaction() as session:
        assert len(session.scalars(select(Case.id)).all()) == 1


def together_started(*work: Any) -> list[Future[Any]]:
    """Start each callable in a thread of its own; their futures."""
    pool = ThreadPoolExecutor(len(work))
    try:
        return [pool.submit(fn) for fn in work]
    finally:
        pool.shutdown(wait=False)
