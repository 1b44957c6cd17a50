"""The delivery worker: dispatch, claim, send, record; again until nothing is due.

One thread in every hub process (``LINKAGE_DELIVER_IN_PROCESS``, default on), or the whole of
``linkage-hub deliver``. A transaction of this process that appended to the outbox wakes it
as it commits; events of other processes (and retries falling due) are found by looking every
``LINKAGE_WEBHOOK_POLL_SECONDS``. Several workers share the work (see :mod:`dispatch`). A
claim's deliveries are sent on one keep-alive client, each subscription's one after the other
in order and up to ``LINKAGE_WEBHOOK_CONCURRENCY`` subscriptions at once, then their outcomes
recorded in one short transaction, so a slow receiver holds no database lock and a crash
loses at most a lease (its deliveries are sent again, with the same ``webhook-id``, when the
lease runs out). One after the other, a receiver that hung held up every other department's
deliveries by a timeout for each of its own; now it holds up only its own, and only once: a
delivery that got no answer at all (timed out, refused, unreachable) hands the rest of its
subscription's claim back to wait for its own next attempt, uncounted.

Each POST is over within ``LINKAGE_WEBHOOK_TIMEOUT_SECONDS`` (:func:`sender.client`), so a
POST started :data:`SLACK` seconds and a timeout before the lease (:func:`lease_for`) ends,
ends inside it; the deliveries whose turn comes later are handed back unsent. Should the
worker stall all the same (a paused process, a slow database), the outcomes of deliveries
whose lease has been taken over are not written (:func:`dispatch.record_many`). A receiver
that answers 410 Gone gets no more POSTs in the round: its subscription's other deliveries
are handed back, and wait for a resume.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from linkage_hub.clock import utcnow
from linkage_hub.db import Database
from linkage_hub.notifications import dispatch
from linkage_hub.notifications.sender import Outcome, client, post
from linkage_hub.notifications.signing import Sealer, signatures

log = logging.getLogger(__name__)

CLAIM = 100  # deliveries leased at a time (sent well inside the lease)
SLACK = 5.0  # seconds of the lease kept for DNS, the clock and the database


def lease_for(timeout: float, slack: float = SLACK) -> dt.timedelta:
    """A claim's lease: :data:`dispatch.LEASE`, or twice the timeout and the slack when that
    is longer, so POSTs are started for at least as long as one may take. A fixed 60 s lease
    with a timeout the settings accept (up to 60 s) left no time to start one: over 55 s
    nothing was ever delivered."""
    return max(dispatch.LEASE, dt.timedelta(seconds=2 * timeout + slack))


@dataclass
class _Run:
    """A claim's deliveries to one subscription, and what became of them."""

    items: list[dispatch.Due] = field(default_factory=list)
    outcomes: list[tuple[dispatch.Due, Outcome, dt.datetime]] = field(default_factory=list)
    unsent: list[dispatch.Due] = field(default_factory=list)
    unanswered: int | None = None  # the delivery that got no answer, if one did not


