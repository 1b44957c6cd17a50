"""Reading datasets (current state, as of a moment, history) and writing single records.

Every read filters the caller's region in SQL; a record outside it is a 404. A single-record
write is a one-row batch through the same merge as any push (so it is versioned, in a batch,
and in the change feed).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, Row, Select, bindparam, select, union
from sqlalchemy.orm import Session

from linkage_hub.audit.service import record_change
from linkage_hub.auth.context import RequestContext
from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware
from linkage_hub.cursors import decode_cursor, encode_cursor
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
    region_contains,
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
from linkage_hub.records.validation import RowValidator
from linkage_hub.records.visibility import hidden_fields, visible_columns
from linkage_hub.settings import Settings
from linkage_hub.versioning import region_bounds

MAX_LIMIT = 1000
META = ("record_key", "version", "region", "batch_id", "client_id", "recorded_at")
CLOSING = ("closed_at", "closed_batch_id")


def invalid(field: str, code: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"The parameter {field} is not valid.",
        errors=[FieldError(field=field, code=code, message=message)],
        total_errors=1,
    )


# --- shaping records ---------------------------------------------------------------------------


@functools.cache
def output_columns(spec: DatasetSpec) -> tuple[str, ...]:
    person = ("id_number_given",) if spec.person else ()
    return (*spec.field_names, *person, *META)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return aware(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _money(value)
    return value


def _instant(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()  # aware()


def _day(value: dt.date) -> str:
    return value.isoformat()


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _conversion(column_type: Any) -> Callable[[Any], str] | None:
    if isinstance(column_type, DateTime):
        return _instant
    if isinstance(column_type, Date):
        return _day
    if isinstance(column_type, Numeric):
        return _money
    return None


@functools.cache
def _conversions(spec: DatasetSpec, closing: bool) -> tuple[tuple[str, Callable[[Any], str]], ...]:
    """The fields of a shaped record whose database value is no JSON value, each with its
    conversion, from the columns' types: found once per dataset, so shaping a row is a
    ``dict(zip(...))`` and a few conversions instead of a type test of every value."""
    names = output_columns(spec) + (CLOSING if closing else ())
    found = ((name, _conversion(spec.table.c[name].type)) for name in names)
    return tuple((name, convert) for name, convert in found if convert is not None)


def shape(
    spec: DatasetSpec,
    row: Row[Any] | Any,
    principal: Principal,
    *,
    closing: bool,
    keyring: Keyring,
) -> Record:
    """A version as the API shows it (see :func:`shape_all`)."""
    [record] = shape_all(spec, [row], principal, closing=closing, keyring=keyring)
    return record


def shape_all(
    spec: DatasetSpec,
    rows: Iterable[Row[Any] | Any],
    principal: Principal,
    *,
    closing: bool,
    keyring: Keyring,
) -> list[Record]:
    """Versions as the API shows them: ID numbers decrypted (departments need them to match),
    salaries only for those who may see them. Each row holds the record's fields first, in
    :func:`output_columns` order (then, with ``closing``, :data:`CLOSING`), as
    :func:`record_columns` selects them."""
    names = output_columns(spec) + (CLOSING if closing else ())
    conversions = _conversions(spec, closing)
    hidden = hidden_fields(spec, principal)
    reveal = keyring.reveal_id
    records = []
    for row in rows:
        record: Record = dict(zip(names, row, strict=False))
        for name, convert in conversions:
            value = record[name]
            if value is not None:
                record[name] = convert(value)
        if spec.person:
            record["id_number"] = reveal(record["id_number"])
            given = record["id_number_given"]
            if given is not None:
                record["id_number_given"] = reveal(given)
        for name in hidden:
            record.pop(name, None)
        records.append(record)
    return records


# --- versions as a department sees them --------------------------------------------------------


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
    for n in range(0, len(keys), MAX_LIMIT):
        chunk = keys[n : n + MAX_LIMIT]
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


def run_starts(
    session: Session, spec: DatasetSpec, hidden: tuple[str, ...], record_keys: set[str]
) -> dict[tuple[str, int], Row[Any]]:
    """For every version of these records, the first version of its run (see :func:`runs`)."""
    return {key: run.start for key, run in runs(session, spec, hidden, record_keys).items()}


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
            record[name] = _plain(run.start._mapping[name])
        if "closed_at" in record:
            for name in CLOSING:
                record[name] = _plain(run.end._mapping[name])
    return records


def _collapsed(records: list[Record]) -> list[Record]:
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
    start = run_starts(session, spec, hidden, {record_key}).get((record_key, version))
    return int(start.version) if start is not None else version


def person_keys_read(keyring: Keyring, records: list[Record]) -> set[str]:
    """The person keys of the records a response shows (for the audit log's read entries)."""
    return {keyring.person_key(r["id_number"]) for r in records if r.get("id_number")}


def record_columns(spec: DatasetSpec) -> list[Any]:
    t = spec.table
    extra = [t.c.person_key] if spec.person else []  # for the audit log, never shown
    return [t.c[name] for name in (*output_columns(spec), *CLOSING)] + [t.c.id, *extra]


def etag(version: int) -> str:
    return f'"v{version}"'


# --- scope of reads ----------------------------------------------------------------------------


def read_bounds(principal: Principal, region: str | None) -> tuple[str, str] | None:
    """The region range a read covers: the caller's, narrowed by ``region``; None = nothing."""
    if region is None:
        return principal.region_bounds
    try:
        wanted = normalise_region(region)
    except IdentifierError as exc:
        raise invalid("region", exc.code, exc.message) from None
    if principal.contains(wanted):
        return region_bounds(wanted)
    if region_contains(wanted, principal.region):
        return principal.region_bounds
    return None


def person_keys_of(keyring: Keyring, id_number: str, today: dt.date) -> list[str]:
    """The person keys of an ID number in any accepted form, under every key version."""
    try:
        return keyring.person_keys(parse_citizen_id(id_number, today=today).number)
    except IdentifierError as exc:
        raise invalid("id_number", exc.code, exc.message) from None


def batches_of_persons(person_keys: list[str]) -> Any:
    """The ids of the batches that wrote or closed a version of these persons (a subquery: the
    audit log's person filter, ``linkage_hub.audit.queries.list_entries``)."""
    parts: list[Select[Any]] = []
    for dataset in sorted(PERSON_DATASETS):
        t = spec_for(dataset).table
        parts.append(select(t.c.batch_id).where(t.c.person_key.in_(person_keys)))
        parts.append(
            select(t.c.closed_batch_id).where(
                t.c.person_key.in_(person_keys), t.c.closed_batch_id.is_not(None)
            )
        )
    return union(*parts)


@dataclass(frozen=True, slots=True)
class Shown:
    """Records as a read sends them, with the person keys of the rows they came from (for the
    audit log's read entry: read from the rows, not hashed again from the ID numbers)."""

    items: list[Record]
    person_keys: set[str]
    next_cursor: str | None = None


def _person_keys(spec: DatasetSpec, rows: Sequence[Row[Any]]) -> set[str]:
    return {row.person_key for row in rows} if spec.person else set()


# The two hot reads run statements built once per dataset (and, for a list, per combination of
# filters) with their values as parameters: a statement built per request cost a GET a tenth
# of its interpreter time (the expression, its cache key, the compiled-form lookup).


@functools.cache
def _page_statement(
    spec: DatasetSpec, *, historical: bool, unit: bool, persons: bool, period: bool
) -> Select[Any]:
    t = spec.table
    stmt = select(*record_columns(spec)).where(
        t.c.region.between(bindparam("lo"), bindparam("hi")), t.c.id > bindparam("after")
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
        stmt = stmt.where(t.c.person_key.in_(bindparam("person_keys", expanding=True)))
    if period:
        stmt = stmt.where(t.c.period == bindparam("period"))
    return stmt.order_by(t.c.id).limit(bindparam("limit"))


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
    after = decode_cursor(cursor, kind=f"records.{dataset.value}")
    bounds = read_bounds(principal, region)
    if bounds is None:
        return Shown(items=[], person_keys=set())
    values: dict[str, Any] = {"lo": bounds[0], "hi": bounds[1], "after": after, "limit": limit + 1}
    if as_of is not None:
        moment = as_of if as_of.tzinfo else as_of.replace(tzinfo=settings.zone)
        values["moment"] = moment.astimezone(dt.UTC)
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
    rows = session.execute(stmt, values).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = shape_all(spec, rows, principal, closing=as_of is not None, keyring=keyring)
    return Shown(
        items=as_seen(session, spec, principal, items),
        person_keys=_person_keys(spec, rows),
        next_cursor=encode_cursor(rows[-1].id, f"records.{dataset.value}") if more else None,
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
    return Shown(items=[record], person_keys=_person_keys(spec, [row])), etag(record["version"])


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
    items = _collapsed(as_seen(session, spec, principal, items))
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
    result = _pusher(ctx, dataset).apply(scope, iter([staged]))
    shown, tag = get_record(session, keyring, principal, dataset, record_key)
    _audit_change(session, principal, spec, row, "record.replace", result)
    return shown, tag, result


def _audit_change(
    session: Session,
    principal: Principal,
    spec: DatasetSpec,
    row: Row[Any],
    action: str,
    result: BatchResult,
) -> None:
    record_change(
        session,
        principal,
        action=action,
        dataset=spec.name,
        record_key=row.record_key,
        region=row.region,
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
    key = {name: _plain(row._mapping[name]) for name in spec.key}
    if spec.person:
        key["id_number"] = keyring.reveal_id(key["id_number"])
    period = row.period if dataset is Dataset.payroll else None
    validator = RowValidator(spec, keyring, today=ctx.settings.today(), period=period)
    staged = validator.delete(key, 1)
    assert not isinstance(staged, list), staged
    scope = BatchScope(BatchMode.upsert, principal.region, period)
    result = _pusher(ctx, dataset).apply(scope, iter([staged]))
    _audit_change(session, principal, spec, row, "record.delete", result)
    return result


def get_batch(session: Session, principal: Principal, batch_id: str) -> BatchResult:
    """A batch's answer as the caller sees it: an update that changed only fields hidden
    from the caller (pay, for HR) is no new version to it (:func:`as_seen`), so it counts as
    ``unchanged`` (see :mod:`linkage_hub.records.publish`); the counts still add up to
    ``received``."""
    batch = session.get(Batch, batch_id)
    if batch is None or not principal.contains(batch.scope_region):
        raise NotFound("No batch with this id in your region.")
    result = BatchResult.of(batch)
    spec = spec_for(Dataset(batch.dataset))
    hidden = hidden_fields(spec, principal)
    if hidden and batch.updated:
        quiet = count_hidden_only(session, spec, hidden, batch_id)
        result.updated -= quiet
        result.unchanged += quiet
    return result
