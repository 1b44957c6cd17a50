"""The change feed: every new version and every closing, in commit order.

Writers draw ``seq`` values only while holding one PostgreSQL advisory lock, taken as the last
step before commit (:func:`linkage_hub.records.publish.publish_changes`) and released by the
commit itself. So when a reader sees seq ``n`` committed, every seq below ``n`` that will ever
commit has committed already: polling ``seq > cursor`` never skips a change, even when two
batches run side by side. (Rolled-back batches leave holes; holes are never filled later.)
SQLite runs one writer at a time, which gives the same order.

The change rows hold no personal data; the ``record`` of each change is joined from the
dataset's version table when read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware
from linkage_hub.cursors import CHANGES, decode_cursor, encode_cursor
from linkage_hub.domain import PERSON_DATASETS, Dataset
from linkage_hub.keys import Keyring
from linkage_hub.records.datasets import spec_for
from linkage_hub.records.models import Change
from linkage_hub.records.schemas import ChangeItem, ChangeOp, ChangePage, Record
from linkage_hub.records.seen import as_seen
from linkage_hub.records.service import read_bounds
from linkage_hub.records.shaping import record_columns, shape

# Feed rows read per round: a page of few items still reads enough rows at once to step over
# a run of changes hidden from the caller (a month's pay raises, to HR) in few statements.
ROUND_ROWS = 500


def read_changes(
    session: Session,
    keyring: Keyring,
    principal: Principal,
    *,
    since: str | None,
    dataset: Dataset | None,
    region: str | None,
    limit: int,
) -> tuple[ChangePage, int]:
    """A page of changes after ``since``; also the number of person records in it.

    Changes hidden from the caller (a new version that changed only fields it may not see)
    are stepped over, and the page goes on reading until it holds ``limit`` changes or the
    feed ends: an empty page means the caller has caught up. (A page cut at ``limit`` before
    the hidden ones used to come back empty with more changes behind it, and a follower that
    stops at an empty page missed them.)"""
    after = decode_cursor(since, "since", kind=CHANGES)
    bounds = read_bounds(principal, region)  # a region outside yours: 404
    stmt = select(Change).where(Change.region.between(*bounds))
    if dataset is not None:
        stmt = stmt.where(Change.dataset == dataset.value)
    rows = max(limit, ROUND_ROWS)
    items: list[ChangeItem] = []
    cursor = after
    # The feed's head, read before the caller's rows: every change up to it has committed
    # (see the module docstring), so the reads below see each one of them.
    head = session.scalar(select(func.max(Change.seq))) or 0
    while len(items) < limit:
        changes = session.scalars(
            stmt.where(Change.seq > cursor).order_by(Change.seq).limit(rows)
        ).all()
        read = 0
        for change, item in zip(changes, _shown(session, keyring, principal, changes), strict=True):
            if len(items) == limit:
                break
            read += 1
            cursor = change.seq
            if item is not None:
                items.append(item)
        if len(changes) < rows:
            if read == len(changes):
                # Caught up: the next poll goes on from the feed's head, whatever lies before
                # it. Stopping at the last of the caller's rows (hidden ones included) told HR
                # that finance had changed pay in its region: its cursor moved, nothing came.
                cursor = max(cursor, head)
            break
    persons = sum(1 for item in items if item.dataset in PERSON_DATASETS)
    return ChangePage(items=items, next_cursor=encode_cursor(cursor, CHANGES)), persons


def _shown(
    session: Session, keyring: Keyring, principal: Principal, changes: Sequence[Change]
) -> list[ChangeItem | None]:
    """Each change as the caller sees it, or None for one hidden from it."""
    by_dataset: dict[str, list[int]] = defaultdict(list)
    for change in changes:
        by_dataset[change.dataset].append(change.seq)
    records: dict[int, Record] = {}
    for name, seqs in by_dataset.items():
        spec = spec_for(Dataset(name))
        t = spec.table
        rows = session.execute(
            select(*record_columns(spec), Change.seq)
            .join(Change, (Change.record_key == t.c.record_key) & (Change.version == t.c.version))
            # A version's region never changes (a move makes a new version), so this only
            # restates the feed row's region: the record shown is one the reader may read.
            .where(Change.seq.in_(seqs), t.c.region == Change.region)
        ).all()
        shaped = {
            row.seq: shape(spec, row, principal, closing=True, keyring=keyring) for row in rows
        }
        # Versions and closings as the caller sees them (a pay-only change closes nothing).
        as_seen(session, spec, principal, list(shaped.values()))
        records |= shaped

    def hidden_change(c: Change) -> bool:
        """A new version that changed only fields hidden from the caller is no change to
        it (see records.seen.as_seen): the caller's copy already holds it."""
        record = records.get(c.seq)
        return c.op == ChangeOp.upsert and record is not None and record["version"] != c.version

    return [
        None
        if hidden_change(c)
        else ChangeItem(
            seq=c.seq,
            dataset=Dataset(c.dataset),
            record_key=c.record_key,
            version=records[c.seq]["version"] if c.seq in records else c.version,
            op=ChangeOp(c.op),
            region=c.region,
            batch_id=c.batch_id,
            recorded_at=aware(c.recorded_at),
            record=records.get(c.seq),
        )
        for c in changes
    ]