class Deliverer:
    def __init__(
        self, db: Database, *, lease: dt.timedelta | None = None, slack: float = SLACK
    ) -> None:
        self.db = db
        settings = db.settings
        self.slack = slack
        self.lease = lease or lease_for(settings.webhook_timeout_seconds, slack)
        self.sealer = Sealer(settings)
        self.allow_hosts = list(settings.webhook_allow_hosts)
        self.poll = settings.webhook_poll_seconds
        self.timeout = settings.webhook_timeout_seconds
        self.disable_after = dt.timedelta(days=settings.webhook_disable_after_days)
        self.client = client(settings.webhook_timeout_seconds)
        self.pool = ThreadPoolExecutor(
            settings.webhook_concurrency, thread_name_prefix="webhook-send"
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self.db.event_listeners.append(self.wake)
        self._thread = threading.Thread(target=self.loop, name="webhook-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.wake in self.db.event_listeners:
            self.db.event_listeners.remove(self.wake)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
        self.pool.shutdown(wait=True)
        self.client.close()

    def wake(self) -> None:
        self._wake.set()

    def loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.round() and not self._stop.is_set():
                    pass
            except SQLAlchemyError:
                log.exception("webhook delivery: the database did not answer")
            except Exception:  # a bug must not stop deliveries for good
                log.exception("webhook delivery failed")
            self._wake.wait(self.poll)

    # --- one round -------------------------------------------------------------------------

    def round(self) -> int:
        """Dispatch what is new, then send one claim's worth; returns how many were sent."""
        with self.db.transaction() as session:
            dispatch.dispatch(session)
        claimed = time.monotonic()  # the lease runs from (a little after) here
        with self.db.transaction() as session:
            ids = dispatch.claim(session, CLAIM, lease=self.lease)
        if not ids:
            return 0
        with self.db.transaction() as session:
            due = dispatch.load(session, ids)
        # Start a POST only while it surely ends inside the lease (each takes at most the
        # timeout); what is left is handed back unsent for the next claim, this worker's or
        # not. Each subscription's in order, several subscriptions at once (:class:`_Run`).
        deadline = claimed + self.lease.total_seconds() - self.timeout - self.slack
        runs: dict[str, _Run] = {}
        for item in due:
            runs.setdefault(item.subscription_id, _Run()).items.append(item)
        list(self.pool.map(lambda run: self.send_run(run, deadline), runs.values()))
        outcomes = [outcome for run in runs.values() for outcome in run.outcomes]
        # One transaction for the claim's outcomes (a commit each cost more than the POST:
        # bench/RESULTS.md, "Notifications"); a crash before it sends them again, same ids.
        with self.db.transaction() as session:
            written = dispatch.record_many(session, outcomes, disable_after=self.disable_after)
            for run in runs.values():
                dispatch.release(session, run.unsent, after=run.unanswered)
        if written < len(outcomes):
            log.warning(
                "webhook delivery: the lease ran out mid-round; %d outcomes left to the "
                "worker that claimed them since",
                len(outcomes) - written,
            )
        return len(outcomes)

    def send_run(self, run: _Run, deadline: float) -> None:
        """One subscription's deliveries of the claim, in order. After a 410 Gone, nothing
        more to it: its deliveries wait for a resume. After no answer at all, the rest wait
        for that delivery's next attempt (:func:`dispatch.release`)."""
        for n, item in enumerate(run.items):
            if time.monotonic() > deadline:
                run.unsent.extend(run.items[n:])
                return
            outcome = self.send(item)
            run.outcomes.append((item, outcome, utcnow()))
            if outcome.status_code == 410:
                run.unsent.extend(run.items[n + 1 :])
                return
            if outcome.status_code is None:
                run.unanswered = item.delivery_id
                run.unsent.extend(run.items[n + 1 :])
                return

    def send(self, item: dispatch.Due) -> Outcome:
        """One delivery's attempt. Whatever goes wrong in it is that attempt's failure: an
        error escaping here would leave the whole claim's outcomes unwritten, other
        subscribers' deliveries unsent or sent again when the lease runs out."""
        try:
            return self._send(item)
        except Exception as exc:
            log.exception("webhook delivery %s failed", item.delivery_id)
            return Outcome(None, 0, f"failed: {type(exc).__name__}")

    def _send(self, item: dispatch.Due) -> Outcome:
        now = utcnow()
        try:
            in_use = [self.sealer.open(item.secret)]
            if item.previous_secret and item.previous_until and item.previous_until > now:
                in_use.append(self.sealer.open(item.previous_secret))
        except ValueError as exc:
            return Outcome(None, 0, f"cannot sign: {exc}")
        timestamp = int(time.time())
        headers = {
            "webhook-id": item.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signatures(in_use, item.event_id, timestamp, item.body),
        }
        return post(self.client, item.url, item.body, headers, self.allow_hosts)

    def drain(self, timeout: float = 30.0) -> None:
        """Rounds until nothing is due now (tests and ``deliver --once``)."""
        deadline = time.monotonic() + timeout
        while self.round() and time.monotonic() < deadline:
            pass
