"""Set-based SQL of the batch merge, the same statements on PostgreSQL and SQLite.

A batch is staged in the temporary table ``_stage`` (one row per record or delete, see
:attr:`DatasetSpec.stage_columns`); these statements then check it and merge it into the
dataset's version table in a handful of joins, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from typing import Any

from sqlalchemy import DateTime, Index, String, bindparam, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.registry.regions import code_region, unit_region_now
from linkage_hub.versioning import CLOSED

STAGE = "_stage"
IDEMPOTENCY_LOCK_SPACE = 0x4C48_4944  # "LHID", first half of a two-int advisory key
MERGE_LOCK_SPACE = 0x4C48_4D47  # "LHMG": writers of one dataset merge one at a time
REGIONS_LOCK = 0x4C48_5247  # "LHRG": units batches move units, the others derive regions

_TYPES: dict[str, Any] = {
    "now": DateTime(timezone=True),
    "batch_id": String(),
    "client_id": String(),
}


def typed_sql(statement: str, *names: str) -> TextClause:
    """``text()`` with the named parameters bound as the hub binds them (times, ids)."""
    clause = text(statement)
    params: list[Any] = [bindparam(n, type_=_TYPES[n]) for n in names if n in _TYPES]
    return clause.bindparams(*params) if params else clause


def create_stage(session: Session, spec: DatasetSpec) -> None:
    """An empty temporary table with the types of the dataset's columns."""
    cols = ", ".join(c for c in spec.data_columns)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
        session.execute(
            text(
                f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS "
                f"SELECT 0::int AS row_no, 0::smallint AS del, {cols} "
                f"FROM {spec.table.name} WITH NO DATA"
            )
        )
    else:
        session.execute(text(f"DROP TABLE IF EXISTS temp.{STAGE}"))
        session.execute(
            text(
                f"CREATE TEMP TABLE {STAGE} AS SELECT 0 AS row_no, 0 AS del, {cols} "
                f"FROM {spec.table.name} WHERE 0"
            )
        )


def tune_session(session: Session) -> None:
    """PostgreSQL: hash joins of a million keys in memory; no JIT (it costs more than it
    saves on these plain scans). SQLite: a page cache that holds the indexes."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))  # index builds
        session.execute(text("SET LOCAL jit = off"))
    else:
        # SQLite's default page cache (2 MB) makes a large batch thrash the version table's
        # indexes; this connection keeps a larger one (memory is taken only as pages load).
        session.execute(text("PRAGMA cache_size = -262144"))


# A batch at most this fraction of its version table merges by index probes (see below).
SMALL_BATCH_FRACTION = 0.1


def index_stage(session: Session, spec: DatasetSpec, staged: int) -> None:
    """PostgreSQL needs the staged row count to plan the joins (temporary tables have no
    statistics until analysed); SQLite probes by record_key, so it gets an index.

    On PostgreSQL a batch small against its table (≤ ``SMALL_BATCH_FRACTION`` of the rows)
    prices index probes as what they are with the table in memory or on SSD
    (``random_page_cost`` 1.1, not the spinning-disk default 4): a 10,000-row batch into a
    million-row table then closes the old versions through the current-key index instead of
    hash-joining the whole table (514 → 167 ms, bench/RESULTS.md "Load"). A large batch keeps
    the hash joins: for a million-row batch the probes cost 1.5 × more (13.6 → 19.6 s)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {STAGE}"))
        rows = session.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
            {"t": spec.table.name},
        ).scalar()
        if rows is not None and staged <= SMALL_BATCH_FRACTION * rows:
            session.execute(text("SET LOCAL random_page_cost = 1.1"))
    else:
        session.execute(text(f"CREATE INDEX temp.ix_stage_record_key ON {STAGE} (record_key)"))
        session.execute(text(f"CREATE INDEX temp.ix_stage_unit_code ON {STAGE} (unit_code)"))


