"""Identifiers: citizen ID numbers (GB 11643), unified social credit codes (GB 32100),
administrative division codes (GB/T 2260) and names. Validate exactly, normalise, explain.

Every validator raises :class:`IdentifierError` with a short machine ``code`` and an English
message that never repeats the value (it may be an ID number).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass


class IdentifierError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- Citizen ID numbers ---------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_FULLWIDTH = str.maketrans("０１２３４５６７８９ｘＸ", "0123456789XX")


def id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


@dataclass(frozen=True, slots=True)
class CitizenId:
    number: str  # normalised 18-character form
    given: str  # as sent (stripped), e.g. a legacy 15-digit number
    birth_date: dt.date

    @property
    def is_male(self) -> bool:
        return int(self.number[16]) % 2 == 1


def _birth_date(digits: str, today: dt.date | None) -> dt.date:
    try:
        born = dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise IdentifierError(
            "birth_date", "the birth date in the ID number is not a real date"
        ) from None
    if born > (today or dt.date.today()) or born.year < 1880:
        raise IdentifierError("birth_date", "the birth date in the ID number is out of range")
    return born


def parse_citizen_id(value: str, *, today: dt.date | None = None) -> CitizenId:
    """Validate and normalise a citizen ID number.

    Accepts lower-case ``x`` and full-width characters, and upgrades a legacy 15-digit number
    (``19`` inserted after the address code, check character computed). Unknown address codes
    are accepted: retired codes stay valid inside old ID numbers.
    """
    given = value.strip()
    text = given.translate(_FULLWIDTH).upper()
    if len(text) == 15:
        if not text.isdigit() or not text.isascii():
            raise IdentifierError("format", "a 15-digit ID number must contain digits only")
        body = text[:6] + "19" + text[6:]
        born = _birth_date(body[6:14], today)
        return CitizenId(body + id_check_char(body), given, born)
    if len(text) != 18:
        raise IdentifierError("length", "an ID number has 18 characters (or 15 for legacy ones)")
    body, check = text[:17], text[17]
    if not (body.isdigit() and body.isascii()) or check not in "0123456789X":
        raise IdentifierError("format", "an ID number is 17 digits and a digit or X")
    born = _birth_date(body[6:14], today)
    if id_check_char(body) != check:
        raise IdentifierError("checksum", "the ID number's check character is wrong")
    return CitizenId(text, given, born)


def normalise_citizen_id(value: str, *, today: dt.date | None = None) -> str:
    return parse_citizen_id(value, today=today).number


def mask_citizen_id(number: str) -> str:
    """``230102199001011234`` → ``2301**********1234``: enough to recognise, not to identify."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


_ID_LIKE = re.compile(r"\d{15,17}[\dXxＸｘ]?")
# What people, word processors and other systems put between the groups of a number: a space
# of any width (a tab, a no-break space from WPS or Word, the ideographic space), a hyphen, dash
# or minus, a soft hyphen (hyphenation), the invisible joiners, zero-width spaces and direction
# marks a paste can carry, and the punctuation of dates and codes: a point, a slash, a comma,
# each full-width too, the enumeration comma and middle dots. Not a line break: dates one a line
# are a list, not a number. Which groups make a number is :func:`_mask_spaced`'s to say (whole
# groups, 18 digits, a region code, a birth date): dates, sums and phone numbers stay.
_SEP = (
    r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
    r"\-\u2010-\u2015\u2212\uff0d\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u206f\ufeff"
    r".,/\u00b7\u3001\u30fb\uff0c\uff0e\uff0f\uff65]"
)
_ID_SEPARATOR = re.compile(_SEP)
# A run of 15 or more digits with any number of separators between two of them: spaces to line
# numbers up, " - " between groups, a column of a justified line (a limit of four let five
# through in clear, and any limit lets one more through). Digits and separators are disjoint
# classes, so a run is read one way, and the match stays linear: a run that fails holds fewer
# than 15 digits, so it is tried from fewer than 15 starts. A date or a phone number may sit
# right before an ID number in the same run: each window of whole groups is tried.
_SEPS = rf"{_SEP}*"
_ID_SPACED = re.compile(rf"(?<!\d)\d(?:{_SEPS}\d){{14,}}(?:{_SEPS}[XxＸｘ])?(?!\d)")
_ID_GROUP = re.compile(r"[\dXxＸｘ]+")
# 18 digits one a box that read as a region code and a date of birth: found in a run of boxes
# in one pass (100 KB of boxes has 50,000 windows), then read by :func:`_looks_like_id`.
_BOXED_ID = re.compile(r"[1-8]\d{5}(?:18|19|20)\d\d[01]\d[0-3]\d{4}[\dXxＸｘ]")


