"""Pushing a batch: validate every row, stage it, check it as a set, merge it, publish changes.

All in the request's one transaction. When any row is bad nothing is applied and the 422 lists
every bad row (up to ``max_error_rows``, with the total). The staging table is loaded with
PostgreSQL ``COPY`` (SQLite: ``executemany``) straight from the row validator
(:mod:`linkage_hub.records.rows`), so a million rows stream through in bounded memory;
everything after that is set-based SQL (:mod:`linkage_hub.records.queries`), and the change
feed is written last (:mod:`linkage_hub.records.publish`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from linkage_hub.audit.service import record_batch, record_unit_moves
from linkage_hub.auth.context import RequestContext
from linkage_hub.auth.principal import Principal
from linkage_hub.domain import Dataset
from linkage_hub.errors import Conflict, FieldError, InvalidInput
from linkage_hub.keys import Keyring
from linkage_hub.records import publish, queries
from linkage_hub.records.datasets import spec_for
from linkage_hub.records.models import Batch
from linkage_hub.records.parsing import (
    BodyFormat,
    SpooledBody,
)
from linkage_hub.records.rows import ErrorLog, RowReader
from linkage_hub.records.schemas import BatchMode, BatchResult
from linkage_hub.records.scope import BatchScope, QueryOptions, request_hash
from linkage_hub.records.validation import RowValidator, Staged
from linkage_hub.records.visibility import batch_openable
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

COPY_CHUNK = 5_000
# A batch this large into an empty version table builds the table's indexes after the load
# (queries.defer_indexes); smaller ones are not worth the DDL.
BULK_LOAD_ROWS = 10_000
# An NDJSON or CSV body this large into an empty version table is copied straight into
# the table (see Pusher.apply); ~100 bytes a row, so ~10,000 rows.
DIRECT_LOAD_BYTES = 1_000_000


class Pusher:
    """One push: owns the staging table for the lifetime of the request's transaction."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        keyring: Keyring,
        principal: Principal,
        dataset: Dataset,
    ) -> None:
        self.session = session
        self.settings = settings
        self.keyring = keyring
        self.principal = principal
        self.spec = spec_for(dataset)
        self.dialect = session.get_bind().dialect.name
        self.log = ErrorLog(settings.max_error_rows)
        self.reader = RowReader(settings, keyring, principal, self.spec, self.log)
        self.after_id = 0  # the largest version id before the merge
        self.keys_may_repeat = True  # until stage() has seen every key
        self.key_taken = False  # the key names a first batch the caller may no longer open
        self.staged = 0
        # (version, batch_id, client_id, recorded_at) when rows are copied straight into the
        # version table (see apply), else None
        self.direct: tuple[int, str, str, Any] | None = None
        # the regions of the versions the applied batch wrote or closed (see publish_changes)
        self.regions: frozenset[str] = frozenset()

    # -- idempotency --------------------------------------------------------------------------

    def replay(self, key: str, digest: str) -> BatchResult | None:
        """The first answer to this key, if there is one; 409 while it is still running.

        The first answer is replayed only while the caller may still open its batch (``GET
        /batches/{id}``'s rule, :func:`linkage_hub.records.visibility.batch_openable`, by the
        client row as it stands): a client moved out of the batch's region since is answered
        as a new push by its rights of now (:attr:`key_taken`; the first batch keeps the key).

        The key is stored on the batch row, in the batch's own transaction, unique per client.
        On PostgreSQL the push first takes a transaction-scoped advisory lock on (client,
        key) without waiting: a retry that arrives while the first push is still running
        cannot take it and gets 409 at once (a plain unique-constraint race would make it
        wait for the first transaction instead). SQLite runs one writer at a time: a retry
        waits for the first to commit and then gets its answer.
        """
        if self.dialect == "postgresql":
            lock = zlib.crc32(f"{self.principal.client_id}\x1f{key}".encode()) - 2**31
            got = self.session.execute(
                text("SELECT pg_try_advisory_xact_lock(:space, :key)"),
                {"space": queries.IDEMPOTENCY_LOCK_SPACE, "key": lock},
            ).scalar_one()
            if not got:
                raise Conflict("A batch with this Idempotency-Key is still being applied.")
        first = self.session.scalars(
            select(Batch).where(
                Batch.client_id == self.principal.client_id, Batch.idempotency_key == key
            )
        ).one_or_none()
        if first is None:
            return None
        if first.request_hash != digest or first.dataset != self.spec.name:
            raise InvalidInput(
                "This Idempotency-Key was used for a different request.",
                errors=[
                    FieldError(
                        field="Idempotency-Key",
                        code="reused",
                        message="was first used with another body or parameters",
                    )
                ],
                total_errors=1,
            )
        openable = self.session.scalar(
            select(Batch.batch_id).where(
                Batch.batch_id == first.batch_id, batch_openable(self.principal)
            )
        )
        if openable is None:
            self.key_taken = True
            return None
        return BatchResult.of(first)

    @property
    def received(self) -> int:
        """Rows read so far (records and deletes), good and bad."""
        return self.reader.received

    # -- staging ------------------------------------------------------------------------------

    def stage(self, rows: Iterator[Staged]) -> None:
        """Load the validated rows into the staging table (or, see :meth:`apply`, straight
        into the empty version table). On the way, note whether any record key may repeat:
        a set of the keys' hashes is a fraction of the cost of the SQL that finds repeated
        keys (and names their rows), which then runs only if two hashes are equal."""
        session, spec = self.session, self.spec
        queries.tune_session(session)
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        direct = self.direct
        if direct is None:
            queries.create_stage(session, spec)
            columns = spec.stage_columns
            target = queries.STAGE
        else:
            columns = ("id", *spec.data_columns, *queries.VERSION_COLUMNS)
            target = spec.table.name
        hashes: set[int] = set()
        add = hashes.add
        staged = 0
        if self.dialect == "postgresql":
            statement = f"COPY {target} ({', '.join(columns)}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[attr-defined]
                write = copy.write_row
                for row in rows:
                    # direct: id = row number, the data columns, then the version's own
                    write(row if direct is None else (row[0], *row[2:], *direct))
                    add(hash(row[2]))
                    staged += 1
        else:
            marks = ", ".join("?" * len(columns))
            statement = f"INSERT INTO {target} ({', '.join(columns)}) VALUES ({marks})"
            cursor = raw.cursor()
            try:
                while chunk := list(itertools.islice(rows, COPY_CHUNK)):
                    if direct is None:
                        cursor.executemany(statement, chunk)
                    else:
                        cursor.executemany(statement, [(r[0], *r[2:], *direct) for r in chunk])
                    hashes.update(hash(row[2]) for row in chunk)
                    staged += len(chunk)
            finally:
                cursor.close()
        self.keys_may_repeat = len(hashes) != staged
        self.staged = staged
        if direct is None:
            queries.index_stage(session, spec, staged)
        else:
            queries.direct_stage_view(session, spec, direct[1])

    def check_stage(self, scope: BatchScope) -> None:
        """Set-based checks: every row inside the scope's region, no natural key twice.

        The scope's region lies inside the caller's (:func:`resolve_scope`; a single-record
        write's scope is the caller's region), so this is the one region check of every
        write, unit moves included (:func:`queries.rows_outside`)."""
        spec = self.spec
        session = self.session
        cap = self.settings.max_error_rows
        queries.lock_regions(session, spec)  # until commit: no unit moves under the check
        queries.fix_stage_regions(session, spec, None if self.direct is None else self.direct[1])
        lo, hi = region_bounds(scope.region)
        outside, outside_total = queries.rows_outside(
            session, spec, lo, hi, cap, direct=self.direct is not None
        )
        region_field = "region" if spec.dataset is Dataset.units else "unit_code"
        if scope.units:
            foreign = queries.scope_units_outside(session, scope.units, lo, hi)
            self.log.errors.extend(
                FieldError(
                    field="scope.units",
                    code="outside_region",
                    message=f"the unit {code} lies outside the region {scope.region} of this batch",
                )
                for code in foreign[:cap]
            )
            self.log.total += len(foreign)
        for row_no, is_delete, away in outside:
            where = "is registered" if away else "lies"
            self.log.errors.append(
                FieldError(
                    row=row_no,
                    field="unit_code" if is_delete else region_field,
                    code="outside_region",
                    message=f"the unit {where} outside the region {scope.region} of this batch",
                )
            )
        self.log.total += outside_total
        if spec.dataset is Dataset.units and scope.mode is BatchMode.snapshot:
            closing, closing_total = queries.units_closed_outside(
                session, spec, (lo, hi), scope.units, cap
            )
            self.log.errors.extend(
                FieldError(
                    field="records",
                    code="outside_region",
                    message=f"leaves out the unit {code}: closing it would give its records "
                    f"back to the region of its code, outside the region {scope.region}",
                )
                for code in closing
            )
            self.log.total += closing_total
        dupes, dupes_total = (
            queries.duplicate_rows(session, cap) if self.keys_may_repeat else ([], 0)
        )
        for later, first in dupes:
            self.log.errors.append(
                FieldError(
                    row=later,
                    field=",".join(spec.key),
                    code="duplicate_key",
                    message=f"has the same natural key as row {first}",
                )
            )
        self.log.total += dupes_total

    def raise_if_bad(self) -> None:
        if not self.log.total:
            return
        errors = sorted(self.log.errors, key=lambda e: (e.row or 0, e.field))
        raise InvalidInput(
            f"The batch has {self.log.total} error(s); nothing was applied.",
            errors=errors[: self.settings.max_error_rows],
            total_errors=self.log.total,
        )

    # -- merge ----------------------------------------------------------------------------------

    def merge(
        self, scope: BatchScope, batch_id: str, now: dt.datetime, *, bulk: bool = False
    ) -> dict[str, int]:
        """Close, insert and close again, in SQL. ``bulk``: a large batch may load an empty
        table without its indexes and build them afterwards (not for dry runs: the drop
        locks the table)."""
        session, spec = self.session, self.spec
        client = self.principal.client_id
        if self.direct is not None:  # already in the table, as version 1 of new records
            updated, written = 0, self.staged
            queries.build_indexes(session, spec)
        else:
            # Merges of one dataset run one at a time: no lost update, and the versions a
            # batch inserts are exactly those above the last id seen under the lock.
            queries.lock_dataset(session, spec)
            self.after_id = queries.last_id(session, spec)
            deferred = (
                bulk
                and self.after_id == 0
                and self.received >= BULK_LOAD_ROWS
                and queries.defer_indexes(session, spec)
            )
            updated = queries.close_changed(session, spec, now, batch_id)
            written = queries.insert_versions(session, spec, now, batch_id, client, empty=deferred)
            if deferred:
                queries.build_indexes(session, spec)
        closed = queries.close_deleted(session, spec, now, batch_id)
        if scope.mode is BatchMode.snapshot:
            closed += queries.close_absent(
                session,
                spec,
                now,
                batch_id,
                bounds=region_bounds(scope.region),
                period=scope.period,
                units=scope.units,
            )
        deletes = session.execute(
            text(f"SELECT count(*) FROM {queries.STAGE} WHERE del = 1")
        ).scalar_one()
        records = self.received - int(deletes)
        return {
            "inserted": written - updated,
            "updated": updated,
            "unchanged": records - written,
            "closed": closed,
        }

    def apply(
        self,
        scope: BatchScope,
        rows: Iterator[Staged],
        *,
        dry_run: bool = False,
        idempotency_key: str | None = None,
        digest: str | None = None,
        large: bool = False,
    ) -> BatchResult:
        """Stage, check, merge, record the batch, publish its changes.

        ``large``: a large body of records only (NDJSON, CSV). If it goes into an empty
        version table (and is no dry run), its rows are copied straight into the table as
        version 1 (id = row number) with the table's indexes dropped
        (:func:`queries.defer_indexes`): every record is new, so there is nothing to merge,
        and the copy runs while later rows are still being validated. A temporary view in
        the shape of the staging table lets the same set-based checks run over them;
        a bad batch rolls it all back.
        """
        session = self.session
        now = dt.datetime.now(dt.UTC)
        batch_id = str(uuid.uuid4())
        if large and not dry_run and queries.last_id(session, self.spec) == 0:
            # Before the table's lock, and now; the merge lock too: every writer of the
            # dataset holds it before its now, so a read as_of waits for it (queries.settle).
            queries.lock_dataset(session, self.spec)
            if queries.defer_indexes(session, self.spec):
                now = dt.datetime.now(dt.UTC)
                stored = queries.stored_time(session, now)
                self.direct = (1, batch_id, self.principal.client_id, stored)
        self.stage(rows)
        self.check_stage(scope)
        self.raise_if_bad()
        moves = (
            queries.unit_moves(session, direct=self.direct is not None)
            if self.spec.dataset is Dataset.units and not dry_run
            else []
        )
        if self.direct is None:
            # Under the dataset's merge lock (merge takes it again): a batch of the same
            # records that commits first was recorded earlier, so no version is closed at
            # a time before it was recorded.
            queries.lock_dataset(self.session, self.spec)
            now = dt.datetime.now(dt.UTC)
        if dry_run:
            savepoint = session.begin_nested()
            counts = self.merge(scope, batch_id, now)
            savepoint.rollback()
            queries.drop_stage(session)
            return BatchResult(
                batch_id=None,
                dataset=self.spec.dataset,
                mode=scope.mode,
                received=self.received,
                dry_run=True,
                **counts,
            )
        counts = self.merge(scope, batch_id, now, bulk=True)
        batch = Batch(
            batch_id=batch_id,
            dataset=self.spec.name,
            mode=scope.mode.value,
            client_id=self.principal.client_id,
            department=self.principal.department.value,
            scope_region=scope.region,
            scope_period=scope.period,
            scope_units=scope.units,
            received=self.received,
            recorded_at=now,
            idempotency_key=idempotency_key,
            request_hash=digest,
            **counts,
        )
        session.add(batch)
        session.flush()
        if self.direct is not None:
            queries.advance_ids(session, self.spec)
        # a table that held no version before the batch (its ids start above 0): count it whole
        first = self.direct is not None or self.after_id == 0
        self.regions = publish.publish_changes(
            session, self.spec, now, batch_id, self.after_id, loaded=first
        )
        if self.direct is not None:
            queries.drop_stage_view(session)
        else:
            queries.drop_stage(session)
        if moves:
            record_unit_moves(
                session,
                self.principal,
                batch_id=batch_id,
                moves=[(m.unit_code, m.from_region, m.to_region) for m in moves],
            )
        return BatchResult.of(batch)


