"""The hub's one notion of "now" and of a stored time: aware, in UTC.

SQLite hands back naive datetimes for columns written as UTC; :func:`aware` puts the zone back.
"""

from __future__ import annotations

import datetime as dt
from typing import overload
from zoneinfo import ZoneInfo


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def next_month(today: dt.date) -> str:
    """The month after ``today``'s, ``YYYY-MM``: the latest payroll period the hub takes (pay
    may be prepared a month ahead; a later one is a typo) and a default run may judge."""
    return f"{today.year + 1}-01" if today.month == 12 else f"{today.year}-{today.month + 1:02d}"


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: dt.datetime | None) -> dt.datetime | None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` with its time zone (UTC when the database dropped it); ``None`` stays."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def wall_clock(value: dt.datetime | None, zone: dt.tzinfo) -> dt.datetime | None:
    """``value`` as the clock on the wall in ``zone`` shows it, without a zone: what a
    spreadsheet cell holds (Excel has no time zones)."""
    return value.astimezone(zone).replace(tzinfo=None) if value else None


def local_day(stored: str | None, zone: str) -> str | None:
    """The ISO date in ``zone`` of a time SQLite stored as UTC text: SQLite's ``hub_day(t,
    zone)`` (:mod:`linkage_hub.db` registers it), which PostgreSQL does with ``AT TIME ZONE``.
    SQLite knows no zones but fixed offsets, which a zone with summer time has not."""
    if stored is None:
        return None
    return aware(dt.datetime.fromisoformat(stored)).astimezone(ZoneInfo(zone)).date().isoformat()
