"""Publishing a batch's changes: the change-feed rows of its new versions and closings, the
records that move with a unit to another region, and the ``records.changed`` events.

Run last before the batch commits, under the feed's lock (see :mod:`linkage_hub.records.feed`
for why readers never skip a change).

**Who is told what.** Who reads which fields of a dataset is decided once
(:func:`linkage_hub.records.visibility.hidden_fields`, by department: ``gross_pay`` for all but
finance and audit); the reads (:mod:`linkage_hub.records.service`) follow it, and so do the
events. To a department that cannot read a dataset's hidden fields, a new version that changed
only those fields is no change (``records.seen.as_seen``), so it must not learn of one from
an event or a batch's answer either. Whether an update changed only hidden fields is decided in
SQL, set-based, by comparing each new version with the version the batch closed in every field
the department reads (:func:`hidden_only_updates`, the comparison ``records.seen.runs`` makes
version by version):

- A dataset every department reads alike (all but payroll) has one ``records.changed`` event per
  region, for all (a units batch that moves a unit: one per region and dataset its feed rows are
  of, :func:`announce_batch`). A dataset with hidden fields has one per region and *audience*
  (the departments that cannot read the same fields, ``visibility.audiences``), tagged with the
  fields it cannot read (``data.hidden``; ``""`` for those who read them all,
  ``visibility.audience_tag``): the count, the feed range and the record keys of the changes
  that audience sees, and none for an audience that sees no change. The dispatcher gives each
  subscription the events of its owner's department's audience (``notifications.dispatch``). The
  changes an audience sees need not be a run of the feed, so such an event carries its record
  keys itself (up to :data:`MAX_RECORD_KEYS`) where the others' are looked up by their range at
  delivery.
- ``GET /batches/{id}`` counts such updates as ``unchanged`` to those departments
  (``records.service.get_batch``, the same comparison for the batch's closed versions).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from linkage_hub.db import CHANGES_PUBLISHED, FEED_LOCK
from linkage_hub.domain import Dataset
from linkage_hub.outbox import write as outbox
from linkage_hub.records import tally
from linkage_hub.records.datasets import DatasetSpec, spec_for
from linkage_hub.records.queries import last_id, typed_sql
from linkage_hub.records.visibility import audiences, visible_columns
from linkage_hub.registry.regions import code_region, unit_region_now

PERSON_AND_REGISTRY_TABLES = {
    "registry_quota": "quotas",
    "registry_leader_post": "leader_posts",
    "records_roster": "roster",
    "records_cadre": "cadres",
    "records_employment": "employment",
    "records_payroll": "payroll",
}

_FEED_INSERT = (
    "INSERT INTO records_change (dataset, record_key, version, op, region, batch_id, recorded_at) "
)
# A ``records.changed`` event of up to this many changes lists their record keys.
MAX_RECORD_KEYS = 100


def hidden_only_updates(spec: DatasetSpec, hidden: tuple[str, ...]) -> str:
    """SQL ``FROM … WHERE …`` of the updates of batch ``:batch_id`` that changed only fields
    in ``hidden``: ``o`` the version it closed, ``n`` the one it wrote in its place (the next
    number), equal in every field a caller that cannot read ``hidden`` reads (as
    ``records.seen.runs`` compares them; the ID number as given by whether there is
    one, see ``queries._distinct``). From the batch's closed versions (an index), each paired
    by the unique (record key, version)."""
    t = spec.table.name
    same = [f"o.{c} IS NOT DISTINCT FROM n.{c}" for c in visible_columns(spec, hidden)]
    if spec.person:
        same.append("((o.id_number_given IS NULL) = (n.id_number_given IS NULL))")
    return (
        f"FROM {t} AS o JOIN {t} AS n ON n.record_key = o.record_key "
        f"AND n.version = o.version + 1 AND n.batch_id = o.closed_batch_id "
        f"WHERE o.closed_batch_id = :batch_id AND {' AND '.join(same)}"
    )


def count_hidden_only(
    session: Session, spec: DatasetSpec, hidden: tuple[str, ...], batch_id: str
) -> int:
    """How many of the batch's updates changed only fields in ``hidden``."""
    return int(
        session.execute(
            text(f"SELECT COUNT(*) {hidden_only_updates(spec, hidden)}"), {"batch_id": batch_id}
        ).scalar_one()
    )