def drop_stage(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        session.execute(text(f"DROP TABLE IF EXISTS temp.{STAGE}"))


def fix_stage_regions(session: Session, spec: DatasetSpec, direct_batch: str | None) -> None:
    """A record's region is its unit's region in the registry (unit code region otherwise);
    a unit's own region is the one pushed, except for deletes. ``direct_batch``: the rows
    were copied straight into the version table by that batch (and hold no deletes)."""
    if direct_batch is None:
        only_deletes = " AND s.del = 1" if spec.name == "units" else ""
        session.execute(
            text(
                f"UPDATE {STAGE} AS s SET region = u.region FROM registry_unit AS u "
                f"WHERE u.unit_code = s.unit_code AND u.closed_at IS NULL "
                f"AND u.region <> s.region{only_deletes}"
            )
        )
    elif spec.name != "units":
        session.execute(
            typed_sql(
                f"UPDATE {spec.table.name} AS s SET region = u.region FROM registry_unit AS u "
                f"WHERE s.batch_id = :batch_id AND u.unit_code = s.unit_code "
                f"AND u.closed_at IS NULL AND u.region <> s.region",
                "batch_id",
            ),
            {"batch_id": direct_batch},
        )


def _unit_regions(direct: bool) -> tuple[str, str]:
    """SQL of a staged unit row's region before and after the batch (see
    :func:`rows_outside`). Before: the registry's current region, else the one in the unit
    code (where the unit's records are). After: the pushed region; for a delete, the one in
    the unit code (where :func:`propagate_unit_regions` sends its records)."""
    code = code_region("s.unit_code")
    # Direct: the rows are the batch's own versions in an empty table; nothing was registered.
    before = code if direct else unit_region_now("s.unit_code")
    after = f"CASE WHEN s.del = 1 THEN {code} ELSE s.region END"
    return before, after


def rows_outside(
    session: Session, spec: DatasetSpec, lo: str, hi: str, limit: int, *, direct: bool = False
) -> tuple[list[Any], int]:
    """Rows that write outside the region ``lo``..``hi``: (row_no, del, away), ``away`` true
    when it is where the unit is now, not where the row puts it, that lies outside.

    This is the region check of every write (:meth:`ingest.Pusher.check_stage`: batches,
    single-record PUT and DELETE). A record's region is its unit's, so for records it is the
    staged region (:func:`fix_stage_regions`). A unit row moves the unit and, with it, every
    record of the unit (:func:`propagate_unit_regions`): both the region the unit is in now
    and the region the row leaves it in must lie inside, or a county could take a sibling's
    unit (and its people) by pushing it with its own region."""
    outside = "s.region < :lo OR s.region > :hi"
    away = "0 = 1"
    if spec.name == "units":
        before, after = _unit_regions(direct)
        away = f"({before}) < :lo OR ({before}) > :hi"
        outside = f"{outside} OR ({after}) < :lo OR ({after}) > :hi OR {away}"
    where = f"FROM {STAGE} AS s WHERE {outside}"
    params = {"lo": lo, "hi": hi}
    total = session.execute(text(f"SELECT count(*) {where}"), params).scalar_one()
    if not total:
        return [], 0
    rows = session.execute(
        text(
            f"SELECT s.row_no, s.del, CASE WHEN {away} THEN 1 ELSE 0 END AS away {where} "
            f"ORDER BY s.row_no LIMIT :n"
        ),
        {**params, "n": limit},
    ).all()
    return list(rows), int(total)


def scope_units_outside(session: Session, units: list[str], lo: str, hi: str) -> list[str]:
    """The codes of a batch's ``scope.units`` whose unit lies outside ``lo``..``hi``: by the
    registry's region, else by the region in the code (where the unit's records are)."""
    rows = session.execute(
        text(
            "SELECT unit_code, region FROM registry_unit "
            "WHERE closed_at IS NULL AND unit_code IN :units"
        ).bindparams(bindparam("units", expanding=True)),
        {"units": units},
    ).all()
    registered: dict[str, str] = {row.unit_code: row.region for row in rows}
    regions = {code: registered.get(code, code[2:8]) for code in units}
    return [code for code, region in regions.items() if not lo <= region <= hi]


def unit_moves(session: Session, *, direct: bool = False) -> list[Any]:
    """The staged unit rows that move a unit to another region: (unit_code, from_region,
    to_region), after :func:`rows_outside` found none outside the batch."""
    before, _after = _unit_regions(direct)
    return list(
        session.execute(
            text(
                f"SELECT unit_code, from_region, to_region FROM (SELECT s.row_no, s.unit_code, "
                f"{before} AS from_region, s.region AS to_region FROM {STAGE} AS s "
                f"WHERE s.del = 0) AS m WHERE from_region <> to_region ORDER BY row_no"
            )
        ).all()
    )


def duplicate_rows(session: Session, limit: int) -> tuple[list[Any], int]:
    """(later row, earlier row) for rows whose natural key an earlier row already has."""
    total = session.execute(
        text(
            f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {STAGE} "
            f"GROUP BY record_key HAVING count(*) > 1) AS d"
        )
    ).scalar_one()
    if not total:
        return [], 0
    rows = session.execute(
        text(
            f"SELECT s.row_no, (SELECT min(p.row_no) FROM {STAGE} AS p "
            f"WHERE p.record_key = s.record_key AND p.row_no < s.row_no) AS first "
            f"FROM {STAGE} AS s WHERE s.record_key IN (SELECT record_key FROM {STAGE} "
            f"GROUP BY record_key HAVING count(*) > 1) ORDER BY s.row_no"
        )
    ).all()
    later = [(r.row_no, r.first) for r in rows if r.first is not None]
    return later[:limit], int(total)


def _distinct(spec: DatasetSpec, left: str, right: str) -> str:
    # IS DISTINCT FROM: NULL against NULL is "same", NULL against a value is "changed".
    terms = [f"{left}.{c} IS DISTINCT FROM {right}.{c}" for c in spec.compare_columns]
    if spec.person:
        # ID numbers are stored encrypted with a random nonce, so two texts of one number
        # differ: the number itself is compared by person_key (the record key covers it);
        # of the form as given, whether there was one (a 15-digit number replaced by its
        # 18-digit form makes a new version; one legacy spelling for another does not).
        terms.append(f"(({left}.id_number_given IS NULL) <> ({right}.id_number_given IS NULL))")
    return " OR ".join(terms)


def last_id(session: Session, spec: DatasetSpec) -> int:
    """The largest version id so far: every version a batch writes after this gets a larger
    one (ids only grow), which is how the batch finds them again (no index on batch_id)."""
    return int(
        session.execute(text(f"SELECT coalesce(max(id), 0) FROM {spec.table.name}")).scalar_one()
    )


def _deferrable(spec: DatasetSpec) -> list[Index]:
    """The indexes every new current version enters: all but the primary key and the
    index of closed versions."""
    return [
        index
        for index in spec.table.indexes
        if index.dialect_kwargs.get("postgresql_where") is not CLOSED
    ]


def defer_indexes(session: Session, spec: DatasetSpec) -> bool:
    """Drop the version table's indexes if the table is empty, for a bulk load (see
    :func:`build_indexes`); False, and nothing done, if it holds any version.

    Building an index once after the load (a sort) costs a fraction of a million random
    insertions into it. On PostgreSQL the drop holds an exclusive lock on the table until
    commit: readers of the (empty) table wait for the first load to commit. A concurrent
    first load waits too, then finds the table filled and merges as usual.
    """
    t = spec.table.name
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE"))
    if session.execute(text(f"SELECT 1 FROM {t} LIMIT 1")).first() is not None:
        return False
    connection = session.connection()
    for index in _deferrable(spec):
        index.drop(connection)
    return True


def build_indexes(session: Session, spec: DatasetSpec) -> None:
    """Build the indexes :func:`defer_indexes` dropped, exactly as the model defines them.

    On PostgreSQL the freshly loaded table is analysed too (a sample, ~0.3 s at 1 M rows):
    until autovacuum gets to it, the planner would take it for a small table, and the next
    batch's merge would scan whole indexes (2.5 s instead of 0.7 s for 10,000 changes)."""
    connection = session.connection()
    for index in _deferrable(spec):
        index.create(connection)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {spec.table.name}"))


# Loaded with each row straight into an empty version table (ingest.Pusher.apply).
VERSION_COLUMNS = ("version", "batch_id", "client_id", "recorded_at")


def stored_time(session: Session, moment: dt.datetime) -> Any:
    """``moment`` as a driver parameter of a version's ``recorded_at``, the text every other
    write stores: ISO text for PostgreSQL's ``COPY``; on SQLite the dialect's own text (the
    generic type has no bind processor there, and the driver's default adapter would write
    ``+00:00`` after it, a text that sorts after the same moment bound by a query: the load's
    records were then missing from a read ``as_of`` the moment they were recorded). Bound as
    text once per batch, not adapted once per row."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        return moment.isoformat()
    column = DateTime(timezone=True).dialect_impl(dialect)
    convert = column.bind_processor(dialect)
    return convert(moment) if convert else moment


def direct_stage_view(session: Session, spec: DatasetSpec, batch_id: str) -> None:
    """A temporary view of the rows a batch loaded straight into the version table, in the
    shape of the staging table (row_no is the id), so the checks and the merge's counts
    read them as staged rows. Dropped by :func:`drop_stage_view`."""
    uuid.UUID(batch_id)  # inlined below: a view takes no parameters
    cols = ", ".join(spec.data_columns)
    session.execute(
        text(
            f"CREATE TEMP VIEW {STAGE} AS SELECT id AS row_no, 0 AS del, {cols} "
            f"FROM {spec.table.name} WHERE batch_id = '{batch_id}'"
        )
    )


def drop_stage_view(session: Session) -> None:
    session.execute(text(f"DROP VIEW {STAGE}"))


def advance_ids(session: Session, spec: DatasetSpec) -> None:
    """After a load chose the ids: PostgreSQL's sequence goes on above them (SQLite takes
    the largest id plus one anyway)."""
    t = spec.table.name
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
            f"greatest((SELECT max(id) FROM {t}), nextval(pg_get_serial_sequence('{t}', 'id'))))"
        )
    )


def close_changed(session: Session, spec: DatasetSpec, now: dt.datetime, batch_id: str) -> int:
    """Close the current versions that a staged record changes; returns how many."""
    t = spec.table.name
    result = session.execute(
        typed_sql(
            f"UPDATE {t} AS t SET closed_at = :now, closed_batch_id = :batch_id "
            f"FROM {STAGE} AS s WHERE s.record_key = t.record_key AND t.closed_at IS NULL "
            f"AND s.del = 0 AND ({_distinct(spec, 's', 't')})",
            "now",
            "batch_id",
        ),
        {"now": now, "batch_id": batch_id},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def insert_versions(
    session: Session,
    spec: DatasetSpec,
    now: dt.datetime,
    batch_id: str,
    client_id: str,
    *,
    empty: bool = False,
) -> int:
    """Insert a new version for every staged record without a current version (new ones and
    those just closed as changed); returns how many. The version number continues the
    record's history (a record deleted and pushed again goes on counting). ``empty``: the
    table holds no version at all (see :func:`defer_indexes`), so each is a version 1.

    The previous version number is one index probe per new version (the record key's last
    entry in the unique record_key/version index): a join with a grouped subquery instead
    is planned as a nested loop that re-runs the grouping per row once the planner expects
    few new versions (analysed table, 10,000 changes: 23 s instead of 0.7 s)."""
    t = spec.table.name
    cols = ", ".join(spec.data_columns)
    fcols = ", ".join(f"f.{c}" for c in spec.data_columns)
    if empty:
        version, fresh = "1", ""
    else:
        version = (
            f"coalesce((SELECT max(h.version) FROM {t} AS h "
            f"WHERE h.record_key = f.record_key), 0) + 1"
        )
        fresh = (
            f" AND NOT EXISTS (SELECT 1 FROM {t} AS c "
            f"WHERE c.record_key = f.record_key AND c.closed_at IS NULL)"
        )
    # Keys are hex: byte order is their order in any collation, and sorts a third faster
    # than a locale's (SQLite compares bytes anyway).
    bytewise = ' COLLATE "C"' if session.get_bind().dialect.name == "postgresql" else ""
    result = session.execute(
        typed_sql(
            f"INSERT INTO {t} ({cols}, version, batch_id, client_id, recorded_at) "
            f"SELECT {fcols}, {version}, :batch_id, :client_id, :now "
            f"FROM {STAGE} AS f WHERE f.del = 0{fresh} "
            # In record_key order the two record_key indexes grow at one end instead of at
            # random places (a million random inserts thrash a small buffer cache).
            f"ORDER BY f.record_key{bytewise}",
            "now",
            "batch_id",
            "client_id",
        ),
        {"now": now, "batch_id": batch_id, "client_id": client_id},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def close_deleted(session: Session, spec: DatasetSpec, now: dt.datetime, batch_id: str) -> int:
    t = spec.table.name
    result = session.execute(
        typed_sql(
            f"UPDATE {t} SET closed_at = :now, closed_batch_id = :batch_id "
            f"WHERE closed_at IS NULL AND record_key IN "
            f"(SELECT record_key FROM {STAGE} WHERE del = 1)",
            "now",
            "batch_id",
        ),
        {"now": now, "batch_id": batch_id},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _absent(
    spec: DatasetSpec,
    bounds: tuple[str, str],
    period: str | None,
    units: list[str] | None,
    batch_id: str | None,
) -> tuple[str, dict[str, Any], bool]:
    """The current records of a snapshot's scope that the batch does not contain, as
    ``FROM … WHERE …`` over ``t``; with ``batch_id``, not those the batch wrote."""
    t = spec.table.name
    where = ["t.closed_at IS NULL", "t.region BETWEEN :lo AND :hi"]
    params: dict[str, Any] = {"lo": bounds[0], "hi": bounds[1]}
    if batch_id is not None:
        where.append("t.batch_id <> :batch_id")
        params["batch_id"] = batch_id
    if period is not None:
        where.append("t.period = :period")
        params["period"] = period
    if units:
        where.append("t.unit_code IN :units")
        params["units"] = units
    where.append(f"NOT EXISTS (SELECT 1 FROM {STAGE} AS s WHERE s.record_key = t.record_key)")
    return f"FROM {t} AS t WHERE {' AND '.join(where)}", params, bool(units)


def _expanding(clause: TextClause, units: bool) -> TextClause:
    return clause.bindparams(bindparam("units", expanding=True)) if units else clause


def close_absent(
    session: Session,
    spec: DatasetSpec,
    now: dt.datetime,
    batch_id: str,
    *,
    bounds: tuple[str, str],
    period: str | None,
    units: list[str] | None,
) -> int:
    """Snapshot: close the current records of the scope that the batch does not contain."""
    absent, params, expand = _absent(spec, bounds, period, units, batch_id)
    statement = (
        f"UPDATE {spec.table.name} SET closed_at = :now, closed_batch_id = :batch_id "
        f"WHERE id IN (SELECT t.id {absent})"
    )
    clause = _expanding(typed_sql(statement, "now", "batch_id"), expand)
    result = session.execute(clause, {**params, "now": now, "batch_id": batch_id})
    return int(result.rowcount)  # type: ignore[attr-defined]


def units_closed_outside(
    session: Session,
    spec: DatasetSpec,
    bounds: tuple[str, str],
    units: list[str] | None,
    limit: int,
) -> tuple[list[str], int]:
    """Snapshot of units: the units it would close whose records would fall back to the
    region of their code (:func:`propagate_unit_regions`) outside ``bounds``; a unit the
    city moved into a county cannot be sent back to its code's county by leaving it out."""
    absent, params, expand = _absent(spec, bounds, None, units, None)
    code = code_region("t.unit_code")
    where = f"{absent} AND ({code} < :lo OR {code} > :hi)"
    total = session.execute(
        _expanding(text(f"SELECT count(*) {where}"), expand), params
    ).scalar_one()
    if not total:
        return [], 0
    rows = session.scalars(
        _expanding(text(f"SELECT t.unit_code {where} ORDER BY t.unit_code LIMIT :n"), expand),
        {**params, "n": limit},
    ).all()
    return list(rows), int(total)


