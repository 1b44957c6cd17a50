"""The opaque cursor of keyset pagination over an integer position (a row id, a sequence).

One codec for every list that pages by position, each list with its own kind
(``<kind>:<position>``): the change feed (``v1``), the audit log (``audit``), the access
records (``ar``, newest first), the reconciliation runs (``run``) and a subscription's
delivery attempts (``attempt``). A cursor that does not decode, names another list, or holds
a position no database column can hold is a 422 naming the parameter, never a 500. The
discrepancy list pages by a (severity rank, id) pair: :func:`encode_pair_cursor`. The records
of a dataset (``records.<dataset>``) page by record key, :func:`encode_key_cursor`: a record
keeps its key across versions, where a version row's id changes, so a record updated between
two pages was listed again; a row-id cursor issued before is refused (422).

Until each list had its kind, the change feed, the record lists and the audit log all issued
``v1:<position>``, so one list's cursor was taken by another: a record list's ``next_cursor``
sent as the feed's ``since`` skipped changes without a word. The change feed keeps ``v1``
(:data:`CHANGES`): departmental systems hold its cursors between polls for as long as they
keep a copy, and links in webhook deliveries already sent carry them; the feed promises never
to skip a change, so every position it ever issued must stay one it accepts, unchanged. The
record lists and the audit log took new kinds: a ``v1`` cursor one of them issued before is
refused there (422), and its reader starts the list again. One issued before and sent to the
feed is still read as a feed position; that mistake cannot be told from a feed cursor any more
than it could before, and it ends as the cursors in circulation are replaced.
"""

from __future__ import annotations

import base64
import binascii
import json

from linkage_hub.errors import FieldError, InvalidInput

MAX_POSITION = 2**63 - 1  # a BIGINT; past it the drivers raise OverflowError
_MAX_LENGTH = 64
CHANGES = "v1"  # the change feed's kind, the default (see above)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def encode_cursor(position: int, kind: str = CHANGES) -> str:
    return _encode(f"{kind}:{position}".encode())


def decode_cursor(cursor: str | None, field: str = "cursor", kind: str = CHANGES) -> int:
    """The position in ``cursor`` (0 when there is none)."""
    if not cursor:
        return 0
    try:
        if len(cursor) > _MAX_LENGTH:
            raise ValueError
        raw = _decode(cursor).decode("ascii")
        prefix, _, value = raw.partition(":")
        if prefix != kind or not (value.isascii() and value.isdigit()):
            raise ValueError
        position = int(value)
        if position > MAX_POSITION:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _not_a_cursor(field) from None
    return position


# A record key (``Keyring.record_key``): 32 lower-case hex digits.
_RECORD_KEY = frozenset("0123456789abcdef")


def encode_key_cursor(record_key: str, kind: str) -> str:
    """A cursor after the record ``record_key`` of a list ordered by record key."""
    return _encode(f"{kind}:{record_key}".encode())


def decode_key_cursor(cursor: str | None, kind: str, field: str = "cursor") -> str:
    """The record key in ``cursor`` ('' when there is none: before every key). A cursor of
    the position these lists issued before they paged by record key (digits) is refused."""
    if not cursor:
        return ""
    try:
        if len(cursor) > _MAX_LENGTH:
            raise ValueError
        prefix, _, value = _decode(cursor).decode("ascii").partition(":")
        if prefix != kind or len(value) != 32 or not _RECORD_KEY.issuperset(value):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _not_a_cursor(field) from None
    return value


def _not_a_cursor(field: str) -> InvalidInput:
    return InvalidInput(
        f"The parameter {field} is not valid.",
        errors=[FieldError(field=field, code="cursor", message="is not a cursor this list issued")],
        total_errors=1,
    )


def encode_pair_cursor(rank: int, key: str, kind: str | None = None) -> str:
    """A cursor after the row ``(rank, key)`` of a list ordered by both. Each list but the
    discrepancy list (whose cursors departmental systems hold, unkinded) names its ``kind``,
    so one list's cursor sent to another is refused instead of paging it from a wrong place."""
    return _encode(json.dumps([rank, key] if kind is None else [kind, rank, key]).encode())


def decode_pair_cursor(cursor: str, kind: str | None = None) -> tuple[int, str]:
    try:
        if len(cursor) > 200:
            raise ValueError
        decoded = json.loads(_decode(cursor))
        if not isinstance(decoded, list):
            raise ValueError
        if kind is not None:
            if len(decoded) != 3 or decoded[0] != kind:
                raise ValueError
            decoded = decoded[1:]
        rank, key = decoded
        # In range for the database and plain ASCII: a huge rank or a NUL in the key would
        # reach the driver and fail there (a 500).
        if not (type(rank) is int and 0 <= rank <= MAX_POSITION):
            raise ValueError
        if not (isinstance(key, str) and len(key) <= 64):
            raise ValueError
        if not (key.isascii() and key.isprintable()):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidInput(
            "The cursor is not valid.",
            errors=[FieldError(field="cursor", code="invalid", message="not a cursor we issued")],
        ) from None
    return rank, key
