"""A streaming XLSX writer: rows go out as they are read, in bounded memory.

An XLSX file is a ZIP of XML parts. The sheets are written straight into a ZIP stream (entries
with data descriptors, so nothing needs to seek) and the bytes are handed to the caller in
chunks. openpyxl's write-only mode would spool the whole file to disk first and is several
times slower per cell; this writer does only what reports need: inline strings, numbers,
real date cells, a bold frozen header row, an autofilter, column widths, a title block, and
continuation onto a new sheet before Excel's 1,048,576-row limit.

Text is never written as a formula: a cell whose text starts like one (``=HYPERLINK(...)``)
is an inline string shown as written, with the quote-prefix style so that editing it in Excel
keeps it text. Characters XML 1.0 does not allow (control characters other than tab and line
breaks, U+FFFE, U+FFFF, surrogates) are dropped: one of them would make the file unreadable.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from xml.sax.saxutils import escape

from linkage_hub.inputs import FORMULA_STARTS

MAX_ROWS = 1_048_576
_EPOCH = dt.date(1899, 12, 30)
_ILLEGAL = {
    c: None for c in (*range(32), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF) if c not in (9, 10, 13)
}
# Whether a text holds one of them: a scan much cheaper than translating every text
_ILLEGAL_FOUND = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_ILLEGAL)) + "]").search
_EPOCH_TIME = dt.datetime(1899, 12, 30)

Cell = str | int | float | Decimal | dt.date | dt.datetime | bool | None

# cellXfs indexes in styles.xml
_STYLE_DATE, _STYLE_HEADER, _STYLE_DATETIME, _STYLE_TITLE, _STYLE_QUOTED = 1, 2, 3, 4, 5


@dataclass
class Sheet:
    """One logical sheet: its rows may continue on further sheets ("name (2)")."""

    name: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    widths: Sequence[int] | None = None
    title_lines: Sequence[str] = field(default_factory=tuple)


def _col(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell(ref: str, value: Cell, style: int = 0) -> str:
    if type(value) is str:  # most cells: straight to the text
        return _text(ref, value, style) if value else ""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, dt.datetime):
        serial = _serial(value) if value.tzinfo is None else _serial_of(value)
        return f'<c r="{ref}" s="{_STYLE_DATETIME}"><v>{serial}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{_STYLE_DATE}"><v>{(value - _EPOCH).days}</v></c>'
    if isinstance(value, int | float | Decimal):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return _text(ref, str(value), style)


def _text(ref: str, text: str, style: int) -> str:
    if _ILLEGAL_FOUND(text):
        text = text.translate(_ILLEGAL)
    if not style and text[:1] in FORMULA_STARTS:
        style = _STYLE_QUOTED
    text = text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")  # escape()
    style_attr = f' s="{style}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{style_attr}><is><t xml:space="preserve">{text}</t></is></c>'


def _serial_of(value: dt.datetime) -> str:
    """A date-time cell's value: days since 1899-12-30 on the clock ``value`` shows."""
    return f"{(value.replace(tzinfo=None) - _EPOCH_TIME).total_seconds() / 86400:.10f}"


# The findings of a run share their times: each distinct (naive, so equal means same clock)
# time is worked out once.
_serial = functools.lru_cache(maxsize=4096)(_serial_of)


def _row(number: int, values: Sequence[Cell], style: int = 0) -> str:
    n = str(number)
    columns = _COLUMNS if len(values) <= len(_COLUMNS) else _columns(len(values))
    cells = "".join(
        [
            (_text(c + n, v, style) if v else "") if type(v) is str else _cell(c + n, v, style)
            for c, v in zip(columns, values, strict=False)
            if v is not None
        ]
    )
    return f'<row r="{number}">{cells}</row>'


def _columns(count: int) -> list[str]:
    return [_col(i) for i in range(count)]


_COLUMNS = _columns(64)


