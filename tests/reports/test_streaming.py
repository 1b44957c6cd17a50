"""The download writers: XLSX read back with openpyxl, CSV with utf-8-sig."""

import csv
import datetime as dt
import io
from decimal import Decimal

import openpyxl

from linkage_hub.reports.streaming import content_disposition, stream_csv
from linkage_hub.reports.xlsx import Sheet, stream_xlsx


def _workbook(chunks: object) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(b"".join(chunks)))  # type: ignore[arg-type]


class TestXlsx:
    def test_cells_round_trip_with_real_dates(self) -> None:
        rows = [
            ["超编", 3, Decimal("8532.50"), dt.date(2026, 10, 31), None, True],
            ['a "quoted" <tag> & \x01', -1, 0.5, dt.datetime(2026, 1, 2, 3, 4, 5), "x", False],
        ]
        book = _workbook(stream_xlsx([Sheet("发现", ["规则", "n", "pay", "on", "e", "b"], rows)]))
        sheet = book["发现"]
        assert [c.value for c in sheet[1]] == ["规则", "n", "pay", "on", "e", "b"]
        assert sheet["A2"].value == "超编" and sheet["B2"].value == 3
        assert sheet["C2"].value == 8532.5
        assert sheet["D2"].value == dt.datetime(2026, 10, 31) and sheet["D2"].is_date
        assert sheet["E2"].value is None and sheet["F2"].value is True
        assert sheet["A3"].value == 'a "quoted" <tag> & '
        assert sheet["D3"].value == dt.datetime(2026, 1, 2, 3, 4, 5)
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == "A1:F3"
        assert sheet["A1"].font.b

    def test_title_block_moves_the_header_down(self) -> None:
        book = _workbook(
            stream_xlsx([Sheet("t", ["h"], [["v"]], title_lines=["单位: 某局", "任期"])])
        )
        sheet = book["t"]
        assert sheet["A1"].value == "单位: 某局" and sheet["A2"].value == "任期"
        assert sheet["A4"].value == "h" and sheet["A5"].value == "v"
        assert sheet.freeze_panes == "A5"

    def test_rows_past_the_limit_continue_on_a_new_sheet(self) -> None:
        rows = ([i] for i in range(7))
        book = _workbook(stream_xlsx([Sheet("s", ["n"], rows)], max_rows=4))
        assert book.sheetnames == ["s", "s (2)", "s (3)"]
        values = [c.value for name in book.sheetnames for (c,) in book[name].iter_rows()]
        assert values == ["n", 0, 1, 2, "n", 3, 4, 5, "n", 6]

    def test_exactly_full_sheet_has_no_empty_continuation(self) -> None:
        book = _workbook(stream_xlsx([Sheet("s", ["n"], [[1], [2], [3]])], max_rows=4))
        assert book.sheetnames == ["s"]

    def test_several_sheets_and_widths(self) -> None:
        book = _workbook(
            stream_xlsx([Sheet("a", ["x"], [[1]], widths=[30]), Sheet("b", ["y"], [[2]])])
        )
        assert book.sheetnames == ["a", "b"]
        assert book["a"].column_dimensions["A"].width == 30

    def test_streams_in_chunks(self) -> None:
        chunks = list(stream_xlsx([Sheet("s", ["n"], ([i] for i in range(5000)))], chunk_rows=500))
        assert len(chunks) > 5


class TestCsv:
    def test_bom_header_and_values(self) -> None:
        data = b"".join(stream_csv(["姓名", "金额"], [["张三", Decimal("1.50")], [None, 2]]))
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows == [["姓名", "金额"], ["张三", "1.50"], ["", "2"]]


class TestFormulaInjection:
    """OWASP CSV injection: text never reaches a spreadsheet as a formula; numbers stay
    numbers (the API-level attacks are in tests/security/test_api8_injection.py)."""

    TEXT = ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "＝1", "＋1", "－1", "＠x")

    def test_csv_prefixes_text_cells_only(self) -> None:
        row = [*self.TEXT, -5, Decimal("-1.50"), dt.date(2026, 1, 2), "a=b", "", None]
        body = b"".join(stream_csv(["h"] * len(row), [row])).decode("utf-8-sig")
        cells = list(csv.reader(io.StringIO(body)))[1]
        assert cells == ["'" + t for t in self.TEXT] + ["-5", "-1.50", "2026-01-02", "a=b", "", ""]
        assert body.splitlines()[1].startswith('"\'=1+1","')  # every cell quoted

    def test_xlsx_keeps_text_a_string_with_the_quote_prefix(self) -> None:
        sheet = _workbook(stream_xlsx([Sheet("s", ["h"] * 3, [["=1+1", -5, "单位\uffff"]])]))["s"]
        assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s"
        assert sheet["A2"].quotePrefix
        assert sheet["B2"].value == -5 and sheet["B2"].data_type == "n"
        assert sheet["C2"].value == "单位" and not sheet["C2"].quotePrefix


class TestContentDisposition:
    def test_chinese_name_is_encoded_with_an_ascii_fallback(self) -> None:
        value = content_disposition("编制报表 2026.xlsx")
        assert value.startswith('attachment; filename="')
        assert "filename*=UTF-8''%E7%BC%96%E5%88%B6%E6%8A%A5%E8%A1%A8%202026.xlsx" in value
        assert value.isascii()
