"""Columns every dataset table shares: each row is one version of one record.

- ``record_key`` is opaque and stable across versions: a keyed hash of the dataset and the
  natural key. It never contains an ID number.
- ``closed_at IS NULL`` marks the current version. A new version closes the previous one
  (``closed_at`` = its ``recorded_at``); a delete or a snapshot closes the current version
  without a successor.
- ``region`` is the record's region: its unit's region in the registry, else the region
  embedded in the unit code. Region filters are code ranges (see ``region_bounds``), so a plain
  B-tree index serves province, city and county alike. A version's region never changes: when
  a unit moves, its records get new versions in the new region
  (:func:`linkage_hub.records.publish.propagate_unit_regions`), so a read at a moment sees
  each record in the region it had then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, case, func, text
from sqlalchemy.orm import Mapped, mapped_column

from linkage_hub.identifiers import region_prefix

CURRENT = text("closed_at IS NULL")
CLOSED = text("closed_batch_id IS NOT NULL")


class VersionColumns:
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    record_key: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(6))
    batch_id: Mapped[str] = mapped_column(String(36))
    client_id: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_batch_id: Mapped[str | None] = mapped_column(String(36))

    @staticmethod
    def version_indexes(table: str) -> tuple[Index, ...]:
        return (
            Index(f"uq_{table}_record_key_version", "record_key", "version", unique=True),
            Index(
                f"ix_{table}_current_record_key",
                "record_key",
                unique=True,
                sqlite_where=CURRENT,
                postgresql_where=CURRENT,
            ),
            Index(
                f"ix_{table}_current_region",
                "region",
                sqlite_where=CURRENT,
                postgresql_where=CURRENT,
            ),
            # No index on batch_id: a batch finds the versions it wrote by their ids (they
            # follow the largest id before it, records.publish.publish_changes), so a version
            # row pays for one index less. The versions a batch closed are few: the change
            # feed finds them by this one.
            Index(
                f"ix_{table}_closed_batch_id",
                "closed_batch_id",
                sqlite_where=CLOSED,
                postgresql_where=CLOSED,
            ),
        )


def region_bounds(region: str) -> tuple[str, str]:
    """``230100`` → (``230100``, ``230199``): every code inside the region lies in the range."""
    prefix = region_prefix(region)
    pad = 6 - len(prefix)
    return prefix + "0" * pad, prefix + "9" * pad


def region_contains_sql(outer: Any, inner: Any) -> Any:
    """SQL: region ``inner`` lies inside region ``outer``, both SQL expressions (a column, a
    subquery) — :func:`linkage_hub.identifiers.region_contains` where the outer region is not
    known before the query runs. ``inner`` between :func:`region_bounds` of ``outer``; a NULL
    either side is not inside."""
    high = case(
        (outer.like("%0000"), func.substr(outer, 1, 2).concat("9999")),
        (outer.like("%00"), func.substr(outer, 1, 4).concat("99")),
        else_=outer,
    )
    return inner.between(outer, high)


def visible_sql(alias: str, at_param: str | None) -> str:
    """SQL for "this version is the one the hub held": current, or at the moment ``:at_param``.

    Times are stored in UTC; bind the moment with :func:`utc` and a ``DateTime`` type.
    """
    if at_param is None:
        return f"{alias}.closed_at IS NULL"
    return (
        f"({alias}.recorded_at <= :{at_param} AND "
        f"({alias}.closed_at IS NULL OR {alias}.closed_at > :{at_param}))"
    )


def utc(moment: dt.datetime) -> dt.datetime:
    """The same instant in UTC, as stored (SQLite keeps no offset, so every time is UTC)."""
    if moment.tzinfo is None:
        raise ValueError("a moment needs a time zone")
    return moment.astimezone(dt.UTC)
