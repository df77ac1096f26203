"""Streamed CSV and XLSX files of tabular report data, safe to open in a spreadsheet.

Every report view exports through here: the caller describes the columns (key, translated
header, kind) and passes the rows lazily (a generator over a database cursor, say); this module
turns them into bytes chunk by chunk, so a 100,000-row export never sits whole in memory.

- CSV: UTF-8 with a byte-order mark (without it Excel reads the Vietnamese as mojibake), CRLF
  line endings, numbers as plain numbers, dates in ISO 8601 (``YYYY-MM-DD``, datetimes as local
  ``YYYY-MM-DD HH:MM``) because every spreadsheet parses those whatever its locale.
- XLSX: openpyxl in write-only mode (rows go straight to a temporary file, constant memory),
  then the finished file is streamed in 64 KiB chunks and deleted, even when the consumer stops
  early. Numbers are numbers, dates are real Excel dates (naive local time: Excel has no time
  zones). A ``percent`` column holds the number as shown in the app (66.7, not 0.667) with the
  number format ``0.0"%"``, so the cell value, the CSV, the API and the page all agree.
- Both: any text cell that a spreadsheet could read as a formula (first character ``= + - @``,
  also after leading whitespace, or a leading tab / carriage return) is prefixed with ``'``
  (OWASP's advice against CSV injection). Numbers and dates are never altered.

Aware datetimes are shown in ``tz``; naive ones are taken as UTC, the way the database stores
them. None is an empty cell.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

KINDS = ("text", "int", "float", "percent", "date", "datetime")
CHUNK_SIZE = 64 * 1024
DEFAULT_TZ = "Asia/Ho_Chi_Minh"

# Characters that make a spreadsheet treat a cell as a formula. The full-width forms are
# included because Excel's East-Asian input normalises them to their ASCII twins.
_FORMULA_STARTS = frozenset("=+-@＝＋－＠")
_CONTROL_STARTS = frozenset("\t\r")
# XML 1.0 forbids these; openpyxl refuses them, so they are dropped from XLSX text.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_MAX_TEXT = 32_767  # characters in one cell
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\\/*?:\[\]]")

_DEFAULT_WIDTH = {"text": 28, "int": 12, "float": 12, "percent": 12, "date": 12, "datetime": 17}
_NUMBER_FORMAT = {
    "int": "#,##0",
    "float": "0.0",
    "percent": '0.0"%"',
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
}


@dataclass(frozen=True)
class Column:
    key: str  # key in each row mapping
    header: str  # already-translated header text
    kind: str = "text"  # "text" | "int" | "float" | "percent" | "date" | "datetime"
    width: int | None = None  # XLSX width in characters; a default per kind when None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")

    @property
    def xlsx_width(self) -> int:
        if self.width is not None:
            return self.width
        # Wide enough for the header and the filter button, within reason.
        return max(_DEFAULT_WIDTH[self.kind], min(len(self.header) + 4, 50))


def neutralise(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet could take it for a formula."""
    if not value:
        return value
    stripped = value.lstrip()
    if value[0] in _CONTROL_STARTS or (stripped and stripped[0] in _FORMULA_STARTS):
        return "'" + value
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal)


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    """Naive local time in ``zone`` (naive input is UTC, as stored)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).replace(tzinfo=None)


def _text(value: object) -> str:
    return neutralise(value if isinstance(value, str) else str(value))


def _number(value: Any) -> int | float | Decimal | None:
    """The number itself, or None for NaN/infinity (no spreadsheet cell can hold them)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return None
    return value  # type: ignore[no-any-return]


def _temporal(kind: str, value: object, zone: ZoneInfo) -> date | datetime | None:
    """A date (``date`` kind) or naive local datetime (``datetime`` kind); None if not temporal."""
    if isinstance(value, datetime):
        local = _local(value, zone)
        return local.date() if kind == "date" else local
    if isinstance(value, date):
        return value if kind == "date" else datetime(value.year, value.month, value.day)
    return None


