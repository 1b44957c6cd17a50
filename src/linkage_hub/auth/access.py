"""The access record: every authenticated request, stored for audit.

A pure ASGI middleware notes, after the response, who called (client, department, region), the
method, the route *template* (never the concrete path: paths may carry ID numbers), the status,
the request id (the hub's own, and the caller's ``X-Request-ID`` beside it when safe), the
source address (``clientaddr.source_address``) and how many person records the response sent
(told through the one door, ``policy.person_reads``). A response that sent person records also
makes ``read`` entries of the audit log naming them by person key, each with the region of the
record it was read in, and the regions of those records besides the reader's own, appended in
the same flush: a GET never writes, and the audit chain is appended under its lock outside the
request.

Records are buffered and written in batches (one ``INSERT`` of many rows, every
``LINKAGE_ACCESS_RECORD_FLUSH_SECONDS``) by a task that lives as long as the app; without one
(no lifespan) each request flushes after its response. So a GET — which runs on a read-only
session — never writes, and a failed write never breaks a response: it is logged and the batch is
kept for the next attempt (up to ``MAX_PENDING`` records, then the oldest are dropped and
counted). The price: a crash loses at most one flush interval of records.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, cast

import anyio
from sqlalchemy import Table
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linkage_hub.audit.service import Entry, append_many, read_entry
from linkage_hub.auth.models import AccessRecord
from linkage_hub.auth.service import touch_last_used
from linkage_hub.clientaddr import source_address
from linkage_hub.db import Database, insert_rows
from linkage_hub.observability import route_template

log = logging.getLogger("linkage_hub.auth.access")
MAX_PENDING = 100_000
KEY_CHUNK = 10_000  # persons per read entry of a streamed report
ACCESS_TABLE = cast(Table, AccessRecord.__table__)


class PersonReads:
    """The tally of one response: how many person records it carried, whose (person keys,
    never ID numbers), each with the region of the record it was read in (so that the read
    entry reaches the auditors of every region whose persons were read, and names each person
    to the auditor of the region of their record alone), and the regions of all the records.
    Past ``chunk`` persons it offers what it holds to ``spill`` (the access recorder's buffer,
    which takes it once the response has begun) and starts again; the rest is taken when the
    response ends."""

    def __init__(
        self,
        spill: Callable[[int, frozenset[tuple[str, str]], frozenset[str]], bool] | None = None,
        *,
        chunk: int | None = None,
    ) -> None:
        self.records = 0  # the whole response
        self._held = 0  # records not yet spilled
        self._persons: set[tuple[str, str]] = set()
        self._regions: set[str] = set()
        self._spill = spill
        self._chunk = chunk or KEY_CHUNK

    def add(self, person_key: str | None, region: str, *, records: int = 1) -> None:
        """``records`` records of one person in ``region`` (``None``: a record without a
        person key)."""
        self.records += records
        self._held += records
        self._regions.add(region)
        if person_key:
            self._persons.add((person_key, region))
            self._offer()

    def add_all(
        self, persons: Iterable[tuple[str | None, str]], *, records: int | None = None
    ) -> None:
        """Several records at once, ``(person key, region of the record)`` each (``None``:
        a record without a person key): one record a pair, or ``records`` in all (a person
        view: its key with each region its records lie in)."""
        pairs = list(persons)
        if records is None:
            records = len(pairs)
        self.records += records
        self._held += records
        self._persons.update((k, r) for k, r in pairs if k)
        if records:
            self._regions.update(r for _, r in pairs)
        self._offer()

    def _offer(self) -> None:
        if len(self._persons) < self._chunk or self._spill is None:
            return
        if self._spill(self._held, frozenset(self._persons), frozenset(self._regions)):
            self._held, self._persons, self._regions = 0, set(), set()

    def take(self) -> tuple[int, frozenset[tuple[str, str]], frozenset[str]]:
        """What is held (records, persons with their records' regions, regions), leaving
        nothing."""
        held, persons, regions = self._held, frozenset(self._persons), frozenset(self._regions)
        self._held, self._persons, self._regions = 0, set(), set()
        return held, persons, regions


@dataclass(frozen=True, slots=True)
class PendingRecord:
    recorded_at: dt.datetime
    client_id: str
    department: str
    region: str
    method: str
    route: str
    status: int
    person_records: int
    request_id: str | None
    client_request_id: str | None
    source_address: str | None


class AccessRecorder:
    def __init__(self, db: Database, *, flush_seconds: float) -> None:
        self.db = db
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self._pending: list[PendingRecord] = []
        self._reads: list[Entry] = []  # audit-log entries of reads of person data
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def background(self) -> bool:
        return self._task is not None and not self._task.done()

    def add(self, record: PendingRecord | None, read: Entry | None = None) -> None:
        with self._pending_lock:
            if record is not None:
                self._pending.append(record)
            overflow = len(self._pending) - MAX_PENDING
            if overflow > 0:
                del self._pending[:overflow]
                self.dropped += overflow
            if read is not None:
                self._reads.append(read)
                overflow = len(self._reads) - MAX_PENDING
                if overflow > 0:
                    del self._reads[:overflow]
                    self.dropped += overflow

    def flush(self) -> int:
        """Write what is pending in one transaction; returns the number written."""
        with self._flush_lock:
            with self._pending_lock:
                batch, self._pending = self._pending, []
                reads, self._reads = self._reads, []
            if not batch and not reads:
                return 0
            try:
                with self.db.transaction() as session:
                    if batch:
                        insert_rows(session, ACCESS_TABLE, [asdict(r) for r in batch])
                    last_used: dict[str, dt.datetime] = {}
                    for r in batch:
                        last_used[r.client_id] = max(
                            r.recorded_at, last_used.get(r.client_id, r.recorded_at)
                        )
                    touch_last_used(session, last_used)
                    append_many(session, reads)  # last: it holds the audit lock until commit
            except Exception as exc:
                log.error("access records not written; kept for the next flush", exc_info=exc)
                with self._pending_lock:
                    self._pending[:0] = batch
                    self._reads[:0] = reads
                return 0
            return len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            await anyio.to_thread.run_sync(self.flush)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Flush in the background while the app lives; flush what is left at shutdown."""
        self._task = asyncio.create_task(self._run())
        try:
            yield
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await anyio.to_thread.run_sync(self.flush)


class AccessRecordMiddleware:
    def __init__(
        self, app: ASGIApp, recorder: AccessRecorder, trusted_proxies: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.recorder = recorder
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500

        def spill(
            records: int, persons: frozenset[tuple[str, str]], regions: frozenset[str]
        ) -> bool:
            if status >= 400:  # not begun (or failed): hold on until the response ends
                return False
            self._read(scope, state, status, records, persons, regions, dt.datetime.now(dt.UTC))
            return True

        state["person_reads"] = PersonReads(spill)

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._note(scope, state, status)
        if not self.recorder.background:
            await anyio.to_thread.run_sync(self.recorder.flush)

    def _note(self, scope: Scope, state: dict[str, Any], status: int) -> None:
        principal = state.get("principal")
        if principal is None:
            return
        try:
            reads: PersonReads = state["person_reads"]
            count = reads.records
            record = PendingRecord(
                recorded_at=dt.datetime.now(dt.UTC),
                client_id=principal.client_id,
                department=str(principal.department),
                region=principal.region,
                method=str(scope.get("method", ""))[:10],
                route=route_template(scope)[:200],
                status=status,
                person_records=count,
                request_id=state.get("request_id"),
                client_request_id=state.get("client_request_id"),
                source_address=source_address(scope, self.trusted_proxies)[:64],
            )
            self.recorder.add(record)
            self._read(scope, state, status, *reads.take(), record.recorded_at)
        except Exception as exc:  # the record must never break the response
            log.error("access record not noted", exc_info=exc)

    def _read(
        self,
        scope: Scope,
        state: dict[str, Any],
        status: int,
        records: int,
        persons: frozenset[tuple[str, str]],
        regions: frozenset[str],
        at: dt.datetime,
    ) -> None:
        """A ``read`` entry for ``records`` person records of ``persons``, once the response has
        begun successfully (a streamed report's status is sent before its rows)."""
        principal = state.get("principal")
        if principal is None or not records or status >= 400:
            return
        entry = read_entry(
            principal,
            method=str(scope.get("method", ""))[:10],
            route=route_template(scope)[:200],
            status=status,
            person_records=records,
            persons=persons,
            regions=regions,
            request_id=state.get("request_id"),
            client_request_id=state.get("client_request_id"),
            recorded_at=at,
        )
        self.recorder.add(None, entry)
