"""The periodic report PDF: Vietnamese text survives intact, the layout holds on long reports."""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from app.reports.pdf import (
    FONT_DIR,
    NATIONAL_MOTTO,
    NATIONAL_NAME,
    ReportDocument,
    Section,
    Table,
    place_and_date,
    render_report_pdf,
    vietnamese_date,
)

MM = 72 / 25.4  # PDF points per millimetre
PAGE_W, PAGE_H = 210 * MM, 297 * MM
LEFT, RIGHT, TOP = 30 * MM, 15 * MM, 20 * MM

SCHOOL = "Trường Tiểu học Tân Cương"
SIGNER = "Nguyễn Thị Hằng"

# Every Vietnamese letter, both cases, with each of the five tone marks.
_BASE = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
_VOWELS = "aăâeêioôơuưy"
VIETNAMESE = "".join(
    sorted(
        {*(_BASE + _BASE.upper())}
        | {
            unicodedata.normalize("NFC", v + tone)
            for v in _VOWELS + _VOWELS.upper()
            for tone in "\u0300\u0301\u0303\u0309\u0323"
        }
    )
)


def _document(rows: int = 3, **changes: Any) -> ReportDocument:
    table = Table(
        headers=["STT", "Khóa học", "Đăng ký", "Hoàn thành", "Tỷ lệ"],
        rows=[
            [str(i + 1), f"Ứng dụng chuyển đổi số trong dạy học – lớp {i + 1}", "30", "27", "90%"]
            for i in range(rows)
        ],
        totals=["", "Tổng cộng", str(30 * rows), str(27 * rows), "90%"],
        widths=[0.6, 4, 1.2, 1.3, 1],
    )
    doc = ReportDocument(
        issuing_parent="UBND xã Tân Cương",
        issuing_body=SCHOOL,
        number="Số: 03/BC-THTC",
        place="Tân Cương",
        issued_on=date(2027, 1, 5),
        title="Báo cáo",
        subtitle="Kết quả triển khai Nghị quyết 57-NQ/TW Quý IV năm 2026",
        sections=[
            Section(
                "I. KẾT QUẢ BỒI DƯỠNG THƯỜNG XUYÊN",
                ["Nhà trường đã tổ chức hội thảo chuyên đề về chuyển đổi số cho giáo viên."],
                table,
            ),
            Section("II. PHƯƠNG HƯỚNG", ["Tiếp tục khen thưởng tập thể, cá nhân xuất sắc."]),
        ],
        recipients=["Phòng Văn hóa – Xã hội UBND xã", "Phòng QLCL Sở GDĐT", "Lưu: VT"],
        signer_title="Hiệu trưởng",
        signer_name=SIGNER,
    )
    return replace(doc, **changes)


@dataclass
class Run:
    """A run of text as drawn: where it starts (points, origin bottom-left) and its font."""

    page: int
    text: str
    x: float
    y: float
    font: str
    size: float


def _reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def _text(data: bytes) -> str:
    # Justified lines come out with stretched spaces; compare with single spaces.
    return "\n".join(
        " ".join(line.split())
        for page in _reader(data).pages
        for line in page.extract_text().splitlines()
    )


def _runs(data: bytes) -> list[Run]:
    runs: list[Run] = []
    for number, page in enumerate(_reader(data).pages, start=1):

        def visit(text: str, cm: Any, tm: Any, font: Any, size: float, page: int = number) -> None:
            if text.strip() and font is not None:
                x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
                runs.append(Run(page, text.strip(), x, y, str(font["/BaseFont"]), size))

        page.extract_text(visitor_text=visit)
    return runs


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_fpdf_warnings() -> Iterator[None]:
    """fpdf2 only logs a missing glyph (the text then prints as blanks): make it a failure.
    A handler of our own rather than caplog: the PostgreSQL pass runs with -p no:logging."""
    collect = _Collect()
    logger = logging.getLogger("fpdf")
    logger.addHandler(collect)
    try:
        yield
    finally:
        logger.removeHandler(collect)
    assert collect.messages == []