# LATE_EXIT's summary up to its exit date, the date left out (reconciliation.queries, LATE_EXIT:
# "人社部门记录已[于 DATE ]离职…", "left [on DATE ]per HR, still on the roster…").
LATE_EXIT_ZH, LATE_EXIT_EN = "人社部门记录已", "left per HR"


def propagate_unit_regions(
    session: Session, batch_id: str, now: dt.datetime, after_id: int
) -> None:
    """After a units batch: the current records of every unit whose region it changed move
    with it, to the unit's region (the registry's, or the unit code's once the unit is gone).
    Called by :func:`publish_changes`, under the feed's lock.

    A region is part of a version's valid state, like its fields: a move closes the current
    version of each record of the unit in the region it leaves and opens a new version (the
    next version number, the same fields and record key, written by this batch) in the
    region it enters. No version's region is ever rewritten, so every read at a moment —
    ``as_of``, history, the change feed — sees each record where it was then: the region it
    leaves keeps reading its own past, the region it enters reads only what came after.

    A unit's region changed when the batch wrote a version of it whose region differs from
    the one before (the version the batch closed, else the unit code's), or closed it for
    good (delete, snapshot) while the registry held it outside its code's region. Every
    write gives a record its unit's region, so the records of other units are already right
    and a batch that moves nothing touches no record.

    Each moved record is in the change feed of both regions, in this order: ``close`` of
    the old version in the region it leaves, then ``upsert`` of the new version in the
    region it enters; each row carries its version's region. All set-based: one UPDATE,
    one INSERT … SELECT and two feed INSERTs per table, whatever the number of records; and
    one UPDATE that files the unit's live findings where it went (see the end)."""
    # The batch's new versions are those above ``after_id`` (see :func:`last_id`).
    touched = (
        "(SELECT n.unit_code FROM registry_unit AS n LEFT JOIN registry_unit AS o "
        "ON o.record_key = n.record_key AND o.closed_batch_id = :batch_id "
        "WHERE n.id > :after AND n.batch_id = :batch_id AND n.closed_at IS NULL "
        f"AND n.region <> coalesce(o.region, {code_region('n.unit_code')}) "
        "UNION SELECT o.unit_code FROM registry_unit AS o WHERE o.closed_batch_id = :batch_id "
        f"AND o.region <> {code_region('o.unit_code')} AND NOT EXISTS (SELECT 1 FROM "
        "registry_unit AS c WHERE c.unit_code = o.unit_code AND c.closed_at IS NULL))"
    )
    moved = session.execute(
        typed_sql(f"SELECT 1 FROM {touched} AS m LIMIT 1", "batch_id"),
        {"batch_id": batch_id, "after": after_id},
    )
    if moved.first() is None:
        return
    client_id = session.execute(
        text("SELECT client_id FROM records_batch WHERE batch_id = :b"), {"b": batch_id}
    ).scalar_one()
    params = {"batch_id": batch_id, "after": after_id, "now": now, "client_id": client_id}
    for t, dataset in PERSON_AND_REGISTRY_TABLES.items():
        spec = spec_for(Dataset(dataset))

        closed = session.execute(
            typed_sql(
                f"UPDATE {t} SET closed_at = :now, closed_batch_id = :batch_id "
                f"WHERE closed_at IS NULL AND unit_code IN {touched} "
                f"AND region <> {unit_region_now(f'{t}.unit_code')}",
                "now",
                "batch_id",
            ),
            params,
        ).rowcount  # type: ignore[attr-defined]
        if not closed:
            continue
        before = last_id(session, spec)
        cols = ", ".join(spec.data_columns)
        region = unit_region_now("o.unit_code")
        ocols = ", ".join(region if c == "region" else f"o.{c}" for c in spec.data_columns)
        session.execute(
            typed_sql(
                f"INSERT INTO {t} ({cols}, version, batch_id, client_id, recorded_at) "
                f"SELECT {ocols}, o.version + 1, :batch_id, :client_id, :now FROM {t} AS o "
                f"WHERE o.closed_batch_id = :batch_id ORDER BY o.record_key",
                "now",
                "batch_id",
                "client_id",
            ),
            params,
        )
        for op, where in (("close", "closed_batch_id = :batch_id"), ("upsert", "id > :new")):
            session.execute(
                typed_sql(
                    f"{_FEED_INSERT}SELECT '{dataset}', record_key, version, '{op}', region, "
                    f":batch_id, :now FROM {t} WHERE {where} ORDER BY id",
                    "now",
                    "batch_id",
                ),
                {**params, "new": before},
            )
    # The live findings filed under a moved unit go with it, as a run finding them again would
    # file them (reconciliation.merge: a finding lies in its unit's region). Left behind, one
    # that no longer held was neither the entered region's runs' to resolve (filed outside it)
    # nor the left region's (its unit outside it) and stayed open, shown to the region the
    # unit left. A resolved finding stays: the past of the region that resolved it. Who reads
    # what the region it left wrote about it: reconciliation.service (``filed_region``).
    # The region it entered hears of each as ``finding.opened`` (``kind: moved``, its
    # status as it is): its subscribers learn of a finding that is theirs to settle now.
    finding_region = unit_region_now("reconciliation_finding.unit_code")
    moving = f"status <> 'resolved' AND unit_code IN {touched} AND region <> {finding_region}"
    data = outbox.json_object(
        session.get_bind().dialect.name,
        ("status", "status"),
        ("from_status", "NULL"),
        ("departments", "departments"),
        ("kind", "'moved'"),
    )
    outbox.append_select(
        session,
        f"SELECT 'finding.opened', {finding_region}, unit_code, NULL, rule, severity, id, "
        f"CAST(:batch_id AS VARCHAR(36)), NULL, {data}, :now FROM reconciliation_finding "
        f"WHERE {moving} ORDER BY id",
        params,
    )
    # A summary quotes a value only from a record of the region the finding is filed in
    # (reconciliation.queries): LATE_EXIT's HR exit date is the one such value. The region the
    # finding enters may see that HR record withheld, so the move drops the date, as the rule
    # words it without one; the next run that covers the finding quotes it again where allowed.
    position = "strpos" if session.get_bind().dialect.name == "postgresql" else "instr"
    session.execute(
        typed_sql(
            "UPDATE reconciliation_finding SET "
            f"summary_zh = '{LATE_EXIT_ZH}' || substr(summary_zh, {position}(summary_zh, '离职')),"
            f" summary_en = '{LATE_EXIT_EN}' || "
            f"substr(summary_en, {position}(summary_en, ', still on the roster')) "
            f"WHERE rule = 'LATE_EXIT' AND {moving}",
            "batch_id",
        ),
        params,
    )
    session.execute(
        typed_sql(
            f"UPDATE reconciliation_finding SET region = {finding_region} WHERE {moving}",
            "batch_id",
        ),
        params,
    )


