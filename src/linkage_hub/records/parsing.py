"""Batch bodies: spooled to a temporary file while hashed, then parsed as a stream.

The body is never held in memory as a whole: it is written to a spooled temporary file (the
hash for ``Idempotency-Key`` is taken on the way), and rows are read back one at a time. JSON
bodies (``{"mode", "scope", "records", "deletes"}``) are walked with an incremental decoder, so
a million records never become a million dicts at once.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import IO, Any

import msgspec

from linkage_hub.errors import (
    FieldError,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedMediaType,
    safe_name,
)

SPOOL_IN_MEMORY = 8 * 1024 * 1024
# No dataset has more than a few dozen fields: a wider CSV header is refused as one error
# rather than one error a cell (a megabyte of commas would be a million of them).
MAX_CSV_COLUMNS = 200
# A record is never a megabyte long. The JSON reader decodes from a window of this many
# characters and refuses a value that does not fit in it; an NDJSON line (bytes) or a CSV row
# (characters) longer than it is refused before it is decoded or split, as one error: decoded
# whole, a line of 4 MB of ``[],`` is a million lists and a row of 4 MB of commas four million
# cells, ten or twenty times the body, and a batch may be 512 MB.
RECORD_WINDOW = 1 << 20
_DECODER = json.JSONDecoder(parse_float=Decimal)
_LINE_DECODER = msgspec.json.Decoder(float_hook=Decimal)


class BodyFormat(StrEnum):
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


def body_format(content_type: str | None) -> BodyFormat:
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in ("application/json", ""):
        return BodyFormat.json
    if media in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        return BodyFormat.ndjson
    if media in ("text/csv", "application/csv"):
        return BodyFormat.csv
    raise UnsupportedMediaType(
        "Send application/json, application/x-ndjson or text/csv.",
    )


@dataclass
class SpooledBody:
    file: IO[bytes]
    size: int
    sha256: str

    def close(self) -> None:
        self.file.close()


async def spool(chunks: AsyncIterator[bytes], max_bytes: int) -> SpooledBody:
    """Copy a request body into a temporary file (memory first, disk past 8 MiB)."""
    file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
            digest.update(chunk)
            file.write(chunk)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return SpooledBody(file, size, digest.hexdigest())


def _syntax(row: int | None, message: str) -> InvalidInput:
    return InvalidInput(
        "The body could not be parsed.",
        errors=[FieldError(row=row, field="body", code="syntax", message=message)],
        total_errors=1,
    )


def _too_long(row: int, field: str, message: str) -> InvalidInput:
    return InvalidInput(
        "The body could not be parsed.",
        errors=[
            FieldError(row=row, field=field, code="too_long", message=f"{message}; no record is")
        ],
        total_errors=1,
    )


def json_body(raw: bytes) -> Any:
    """A small JSON body (a single record)."""
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _syntax(None, "the body is not valid JSON") from None


def ndjson_rows(file: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; a line that is not JSON gives a
    :class:`BadRow` (reported as that row's error, the batch goes on).

    Lines are decoded by msgspec straight from their bytes (numbers with a fraction or an
    exponent as ``Decimal``, as the standard library's decoder with ``parse_float`` did): 1.2
    against 3.1 µs a roster line (bench/RESULTS.md, "Ingest: a faster JSON parser"). A line
    msgspec refuses goes through the standard library's decoder as before, which accepts what
    the field checks then name more precisely (a lone surrogate escape is that field's
    ``invalid_unicode``, not a bad line); what neither reads is a bad row."""
    for number, line in ndjson_lines(file):
        yield number, decode_line(line)


