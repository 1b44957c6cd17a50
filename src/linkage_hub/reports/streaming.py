"""Download plumbing shared by every report: CSV for Excel, XLSX, file names.

Every cell of every download goes through :func:`stream_csv` or the XLSX writer, and both keep
a text cell from being read as a formula (OWASP "CSV Injection"), whoever wrote the text — a
unit renamed to ``=HYPERLINK(...)``, a document number or reason starting with ``-``:

- CSV: a text cell starting with one of :data:`~linkage_hub.inputs.FORMULA_STARTS` (``=``,
  ``+``, ``-``, ``@``, tab, carriage return, line feed and the full-width ＝＋－＠) gets a
  leading single quote, which spreadsheets take as "this is text"; every cell is quoted, so a
  spreadsheet splitting fields on ``;`` (other locales) cannot start a new cell inside one.
  Numbers, dates and booleans are written as they are (a negative difference stays ``-5``).
- XLSX: text is always an inline string, never a formula, so it is shown as written; a cell
  starting with a formula character also gets the quote-prefix style, so editing it in Excel
  does not turn it into a formula either.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from linkage_hub.inputs import FORMULA_STARTS
from linkage_hub.reports.xlsx import Cell, Sheet, stream_xlsx

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


def content_disposition(filename: str) -> str:
    """RFC 6266 / RFC 8187: an ASCII fallback plus the UTF-8 name for Chinese file names."""
    fallback = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date | Decimal | int | float):
        return str(value)
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def stream_csv(
    header: Sequence[str], rows: Iterable[Sequence[Cell]], *, chunk_rows: int = 2000
) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (so Excel opens Chinese text correctly), one header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow([_csv_value(h) for h in header])
    yield "\ufeff".encode() + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    starts = FORMULA_STARTS
    for row in rows:
        # _csv_value of each cell; a plain str that starts no formula (most cells) is as it is
        writer.writerow(
            [
                v if type(v) is str and v[:1] not in starts else "" if v is None else _csv_value(v)
                for v in row
            ]
        )
        pending += 1
        if pending >= chunk_rows:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode()


def download(
    fmt: ReportFormat,
    filename_stem: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    sheet_name: str,
    widths: Sequence[int] | None = None,
    extra_sheets: Sequence[Sheet] = (),
    title_lines: Sequence[str] = (),
) -> StreamingResponse:
    """A CSV or XLSX download whose rows are read while the response is written."""
    if fmt is ReportFormat.csv:
        body: Iterator[bytes] = stream_csv(header, rows)
        media, name = CSV_MEDIA_TYPE, f"{filename_stem}.csv"
    else:
        main = Sheet(sheet_name, header, rows, widths=widths, title_lines=title_lines)
        body = stream_xlsx([main, *extra_sheets])
        media, name = XLSX_MEDIA_TYPE, f"{filename_stem}.xlsx"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": content_disposition(name)}
    )


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