def _looks_like_id(digits: str) -> bool:
    """Whether a run of digits written with separators reads as an ID number: 15 or 18
    characters, a region code, a birth date that is a day of the calendar. A run without
    separators is masked whatever it holds; one with them needs this much, so two dates
    (``2026-10-01 2026-11-01``) or a sum of money are left alone."""
    digits = digits.translate(_FULLWIDTH)
    if len(digits) == 18:
        born = digits[6:14]
        if born[:2] not in ("18", "19", "20"):
            return False
    elif len(digits) == 15:
        born = "19" + digits[6:12]
    else:
        return False
    if digits[0] not in "12345678" or not digits[:17].isdigit():
        return False
    try:
        dt.date(int(born[:4]), int(born[4:6]), int(born[6:8]))
    except ValueError:
        return False
    return True


# The separators of a list as well as of a number's groups: a comma, a slash, the enumeration
# comma, full-width too. Numbers listed one after another (a mobile and a landline written
# ``13812319901/2151235``) join into 18 digits that may read as a region code and a birth
# date; across these a number is masked only when its check character is right, which leaves
# one such pair in eleven masked instead of all. A number typed this way with a wrong check
# character (a slip of the finger) is shown: the cost of not masking every phone list.
_LIST_SEPARATOR = re.compile(r"[,/\u3001\uff0c\uff0f]")


def _checks(digits: str) -> bool:
    digits = digits.translate(_FULLWIDTH).upper()
    return len(digits) == 18 and id_check_char(digits[:17]) == digits[17]


def _mask_spaced(match: re.Match[str]) -> str:
    """Every window of whole groups of the run that reads as an ID number, masked (written
    without its separators); the rest of the run as it was. A window ends at 18 digits, so
    the work is linear in the run."""
    run = match.group(0)
    if not _ID_SEPARATOR.search(run):
        return run  # one unbroken run: _ID_LIKE's
    groups = [(g.start(), g.end()) for g in _ID_GROUP.finditer(run)]
    out, done, i = [], 0, 0
    while i < len(groups):
        # A number in groups opens with its region code, three digits or more: a window opening
        # with a group of two starts inside a date of dates written in a row (2019-12-31
        # 2020-01-01 2021-01-01 read 12 31 2020 01 01 2021 01, "born 2001-01-20"). Or it is
        # written one digit a box, as printed forms have it: 18 groups of one.
        width = groups[i][1] - groups[i][0]
        if width == 1:
            end = i
            while end < len(groups) and groups[end][1] - groups[end][0] == 1:
                end += 1
            boxes = "".join(run[start] for start, _ in groups[i:end])
            at = 0
            while box := _BOXED_ID.search(boxes, at):
                at = box.start() + 1
                if _looks_like_id(box.group(0)):
                    first, last = groups[i + box.start()][0], groups[i + box.end() - 1][1]
                    out += [run[done:first], mask_citizen_id(box.group(0))]
                    done, at = last, box.end()
            i = end
            continue
        if width < 3:
            i += 1
            continue
        length, j = 0, i
        while j < len(groups) and length <= 18:
            length += groups[j][1] - groups[j][0]
            # A legacy 15-digit number only as the whole run: inside a longer one, a window of
            # 15 digits of a grouped sum would read as one too often.
            if length == 18 or (length == 15 and i == 0 and j == len(groups) - 1):
                digits = "".join(run[a:b] for a, b in groups[i : j + 1])
                # A legacy number has no check character: the whole run, it stays masked.
                listed = length == 18 and _LIST_SEPARATOR.search(run, groups[i][1], groups[j][0])
                if _looks_like_id(digits) and (not listed or _checks(digits)):
                    out += [run[done : groups[i][0]], mask_citizen_id(digits)]
                    done, i = groups[j][1], j
                    break
            j += 1
        i += 1
    return "".join([*out, run[done:]])