# --- CSV -------------------------------------------------------------------------------------


def _csv_number(value: Any) -> str:
    number = _number(value)
    if number is None:
        return ""
    if isinstance(number, float):
        # Six decimals drop float noise (0.30000000000000004) and keep every real digit.
        return repr(round(number, 6))
    if isinstance(number, Decimal):
        return format(number, "f")
    return str(number)


def _csv_converter(kind: str, zone: ZoneInfo) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value is None:
            return ""
        if kind in ("int", "float", "percent") and _is_number(value):
            return _csv_number(value)
        if kind in ("date", "datetime"):
            moment = _temporal(kind, value, zone)
            if isinstance(moment, datetime):
                return moment.strftime("%Y-%m-%d %H:%M")
            if moment is not None:
                return moment.isoformat()
        # Text, or a value that is not of its column's kind: text, hence neutralised.
        return _text(value)

    return convert


def csv_stream(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    totals: Mapping[str, Any] | None = None,
    *,
    tz: str = DEFAULT_TZ,
) -> Generator[bytes, None, None]:
    """The CSV file in chunks of about 64 KiB, pulling ``rows`` only as each chunk fills."""
    zone = ZoneInfo(tz)
    converters = [(column.key, _csv_converter(column.kind, zone)) for column in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # excel dialect: CRLF line endings, quotes where needed
    buffer.write("\ufeff")
    writer.writerow([neutralise(column.header) for column in columns])

    def line(row: Mapping[str, Any]) -> list[str]:
        return [convert(row.get(key)) for key, convert in converters]

    for row in rows:
        writer.writerow(line(row))
        if buffer.tell() >= CHUNK_SIZE:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if totals is not None:
        writer.writerow(line(totals))
    yield buffer.getvalue().encode("utf-8")


# --- XLSX ------------------------------------------------------------------------------------

_THIN = Side(style="thin", color="9CA3AF")
_TITLE_FONT = Font(bold=True, size=14)
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill(fill_type="solid", start_color="DCE6F1", end_color="DCE6F1")
_HEADER_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
_TEXT_ALIGNMENT = Alignment(vertical="top")
_TOTALS_FONT = Font(bold=True)
_TOTALS_BORDER = Border(top=Side(style="double", color="4B5563"))


def _sheet_title(title: str) -> str:
    cleaned = " ".join(_SHEET_TITLE_FORBIDDEN.sub(" ", _ILLEGAL_XML.sub("", title)).split())
    cleaned = cleaned.strip("'")  # Excel refuses a name starting or ending with a quote
    return cleaned[:31] or "Report"


def _xlsx_text(value: object) -> str:
    text = _text(_ILLEGAL_XML.sub("", value if isinstance(value, str) else str(value)))
    # XML readers turn a raw CR into LF anyway; Excel's line break inside a cell is LF.
    return text.replace("\r\n", "\n").replace("\r", "\n")[:_EXCEL_MAX_TEXT]


class _XlsxColumn:
    """One column's reusable cell: its style is set once and only the value changes per row.

    openpyxl writes a row's cells as soon as the row is appended, so one cell object per column
    can carry every row; building a styled cell per value costs most of an export's time. Every
    such cell has a style (text cells: top alignment), because openpyxl keeps using an unstyled
    cell it was given as its scratch cell for the rest of the row.
    """

    def __init__(self, ws: Any, column: Column, zone: ZoneInfo, *, totals: bool = False) -> None:
        self.key = column.key
        self.kind = column.kind
        self.zone = zone
        self.cell = WriteOnlyCell(ws)
        if column.kind == "text":
            self.cell.alignment = _TEXT_ALIGNMENT
        else:
            self.cell.number_format = _NUMBER_FORMAT[column.kind]
        if totals:
            self.cell.font = _TOTALS_FONT
            self.cell.border = _TOTALS_BORDER

    def __call__(self, row: Mapping[str, Any]) -> Any:
        value = row.get(self.key)
        if value is None:
            return None
        cell = self.cell
        if self.kind in ("int", "float", "percent") and _is_number(value):
            cell.value = _number(value)
            return cell if cell.value is not None else None
        if self.kind in ("date", "datetime"):
            moment = _temporal(self.kind, value, self.zone)
            if moment is not None:
                cell.value = moment
                return cell
        cell.value = _xlsx_text(value)
        cell.data_type = "s"  # never a formula or an error code, whatever the text says
        return cell


def _write_workbook(
    path: str,
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    totals: Mapping[str, Any] | None,
    *,
    title: str,
    sheet_title: str,
    zone: ZoneInfo,
) -> None:
    wb = Workbook(write_only=True)
    wb.properties.title = _ILLEGAL_XML.sub("", title) or None
    wb.properties.creator = "HọcSố"
    ws = wb.create_sheet(title=_sheet_title(sheet_title))
    try:
        header_row = 2 if title else 1
        last_column = get_column_letter(max(len(columns), 1))
        # Column widths and frozen panes are written before the first row, so set them now.
        for index, column in enumerate(columns, 1):
            ws.column_dimensions[get_column_letter(index)].width = column.xlsx_width
        ws.freeze_panes = f"A{header_row + 1}"

        if title:
            ws.row_dimensions[1].height = 24
            title_cell = WriteOnlyCell(ws, value=_xlsx_text(title))
            title_cell.data_type = "s"
            title_cell.font = _TITLE_FONT
            ws.append([title_cell])

        header_cells = []
        for column in columns:
            cell = WriteOnlyCell(ws, value=_xlsx_text(column.header))
            cell.data_type = "s"
            cell.font = _HEADER_FONT
            cell.fill = _HEADER_FILL
            cell.border = _HEADER_BORDER
            cell.alignment = _HEADER_ALIGNMENT
            header_cells.append(cell)
        ws.append(header_cells)

        cells = [_XlsxColumn(ws, column, zone) for column in columns]
        count = 0
        for row in rows:
            ws.append([cell(row) for cell in cells])
            count += 1
        # The filter covers the header and the data, not the totals (sorting must not move it).
        ws.auto_filter.ref = f"A{header_row}:{last_column}{header_row + count}"

        if totals is not None:
            totals_row = []
            for column in columns:
                total = _XlsxColumn(ws, column, zone, totals=True)
                total(totals)
                # The styled cell even when empty: the border runs along the whole row.
                totals_row.append(total.cell)
            ws.append(totals_row)
        wb.save(path)
    except BaseException:
        # Close openpyxl's half-written sheet now rather than leave it to the garbage collector
        # (which would complain about writing to a closed file).
        if not ws.closed:
            with contextlib.suppress(Exception):
                ws.close()
        raise
    finally:
        # openpyxl removes its own temporary sheet file only when the save succeeds.
        writer = getattr(ws, "_writer", None)
        sheet_file = getattr(writer, "out", None)
        if isinstance(sheet_file, str) and os.path.exists(sheet_file):
            os.remove(sheet_file)


def xlsx_stream(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    totals: Mapping[str, Any] | None = None,
    *,
    title: str = "",
    sheet_title: str = "Report",
    tz: str = DEFAULT_TZ,
    tmp_dir: str | None = None,
) -> Generator[bytes, None, None]:
    """The XLSX file in 64 KiB chunks; built in a temporary file (in ``tmp_dir`` if given).

    Nothing happens until the first chunk is asked for; the temporary file is removed when the
    iterator finishes, fails, or is closed (or garbage-collected) before the end.
    """
    zone = ZoneInfo(tz)
    fd, path = tempfile.mkstemp(prefix="hocso-export-", suffix=".xlsx", dir=tmp_dir)
    os.close(fd)
    try:
        _write_workbook(
            path, columns, rows, totals, title=title, sheet_title=sheet_title, zone=zone
        )
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK_SIZE):
                yield chunk
    finally:
        os.remove(path)
