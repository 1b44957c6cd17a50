"""The run history: the runs a caller may see, newest first, keyset-paginated by ``seq``.

A run is visible when its region lies inside the caller's (a city sees its own runs and its
counties'; a province sees them all). A run over a larger region than the caller's — the
province's or the city's run, seen from a county — is not shown: its counts add up findings of
regions the caller cannot read (a sibling county's ghost pay, say), so showing them would leak
what the region rule hides. This is the rule ``GET /runs/{run_id}`` keeps too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from linkage_hub.auth.policy import ensure_in_region, in_region
from linkage_hub.auth.principal import Principal
from linkage_hub.cursors import decode_cursor, encode_cursor
from linkage_hub.reconciliation.models import Run, RunBatch
from linkage_hub.records.models import Batch
from linkage_hub.records.visibility import batch_openable
from linkage_hub.versioning import region_bounds

CURSOR_KIND = "run"


@dataclass(frozen=True, slots=True)
class RunFilters:
    region: str | None = None
    kind: str | None = None
    status: str | None = None
    batch_id: str | None = None


def readable(principal: Principal) -> ColumnElement[bool]:
    """The runs the caller may see: those over its region or a region inside it."""
    return in_region(Run.region, principal)


def readable_run(session: Session, principal: Principal, run_id: str) -> Run | None:
    """The run if the caller may open it now (``GET /runs/{id}``, and an idempotent retry of
    ``POST /runs``, which replays the first answer only while this holds)."""
    return session.scalars(select(Run).where(Run.id == run_id, readable(principal))).first()


def list_runs(
    session: Session, principal: Principal, filters: RunFilters, *, limit: int, cursor: str | None
) -> tuple[list[Run], str | None]:
    """One page of the caller's runs and the cursor of the next (``None`` on the last)."""
    before = decode_cursor(cursor, kind=CURSOR_KIND)
    query = select(Run).where(readable(principal))
    if filters.region is not None:
        ensure_in_region(principal, filters.region)  # outside yours: 404, as for the cases
        query = query.where(Run.region.between(*region_bounds(filters.region)))
    if filters.kind is not None:
        query = query.where(Run.kind == filters.kind)
    if filters.status is not None:
        query = query.where(Run.status == filters.status)
    if filters.batch_id is not None:
        # Only a batch the caller may open (``GET /batches/{id}``) filters: a county's run lists
        # the city's batch to the city alone (``openable_batches``), and asking by its id must
        # not tell the county that the batch changed its region. Any other id: no run covered it.
        covered = (
            select(RunBatch.run_id)
            .join(Batch, Batch.batch_id == RunBatch.batch_id)
            .where(RunBatch.batch_id == filters.batch_id, batch_openable(principal))
        )
        query = query.where(Run.id.in_(covered))
    if before:
        query = query.where(Run.seq < before)
    runs = list(session.scalars(query.order_by(Run.seq.desc()).limit(limit + 1)))
    more = len(runs) > limit
    runs = runs[:limit]
    return runs, encode_cursor(runs[-1].seq, CURSOR_KIND) if more else None


def openable_batches(session: Session, principal: Principal, runs: list[Run]) -> set[str]:
    """The ids, among the batches ``runs`` covered, of those the caller may open (``GET
    /batches/{id}``: its scope inside the caller's region). A county's incremental run covers
    the city's batch that changed the county's records; the county reads the run, but the
    batch is the city's, and its id is shown to those who can open it only
    (:func:`linkage_hub.records.visibility.batch_openable`). One query."""
    ids = {b for run in runs for b in run.batch_ids}
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Batch.batch_id).where(Batch.batch_id.in_(ids), batch_openable(principal))
        )
    )