def lock_dataset(session: Session, spec: DatasetSpec) -> None:
    """Writers of one dataset merge one at a time (PostgreSQL; SQLite has one writer anyway).

    Under READ COMMITTED two batches merging the same records side by side both saw "no
    current version" and inserted one each (a unique violation, 500) or one closed what the
    other had just written (a lost update); a PUT that lost an If-Match race found no current
    row and answered 404 instead of 412. Held until commit, taken before the first read of
    current versions, so the merge and the precondition see every earlier writer's commit and
    the final state is that of a serial order. Validation and staging still run in parallel.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    lock_regions(session, spec)  # always first: one lock order
    session.execute(
        text("SELECT pg_advisory_xact_lock(:space, :key)"),
        {"space": MERGE_LOCK_SPACE, "key": _merge_key(spec)},
    )


def _merge_key(spec: DatasetSpec) -> int:
    return zlib.crc32(spec.name.encode()) - 2**31


def settle(session: Session, spec: DatasetSpec) -> None:
    """Wait until every writer of the dataset in flight has committed: a read ``as_of`` a
    moment that has passed, made after this, answers what it will always answer.

    A writer takes its ``now`` (the ``recorded_at`` of the versions it writes, the
    ``closed_at`` of those it closes) after its locks and commits later; a read at a moment
    between the two saw the state before the writer, and the same read after the commit the
    writer's versions. Every writer of a version table takes the dataset's merge lock
    (:func:`lock_dataset`; a direct load too) or, for a units batch moving the records of
    other datasets (``publish.propagate_unit_regions``), the regions lock exclusive
    (:func:`lock_regions`), before its ``now``. So, for a moment not after the clock when
    this is called: a writer that held its lock before this got it has committed (the
    next statement's snapshot holds its versions); one that locks after takes a ``now``
    later than the moment, and its versions are not the moment's. (One clock: the hub's
    processes are assumed to agree on the time, as every ``recorded_at`` already does.)

    PostgreSQL: both locks taken *shared* in one statement, so readers never wait for one
    another, only for a writer in flight. In the statement session of reads (autocommit)
    they are released as the statement ends: the read holds nothing, writers do not wait for
    it. SQLite: the writer holds the database's write lock from its ``BEGIN IMMEDIATE`` (so
    before its ``now``); a WAL reader does not wait for it, so this takes and drops the write
    lock on a connection of its own (``BEGIN IMMEDIATE``, ``ROLLBACK``; the busy timeout
    bounds the wait). Call it before the session's first statement, whose snapshot the read
    then uses. Only reads at a moment pay for it; current reads never wait."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock_shared(:regions), "
                "pg_advisory_xact_lock_shared(:space, :key)"
            ),
            {"regions": REGIONS_LOCK, "space": MERGE_LOCK_SPACE, "key": _merge_key(spec)},
        )
        return
    if bind.dialect.name != "sqlite":
        return
    raw = bind.engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("ROLLBACK")
        except bind.dialect.loaded_dbapi.OperationalError as exc:
            # A writer held the lock past the busy timeout: a 503 like any statement's.
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        finally:
            cursor.close()
    finally:
        raw.close()


