"""Reading datasets (current state, as of a moment, history) and writing single records.

Every read filters the caller's region in SQL; a record outside it is a 404. A single-record
write is a one-row batch through the same merge as any push (so it is versioned, in a batch,
and in the change feed).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Row, Select, Table, bindparam, select, union
from sqlalchemy.orm import Session

from linkage_hub.audit.service import record_change
from linkage_hub.auth.context import RequestContext
from linkage_hub.auth.policy import ensure_in_region
from linkage_hub.auth.principal import Principal
from linkage_hub.cursors import decode_key_cursor, encode_key_cursor
from linkage_hub.domain import PERSON_DATASETS, Dataset
from linkage_hub.errors import (
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from linkage_hub.identifiers import (
    IdentifierError,
    normalise_region,
    normalise_unit_code,
    parse_citizen_id,
)
from linkage_hub.keys import Keyring
from linkage_hub.records import queries
from linkage_hub.records.datasets import DatasetSpec, spec_for
from linkage_hub.records.ingest import Pusher
from linkage_hub.records.models import Batch
from linkage_hub.records.publish import count_hidden_only
from linkage_hub.records.schemas import (
    BatchMode,
    BatchResult,
    HistoryPage,
    Record,
)
from linkage_hub.records.scope import BatchScope
from linkage_hub.records.seen import as_seen, collapsed, visible_version
from linkage_hub.records.shaping import (
    plain,
    record_columns,
    shape,
    shape_all,
)
from linkage_hub.records.validation import RowValidator
from linkage_hub.records.visibility import batch_openable, hidden_fields
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

MAX_LIMIT = 1000


def invalid(field: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"The parameter {field} is not valid.",
        errors=[FieldError(field=field, code=code, message=message)],
        total_errors=1,
    )


def etag(version: int) -> str:
    return f'"v{version}"'


# --- scope of reads ----------------------------------------------------------------------------


def read_bounds(principal: Principal, region: str | None) -> tuple[str, str]:
    """The region range a read covers: the caller's, narrowed by ``region``. A ``region`` that
    is no division code is a 422 naming it; one outside the caller's (a sibling's, or one
    above) the 404 the cases, meetings and reports answer (:func:`ensure_in_region`), not an
    empty page — for the records list, the change feed and the audit log alike (until
    2026-12-07 the feed and the audit log answered a sibling's region with an empty page, and
    one above with the caller's own)."""
    if region is None:
        return principal.region_bounds
    try:
        wanted = normalise_region(region)
    except IdentifierError as exc:
        raise invalid("region", exc.code, exc.message) from None
    ensure_in_region(principal, wanted)
    return region_bounds(wanted)


def person_keys_of(keyring: Keyring, id_number: str, today: dt.date) -> list[str]:
    """The person keys of an ID number in any accepted form, under every key version."""
    try:
        return keyring.person_keys(parse_citizen_id(id_number, today=today).number)
    except IdentifierError as exc:
        raise invalid("id_number", exc.code, exc.message) from None


def _every_version(t: Table, column: str, *where: Any) -> list[Select[Any]]:
    """``column`` of every version (current and closed) of ``t`` matching ``where`` (a person
    key condition), as two selects: the current versions through the person-key index on them,
    the closed ones through the one on closed versions (``ix_<table>_closed_person_key``). One
    select over all versions matches neither partial index, and read the whole table."""
    return [
        select(t.c[column]).where(*where, t.c.closed_at.is_(None)),
        select(t.c[column]).where(*where, t.c.closed_batch_id.is_not(None)),
    ]


def batches_of_persons(person_keys: list[str], bounds: tuple[str, str]) -> Any:
    """The ids of the batches that wrote or closed a version of these persons in the region
    (a subquery: the audit log's person filter, ``linkage_hub.audit.queries.list_entries``).
    A version keeps its region: a batch that wrote the person's records only after they left
    the region is not one of theirs there, the batch that moved them out (closing the version
    of the region) is."""
    lo, hi = bounds
    parts: list[Select[Any]] = []
    for dataset in sorted(PERSON_DATASETS):
        t = spec_for(dataset).table
        here = t.c.region.between(lo, hi)
        parts += _every_version(t, "batch_id", t.c.person_key.in_(person_keys), here)
        parts.append(
            select(t.c.closed_batch_id).where(
                t.c.person_key.in_(person_keys), t.c.closed_batch_id.is_not(None), here
            )
        )
    return union(*parts)


def persons_in_region(person_keys: list[str] | Select[Any], bounds: tuple[str, str]) -> Any:
    """The keys among these (a list, or a select of keys) that have (or had) a version in the
    region (a subquery: the audit log's person filter answers only for people of the
    auditor's region, and an entry filed outside it counts only them)."""
    lo, hi = bounds
    parts: list[Select[Any]] = []
    for dataset in sorted(PERSON_DATASETS):
        t = spec_for(dataset).table
        parts += _every_version(
            t, "person_key", t.c.person_key.in_(person_keys), t.c.region.between(lo, hi)
        )
    return union(*parts)


@dataclass(frozen=True, slots=True)
class Shown:
    """Records as a read sends them, with the person keys of the rows they came from and their
    regions (for the audit log's read entry: read from the rows, not hashed again from the ID
    numbers)."""

    items: list[Record]
    persons: set[tuple[str, str]]
    next_cursor: str | None = None


def _persons(spec: DatasetSpec, rows: Sequence[Row[Any]]) -> set[tuple[str, str]]:
    return {(row.person_key, row.region) for row in rows} if spec.person else set()


# The two hot reads run statements built once per dataset (and, for a list, per combination of
# filters) with their values as parameters: a statement built per request cost a GET a tenth
# of its interpreter time (the expression, its cache key, the compiled-form lookup).


@functools.cache
def _page_statement(
    spec: DatasetSpec, *, historical: bool, unit: bool, persons: bool, period: bool
) -> Select[Any]:
    t = spec.table
    stmt = select(*record_columns(spec)).where(
        t.c.region.between(bindparam("lo"), bindparam("hi")),
        t.c.record_key > bindparam("after"),
    )
    if historical:
        moment = bindparam("moment", type_=t.c.recorded_at.type)
        stmt = stmt.where(
            t.c.recorded_at <= moment, t.c.closed_at.is_(None) | (t.c.closed_at > moment)
        )
    else:
        stmt = stmt.where(t.c.closed_at.is_(None))
    if unit:
        stmt = stmt.where(t.c.unit_code == bindparam("unit_code"))
    if persons:
        named = t.c.person_key.in_(bindparam("person_keys", expanding=True))
        if historical:  # any version may be the one of the moment: reach them by the person
            stmt = stmt.where(t.c.id.in_(union(*_every_version(t, "id", named))))
        else:
            stmt = stmt.where(named)
    if period:
        stmt = stmt.where(t.c.period == bindparam("period"))
    # By record key, not by version row id: an update between two pages gives the record a
    # new row (a larger id), which paging by id listed again. A key is the record's for all
    # its versions, so each record comes once, and none that was there is skipped. (The
    # current rows' unique index on record_key serves the order, as the primary key did.)
    return stmt.order_by(t.c.record_key).limit(bindparam("limit", type_=Integer))


# The current page of a plain region listing (or one period of it) first walks the current
# rows in record-key order, a bounded window of PROBE_ROWS_A_ROW rows a row asked for, and keeps
# those in the region: when the window holds a page and one more, they are exactly the first
# ones of the region (any region row with a smaller key lies inside the window), read in
# O(window) whatever the region's size. Otherwise the region is thin in the table, and the rest
# of the page comes from the region index (the statement above, from the window's last key) in
# O(region rows), cheap exactly then. Either plan alone is wrong for one kind of caller: the
# region index sorts a province's million rows for every page of 50; a walk in key order reads
# the whole table to find a county's few rows. The window is a subquery with its own LIMIT, so
# no planner pushes the region into it or trades it for the region index, whatever the values
# bound (PostgreSQL's generic plan of a prepared statement included).
PROBE_ROWS_A_ROW = 20
LONGEST_WALK = 8  # SQLite's second walk's longest, in first windows (see _current_page)


def _window(spec: DatasetSpec, *columns: Any) -> Select[Any]:
    """The first ``:window`` current rows after ``:after`` in record-key order."""
    t = spec.table
    return (
        select(*columns)
        .where(t.c.closed_at.is_(None), t.c.record_key > bindparam("after"))
        .order_by(t.c.record_key)
        .limit(bindparam("window", type_=Integer))
    )


@functools.cache
def _probe_statement(spec: DatasetSpec, *, period: bool) -> Select[Any]:
    """The window's rows in the region, each with the window's last key (``window_end``, None
    when fewer current rows follow the cursor): where the region index takes over. One
    statement, so the rows and the window's end are read in one snapshot: a second statement
    could see rows committed in between, and list a record twice or skip one."""
    t = spec.table
    window = _window(spec, *record_columns(spec), *([t.c.period] if period else [])).subquery(
        "probe"
    )
    end = (
        _window(spec, t.c.record_key)
        .offset(bindparam("last", type_=Integer))
        .limit(1)
        .scalar_subquery()
    )
    stmt = select(*(window.c[c.name] for c in record_columns(spec)), end.label("window_end")).where(
        window.c.region.between(bindparam("lo"), bindparam("hi"))
    )
    if period:
        stmt = stmt.where(window.c.period == bindparam("period"))
    return stmt.order_by(window.c.record_key).limit(bindparam("limit", type_=Integer))


def _current_page(
    session: Session, spec: DatasetSpec, values: dict[str, Any], *, period: bool
) -> Sequence[Row[Any]]:
    """The current page of a region listing (``values`` as for :func:`_page_statement`).

    On SQLite, when the first window holds some of the region's rows but not a page, their
    share of the window says how far on the rest lies: a region of a few per cent of the table
    (a district of a city) finds it in one more walk of up to :data:`LONGEST_WALK` windows,
    cheaper there than sorting the region from its index (a district of 3.3 % of 200,000
    records: 33 → 10 ms a page, bench/RESULTS.md). PostgreSQL sorts the region faster than it
    walks (13 → 20 ms), so it goes to the region index at once. Fewer rows, or none, and the
    region index finishes the page. Each statement reads its rows and its window's end in one
    snapshot, and the next goes on from that end, as the next page goes on from the cursor."""
    wanted = values["limit"]
    window = PROBE_ROWS_A_ROW * wanted
    probe = _probe_statement(spec, period=period)
    rows: list[Row[Any]] = []
    after = values["after"]
    longest = LONGEST_WALK if session.get_bind().dialect.name == "sqlite" else 0
    for _ in range(2):
        need = wanted - len(rows)
        got = session.execute(
            probe, {**values, "after": after, "limit": need, "window": window, "last": window - 1}
        ).all()
        rows += got
        if len(got) >= need or (got and got[-1].window_end is None):
            return rows  # a full page, or the window held every current row after the cursor
        if not got:
            break  # no row of the region in the window: it is thin in the table
        after = got[-1].window_end
        # the rest at the share this window found, with half again to spare
        window = math.ceil((need - len(got)) * window * 1.5 / len(got))
        if window > longest * PROBE_ROWS_A_ROW * wanted:
            break
    rest = session.execute(
        _page_statement(spec, historical=False, unit=False, persons=False, period=period),
        {**values, "after": after, "limit": wanted - len(rows)},
    ).all()
    return [*rows, *rest]


def settled_moment(as_of: dt.datetime, settings: Settings) -> dt.datetime:
    """``as_of`` in UTC (a naive time is in the hub's zone), refused when it lies after the
    hub's clock: what the hub will have recorded by then is not known yet, so no answer for
    it could stay the same (422 ``as_of`` ``future``). A moment that has passed is answered
    once the writers in flight have committed (:func:`queries.settle`), the same forever."""
    moment = (as_of if as_of.tzinfo else as_of.replace(tzinfo=settings.zone)).astimezone(dt.UTC)
    if moment > dt.datetime.now(dt.UTC):
        raise invalid("as_of", "future", "lies after the hub's clock: that moment is not settled")
    return moment


def list_records(
    session: Session,
    keyring: Keyring,
    settings: Settings,
    principal: Principal,
    dataset: Dataset,
    *,
    region: str | None = None,
    unit_code: str | None = None,
    id_number: str | None = None,
    period: str | None = None,
    as_of: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> Shown:
    spec = spec_for(dataset)
    after = decode_key_cursor(cursor, kind=f"records.{dataset.value}")
    moment = None if as_of is None else settled_moment(as_of, settings)
    bounds = read_bounds(principal, region)  # 422 (no division code) or 404 (outside yours)
    values: dict[str, Any] = {"lo": bounds[0], "hi": bounds[1], "after": after, "limit": limit + 1}
    if moment is not None:
        values["moment"] = moment
    if unit_code is not None:
        try:
            values["unit_code"] = normalise_unit_code(unit_code)
        except IdentifierError as exc:
            raise invalid("unit_code", exc.code, exc.message) from None
    if id_number is not None:
        if not spec.person:
            raise invalid("id_number", "not_applicable", f"{dataset} records have no ID number")
        values["person_keys"] = person_keys_of(keyring, id_number, settings.today())
    if period is not None:
        if dataset is not Dataset.payroll:
            raise invalid("period", "not_applicable", "applies to payroll only")
        values["period"] = period
    stmt = _page_statement(
        spec,
        historical=as_of is not None,
        unit=unit_code is not None,
        persons=id_number is not None,
        period=period is not None,
    )
    if moment is not None:
        queries.settle(session, spec)  # every writer whose now may be the moment's: committed
    if moment is None and unit_code is None and id_number is None:
        rows = _current_page(session, spec, values, period=period is not None)
    else:
        rows = session.execute(stmt, values).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = shape_all(spec, rows, principal, closing=as_of is not None, keyring=keyring)
    return Shown(
        items=as_seen(session, spec, principal, items),
        persons=_persons(spec, rows),
        next_cursor=(
            encode_key_cursor(rows[-1].record_key, f"records.{dataset.value}") if more else None
        ),
    )


@functools.cache
def _current_statement(spec: DatasetSpec, *, lock: bool) -> Select[Any]:
    t = spec.table
    stmt = select(*record_columns(spec)).where(
        t.c.record_key == bindparam("record_key"),
        t.c.closed_at.is_(None),
        t.c.region.between(bindparam("lo"), bindparam("hi")),
    )
    return stmt.with_for_update() if lock else stmt


def current_row(
    session: Session,
    principal: Principal,
    spec: DatasetSpec,
    record_key: str,
    *,
    lock: bool = False,
) -> Row[Any]:
    lo, hi = principal.region_bounds
    statement = _current_statement(spec, lock=lock)
    row = session.execute(statement, {"record_key": record_key, "lo": lo, "hi": hi}).one_or_none()
    if row is None:
        raise NotFound("No current record with this key in your region.")
    return row


def get_record(
    session: Session, keyring: Keyring, principal: Principal, dataset: Dataset, record_key: str
) -> tuple[Shown, str]:
    """The current version of a record, and its ETag."""
    spec = spec_for(dataset)
    row = current_row(session, principal, spec, record_key)
    [record] = as_seen(
        session, spec, principal, [shape(spec, row, principal, closing=False, keyring=keyring)]
    )
    return Shown(items=[record], persons=_persons(spec, [row])), etag(record["version"])


def history(
    session: Session, keyring: Keyring, principal: Principal, dataset: Dataset, record_key: str
) -> HistoryPage:
    spec = spec_for(dataset)
    t = spec.table
    rows = session.execute(
        select(*record_columns(spec))
        .where(t.c.record_key == record_key, t.c.region.between(*principal.region_bounds))
        .order_by(t.c.version)
    ).all()
    if not rows:
        raise NotFound("No record with this key in your region.")
    items = shape_all(spec, rows, principal, closing=True, keyring=keyring)
    items = collapsed(as_seen(session, spec, principal, items))
    return HistoryPage(record_key=record_key, dataset=dataset, items=items)


def _check_precondition(
    session: Session, principal: Principal, spec: DatasetSpec, if_match: str | None, row: Row[Any]
) -> None:
    """If-Match against the ETag the caller was shown (:func:`get_record`)."""
    version = visible_version(session, spec, principal, row.record_key, row.version)
    if if_match is None:
        raise PreconditionRequired("Send If-Match with the ETag of the version you read.")
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in tags and etag(version) not in tags:
        raise PreconditionFailed("The record has changed since you read it; read it again.")


def _pusher(ctx: RequestContext, dataset: Dataset) -> Pusher:
    pusher = Pusher(ctx.session, ctx.settings, ctx.keyring, ctx.principal, dataset)
    pusher.reader.received = 1
    return pusher


def replace_record(
    ctx: RequestContext, dataset: Dataset, record_key: str, body: Any, if_match: str | None
) -> tuple[Shown, str, BatchResult]:
    """PUT: the body replaces the current version (a new version, unless it is equal)."""
    session, settings, keyring, principal = ctx.session, ctx.settings, ctx.keyring, ctx.principal
    spec = spec_for(dataset)
    queries.lock_dataset(session, spec)  # before reading: a lost If-Match race is a 412
    row = current_row(session, principal, spec, record_key, lock=True)
    _check_precondition(session, principal, spec, if_match, row)
    period = row.period if dataset is Dataset.payroll else None
    validator = RowValidator(spec, keyring, today=settings.today(), period=period)
    staged = validator.record(body, 1)
    if isinstance(staged, list):
        raise InvalidInput("The record is not valid.", errors=staged, total_errors=len(staged))
    if staged[2] != record_key:
        raise InvalidInput(
            "The body names another record than the URL.",
            errors=[
                FieldError(
                    row=1,
                    field=",".join(spec.key),
                    code="key_mismatch",
                    message="the natural key differs from the record's",
                )
            ],
            total_errors=1,
        )
    scope = BatchScope(BatchMode.upsert, principal.region, period)
    pusher = _pusher(ctx, dataset)
    result = pusher.apply(scope, iter([staged]))
    shown, tag = get_record(session, keyring, principal, dataset, record_key)
    _audit_change(session, principal, spec, row, "record.replace", result, pusher.regions)
    return shown, tag, result


def _audit_change(
    session: Session,
    principal: Principal,
    spec: DatasetSpec,
    row: Row[Any],
    action: str,
    result: BatchResult,
    regions: frozenset[str],
) -> None:
    """Filed under the record's region and those of the versions the change wrote or
    closed (a unit moved by a PUT: the region it entered, and its records')."""
    record_change(
        session,
        principal,
        action=action,
        dataset=spec.name,
        record_key=row.record_key,
        region=row.region,
        regions=regions,
        person_key=row.person_key if spec.person else None,
        detail={
            "batch_id": result.batch_id,
            "version": row.version,
            "updated": result.updated,
            "closed": result.closed,
        },
    )


def delete_record(
    ctx: RequestContext, dataset: Dataset, record_key: str, if_match: str | None
) -> BatchResult:
    """DELETE: close the current version (kept in history, no longer current)."""
    session, keyring, principal = ctx.session, ctx.keyring, ctx.principal
    spec = spec_for(dataset)
    queries.lock_dataset(session, spec)  # before reading: a lost If-Match race is a 412
    row = current_row(session, principal, spec, record_key, lock=True)
    _check_precondition(session, principal, spec, if_match, row)
    key = {name: plain(row._mapping[name]) for name in spec.key}
    if spec.person:
        key["id_number"] = keyring.reveal_id(key["id_number"])
    period = row.period if dataset is Dataset.payroll else None
    validator = RowValidator(spec, keyring, today=ctx.settings.today(), period=period)
    staged = validator.delete(key, 1)
    assert not isinstance(staged, list), staged
    scope = BatchScope(BatchMode.upsert, principal.region, period)
    pusher = _pusher(ctx, dataset)
    result = pusher.apply(scope, iter([staged]))
    _audit_change(session, principal, spec, row, "record.delete", result, pusher.regions)
    return result


def get_batch(session: Session, principal: Principal, batch_id: str) -> BatchResult:
    """A batch's answer as the caller sees it: an update that changed only fields hidden
    from the caller (pay, for HR) is no new version to it (:func:`as_seen`), so it counts as
    ``unchanged`` (see :mod:`linkage_hub.records.publish`); the counts still add up to
    ``received``."""
    batch = session.scalars(
        select(Batch).where(Batch.batch_id == batch_id, batch_openable(principal))
    ).one_or_none()
    if batch is None:  # unknown, or not the caller's to open: the same answer
        raise NotFound("No batch with this id in your region.")
    result = BatchResult.of(batch)
    spec = spec_for(Dataset(batch.dataset))
    hidden = hidden_fields(spec, principal)
    if hidden and batch.updated:
        quiet = count_hidden_only(session, spec, hidden, batch_id)
        result.updated -= quiet
        result.unchanged += quiet
    return result