def publish_changes(
    session: Session,
    spec: DatasetSpec,
    now: dt.datetime,
    batch_id: str,
    after_id: int,
    *,
    loaded: bool = False,
) -> frozenset[str]:
    """Write the batch's change-feed rows, last thing before commit. The batch's new
    versions are those of its batch_id above ``after_id`` (:func:`last_id` before the merge).
    The units' head counts (:mod:`linkage_hub.records.tally`) take the batch's changes too;
    ``loaded``: the table held no version before the batch (count the table instead).

    Returns the regions of the feed rows written, that is of every version the batch wrote
    or closed (a moved record's in both regions): the regions its ``batch.push`` audit entry
    is filed under besides the pusher's (:func:`linkage_hub.audit.service.record_batch`).
    They come from the ``records.changed`` events, one per region already, so knowing them
    costs no statement.

    On PostgreSQL the transaction first takes the feed's advisory lock, held until commit:
    seq values are then drawn in commit order, so a reader polling ``seq > cursor`` cannot
    read past a change that commits later. SQLite has one writer at a time anyway.

    A feed row has one region, and a reader reads the rows of its region. A change that
    moves a record from one region to another is therefore a row in each (rather than one
    row with a second region that every read would have to match too): the version it
    closes in the region it leaves, first, then the new version in the region it enters.
    For units this is the unit's own new version and then, through
    :func:`propagate_unit_regions`, every current record of the unit.
    """
    t = spec.table.name
    session.info[CHANGES_PUBLISHED] = True  # wakes incremental reconciliation after commit
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FEED_LOCK})
    params = {"now": now, "batch_id": batch_id, "ds": spec.name, "after": after_id}
    seq_before = int(session.scalar(text("SELECT COALESCE(MAX(seq), 0) FROM records_change")))
    if spec.name == "units":
        session.execute(
            typed_sql(
                f"{_FEED_INSERT}SELECT :ds, o.record_key, o.version, 'close', o.region, "
                f":batch_id, :now FROM {t} AS o JOIN {t} AS n ON n.record_key = o.record_key "
                f"AND n.closed_at IS NULL AND n.batch_id = :batch_id AND n.id > :after "
                f"WHERE o.closed_batch_id = :batch_id AND o.region <> n.region ORDER BY o.id",
                "now",
                "batch_id",
            ),
            params,
        )
    session.execute(
        typed_sql(
            f"{_FEED_INSERT}SELECT :ds, record_key, version, 'upsert', region, :batch_id, :now "
            f"FROM {t} WHERE id > :after AND batch_id = :batch_id ORDER BY id",
            "now",
            "batch_id",
        ),
        params,
    )
    session.execute(
        typed_sql(
            f"{_FEED_INSERT}SELECT :ds, t.record_key, t.version, 'close', t.region, :batch_id, "
            f":now FROM {t} AS t WHERE t.closed_batch_id = :batch_id AND NOT EXISTS "
            f"(SELECT 1 FROM {t} AS n WHERE n.record_key = t.record_key "
            f"AND n.closed_at IS NULL) ORDER BY t.id",
            "now",
            "batch_id",
        ),
        params,
    )
    if spec.name == "units":
        propagate_unit_regions(session, batch_id, now, after_id)
    if loaded and spec.name in tally.COUNTED:
        tally.count_loaded(session, spec.name)
    elif spec.name in ("units", *tally.COUNTED):  # a units batch may move counted records
        tally.apply(session, batch_id=batch_id, after_seq=seq_before)
    return announce_batch(session, spec.name, batch_id, now, seq_before)


