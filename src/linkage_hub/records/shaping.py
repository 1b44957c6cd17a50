"""A stored version as the API shows it: its fields in a fixed order, JSON values, ID numbers
decrypted, the fields the caller may not read left out (:mod:`linkage_hub.records.visibility`).
One place for the records' reads, the change feed, the person view and the evidence."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, Row

from linkage_hub.auth.principal import Principal
from linkage_hub.clock import aware
from linkage_hub.keys import Keyring
from linkage_hub.records.datasets import DatasetSpec
from linkage_hub.records.schemas import Record
from linkage_hub.records.visibility import hidden_fields

META = ("record_key", "version", "region", "batch_id", "client_id", "recorded_at")
CLOSING = ("closed_at", "closed_batch_id")


@functools.cache
def output_columns(spec: DatasetSpec) -> tuple[str, ...]:
    person = ("id_number_given",) if spec.person else ()
    return (*spec.field_names, *person, *META)


def plain(value: Any) -> Any:
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


def persons_read(keyring: Keyring, records: list[Record]) -> list[tuple[str | None, str]]:
    """The person key and region of each record a response shows (for the audit log's read
    entries; ``None`` for a record without an ID number)."""
    key = keyring.person_key
    return [(key(r["id_number"]) if r.get("id_number") else None, r["region"]) for r in records]


def record_columns(spec: DatasetSpec) -> list[Any]:
    t = spec.table
    extra = [t.c.person_key] if spec.person else []  # for the audit log, never shown
    return [t.c[name] for name in (*output_columns(spec), *CLOSING)] + [t.c.id, *extra]
