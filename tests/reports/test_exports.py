"""CSV and XLSX exports: encoding, types, styling, formula neutralising, laziness and memory."""

from __future__ import annotations

import csv
import io
import re
import tempfile
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest

from app.reports.exports import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    Column,
    csv_stream,
    neutralise,
    xlsx_stream,
)

COLUMNS = [
    Column("name", "Họ và tên"),
    Column("school", "Trường"),
    Column("enrolled", "Đã ghi danh", "int"),
    Column("rate", "Tỉ lệ hoàn thành", "percent"),
    Column("score", "Điểm TB", "float"),
    Column("due", "Hạn", "date"),
    Column("completed_at", "Hoàn thành lúc", "datetime", width=20),
]

INJECTIONS = ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)", "\t=1", "  =1+1", "\r-2"]


def report_rows() -> list[dict[str, Any]]:
    return [
        {
            "name": "Nguyễn Thị Hằng",
            "school": "Trường THCS Tân Cương",
            "enrolled": 30,
            "rate": 66.7,
            "score": 8.25,
            "due": date(2026, 3, 31),
            # 17:30 UTC is 00:30 the next day in Hà Nội.
            "completed_at": datetime(2026, 1, 15, 17, 30, tzinfo=UTC),
        },
        {
            "name": "Đỗ Văn Ánh",
            "school": None,
            "enrolled": -3,
            "rate": None,
            "score": None,
            "due": None,
            "completed_at": None,
        },
        *[
            {"name": text, "school": "Tân Cương", "enrolled": 1, "rate": 100.0}
            for text in INJECTIONS
        ],
    ]


TOTALS = {"name": "Tổng", "enrolled": 28, "rate": 55.5, "score": 8.25}


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def load_xlsx(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data)).active


def test_neutralise() -> None:
    for text in [*INJECTIONS, "＝1", "\t", " @x"]:
        assert neutralise(text) == "'" + text
    for text in ["", "Trường A", "1-2", "a=b", "'=x", "66.7", " x"]:
        assert neutralise(text) == text


def test_column_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        Column("x", "X", "money")


def test_media_types() -> None:
    assert CSV_MEDIA_TYPE == "text/csv; charset=utf-8"
    assert XLSX_MEDIA_TYPE.endswith("spreadsheetml.sheet")


def test_csv_bom_vietnamese_types_and_totals() -> None:
    data = b"".join(csv_stream(COLUMNS, iter(report_rows()), TOTALS))
    assert b"\r\n" in data
    lines = read_csv(data)
    assert lines[0] == [c.header for c in COLUMNS]
    assert lines[1] == [
        "Nguyễn Thị Hằng",
        "Trường THCS Tân Cương",
        "30",
        "66.7",
        "8.25",
        "2026-03-31",
        "2026-01-16 00:30",
    ]
    # None → empty cell; a negative number stays a number.
    assert lines[2] == ["Đỗ Văn Ánh", "", "-3", "", "", "", ""]
    assert [line[0] for line in lines[3 : 3 + len(INJECTIONS)]] == [
        "'" + text for text in INJECTIONS
    ]
    assert lines[-1] == ["Tổng", "", "28", "55.5", "8.25", "", ""]
    assert len(lines) == 1 + len(report_rows()) + 1


def test_csv_time_zone_and_naive_datetimes_as_utc() -> None:
    columns = [Column("at", "At", "datetime"), Column("day", "Day", "date")]
    naive = datetime(2026, 1, 15, 17, 30)
    rows = [{"at": naive, "day": naive}]
    assert read_csv(b"".join(csv_stream(columns, rows)))[1] == ["2026-01-16 00:30", "2026-01-16"]
    utc = read_csv(b"".join(csv_stream(columns, rows, tz="UTC")))
    assert utc[1] == ["2026-01-15 17:30", "2026-01-15"]


def test_csv_text_in_a_number_column_is_still_neutralised() -> None:
    lines = read_csv(b"".join(csv_stream([Column("n", "N", "int")], [{"n": "=1+1"}, {"n": -5}])))
    assert lines[1:] == [["'=1+1"], ["-5"]]


def test_csv_without_rows_is_the_header() -> None:
    assert read_csv(b"".join(csv_stream(COLUMNS, []))) == [[c.header for c in COLUMNS]]


def test_csv_is_lazy() -> None:
    pulled = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield {"name": f"Học sinh {i}", "school": "Trường THCS Tân Cương", "enrolled": i}

    stream = csv_stream(COLUMNS, rows())
    first = next(stream)
    assert first.startswith(b"\xef\xbb\xbf")
    assert 0 < pulled < 5_000
    assert len(first) >= 32 * 1024  # chunks, not a write per row
    stream.close()