def _mask_unspaced(match: re.Match[str]) -> str:
    """A run of 15+ digits masked, unless it opens an 18-character unified social credit code
    standing on its own that does not read as an ID number: a code whose organisation part
    is digits (``12230100400000123X``) is a unit's, quoted in full in a report's summary."""
    start = match.start()
    code = match.string[start : start + 18]
    after = match.string[start + 18 : start + 19]
    alone = not _is_code_char(match.string[start - 1 : start]) and not _is_code_char(after)
    if alone and _is_unit_code(code) and not _looks_like_id(code):
        return match.group(0)
    return mask_citizen_id(match.group(0))


def mask_id_numbers_in(text: str) -> str:
    """Every run that could be an ID number (15+ digits, full-width too, an ``X`` at the end)
    masked as :func:`mask_citizen_id` does: for paths and query strings in logs, and free text
    shown to people. A number typed in groups (``230102 19900101 1234``, with hyphens or
    ideographic spaces) is masked too when it reads as one (:func:`_looks_like_id`), written
    without its separators."""
    text = _ID_SPACED.sub(_mask_spaced, text)
    return _ID_LIKE.sub(_mask_unspaced, text)


# --- Unified social credit codes --------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUES[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def normalise_unit_code(value: str) -> str:
    """Validate a unified social credit code; returns it upper-cased and stripped."""
    text = value.strip().translate(_FULLWIDTH).upper()
    if len(text) != 18:
        raise IdentifierError("length", "a unified social credit code has 18 characters")
    bad = [c for c in text if c not in _USCC_VALUES]
    if bad:
        raise IdentifierError(
            "format", "a unified social credit code uses 0-9 and A-Y without I, O, S, V and Z"
        )
    if uscc_check_char(text[:17]) != text[17]:
        raise IdentifierError("checksum", "the unit code's check character is wrong")
    if not text[2:8].isdigit():
        raise IdentifierError("format", "characters 3-8 of a unit code are a region code")
    return text


def _is_unit_code(text: str) -> bool:
    try:
        return normalise_unit_code(text) == text.upper()
    except IdentifierError:
        return False


def _is_code_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def unit_code_region(code: str) -> str:
    """The registering region embedded in a unit code (characters 3-8)."""
    return code[2:8]


# --- Administrative division codes ------------------------------------------------------------

# ASCII digits only: Python's and pydantic's \d also match other scripts' digits ("２０２６",
# full width), which would pass as a region or period nobody's queries ever name. Python's
# ``re`` lets ``$`` match before a final newline ("2026-10\n"): use them with ``fullmatch``.
# A period's year lies in 1900–2999, as every date the hub takes does (linkage_hub.inputs):
# "0000-01" passed four digits, and its first day (year 0) is no date, so every run judging
# it by default (the latest pushed) was a 500.
REGION_PATTERN = r"^[0-9]{6}$"
PERIOD_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
_REGION = re.compile(r"^[1-9][0-9]{5}$")


def normalise_region(value: str) -> str:
    """Validate a six-digit division code: province ``xx0000``, city ``xxxx00`` or county."""
    text = value.strip()
    if not _REGION.fullmatch(text):
        raise IdentifierError("format", "a region is a six-digit administrative division code")
    if text[2:4] == "00" and text[4:6] != "00":
        raise IdentifierError("format", "a region code cannot have a county without a city")
    return text


def region_prefix(region: str) -> str:
    """The code prefix that every region inside ``region`` shares: ``230100`` → ``2301``."""
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def region_contains(outer: str, inner: str) -> bool:
    """Province ⊃ city ⊃ county, by the code: ``region_contains("230100", "230102")``."""
    return inner.startswith(region_prefix(outer))


def region_level(region: str) -> str:
    if region.endswith("0000"):
        return "province"
    if region.endswith("00"):
        return "city"
    return "county"


# --- Names ------------------------------------------------------------------------------------

_MIDDLE_DOTS = str.maketrans({"•": "·", "・": "·", ".": "·", "‧": "·", "∙": "·", "⋅": "·"})
_SPACE = re.compile(r"\s+")


def normalise_name(value: str) -> str:
    """NFKC, strip all white space (ideographic included), unify middle dots to U+00B7."""
    text = unicodedata.normalize("NFKC", value)
    text = _SPACE.sub("", text)
    return text.translate(_MIDDLE_DOTS)
