"""The opaque cursor of keyset pagination over an integer position (a row id, a sequence).

One codec for every list that pages by position: records, the change feed, the audit log
(``v1:<position>``) and the access records (``ar:<position>``, newest first). A cursor that
does not decode, names another list, or holds a position no database column can hold is a
422 naming the parameter, never a 500. (The discrepancy list pages by a (severity, id) pair
and keeps its own codec beside its query.)
"""

from __future__ import annotations

import base64
import binascii

from linkage_hub.errors import FieldError, InvalidInput

MAX_POSITION = 2**63 - 1  # a BIGINT; past it the drivers raise OverflowError
_MAX_LENGTH = 64


def encode_cursor(position: int, kind: str = "v1") -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, field: str = "cursor", kind: str = "v1") -> int:
    """The position in ``cursor`` (0 when there is none)."""
    if not cursor:
        return 0
    try:
        if len(cursor) > _MAX_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        prefix, _, value = raw.partition(":")
        if prefix != kind or not (value.isascii() and value.isdigit()):
            raise ValueError
        position = int(value)
        if position > MAX_POSITION:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(
            f"The parameter {field} is not valid.",
            errors=[
                FieldError(field=field, code="cursor", message="is not a cursor this list issued")
            ],
            total_errors=1,
        ) from None
    return position
