"""What the hub accepts at its edge, whatever the route: characters it can store and export,
and the range of dates and times a parameter may name. Defined once, used by the app-wide
parameter guard (:func:`linkage_hub.errors.refuse_nul_characters`), the record field
converters, the free-text models and every date or time query parameter.

**Characters.** A Unicode non-character (U+FDD0–U+FDEF and the last two code points of every
plane, U+FFFE/U+FFFF … U+10FFFE/U+10FFFF) is never text a department means to send, and U+FFFE
and U+FFFF are not allowed in XML, so one of them in a unit name made the XLSX reports
unreadable. A lone surrogate (``"\\ud800"`` in JSON) is not a character at all: no UTF-8
encoder (the database drivers', the JSON response's) can write it. Both are refused with the
code ``invalid_unicode``. An ID number a person types into free text (a comment, a reason, a
document or minutes number) is masked as it enters (:data:`CleanText`): it lives only in the
encrypted columns, never in clear in what the text is copied into.

**Dates and times.** Every date or time parameter (``as_of``, ``from``, ``to`` of the record
lists, the audit log, the access records, the reports and reconciliation runs) must lie in
:data:`EARLIEST` … :data:`LATEST`, else 422 ``date_range`` naming the parameter. No question
asked of the hub lies outside it, and the bounds leave centuries of room on both sides for the
arithmetic done with a parameter (conversion to UTC, working days counted back, months
walked), which at 0001-01-01 or 9999-12-31 overflowed into a 500. The dates inside pushed
records (appointed_on, entered_on, ...) keep to the same range: a cadre appointed on
0001-01-01 made the tenure report walk back into year 1 and fail.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime
from pydantic_core import PydanticCustomError

from linkage_hub.identifiers import mask_id_numbers_in

INVALID_UNICODE = "invalid_unicode"
INVALID_UNICODE_MESSAGE = "must not contain Unicode non-characters or lone surrogates"

_NONCHARACTER = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17)
)
_INVALID_UNICODE = re.compile(f"[{_NONCHARACTER}\ud800-\udfff]")


#: Characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection"): ``=``,
#: ``+``, ``-``, ``@``, tab and carriage return, plus line feed and the full-width forms
#: ＝＋－＠, which spreadsheets in East Asian locales also take as the start of a formula.
FORMULA_STARTS = frozenset("=+-@\t\r\n＝＋－＠")


def has_invalid_unicode(value: str) -> bool:
    """True if ``value`` holds a non-character or a lone surrogate."""
    return _INVALID_UNICODE.search(value) is not None


def _clean_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if has_invalid_unicode(value):
        raise PydanticCustomError(INVALID_UNICODE, INVALID_UNICODE_MESSAGE)
    return mask_id_numbers_in(value)


#: A free-text field of a request model (a comment, a reason, a document or minutes number): no
#: non-characters, and an ID number typed in it masked (``2301**********1234``) as it enters.
#: An ID number lives only in the encrypted columns; from here the text is copied into rows,
#: history answers, webhook payloads and the audit log, so this is the one place to mask it.
CleanText = AfterValidator(_clean_text)


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("empty", "is empty (spaces only)")
    return value


#: A text field that must say something (a comment's body, a meeting's title): spaces and
#: line breaks alone are refused, as an empty string is. The text is kept as written.
NotBlank = AfterValidator(_not_blank)


EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2999, 12, 31)
DATE_RANGE = "date_range"
DATE_RANGE_MESSAGE = f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def in_range(day: dt.date) -> bool:
    return EARLIEST <= day <= LATEST


def _date_in_range(value: dt.date) -> dt.date:
    if not in_range(value):
        raise PydanticCustomError(DATE_RANGE, DATE_RANGE_MESSAGE)
    return value


def _moment_in_range(value: dt.datetime) -> dt.datetime:
    # Checked on the date as written: far enough inside the bounds that any zone (the one it
    # names, or the hub's for a naive time) converts to UTC without overflow.
    _date_in_range(value.date())
    return value


#: A date parameter inside the hub's range (422 ``date_range`` outside).
BoundedDate = Annotated[dt.date, AfterValidator(_date_in_range)]
#: A date-time parameter inside the hub's range (422 ``date_range`` outside).
BoundedDateTime = Annotated[dt.datetime, AfterValidator(_moment_in_range)]
#: The same, for a parameter that must carry its UTC offset.
BoundedAwareDateTime = Annotated[AwareDatetime, AfterValidator(_moment_in_range)]