def test_is_a_complete_pdf_with_the_vietnamese_text_intact() -> None:
    data = render_report_pdf(_document())

    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    text = _text(data)
    for expected in (
        NATIONAL_NAME,
        NATIONAL_MOTTO,
        "UBND XÃ TÂN CƯƠNG",
        SCHOOL.upper(),
        "Số: 03/BC-THTC",
        "Tân Cương, ngày 05 tháng 01 năm 2027",
        "BÁO CÁO",
        "Kết quả triển khai Nghị quyết 57-NQ/TW Quý IV năm 2026",
        "I. KẾT QUẢ BỒI DƯỠNG THƯỜNG XUYÊN",
        "Nhà trường đã tổ chức hội thảo chuyên đề về chuyển đổi số cho giáo viên.",
        "Ứng dụng chuyển đổi số trong dạy học – lớp 2",
        "Tổng cộng 90 81 90%",
        "Nơi nhận:",
        "- Phòng Văn hóa – Xã hội UBND xã;",
        "- Lưu: VT.",
        "HIỆU TRƯỞNG",
        SIGNER,
    ):
        assert expected in text, expected


def test_every_vietnamese_letter_renders_in_every_style() -> None:
    # Headings are bold, the date italic, "Nơi nhận" bold italic, the body regular.
    doc = _document(
        issuing_body=VIETNAMESE,
        place=VIETNAMESE,
        recipients=[VIETNAMESE],
        sections=[Section(VIETNAMESE, [VIETNAMESE])],
        signer_name=VIETNAMESE,
    )
    text = _text(render_report_pdf(doc)).replace("\n", "").replace(" ", "")
    fonts = {run.font.split("+")[-1] for run in _runs(render_report_pdf(doc))}

    assert text.count(VIETNAMESE) >= 4  # name, heading, paragraph, recipient (all unsplit)
    assert "?" not in text
    assert fonts == {
        "LiberationSerif",
        "LiberationSerifBold",
        "LiberationSerifItalic",
        "LiberationSerifBoldItalic",
    }


def test_decomposed_input_is_composed_and_undrawable_characters_are_marked() -> None:
    decomposed = unicodedata.normalize("NFD", SIGNER)
    assert decomposed != SIGNER
    doc = _document(signer_name=decomposed, sections=[Section("", ["Chúc mừng 🎉 thầy cô\x07"])])

    text = _text(render_report_pdf(doc))

    assert SIGNER in text
    assert "Chúc mừng ? thầy cô" in text


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 1, 5), "ngày 05 tháng 01 năm 2027"),
        (date(2026, 2, 28), "ngày 28 tháng 02 năm 2026"),
        (date(2026, 3, 9), "ngày 09 tháng 3 năm 2026"),
        (date(2026, 10, 1), "ngày 01 tháng 10 năm 2026"),
        (date(2026, 12, 15), "ngày 15 tháng 12 năm 2026"),
    ],
)
def test_dates_pad_days_below_ten_and_only_january_and_february(day: date, expected: str) -> None:
    assert vietnamese_date(day) == expected
    assert place_and_date(" Tân Cương ", day) == f"Tân Cương, {expected}"


def test_the_date_line_follows_issued_on() -> None:
    text = _text(render_report_pdf(_document(issued_on=date(2026, 12, 3))))

    assert "Tân Cương, ngày 03 tháng 12 năm 2026" in text
    assert "ngày 05 tháng 01" not in text


def test_fonts_are_embedded_subsets_of_liberation_serif() -> None:
    reader = _reader(render_report_pdf(_document()))
    resources: Any = reader.pages[0]["/Resources"]  # pypdf's objects are loosely typed
    fonts = resources["/Font"]

    assert len(fonts) >= 3
    for ref in fonts.values():
        font = ref.get_object()
        assert font["/Subtype"] == "/Type0"
        name = str(font["/BaseFont"])
        assert "+LiberationSerif" in name  # the "ABCDEF+" tag marks a subset
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        embedded = descriptor["/FontFile2"].get_object().get_data()
        # A subset: far smaller than the whole font file.
        whole = (FONT_DIR / "LiberationSerif-Regular.ttf").stat().st_size
        assert 1000 < len(embedded) < whole / 2