class _Sink:
    """A write-only file object collecting what zipfile writes, drained by the generator."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def stream_xlsx(
    sheets: Iterable[Sheet], *, chunk_rows: int = 2000, max_rows: int = MAX_ROWS
) -> Iterator[bytes]:
    """Yield the bytes of a workbook holding ``sheets``, reading their rows lazily.

    A sheet whose rows would pass ``max_rows`` (Excel's limit, header included) continues on
    a new sheet named "name (2)", "name (3)", ... with the header repeated.
    """
    sink = _Sink()
    archive = zipfile.ZipFile(
        sink,  # type: ignore[call-overload]
        "w",
        compression=zipfile.ZIP_DEFLATED,
        compresslevel=1,
    )
    names: list[str] = []
    for sheet in sheets:
        rest: Iterator[Sequence[Cell]] | None = iter(sheet.rows)
        titles = sheet.title_lines
        part = 1
        while rest is not None:
            name = sheet.name if part == 1 else f"{sheet.name} ({part})"
            names.append(name[:31])
            rest = yield from _write_sheet(
                archive, sink, len(names), sheet, titles, rest, chunk_rows, max_rows
            )
            titles = ()
            part += 1
    _write_static(archive, names)
    archive.close()
    yield sink.drain()


def _write_sheet(
    archive: zipfile.ZipFile,
    sink: _Sink,
    index: int,
    sheet: Sheet,
    title_lines: Sequence[str],
    rows: Iterator[Sequence[Cell]],
    chunk_rows: int,
    max_rows: int,
) -> Generator[bytes, None, Iterator[Sequence[Cell]] | None]:
    """Write one worksheet part; returns the rows left for a continuation sheet, if any."""
    title_rows = len(title_lines) + (1 if title_lines else 0)
    header_row = title_rows + 1
    last_col = _col(max(len(sheet.header), 1) - 1)
    with archive.open(f"xl/worksheets/sheet{index}.xml", "w", force_zip64=True) as entry:
        head = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetViews><sheetView workbookViewId="0">'
            f'<pane ySplit="{header_row}" topLeftCell="A{header_row + 1}" activePane="bottomLeft"'
            ' state="frozen"/></sheetView></sheetViews>'
        )
        if sheet.widths:
            head += (
                "<cols>"
                + "".join(
                    f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>'
                    for i, w in enumerate(sheet.widths)
                )
                + "</cols>"
            )
        head += "<sheetData>"
        for i, line in enumerate(title_lines, start=1):
            head += _row(i, [line], _STYLE_TITLE)
        head += _row(header_row, list(sheet.header), _STYLE_HEADER)
        entry.write(head.encode())
        number = header_row
        buffer: list[str] = []
        exhausted = True
        for values in rows:
            number += 1
            buffer.append(_row(number, values))
            if len(buffer) >= chunk_rows:
                entry.write("".join(buffer).encode())
                buffer.clear()
                yield sink.drain()
            if number >= max_rows:
                exhausted = False
                break
        entry.write("".join(buffer).encode())
        tail = "</sheetData>"
        tail += f'<autoFilter ref="A{header_row}:{last_col}{max(number, header_row)}"/>'
        tail += "</worksheet>"
        entry.write(tail.encode())
    yield sink.drain()
    if exhausted:
        return None
    # peek: a sheet that ended exactly at the limit with nothing left needs no continuation
    try:
        first = next(rows)
    except StopIteration:
        return None
    return _prepend(first, rows)


def _prepend(first: Sequence[Cell], rest: Iterator[Sequence[Cell]]) -> Iterator[Sequence[Cell]]:
    yield first
    yield from rest


_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>\
<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>
<fonts count="3"><font><sz val="11"/><name val="Calibri"/></font>\
<font><b/><sz val="11"/><name val="Calibri"/></font>\
<font><b/><sz val="14"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" \
quotePrefix="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _relationships(targets: list[tuple[str, str]]) -> str:
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC}/{kind}" Target="{target}"/>'
        for i, (kind, target) in enumerate(targets, start=1)
    )
    return f'{_XML}<Relationships xmlns="{_PKG}/relationships">{rels}</Relationships>'


def _write_static(archive: zipfile.ZipFile, names: list[str]) -> None:
    count = len(names)
    overrides = [("/xl/workbook.xml", "sheet.main"), ("/xl/styles.xml", "styles")] + [
        (f"/xl/worksheets/sheet{i}.xml", "worksheet") for i in range(1, count + 1)
    ]
    archive.writestr(
        "[Content_Types].xml",
        f'{_XML}<Types xmlns="{_PKG}/content-types">'
        f'<Default Extension="rels" ContentType="application/{_PKG_RELS}"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(
            f'<Override PartName="{part}" ContentType="{_OOXML}.{kind}+xml"/>'
            for part, kind in overrides
        )
        + "</Types>",
    )
    archive.writestr("_rels/.rels", _relationships([("officeDocument", "xl/workbook.xml")]))
    sheets = "".join(
        f'<sheet name="{escape(n, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
        for i, n in enumerate(names, start=1)
    )
    archive.writestr(
        "xl/workbook.xml",
        f'{_XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:r="{_DOC}"><sheets>{sheets}</sheets></workbook>',
    )
    targets = [("worksheet", f"worksheets/sheet{i}.xml") for i in range(1, count + 1)]
    archive.writestr(
        "xl/_rels/workbook.xml.rels", _relationships([*targets, ("styles", "styles.xml")])
    )
    archive.writestr("xl/styles.xml", _STYLES)


_PKG_RELS = "vnd.openxmlformats-package.relationships+xml"
