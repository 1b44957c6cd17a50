"""Background execution of runs inside the hub process, and the built-in schedule's thread."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from linkage_hub.cron import CronSchedule
from linkage_hub.db import Database
from linkage_hub.errors import Conflict, InvalidInput
from linkage_hub.reconciliation.runs import RunLock, create_run, execute_run, fail_run

log = logging.getLogger(__name__)


class RunExecutor:
    """Starts each accepted run on its own thread, with its own transactions."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self, run_id: str, lock: RunLock) -> None:
        thread = threading.Thread(
            target=self._run, args=(run_id, lock), name=f"reconcile-{run_id[:8]}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        try:
            thread.start()
        except Exception as exc:  # e.g. "can't start new thread": the process lives on
            # The 202 is answered and whoever asked polls the run. It must not stay queued
            # with its lock held by a process that will never run it: the region would answer
            # 409, and the schedule and the on-write step skip it, until a restart.
            with self._lock:
                self._threads.discard(thread)  # join() at shutdown cannot join it
            lock.release()
            log.exception("reconciliation run %s could not start", run_id)
            error = f"the run could not start: {type(exc).__name__}: {exc}"
            try:
                fail_run(self.db, run_id, error, unstarted=True)
            except Exception:  # its lock is free: the next run of the region fails it
                log.exception("reconciliation run %s not marked failed", run_id)

    def _run(self, run_id: str, lock: RunLock) -> None:
        try:
            execute_run(self.db, run_id, lock)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def join(self, timeout: float = 60.0) -> None:
        """Wait for running runs at shutdown (a run cut off here is failed at next start)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


class Scheduler:
    """Runs every configured region at each time the cron expression names.

    Several hub processes may all run this thread: each scheduled slot is a unique
    ``(region, scheduled_for)`` and overlapping runs are refused, so one process runs it.
    """

    def __init__(
        self, db: Database, cron: str, regions: list[str], zone: ZoneInfo | None = None
    ) -> None:
        self.db = db
        self.zone = zone or db.settings.zone
        self.schedule = CronSchedule.parse(cron)
        self.regions = regions
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconcile-schedule", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = dt.datetime.now(self.zone)
            slot = self.schedule.next_after(now)
            if self._stop.wait((slot - now).total_seconds()):
                return
            for region in self.regions:
                self.run_slot(region, slot)

    def run_slot(self, region: str, slot: dt.datetime) -> str | None:
        """Create and execute the run of one slot; ``None`` when another process has it."""
        try:
            with self.db.transaction() as session:
                run, lock = create_run(
                    session,
                    self.db,
                    region=region,
                    period=None,
                    as_of=slot.date(),
                    requested_by="schedule",
                    scheduled_for=slot.astimezone(dt.UTC),
                )
                run_id = run.id
        except (Conflict, IntegrityError):
            log.info("scheduled run for %s at %s: taken by another run", region, slot)
            return None
        except InvalidInput as exc:  # a configured region the hub holds nothing in
            log.error("scheduled run for %s at %s refused: %s", region, slot, exc.detail)
            return None
        except Exception:
            log.exception("scheduled run for %s at %s could not start", region, slot)
            return None
        return execute_run(self.db, run_id, lock)