def push_body(
    ctx: RequestContext,
    dataset: Dataset,
    body: SpooledBody,
    fmt: BodyFormat,
    options: QueryOptions,
    idempotency_key: str | None,
) -> tuple[BatchResult, bool]:
    """Push a batch body; returns the result and whether it is a replay of a first answer."""
    pusher = Pusher(ctx.session, ctx.settings, ctx.keyring, ctx.principal, dataset)
    # Keyed: the body's hash covers its ID numbers.
    digest = ctx.keyring.keyed_digest(request_hash(dataset, options, fmt, body.sha256))
    if idempotency_key and not options.dry_run:
        first = pusher.replay(idempotency_key, digest)
        if first is not None:
            return first, True
    scope, rows = pusher.reader.from_body(body, fmt, options)
    result = pusher.apply(
        scope,
        rows,
        dry_run=options.dry_run,
        idempotency_key=None if options.dry_run or pusher.key_taken else idempotency_key,
        digest=digest,
        large=fmt is not BodyFormat.json and body.size >= DIRECT_LOAD_BYTES,
    )
    audit_batch(ctx.session, ctx.principal, scope, result, pusher.regions)
    return result, False


def audit_batch(
    session: Session,
    principal: Principal,
    scope: BatchScope,
    result: BatchResult,
    regions: frozenset[str],
) -> None:
    """The batch's audit-log entry (none for a dry run: nothing was written), filed under the
    scope's region and ``regions``, those of the versions it wrote or closed
    (:attr:`Pusher.regions`)."""
    if result.batch_id is None:
        return
    detail = result.model_dump(mode="json", include=COUNTS | {"dataset", "mode"})
    detail["scope"] = {"region": scope.region, "period": scope.period, "units": None}
    if scope.units is not None:
        # Up to MAX_SCOPE_UNITS codes: the entry keeps how many and a digest (the batch keeps
        # the list itself), so the permanent log does not grow with the list.
        digest = hashlib.sha256("\n".join(scope.units).encode()).hexdigest()
        detail["scope"]["units"] = {"count": len(scope.units), "sha256": digest}
    record_batch(
        session,
        principal,
        batch_id=result.batch_id,
        region=scope.region,
        detail=detail,
        regions=regions,
    )


COUNTS = {"received", "inserted", "updated", "unchanged", "closed"}


def push_records(
    session: Session,
    settings: Settings,
    keyring: Keyring,
    principal: Principal,
    dataset: Dataset,
    records: Iterable[dict[str, Any]],
    *,
    deletes: Iterable[dict[str, Any]] = (),
    scope: BatchScope | None = None,
) -> BatchResult:
    """Push records given as dicts (the demo, jobs): the same validation, checks and merge as
    an HTTP batch, inside the caller's transaction."""
    pusher = Pusher(session, settings, keyring, principal, dataset)
    scope = scope or BatchScope(BatchMode.upsert, principal.region)
    validator = RowValidator(
        pusher.spec,
        keyring,
        today=settings.today(),
        period=scope.period,
        units=frozenset(scope.units) if scope.units else None,
    )

    def items() -> Iterator[tuple[bool, int, Any]]:
        n = 0
        for record in records:
            n += 1
            yield False, n, record
        for key in deletes:
            n += 1
            yield True, n, key

    result = pusher.apply(scope, pusher.reader.validated(items(), validator))
    audit_batch(session, principal, scope, result, pusher.regions)
    return result