def announce_batch(
    session: Session, dataset: str, batch_id: str, now: dt.datetime, seq_before: int
) -> frozenset[str]:
    """A ``records.changed`` event per region and dataset the batch's feed rows are in (none
    for a batch that changed nothing): the count, the feed range and, for a single change,
    its record key. Under the feed's lock, so the batch's rows are exactly those after
    ``seq_before``. For a dataset with hidden fields, an event per region and audience
    instead, of the changes that audience sees (see the module's docstring); the audience
    that reads every field sees every change, so the events' regions are the feed rows'.
    Returns those regions (``RETURNING`` of the events' inserts).

    A units batch that moves a unit writes the feed rows of the unit's records too
    (:func:`propagate_unit_regions`), each of its own dataset: each dataset's rows are
    announced as that dataset's events (count, range, keys, audiences), so a subscriber
    filtering on ``datasets`` hears of the records that entered or left its region, and
    each event's ``changes`` link (its dataset, region and range) leads to what it counts.
    One INSERT … SELECT per dataset (and audience) the batch's rows touch."""
    names = [dataset]
    if dataset == "units":
        touched = set(
            session.scalars(
                text("SELECT DISTINCT dataset FROM records_change WHERE seq > :after"),
                {"after": seq_before},
            )
        )
        names += [d for d in PERSON_AND_REGISTRY_TABLES.values() if d in touched]
    regions: set[str] = set()
    for name in names:
        spec = spec_for(Dataset(name))
        params = {"ds": name, "batch_id": batch_id, "now": now, "after": seq_before}
        kinds = audiences(spec)
        if len(kinds) == 1:
            sql = _announcement(session, spec, None)
            regions.update(outbox.append_select(session, sql, params, returning="region"))
            continue
        for hidden in kinds:
            tagged = {**params, "tag": ",".join(hidden)}
            sql = _announcement(session, spec, hidden)
            regions.update(outbox.append_select(session, sql, tagged, returning="region"))
    return frozenset(regions)


