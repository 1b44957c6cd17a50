"""Fast field converters for batch rows: one plain function per field kind, no per-row objects.

A converter takes the value as parsed (JSON: str, int, Decimal, bool, list, dict; CSV: a
non-empty str) and returns what is staged: dates and periods as ISO text, money as a decimal
string with two places, booleans as ``bool``, counts as ``int``. It raises
:class:`FieldInvalid` with a machine code and a message that never repeats the value (it may
be an ID number). ``None`` never reaches a converter: nulls are handled by the row validator.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from linkage_hub.clock import next_month
from linkage_hub.identifiers import (
    PERIOD_PATTERN,
    IdentifierError,
    normalise_region,
    normalise_unit_code,
)
from linkage_hub.inputs import (
    DATE_RANGE,
    DATE_RANGE_MESSAGE,
    FORMULA_STARTS,
    INVALID_UNICODE,
    INVALID_UNICODE_MESSAGE,
    has_invalid_unicode,
    in_range,
)

Converter = Callable[[Any], Any]

MAX_MONEY = Decimal("999999999999.99")
MAX_COUNT = 1_000_000_000
COUNT_RANGE_MESSAGE = f"must be between 0 and {MAX_COUNT}"
CENT = Decimal("0.01")
_PERIOD = re.compile(PERIOD_PATTERN)
# Control characters other than tab and line breaks: never data, and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FieldInvalid(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def text(max_length: int) -> Converter:
    def convert(value: Any) -> str:
        if type(value) is not str:
            raise FieldInvalid("type", "must be a string")
        if not value.strip():
            raise FieldInvalid("empty", "must not be empty")
        if len(value) > max_length:
            raise FieldInvalid("too_long", f"must be at most {max_length} characters")
        if _CONTROL.search(value):
            raise FieldInvalid("control_character", "must not contain control characters")
        if has_invalid_unicode(value):
            raise FieldInvalid(INVALID_UNICODE, INVALID_UNICODE_MESSAGE)
        return value

    return convert


_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def name(max_length: int) -> Converter:
    """A person's or a unit's name: text as :func:`text` accepts it, without any control
    character (no tab or line break either), not starting with a formula character. No real
    name does, and a name is what a reader of an exported list trusts most; the exports
    neutralise every other text cell (see ``linkage_hub.reports.streaming``)."""
    plain = text(max_length)

    def convert(value: Any) -> str:
        checked: str = plain(value)
        if _NAME_CONTROL.search(checked):
            raise FieldInvalid("control_character", "must not contain control characters")
        if checked.lstrip()[:1] in FORMULA_STARTS:
            raise FieldInvalid(
                "formula_character", "must not start with =, +, -, @ (a spreadsheet formula)"
            )
        return checked

    return convert


def enum(codes: type[StrEnum]) -> Converter:
    allowed = frozenset(member.value for member in codes)
    listing = ", ".join(sorted(allowed))

    def convert(value: Any) -> str:
        if type(value) is not str or value not in allowed:
            raise FieldInvalid("enum", f"must be one of: {listing}")
        return value

    return convert


def date(value: Any) -> str:
    if type(value) is not str or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise FieldInvalid("date", "must be a date YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise FieldInvalid("date", "must be a real date YYYY-MM-DD") from None
    if not in_range(day):
        raise FieldInvalid(DATE_RANGE, DATE_RANGE_MESSAGE)
    return value


def period(value: Any) -> str:
    if type(value) is not str or not _PERIOD.fullmatch(value):
        raise FieldInvalid("period", "must be a month YYYY-MM of 1900-01 to 2999-12")
    return value


FUTURE_PERIOD = "future"


def not_future(value: str, today: dt.date) -> None:
    """Refuse a payroll period after next month: a mistyped year (2062-11 for 2026-11) would
    otherwise become the latest period, the one every default run judges."""
    if value > next_month(today):
        raise FieldInvalid(FUTURE_PERIOD, f"must not be after next month, {next_month(today)}")


def boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise FieldInvalid("type", "must be true or false")
    return value


def boolean_text(value: Any) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise FieldInvalid("type", "must be true or false")


def count(value: Any) -> int:
    if type(value) is not int:
        raise FieldInvalid("type", "must be a whole number")
    if value < 0 or value > MAX_COUNT:
        raise FieldInvalid("range", COUNT_RANGE_MESSAGE)
    return value


_COUNT_DIGITS = len(str(MAX_COUNT))


def count_text(value: Any) -> int:
    if not (type(value) is str and value.isascii() and value.isdigit()):
        raise FieldInvalid("type", "must be a whole number")
    digits = value.lstrip("0") or "0"
    if len(digits) > _COUNT_DIGITS:
        # Out of range on its length alone: int() refuses over 4,300 digits (a ValueError).
        raise FieldInvalid("range", COUNT_RANGE_MESSAGE)
    return count(int(digits))


def money(value: Any) -> str:
    """Yuan with at most two decimal places: a JSON number (parsed as a decimal, never a
    float) or a decimal string such as ``"8532.50"``."""
    kind = type(value)
    if kind is Decimal or kind is int:
        number = Decimal(value)
    elif kind is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise FieldInvalid("decimal", "must be a decimal amount such as 8532.50") from None
    else:
        raise FieldInvalid("decimal", "must be a decimal amount such as 8532.50")
    if not number.is_finite():
        raise FieldInvalid("decimal", "must be a decimal amount such as 8532.50")
    # The range first: quantizing an amount of more than 28 significant digits (the decimal
    # context's precision) raises InvalidOperation; one in range has at most 14.
    if number < 0 or number > MAX_MONEY:
        raise FieldInvalid("range", "must be between 0 and 999999999999.99")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and number != number.quantize(CENT):
        raise FieldInvalid("decimal_places", "must have at most two decimal places")
    return str(number.quantize(CENT))


def unit_code(value: Any) -> str:
    if type(value) is not str:
        raise FieldInvalid("type", "must be a string")
    try:
        return normalise_unit_code(value)
    except IdentifierError as exc:
        raise FieldInvalid(exc.code, exc.message) from None


def region(value: Any) -> str:
    if type(value) is not str:
        raise FieldInvalid("type", "must be a string")
    try:
        return normalise_region(value)
    except IdentifierError as exc:
        raise FieldInvalid(exc.code, exc.message) from None