def test_a_long_report_spans_pages_with_numbers_and_repeated_table_headers() -> None:
    short = _reader(render_report_pdf(_document(rows=3)))
    data = render_report_pdf(_document(rows=200))
    reader = _reader(data)
    runs = _runs(data)

    assert len(short.pages) == 1
    assert len(reader.pages) >= 3
    text = _text(data)
    assert "Ứng dụng chuyển đổi số trong dạy học – lớp 200" in text
    assert "Tổng cộng 6000 5400 90%" in text
    top_margin = [run for run in runs if run.y > PAGE_H - TOP]
    # Page numbers sit in the top margin, centred, from page 2 on; page 1 has none.
    assert [run.page for run in top_margin] == list(range(2, len(reader.pages) + 1))
    for run in top_margin:
        assert run.text == str(run.page)
        assert abs(run.x + _width(run) / 2 - (LEFT + (PAGE_W - LEFT - RIGHT) / 2)) < 2
    # Every page the table continues on starts with its header row again.
    table_pages = {run.page for run in runs if run.text.startswith("Ứng dụng chuyển đổi số")}
    header_pages = {run.page for run in runs if run.text == "Hoàn thành"}
    assert len(table_pages) >= 3
    assert table_pages <= header_pages


def test_the_signature_block_comes_last_beside_the_recipients_and_never_alone() -> None:
    for rows in (3, 20, 25, 30, 35, 200):
        runs = _runs(render_report_pdf(_document(rows=rows)))
        last_page = max(run.page for run in runs)
        signer = next(run for run in runs if run.text == SIGNER)
        title = next(run for run in runs if run.text == "HIỆU TRƯỞNG")
        label = next(run for run in runs if run.text == "Nơi nhận:")

        assert signer.page == title.page == label.page == last_page
        assert abs(title.y - label.y) < 2  # side by side, tops aligned
        assert label.x < LEFT + 3 * MM < title.x
        assert title.y - signer.y > 20 * MM  # room to sign
        body = [r for r in runs if r.page == last_page and r.y > title.y + 1 and r.y < PAGE_H - TOP]
        assert body, f"{rows} rows: the signature page carries no text of the report"


def test_long_names_and_cells_wrap_inside_the_margins() -> None:
    long_name = (
        "Trường Phổ thông Dân tộc Bán trú Trung học Cơ sở và Tiểu học Liên xã "
        "Tân Cương – Phúc Trìu – Thịnh Đức"
    )
    doc = _document(
        issuing_body=long_name,
        signer_title="KT. Hiệu trưởng\nPhó Hiệu trưởng",
        sections=[
            Section(
                "I. " + "Rất dài " * 40,
                ["Ư" * 300],
                Table(["Tên", "Ghi chú"], [["x" * 400, "Ngắn"], [long_name * 3, "12"]]),
            )
        ],
    )
    data = render_report_pdf(doc)
    runs = _runs(data)

    for run in runs:
        assert run.x >= LEFT - 0.5, run
        assert run.x + _width(run) <= PAGE_W - RIGHT + 0.5, run
    header = [run.text for run in runs if run.page == 1 and "Bold" in run.font][:6]
    assert len([t for t in header if t in long_name.upper()]) >= 2  # the name wrapped
    assert "PHÓ HIỆU TRƯỞNG" in _text(data)


def test_output_depends_only_on_the_document() -> None:
    assert render_report_pdf(_document()) == render_report_pdf(_document())
    assert render_report_pdf(_document()) != render_report_pdf(_document(signer_name="Lê Văn A"))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Table([], []),
        lambda: Table(["A", "B"], [["1"]]),
        lambda: Table(["A", "B"], [["1", "2"]], totals=["3"]),
        lambda: Table(["A", "B"], [["1", "2"]], widths=[1, 0]),
        lambda: Table(["A", "B"], [["1", "2"]], widths=[1]),
    ],
)
def test_malformed_tables_are_refused(build: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the fault
        build()


_MEASURE: FPDF | None = None


def _width(run: Run) -> float:
    """How wide ``run`` is when set in its font at its size, in points."""
    global _MEASURE
    if _MEASURE is None:
        _MEASURE = FPDF(unit="pt")
        for style, name in (("", "Regular"), ("B", "Bold"), ("I", "Italic"), ("BI", "BoldItalic")):
            _MEASURE.add_font("serif", style, FONT_DIR / f"LiberationSerif-{name}.ttf")
    suffix = run.font.split("LiberationSerif")[-1]
    style = {"": "", "Bold": "B", "Italic": "I", "BoldItalic": "BI"}[suffix]
    _MEASURE.set_font("serif", style, run.size)
    return _MEASURE.get_string_width(run.text)
