"""A small parser for standard five-field cron expressions (minute hour day month weekday).

Supports ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and lists ``a,b``;
weekday 0 and 7 are Sunday. As in Vixie cron, a day-of-month or weekday field that starts with
``*`` (``*/2`` too) is unrestricted; when both are restricted a day matches either. Written
here rather than adding a dependency for forty lines.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")


class CronError(ValueError):
    pass


def _field(text: str, lo: int, hi: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = lo, hi
            elif "-" in body:
                a, b = body.split("-", 1)
                start, end = int(a), int(b)
            else:
                start = int(body)
                end = hi if step_text else start
        except ValueError:
            raise CronError(f"cron {name}: {part!r} is not a number, range or step") from None
        if step < 1 or not (lo <= start <= hi and lo <= end <= hi) or start > end:
            raise CronError(f"cron {name}: {part!r} is outside {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != 5:
            raise CronError("a cron expression has five fields: minute hour day month weekday")
        fields = [
            _field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _RANGES, _NAMES, strict=True)
        ]
        weekdays = frozenset(d % 7 for d in fields[4])
        return cls(
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            weekdays,
            parts[2].startswith("*"),
            parts[4].startswith("*"),
        )

    def _day_matches(self, day: dt.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first matching minute strictly after ``moment`` (in ``moment``'s zone)."""
        t = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = t + dt.timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months or not self._day_matches(t.date()):
                t = (t + dt.timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + dt.timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
                continue
            return t
        raise CronError("the cron expression never matches")