def lock_regions(session: Session, spec: DatasetSpec | None) -> None:
    """The units' regions hold still until commit (PostgreSQL; SQLite has one writer anyway):
    a units batch takes this lock exclusive, every other batch shared, before it derives
    its rows' regions from the registry (:func:`fix_stage_regions`) and checks them; and so
    does (``spec`` None, shared) a publication, whose statements read a region's units, then
    their figures (:func:`linkage_hub.public.disclosures.compute`), and a periodic bulletin,
    whose statements count a region's findings (:func:`linkage_hub.notifications.bulletins.
    publish`), and a reconciliation run, which reads the registry, then the records, then
    merges its findings (:func:`linkage_hub.reconciliation.runs.execute_run`; a units batch
    waits for a run in flight, a full run of a province takes seconds).

    A batch of a unit's records checked its rows while a units batch moving the unit
    committed, then merged them into the region the unit had left: the move
    (``publish.propagate_unit_regions``) had already carried the unit's records over, so
    the county it left kept a person of a unit now in its sibling. Shared, so batches of
    records never wait for one another here; the units batch waits for those already
    checked to commit, and later ones wait for it, and read its regions. Taken before any
    other lock of the batch (:func:`lock_dataset` takes it first, a direct load before it
    locks its table): the same order everywhere, so no deadlock. Every ``now`` of a batch is
    taken after it, so a move's ``closed_at`` never precedes the version's ``recorded_at``.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    mode = "" if spec is not None and spec.name == "units" else "_shared"
    session.execute(text(f"SELECT pg_advisory_xact_lock{mode}(:k)"), {"k": REGIONS_LOCK})
