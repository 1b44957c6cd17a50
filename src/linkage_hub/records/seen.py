"""Versions as a department sees them: a version that changed only fields hidden from the
caller (pay, for HR) is no change to it. Consecutive versions the caller cannot tell apart make
one *run* (:func:`runs`), shown as its first version and closed when its last one was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from linkage_hub.auth.principal import Principal
from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.records.schemas import Record
from linkage_hub.records.shaping import CLOSING, plain
from linkage_hub.records.visibility import hidden_fields, visible_columns

CHUNK = 1000  # record keys a query


@dataclass(frozen=True, slots=True)
class Run:
    """A run of versions the caller cannot tell apart (see :func:`runs`): its first version,
    which the caller sees in place of every version of the run, and its last, whose closing
    (``closed_at``, ``closed_batch_id``) is the run's: null while the run is current."""

    start: Row[Any]
    end: Row[Any]


def runs(
    session: Session, spec: DatasetSpec, hidden: tuple[str, ...], record_keys: set[str]
) -> dict[tuple[str, int], Run]:
    """For every version of these records, its *run*: the consecutive versions around it
    that the caller cannot tell apart — each equal to the one before in every field the
    caller reads (the region included) and written by the batch that closed it (a record
    deleted and pushed again starts a new run). One indexed query over the records' versions
    (a payroll line has a few)."""
    t = spec.table
    columns = visible_columns(spec, hidden)
    given = [t.c.id_number_given.is_(None).label("no_given")] if spec.person else []
    stmt = select(
        t.c.record_key,
        t.c.version,
        t.c.batch_id,
        t.c.client_id,
        t.c.recorded_at,
        t.c.closed_at,
        t.c.closed_batch_id,
        *(t.c[c] for c in columns),
        *given,
    )
    same = [*columns, *(["no_given"] if spec.person else [])]
    found: dict[tuple[str, int], Run] = {}
    keys = sorted(record_keys)
    for n in range(0, len(keys), CHUNK):
        chunk = keys[n : n + CHUNK]
        rows = session.execute(
            stmt.where(t.c.record_key.in_(chunk)).order_by(t.c.record_key, t.c.version)
        ).all()
        run: list[Row[Any]] = []
        for row in [*rows, None]:
            m = row._mapping if row is not None else None
            p = run[-1]._mapping if run else None
            repeats = (
                m is not None
                and p is not None
                and p["record_key"] == m["record_key"]
                and p["version"] == m["version"] - 1
                and p["closed_batch_id"] == m["batch_id"]
                and all(p[c] == m[c] for c in same)
            )
            if run and not repeats:
                bounds = Run(start=run[0], end=run[-1])
                found |= {(r.record_key, r.version): bounds for r in run}
                run = []
            if row is not None:
                run.append(row)
    return found


def as_seen(
    session: Session, spec: DatasetSpec, principal: Principal, records: list[Record]
) -> list[Record]:
    """Versions as the caller sees them: a version that changed only fields hidden from the
    caller (pay, for HR) shows as the version it repeats — its number, batch, client and
    recording time — so neither ``version``, the ETag nor the history reveals that finance
    changed a salary. Those who read every field see every version as it is.

    A shaped record with its closing (``closed_at``, ``closed_batch_id``: a read ``as_of``, the
    history, the change feed) gets the closing of the *last* version of its run: the run ends
    where the caller sees a change (or a deletion), so the closing is null while the run is
    current now, whatever moment the read is as of — just as its history shows the run. The
    version's own closing would name the moment and batch in which finance changed the pay."""
    hidden = hidden_fields(spec, principal)
    if not hidden or not records:
        return records
    found = runs(session, spec, hidden, {r["record_key"] for r in records})
    for record in records:
        run = found.get((record["record_key"], record["version"]))
        if run is None:
            continue
        for name in ("version", "batch_id", "client_id", "recorded_at"):
            record[name] = plain(run.start._mapping[name])
        if "closed_at" in record:
            for name in CLOSING:
                record[name] = plain(run.end._mapping[name])
    return records


def collapsed(records: list[Record]) -> list[Record]:
    """History as the caller sees it (:func:`as_seen` first): one item per run, closed when
    the run's last version was."""
    items: list[Record] = []
    for record in records:
        if items and items[-1]["version"] == record["version"]:
            items[-1] |= {k: record[k] for k in CLOSING}
        else:
            items.append(record)
    return items


def visible_version(
    session: Session, spec: DatasetSpec, principal: Principal, record_key: str, version: int
) -> int:
    """The version number the caller sees for this version (see :func:`as_seen`)."""
    hidden = hidden_fields(spec, principal)
    if not hidden:
        return version
    run = runs(session, spec, hidden, {record_key}).get((record_key, version))
    return int(run.start.version) if run is not None else version
