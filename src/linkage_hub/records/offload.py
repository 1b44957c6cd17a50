"""Row validation of large pushes outside the serving interpreter.

A hub process serves every request on one event loop and one GIL. Parsing, checking and
encrypting a 10,000-row batch is ~0.25 s of Python; run in the process it holds the GIL in
slices that every read of that process waits behind (bench/RESULTS.md, "Load": the GET tail
was the push). So an NDJSON or CSV body of at least :data:`OFFLOAD_BYTES` is cut into chunks of
rows, and a pool of ``LINKAGE_INGEST_PROCESSES`` worker processes (spawned, one pool per hub
process) decodes, checks and encrypts them, a few chunks ahead of the ``COPY`` that the request
thread feeds with the rows as they come back, in order. What the request thread keeps is the
reading of lines and the database work; the staged rows, errors and row numbers are exactly
those of the in-process path (``tests/records/test_offload.py`` compares the two).

JSON bodies (``{"records": [...]}``) stay in process: the streaming JSON reader walks the body
in the request thread, and large transfers are NDJSON or CSV by the contract (API.md).
Settings ``LINKAGE_INGEST_PROCESSES=0`` keeps all validation in process.
"""

from __future__ import annotations

import atexit
import datetime as dt
import multiprocessing
import os
import pickle
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from linkage_hub.domain import Dataset
from linkage_hub.errors import FieldError, ServiceUnavailable
from linkage_hub.keys import Keyring
from linkage_hub.records.datasets import spec_for
from linkage_hub.records.parsing import BadRow, decode_line
from linkage_hub.records.validation import RowValidator, Staged
from linkage_hub.settings import Settings

OFFLOAD_BYTES = 256 * 1024  # ~2,000 roster rows: below it the round trip is not worth it
CHUNK_ROWS = 2_000
AHEAD = 3  # chunks in the pool per push beyond the one being copied


@dataclass(frozen=True)
class Job:
    """What a worker needs to check rows as the request's own validator would."""

    settings: bytes  # pickled (a JSON dump would mask the secrets the keyring needs)
    dataset: Dataset
    today: dt.date
    period: str | None
    units: frozenset[str] | None
    text_cells: bool
    raw_lines: bool  # NDJSON: the items are undecoded lines


@dataclass
class Checked:
    staged: list[Staged]
    errors: list[FieldError]  # at most the error cap
    error_total: int


def worth_it(settings: Settings, body_bytes: int) -> bool:
    return settings.ingest_processes > 0 and body_bytes >= OFFLOAD_BYTES


def checked_chunks(
    settings: Settings, job: Job, rows: Iterable[tuple[int, Any]], error_cap: int
) -> Iterator[Checked]:
    """The chunks of ``rows`` checked in the pool, in order, at most :data:`AHEAD` in flight.

    A pool whose worker died (the OOM killer, an operator's ``kill``) is broken for good: every
    later push would fail. The push that finds it so is answered 503 with ``Retry-After`` (its
    transaction rolls back, nothing is applied), the broken pool is let go, and the retry gets
    a new one."""
    pool = _pool(settings.ingest_processes)
    pending: deque[Future[Checked]] = deque()
    try:
        yield from _checked(pool, pending, job, rows, error_cap)
    except BrokenProcessPool:
        _discard(pool)
        raise ServiceUnavailable(
            "The hub's row-checking workers stopped and are being restarted; nothing was "
            "applied. Send the batch again.",
            headers={"Retry-After": "1"},
        ) from None
    finally:
        for future in pending:  # a refused batch: drop what is queued
            future.cancel()


def _checked(
    pool: ProcessPoolExecutor,
    pending: deque[Future[Checked]],
    job: Job,
    rows: Iterable[tuple[int, Any]],
    error_cap: int,
) -> Iterator[Checked]:
    chunk: list[tuple[int, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            pending.append(pool.submit(check, job, chunk, error_cap))
            chunk = []
            if len(pending) > AHEAD:
                yield pending.popleft().result()
    if chunk:
        pending.append(pool.submit(check, job, chunk, error_cap))
    while pending:
        yield pending.popleft().result()


# --- the pool, one per hub process -------------------------------------------------------------

_lock = threading.Lock()
_executor: ProcessPoolExecutor | None = None


def _pool(workers: int) -> ProcessPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            # spawn: the hub process runs threads (the loop, its workers), which fork would copy
            # mid-flight; a worker imports the hub afresh once (~1 s) and is kept.
            context = multiprocessing.get_context("spawn")
            _executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
            atexit.register(shutdown)
        return _executor


def start(settings: Settings) -> None:
    """Spawn the pool's workers now (the app's start), not in the first large push. The pool
    lives as long as the process (apps built and stopped in one process, as tests do, share
    it); it ends at exit, and its workers end by themselves when the process dies."""
    if settings.ingest_processes > 0:
        pool = _pool(settings.ingest_processes)
        for _ in range(settings.ingest_processes):
            pool.submit(_ready)


def _discard(broken: ProcessPoolExecutor) -> None:
    """Let a broken pool go (unless another push replaced it already)."""
    global _executor
    with _lock:
        if _executor is broken:
            _executor = None
    broken.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)


def _ready() -> None:
    return None


PARENT_POLL_SECONDS = 1.0


def _watch_parent(parent: int) -> None:
    """In each worker: end when the hub process that made the pool is gone. A hub killed
    outright (SIGKILL, an OOM kill) runs no shutdown, and its workers, blocked on the call
    queue, would otherwise live on as orphans holding its stdout and stderr."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


# --- in the worker ---------------------------------------------------------------------------

_keyrings: dict[bytes, Keyring] = {}
_validators: dict[tuple[Job, int], RowValidator] = {}


def _validator(job: Job) -> RowValidator:
    """The validator of this job under the current ID key version. The keyring is kept per
    settings and refreshed as the request's own is (``keys rotate`` adds a version to the key
    file): a worker still sealing with the old version would give new records person keys
    that no longer join the rest."""
    keyring = _keyrings.get(job.settings)
    if keyring is None:
        if len(_keyrings) > 16:
            _keyrings.clear()
        settings: Settings = pickle.loads(job.settings)  # noqa: S301 - our own, from the hub
        keyring = _keyrings[job.settings] = Keyring(settings)
    keyring.refresh()
    key = (job, keyring.current_version)
    validator = _validators.get(key)
    if validator is None:
        if len(_validators) > 16:
            _validators.clear()
        validator = _validators[key] = RowValidator(
            spec_for(job.dataset),
            keyring,
            today=job.today,
            period=job.period,
            units=job.units,
            text_cells=job.text_cells,
        )
    return validator


def check(job: Job, rows: list[tuple[int, Any]], error_cap: int) -> Checked:
    """Check one chunk as ``RowReader._validated_records`` checks rows (in a worker)."""
    record = _validator(job).record
    staged: list[Staged] = []
    errors: list[FieldError] = []
    total = 0
    for number, item in rows:
        value = decode_line(item) if job.raw_lines else item
        if isinstance(value, BadRow):
            result: Any = [value.error(number)]
        else:
            result = record(value, number)
        if type(result) is list:
            total += len(result)
            errors.extend(result[: max(error_cap - len(errors), 0)])
        else:
            staged.append(result)
    return Checked(staged, errors, total)