def ndjson_lines(file: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, the line's bytes) for each non-blank line, undecoded. A byte-order mark
    before the first line is dropped, as JSON and CSV bodies are read (``utf-8-sig``): Windows
    tools write one. A line longer than :data:`RECORD_WINDOW` refuses the batch, read no
    further than the window."""
    file.seek(0)
    for number, line in enumerate(iter(partial(file.readline, RECORD_WINDOW + 1), b""), 1):
        if len(line) > RECORD_WINDOW:
            raise _too_long(number, "record", f"the line is longer than {RECORD_WINDOW} bytes")
        if number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)
        if line and not line.isspace():
            yield number, line


def ndjson_has_lines(file: IO[bytes]) -> bool:
    """Whether an NDJSON body has a line that is not blank (reads up to the first one)."""
    return next(ndjson_lines(file), None) is not None


def decode_line(line: bytes) -> Any:
    """One NDJSON line's value (:func:`ndjson_rows`), or a :class:`BadRow`."""
    try:
        return _LINE_DECODER.decode(line)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        return _stdlib_line(line)


def _stdlib_line(line: bytes) -> Any:
    try:
        value, end = _DECODER.raw_decode(line.decode("utf-8").strip())
        if end != len(line.decode("utf-8").strip()):
            return _BAD_LINE
        return value
    except (ValueError, UnicodeDecodeError, RecursionError):  # too deep is not JSON here
        return _BAD_LINE


class BadRow:
    """A row that could not be read as a record: :meth:`error` says why."""

    def error(self, row: int) -> FieldError:
        raise NotImplementedError


class _BadLine(BadRow):
    def error(self, row: int) -> FieldError:
        return FieldError(row=row, field="record", code="syntax", message="is not valid JSON")


_BAD_LINE = _BadLine()


def is_bad_line(value: Any) -> bool:
    return isinstance(value, _BadLine)


def csv_rows(file: IO[bytes]) -> tuple[list[str], Iterator[tuple[int, Any]]]:
    """The header and (data row number, {field: cell or None}) for each row; a row of
    another width than the header gives a :class:`BadRow`."""
    file.seek(0)
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    lines = _RowLines(text)
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _syntax(None, "a CSV body needs a header row of field names") from None
    except _RowTooLong:
        raise _syntax(None, f"the CSV header is longer than {RECORD_WINDOW} characters") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _syntax(None, f"the CSV header cannot be read ({type(exc).__name__})") from None
    lines.chars = 0
    if len(header) > MAX_CSV_COLUMNS:
        raise _syntax(
            None, f"the CSV header has {len(header)} cells; no dataset has over {MAX_CSV_COLUMNS}"
        )
    if not any(header):
        # A blank first row (an empty export's line break) is a failed upload, not a CSV of
        # no records: in snapshot mode it would close everything in scope. An empty batch is
        # a header row alone.
        raise InvalidInput(
            "The CSV body has no header row.",
            errors=[
                FieldError(
                    field="body",
                    code="blank_header",
                    message="the first row, the header of field names, is blank",
                )
            ],
            total_errors=1,
        )

    def rows() -> Iterator[tuple[int, Any]]:
        number = 0
        try:
            for cells in reader:
                lines.chars = 0
                number += 1
                if not cells:
                    continue
                if len(cells) != len(header):
                    yield number, _CsvWidth(len(cells), len(header))
                    continue
                yield (
                    number,
                    {h: (c if c != "" else None) for h, c in zip(header, cells, strict=True)},
                )
        except (UnicodeDecodeError, csv.Error) as exc:
            raise _syntax(number + 1, f"the CSV cannot be read ({type(exc).__name__})") from None
        except _RowTooLong:
            message = f"the row is longer than {RECORD_WINDOW} characters"
            raise _too_long(number + 1, "row", message) from None
        finally:
            text.detach()

    return header, rows()


class _RowTooLong(Exception):
    pass


class _RowLines:
    """The lines of a CSV body, as :func:`csv.reader` asks for them, refusing a row (its lines
    since the reader's last row: a quoted cell may hold line breaks) of more than
    :data:`RECORD_WINDOW` characters before the reader splits it into cells. The reader reads
    no line past the row it returns; whoever takes a row sets :attr:`chars` back to 0."""

    def __init__(self, text: IO[str]) -> None:
        self.readline = partial(text.readline, RECORD_WINDOW + 1)
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        while line := self.readline():
            self.chars += len(line)
            if self.chars > RECORD_WINDOW:
                raise _RowTooLong
            yield line


class _CsvWidth(BadRow):
    def __init__(self, got: int, want: int) -> None:
        self.got, self.want = got, want

    def error(self, row: int) -> FieldError:
        return FieldError(
            row=row,
            field="row",
            code="columns",
            message=f"has {self.got} cells where the header has {self.want}",
        )


# --- JSON bodies --------------------------------------------------------------------------------


class _Reader:
    """Incremental JSON over a text stream: values are decoded one at a time from a window."""

    def __init__(self, stream: IO[str], chunk: int = RECORD_WINDOW) -> None:
        self.stream = stream
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        data = self.stream.read(self.chunk)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + data
        self.pos = 0
        return True

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, chars: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            raise ValueError(f"expected one of {chars!r}")
        self.pos += 1
        return char

    def value(self, decoder: json.JSONDecoder = _DECODER) -> Any:
        self.peek()
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                # A value cut by the window's end: read on. One that fails with a full window
                # after it is malformed (a record is never a megabyte long).
                if len(self.buf) - self.pos < self.chunk and self._fill():
                    continue
                raise ValueError("malformed JSON") from None
            if end == len(self.buf) and self._fill():  # a number may go on past the window
                continue
            self.pos = end
            return value


class _Duplicate(Exception):
    """An object of the batch's members names a member twice: which one is meant cannot be
    told (a decoder keeps the last, another tool the first)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _value in pairs:
            if name in seen:
                raise _Duplicate(name)
            seen.add(name)
    return members


# The batch's own members (``mode``, ``scope``) are read refusing a name given twice; the
# records, by far the most of a body, with the plain decoder.
_MEMBER_DECODER = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_unique)

# The members a JSON batch may have. Any other is refused as soon as its name is read, before
# its value is decoded: a body of unknown members would otherwise be built into Python objects
# whole (some 20 bytes of them a byte sent) only to be refused at the end.
BATCH_MEMBERS = frozenset({"mode", "scope", "records", "deletes"})


def _unknown_member(name: str) -> InvalidInput:
    return InvalidInput(
        "The batch's scope is not valid.",
        errors=[
            FieldError(
                field=safe_name(name), code="unknown_field", message="is not a member of a batch"
            )
        ],
        total_errors=1,
    )


@dataclass
class JsonBatch:
    """The non-record members of a JSON batch body (``mode``, ``scope``) and the number of
    records and deletes."""

    members: dict[str, Any] = field(default_factory=dict)
    records: int = 0
    deletes: int = 0


def json_members(file: IO[bytes]) -> JsonBatch:
    """First pass: the members other than the arrays, so the scope is known before any row is
    validated (it may come after the records)."""
    batch = JsonBatch()
    for _item in _walk(file, batch, 0):
        pass
    return batch


def json_items(file: IO[bytes], records: int) -> Iterator[tuple[str, int, Any]]:
    """Second pass: ("records" | "deletes", row number, item). Deletes are numbered after the
    records: row = number of records + index."""
    return _walk(file, JsonBatch(), records)


def _walk(file: IO[bytes], batch: JsonBatch, records: int) -> Iterator[tuple[str, int, Any]]:
    file.seek(0)
    stream = codecs.getreader("utf-8-sig")(file)
    reader = _Reader(stream)  # type: ignore[arg-type]
    row: int | None = None
    seen: set[str] = set()
    try:
        reader.expect("{")
        if reader.peek() == "}":
            reader.expect("}")
        else:
            while True:
                key = reader.value()
                if not isinstance(key, str):
                    raise ValueError("object keys are strings")
                if key not in BATCH_MEMBERS:
                    raise _unknown_member(key)
                if key in seen:
                    raise _Duplicate(key)
                seen.add(key)
                reader.expect(":")
                if key in ("records", "deletes"):
                    reader.expect("[")
                    count = 0
                    offset = 0 if key == "records" else records
                    if reader.peek() == "]":
                        reader.expect("]")
                    else:
                        while True:
                            row = offset + count + 1
                            item = reader.value()
                            count += 1
                            yield key, row, item
                            if reader.expect(",]") == "]":
                                break
                    row = None
                    setattr(batch, key, count)
                else:
                    try:
                        batch.members[key] = reader.value(_MEMBER_DECODER)
                    except _Duplicate as inner:
                        raise _Duplicate(f"{key}.{inner.name}") from None
                if reader.expect(",}") == "}":
                    break
        if reader.peek():
            raise ValueError("data after the JSON object")
    except _Duplicate as exc:
        raise InvalidInput(
            "The body names a member twice.",
            errors=[
                FieldError(
                    field=safe_name(exc.name),
                    code="duplicate",
                    message="is given twice; which one is meant cannot be told",
                )
            ],
            total_errors=1,
        ) from None
    except UnicodeDecodeError:
        raise _syntax(row, "the body is not UTF-8") from None
    except ValueError as exc:
        raise _syntax(row, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise _syntax(row, "not valid JSON: nested too deeply") from None