def test_xlsx_values_types_and_styles() -> None:
    data = b"".join(
        xlsx_stream(
            COLUMNS, iter(report_rows()), TOTALS, title="Báo cáo hoàn thành", sheet_title="Q1"
        )
    )
    ws = load_xlsx(data)
    assert ws.title == "Q1"
    assert ws["A1"].value == "Báo cáo hoàn thành"
    assert ws["A1"].font.b
    assert ws["A1"].font.sz > 11

    header = list(ws[2])
    assert [cell.value for cell in header] == [c.header for c in COLUMNS]
    assert all(cell.font.b for cell in header)
    assert all(cell.fill.fgColor.rgb.endswith("DCE6F1") for cell in header)
    assert all(cell.border.bottom.style == "thin" for cell in header)
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == f"A2:G{2 + len(report_rows())}"
    assert ws.column_dimensions["A"].width == COLUMNS[0].xlsx_width
    assert ws.column_dimensions["G"].width == 20

    first = list(ws[3])
    assert [cell.value for cell in first] == [
        "Nguyễn Thị Hằng",
        "Trường THCS Tân Cương",
        30,
        66.7,
        8.25,
        datetime(2026, 3, 31),
        datetime(2026, 1, 16, 0, 30),
    ]
    assert isinstance(first[2].value, int)
    assert [cell.number_format for cell in first[2:]] == [
        "#,##0",
        '0.0"%"',
        "0.0",
        "dd/mm/yyyy",
        "dd/mm/yyyy hh:mm",
    ]
    assert all(cell.is_date for cell in first[5:])

    second = [cell.value for cell in ws[4]]
    assert second == ["Đỗ Văn Ánh", None, -3, None, None, None, None]

    injected = [ws.cell(row=5 + i, column=1) for i in range(len(INJECTIONS))]
    # A carriage return is a line feed in a spreadsheet cell.
    assert [cell.value for cell in injected] == [
        "'" + text.replace("\r", "\n") for text in INJECTIONS
    ]
    assert all(cell.data_type == "s" for cell in injected)

    totals = list(ws[ws.max_row])
    assert ws.max_row == 2 + len(report_rows()) + 1
    assert [cell.value for cell in totals] == ["Tổng", None, 28, 55.5, 8.25, None, None]
    assert all(cell.font.b for cell in totals)
    assert totals[2].number_format == "#,##0"


def test_xlsx_without_title_or_totals() -> None:
    ws = load_xlsx(b"".join(xlsx_stream(COLUMNS[:3], [{"name": "A", "enrolled": 1}])))
    assert [cell.value for cell in ws[1]] == [c.header for c in COLUMNS[:3]]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C2"
    assert ws.max_row == 2
    assert ws.title == "Report"


def test_xlsx_survives_hostile_text() -> None:
    """Control characters, formula and error lookalikes, a forbidden sheet name."""
    rows: list[dict[str, Any]] = [
        {"name": "a\x00b\x1fc"},
        {"name": "#DIV/0!"},
        {"name": "=1+1"},
        {"name": 5},
    ]
    ws = load_xlsx(b"".join(xlsx_stream(COLUMNS[:1], rows, sheet_title="Q1/2026: [x]*?")))
    assert [ws.cell(row=r, column=1).value for r in range(2, 6)] == [
        "abc",
        "#DIV/0!",
        "'=1+1",
        "5",
    ]
    assert ws.cell(row=3, column=1).data_type == "s"
    assert ws.title == "Q1 2026 x"


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_xlsx_temporary_files_are_removed_when_the_rows_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # openpyxl puts its own sheet file in the default temporary folder: point that here too.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def rows() -> Iterator[dict[str, Any]]:
        yield {"name": "A"}
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError, match="went away"):
        b"".join(xlsx_stream(COLUMNS, rows(), tmp_dir=str(tmp_path)))
    assert listing(tmp_path) == []


def current_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def test_xlsx_of_100k_rows_streams_in_bounded_memory_and_cleans_up(tmp_path: Path) -> None:
    """Peak memory while the workbook is built, then an early close removes the file.

    On Linux the peak resident size of the process is reset and read back (real memory,
    C buffers included, at full speed); elsewhere tracemalloc measures Python's allocations,
    about five times slower with openpyxl.
    """

    def rows() -> Iterator[dict[str, Any]]:
        for i in range(100_000):
            yield {
                "name": f"Học sinh số {i}",
                "school": f"Trường THCS số {i % 200}",
                "enrolled": i,
                "rate": (i % 1000) / 10,
                "score": (i % 100) / 10,
                "due": date(2026, 1 + i % 12, 1),
                "completed_at": datetime(2026, 1, 1, tzinfo=UTC),
                "extra": "ignored",
            }

    stream = xlsx_stream(COLUMNS, rows(), {"name": "Tổng"}, tmp_dir=str(tmp_path))
    clear_refs = Path("/proc/self/clear_refs")
    if clear_refs.exists():
        before = current_kib("VmRSS")
        clear_refs.write_text("5")  # resets VmHWM to the current resident size
        first = next(stream)  # the whole workbook is written before the first chunk
        peak_mib = (current_kib("VmHWM") - before) / 1024
    else:  # pragma: no cover - not Linux
        tracemalloc.start()
        first = next(stream)
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    # The bound is 100 MB; holding the 100,000 rows in a list alone costs about 60 MiB,
    # so a tighter bound catches an export that stops streaming.
    assert peak_mib < 30, f"{peak_mib:.0f} MiB"

    assert first.startswith(b"PK")  # a zip archive
    assert len(first) == 64 * 1024
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert files[0].stat().st_size > 1_000_000
    stream.close()
    assert listing(tmp_path) == []