def _announcement(session: Session, spec: DatasetSpec, hidden: tuple[str, ...] | None) -> str:
    """The ``records.changed`` events of the batch's feed rows of dataset ``:ds`` (``spec``),
    per region, for the audience that cannot read ``hidden`` (None: untagged, for all). An
    audience with hidden fields sees the feed rows less the updates that changed only those
    (:func:`hidden_only_updates`), not always a run of the feed: its events list their
    record keys. A moved record's new version differs from the one it closed in its region,
    which every audience reads, so every audience sees a move."""
    dialect = session.get_bind().dialect.name

    def seen(c: str) -> str:
        mine = f"{c}.seq > :after AND {c}.dataset = :ds"
        if not hidden:
            return mine
        return (
            f"{mine} AND NOT EXISTS (SELECT 1 {hidden_only_updates(spec, hidden)} "
            f"AND n.record_key = {c}.record_key AND n.version = {c}.version "
            f"AND {c}.op = 'upsert')"
        )

    pairs = [
        ("changes", "g.n"),
        ("from_seq", "g.lo"),
        ("to_seq", "g.hi"),
        ("record_key", "CASE WHEN g.n = 1 THEN g.k END"),
    ]
    if hidden:
        rows = "records_change AS x WHERE x.region = g.region AND x.seq BETWEEN g.lo AND g.hi "
        rows += f"AND {seen('x')}"
        if dialect == "postgresql":
            keys = f"(SELECT json_agg(x.record_key ORDER BY x.seq) FROM {rows})"
            listed = f"CASE WHEN g.n <= {MAX_RECORD_KEYS} THEN {keys} END"
        else:
            # No ordered aggregate before SQLite 3.44; an aggregate reads a subquery with
            # ORDER BY in that order (such a subquery is never flattened into it). json():
            # the array, not its text, into the object.
            keys = (
                "(SELECT json_group_array(s.record_key) FROM "
                f"(SELECT x.record_key FROM {rows} ORDER BY x.seq) AS s)"
            )
            listed = f"json(CASE WHEN g.n <= {MAX_RECORD_KEYS} THEN {keys} END)"
        pairs.append(("record_keys", listed))
    if hidden is not None:
        pairs.append(("hidden", "CAST(:tag AS VARCHAR(200))"))
    return (
        "SELECT 'records.changed', g.region, NULL, CAST(:ds AS VARCHAR(20)), NULL, NULL, NULL, "
        f"CAST(:batch_id AS VARCHAR(36)), NULL, {outbox.json_object(dialect, *pairs)}, :now "
        "FROM (SELECT c.region, COUNT(*) AS n, MIN(c.seq) AS lo, MAX(c.seq) AS hi, "
        f"MIN(c.record_key) AS k FROM records_change AS c WHERE {seen('c')} "
        "GROUP BY c.region) AS g ORDER BY g.region"
    )
