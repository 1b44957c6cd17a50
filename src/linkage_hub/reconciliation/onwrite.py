"""Reconciliation on write (``LINKAGE_RECONCILE_ON_WRITE``): incremental runs after writes.

One thread per hub process keeps the findings of its **target regions** settled:

- the regions of the schedule (``LINKAGE_SCHEDULE_REGIONS``), whose nightly full run is the
  reference; without a schedule, the widest regions a run has settled (a city after
  ``linkage-hub reconcile --region 230100`` or ``serve --demo``; a county run inside it adds
  nothing); on a hub no run has settled yet, every province it holds records in (a loose
  index scan of the change feed's region index, a probe per province). Writes outside every
  target wait for a run of their region, which makes that region a target too;
- a target is behind when the change feed's newest ``seq`` is above its watermark (or it has
  none, or a run under other parameters dropped it: the region stays a target): it gets an
  incremental run, which covers every change since the watermark whoever
  wrote it, and runs in full when it cannot be exact (:mod:`linkage_hub.reconciliation.delta`).

When: a transaction of this process that wrote the feed wakes the thread as it commits
(:attr:`linkage_hub.db.Database.change_listeners`); the thread waits
``LINKAGE_RECONCILE_ON_WRITE_DELAY`` seconds more so a burst of writes is one run, then runs
each target that is behind, one after the other. Writes that commit while a run is going are
settled by the next one: however many batches arrive, a region has at most one run going and
one waiting. Writes by other processes (another hub process, ``linkage-hub push`` or
``demo``) are seen by polling the feed's newest seq every ``LINKAGE_RECONCILE_ON_WRITE_POLL``
seconds (one primary-key probe); a poll that finds the feed moved waits the same delay before
it runs, so a burst from another process is one run too (and so is a write of this process
whose commit the poll sees a moment before the wake).

Across processes the usual exclusion holds (one run per region at a time): a process whose
run is refused (409) tries again at its next look, when the other process's run has moved the
watermark. A process that dies between a write and its run leaves the watermark behind, and
any process's next look catches up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from linkage_hub.db import Database
from linkage_hub.errors import Conflict, HubError
from linkage_hub.reconciliation import delta
from linkage_hub.reconciliation.models import Watermark
from linkage_hub.reconciliation.runs import INCREMENTAL, create_run, execute_run
from linkage_hub.versioning import region_bounds

log = logging.getLogger(__name__)

REQUESTED_BY = "on-write"


def provinces(db: Database) -> list[str]:
    """The provinces with records in the change feed: one index probe per province."""
    found: list[str] = []
    after = ""
    with db.transaction() as session:
        while True:
            region = session.execute(
                text("SELECT MIN(region) FROM records_change WHERE region >= :after"),
                {"after": after},
            ).scalar()
            if region is None or len(found) > 100:
                return found
            province = str(region)[:2] + "0000"
            found.append(province)
            after = str(region)[:2] + "9999~"  # above every code of the province


def widest(regions: Iterable[str]) -> list[str]:
    """Regions not inside another of them (a city inside a configured province goes)."""
    regions = sorted(set(regions))
    return [r for r in regions if not any(o != r and _contains(o, r) for o in regions)]


def _contains(outer: str, inner: str) -> bool:
    lo, hi = region_bounds(outer)
    return lo <= inner <= hi


class OnWrite:
    """The thread that reconciles target regions after writes (see the module)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        settings = db.settings
        self.delay = settings.reconcile_on_write_delay
        self.poll = settings.reconcile_on_write_poll
        self.configured = widest(settings.schedule_regions)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._tried: dict[str, int] = {}  # region → feed seq of a run that could not start
        self._seen: int | None = None  # the feed's newest seq at the last look
        self._thread = threading.Thread(target=self._loop, name="reconcile-on-write", daemon=True)

    def start(self) -> None:
        self.db.change_listeners.append(self.wake)
        self._thread.start()

    def stop(self) -> None:
        if self.wake in self.db.change_listeners:
            self.db.change_listeners.remove(self.wake)
        self._stop.set()
        self._wake.set()
        self._thread.join(60)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            woken = self._wake.wait(self.poll)
            if self._stop.is_set():
                return
            try:
                if not woken and not self._moved():
                    continue
                if self._stop.wait(self.delay):
                    return
                self._wake.clear()  # writes from here on wake the next round
                self.settle()
            except SQLAlchemyError:
                log.exception("reconciliation on write: the database did not answer")
            except Exception:  # a bug must not stop the thread: the next write tries again
                log.exception("reconciliation on write failed")

    def _moved(self) -> bool:
        """Whether the feed has moved since the last look (true at the first)."""
        with self.db.transaction() as session:
            high = delta.high_water(session)
        return high != self._seen

    def settle(self) -> list[str]:
        """Run every target region that is behind; returns the runs' ids."""
        with self.db.transaction() as session:
            high = delta.high_water(session)
            marks = {r: s for r, s in session.execute(select(Watermark.region, Watermark.seq))}
        self._seen = high
        if high == 0:
            return []
        targets = self.configured or widest(marks) or provinces(self.db)
        ran = []
        for region in targets:
            seq = marks.get(region)
            if (seq is not None and seq >= high) or self._tried.get(region) == high:
                continue
            run_id = self._run(region, high)
            if run_id is not None:
                ran.append(run_id)
        return ran

    def _run(self, region: str, high: int) -> str | None:
        try:
            with self.db.transaction() as session:
                run, lock = create_run(
                    session,
                    self.db,
                    region=region,
                    period=None,
                    as_of=None,
                    requested_by=REQUESTED_BY,
                    kind=INCREMENTAL,
                )
                run_id = run.id
        except (Conflict, IntegrityError):
            log.debug("incremental run of %s waits for the run in progress", region)
            self._wake.set()  # look again soon: that run may end before our writes
            self._stop.wait(self.poll)
            return None
        except HubError as exc:  # e.g. a region with nothing left in it
            log.info("incremental run of %s not started: %s", region, exc.detail)
            self._tried[region] = high
            return None
        if execute_run(self.db, run_id, lock) == "succeeded":
            self._tried.pop(region, None)
        else:  # logged with the run; try again when something new is written
            self._tried[region] = high
        return run_id
