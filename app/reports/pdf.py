"""Periodic reports as PDF, laid out as a Vietnamese administrative document.

Owns the printable document model (``ReportDocument``, ``Section``, ``Table``) and
``render_report_pdf``. The layout follows Nghị định 30/2020/NĐ-CP (Phụ lục I): A4 portrait,
margins top/bottom 20 mm, left 30 mm, right 15 mm; the issuing body and the document number
upper-left, the national motto and the place/date line upper-right; the centred title and
summary; the body; then "Nơi nhận" bottom-left beside the signature block; page numbers centred
in the top margin from page 2 on. The decree asks for Times New Roman: the vendored Liberation
Serif (fonts/, SIL OFL) has the same metrics and covers every Vietnamese letter.

This module knows nothing about the database or the web: the caller turns a frozen report
snapshot into a ``ReportDocument``; the output depends only on that document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import cast

from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, TableHeadingsDisplay, VAlign
from fpdf.fonts import FontFace, TTFFont

FONT_DIR = Path(__file__).parent / "fonts"
FONT_FAMILY = "LiberationSerif"
_FONT_FILES = {
    "": "LiberationSerif-Regular.ttf",
    "B": "LiberationSerif-Bold.ttf",
    "I": "LiberationSerif-Italic.ttf",
    "BI": "LiberationSerif-BoldItalic.ttf",
}

NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
NATIONAL_MOTTO = "Độc lập - Tự do - Hạnh phúc"
RECIPIENTS_LABEL = "Nơi nhận:"
# Stands in for a character the font cannot draw (an emoji in a narrative, say): a visible mark
# rather than a silent gap, and never an error that would make a submitted report unprintable.
REPLACEMENT = "?"

# Millimetres (fpdf's unit here) and points.
_PAGE_TOP, _PAGE_BOTTOM, _PAGE_LEFT, _PAGE_RIGHT = 20.0, 20.0, 30.0, 15.0
_PAGE_NUMBER_Y = 10.0
# Header columns: the left one holds the issuing body, the right one must fit the national name
# on one line (88 mm at 12 pt bold).
_LEFT_COL = 72.0
_BODY_PT = 13.0
_TABLE_PT = 12.0
_LINE = 1.25  # line height as a multiple of the font size: between single and 1.5 lines
_INDENT = 12.7  # first-line indent, 1.27 cm
_PARA_GAP = 2.2  # >= 6 pt between paragraphs
_SIGNATURE_GAP = 26.0  # room for the hand signature and the seal
_CLOSING_GAP = 4.0
_NUMERIC = re.compile(r"[-+]?\d[\d.,\s]*%?")


@dataclass(frozen=True)
class Table:
    """A bordered table; ``widths`` are relative column widths (default: equal)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    totals: Sequence[str] | None = None
    widths: Sequence[float] | None = None

    def __post_init__(self) -> None:
        n = len(self.headers)
        if n == 0:
            raise ValueError("a table needs at least one column")
        for i, row in enumerate(self.rows):
            if len(row) != n:
                raise ValueError(f"row {i} has {len(row)} cells, expected {n}")
        if self.totals is not None and len(self.totals) != n:
            raise ValueError(f"totals has {len(self.totals)} cells, expected {n}")
        if self.widths is not None and (len(self.widths) != n or any(w <= 0 for w in self.widths)):
            raise ValueError(f"widths must be {n} positive numbers")


@dataclass(frozen=True)
class Section:
    """A heading, its paragraphs (a line break inside one starts a new paragraph), a table."""

    heading: str
    paragraphs: Sequence[str] = ()
    table: Table | None = None


@dataclass(frozen=True)
class ReportDocument:
    issuing_parent: str  # governing body, e.g. "UBND XÃ TÂN CƯƠNG"
    issuing_body: str  # e.g. "TRƯỜNG TIỂU HỌC TÂN CƯƠNG"
    number: str  # e.g. "Số: 03/BC-THTC"
    place: str  # e.g. "Tân Cương"
    issued_on: date
    title: str  # e.g. "BÁO CÁO"
    subtitle: str  # the summary line(s) under the title
    sections: Sequence[Section]
    recipients: Sequence[str]
    signer_title: str  # e.g. "HIỆU TRƯỞNG"; "KT. HIỆU TRƯỞNG\nPHÓ HIỆU TRƯỞNG" for two lines
    signer_name: str


def vietnamese_date(day: date) -> str:
    """``ngày 05 tháng 01 năm 2027``: the decree pads days below 10 and months 1 and 2 only
    (so "tháng 01" cannot be misread as "tháng 10"/"tháng 11"/"tháng 12")."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def place_and_date(place: str, day: date) -> str:
    return f"{place.strip()}, {vietnamese_date(day)}"


def render_report_pdf(doc: ReportDocument) -> bytes:
    """The report as a PDF (fonts embedded as subsets)."""
    pdf = _ReportPDF()
    pdf.set_creation_date(datetime.combine(doc.issued_on, time(), tzinfo=UTC))
    pdf.set_lang("vi")
    pdf.set_title(pdf.clean(f"{doc.title} {doc.subtitle}"))
    pdf.set_author(pdf.clean(doc.issuing_body))
    pdf.set_creator("HọcSố")
    pdf.add_page()
    _header(pdf, doc)
    _title(pdf, doc)
    closing = _closing_height(pdf, doc)
    for i, section in enumerate(doc.sections):
        _section(pdf, section, keep_with=closing if i == len(doc.sections) - 1 else 0.0)
    _closing(pdf, doc, closing)
    return bytes(pdf.output())


class _ReportPDF(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(_PAGE_LEFT, _PAGE_TOP, _PAGE_RIGHT)
        self.set_auto_page_break(True, margin=_PAGE_BOTTOM)
        self.c_margin = 1.0
        for style, name in _FONT_FILES.items():
            self.add_font(FONT_FAMILY, style, FONT_DIR / name)
        # A character counts as drawable only if every style has it, so that the same text
        # never renders in one style and not in another.
        cmaps = [set(font.cmap) for font in self.fonts.values() if isinstance(font, TTFFont)]
        self._drawable = frozenset(set.intersection(*cmaps))

    def header(self) -> None:
        # Decree: page numbers centred in the top margin, none on the first page.
        if self.page_no() < 2:
            return
        self.set_font(FONT_FAMILY, "", _BODY_PT)
        self.set_xy(self.l_margin, _PAGE_NUMBER_Y)
        self.cell(self.epw, 5, str(self.page_no()), align=Align.C)
        self.set_xy(self.l_margin, self.t_margin)

    def clean(self, text: str) -> str:
        """NFC (decomposed input would put tone marks beside their letters), tabs as spaces,
        other control characters dropped, undrawable characters replaced."""
        out = []
        for ch in unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\t", " ")):
            if ch == "\n":
                out.append(ch)
            elif unicodedata.category(ch) == "Cc":
                continue
            elif ord(ch) in self._drawable:
                out.append(ch)
            else:
                out.append(REPLACEMENT)
        return "".join(out)

    def use(self, style: str, size: float) -> float:
        """Set the font; return a line height in mm."""
        self.set_font(FONT_FAMILY, style, size)
        return size * _LINE * 25.4 / 72

    def block(self, x: float, width: float, text: str, style: str, size: float) -> None:
        """Centred, wrapping text in a column starting at ``x``."""
        line = self.use(style, size)
        self.set_x(x)
        self.multi_cell(width, line, self.clean(text), align=Align.C, new_x="LEFT", new_y="NEXT")

    def measure(self, width: float, line: float, text: str) -> float:
        """Height of ``text`` wrapped in the current font, without drawing it."""
        height = self.multi_cell(width, line, text, dry_run=True, output=MethodReturnValue.HEIGHT)
        return float(cast(float, height))

    def rule(self, centre: float, length: float, y: float) -> None:
        self.set_line_width(0.3)
        self.line(centre - length / 2, y, centre + length / 2, y)

    def text_width(self, text: str, style: str, size: float, limit: float) -> float:
        """Width of the longest line of ``text`` as it will be laid out, at most ``limit``."""
        self.use(style, size)
        return min(limit, max(self.get_string_width(line) for line in text.split("\n")))


def _header(pdf: _ReportPDF, doc: ReportDocument) -> None:
    top = pdf.get_y()
    left_x, left_w = pdf.l_margin, _LEFT_COL
    right_x, right_w = pdf.l_margin + _LEFT_COL, pdf.epw - _LEFT_COL

    # Left: governing body, issuing body (bold), a short rule centred under it.
    pdf.set_xy(left_x, top)
    if doc.issuing_parent.strip():
        pdf.block(left_x, left_w, doc.issuing_parent.upper(), "", 12)
    body = pdf.clean(doc.issuing_body.upper())
    pdf.block(left_x, left_w, body, "B", 12)
    rule_w = pdf.text_width(body, "B", 12, left_w - 2) * 0.4
    left_rule_y = pdf.get_y() + 1.2
    pdf.rule(left_x + left_w / 2, max(rule_w, 20.0), left_rule_y)

    # Right: national name, motto (bold) with a rule as long as the motto.
    pdf.set_xy(right_x, top)
    pdf.block(right_x, right_w, NATIONAL_NAME, "B", 12)
    pdf.block(right_x, right_w, NATIONAL_MOTTO, "B", 13)
    right_rule_y = pdf.get_y() + 1.2
    motto_w = pdf.text_width(NATIONAL_MOTTO, "B", 13, right_w - 2)
    pdf.rule(right_x + right_w / 2, motto_w, right_rule_y)

    # The number and the place/date line share a baseline below both rules.
    y = max(left_rule_y, right_rule_y) + 3.0
    pdf.set_y(y)
    pdf.block(left_x, left_w, doc.number, "", 13)
    left_end = pdf.get_y()
    pdf.set_y(y)
    pdf.block(right_x, right_w, place_and_date(doc.place, doc.issued_on), "I", 13)
    pdf.set_xy(pdf.l_margin, max(left_end, pdf.get_y()))


def _title(pdf: _ReportPDF, doc: ReportDocument) -> None:
    pdf.ln(8)
    pdf.block(pdf.l_margin, pdf.epw, doc.title.upper(), "B", 14)
    if doc.subtitle.strip():
        subtitle = pdf.clean(doc.subtitle)
        pdf.block(pdf.l_margin, pdf.epw, subtitle, "B", 14)
        # Decree: a rule 1/3 to 1/2 as long as the summary line, centred under it.
        length = pdf.text_width(subtitle, "B", 14, pdf.epw) * 0.4
        pdf.rule(pdf.l_margin + pdf.epw / 2, max(length, 20.0), pdf.get_y() + 1.5)
    pdf.ln(7)


def _paragraphs(pdf: _ReportPDF, texts: Sequence[str], style: str) -> None:
    pdf.use(style, _BODY_PT)
    with pdf.text_columns(text_align=Align.J, line_height=_LINE) as column:
        for text in texts:
            with column.paragraph(first_line_indent=_INDENT, bottom_margin=_PARA_GAP) as par:
                par.write(text)


def _section(pdf: _ReportPDF, section: Section, keep_with: float = 0.0) -> None:
    """``keep_with``: the height of what must follow on the same page as the last paragraph
    (the signature block), so that the signed page never carries the signature alone."""
    line = _BODY_PT * _LINE * 25.4 / 72
    heading = " ".join(pdf.clean(section.heading).split())
    texts = [
        " ".join(line_text.split())
        for paragraph in section.paragraphs
        for line_text in pdf.clean(paragraph).split("\n")
    ]
    texts = [text for text in texts if text]
    tail = 0.0
    if keep_with and texts and section.table is None:
        pdf.use("", _BODY_PT)
        # One line more than measured: the first-line indent may push a word over.
        tail = pdf.measure(pdf.epw, line, texts[-1]) + line + _PARA_GAP + _CLOSING_GAP + keep_with
        if tail > pdf.eph:
            tail = 0.0
    if heading:
        # Keep a heading with at least two lines of what follows it, or with the whole tail
        # when the tail is its only paragraph.
        pdf.use("B", _BODY_PT)
        head = pdf.measure(pdf.epw, line, heading) + _PARA_GAP
        need = head + (tail if tail and len(texts) == 1 else 2 * line)
        if pdf.will_page_break(need) and need < pdf.eph:
            pdf.add_page()
        _paragraphs(pdf, [heading], "B")
    if tail:
        if len(texts) > 1:
            _paragraphs(pdf, texts[:-1], "")
        if pdf.will_page_break(tail):
            pdf.add_page()
        _paragraphs(pdf, texts[-1:], "")
    elif texts:
        _paragraphs(pdf, texts, "")
    if section.table is not None:
        _table(pdf, section.table)


def _is_numeric(value: str) -> bool:
    return _NUMERIC.fullmatch(value.strip()) is not None


def _table(pdf: _ReportPDF, table: Table) -> None:
    n = len(table.headers)
    body_rows = [[pdf.clean(cell) for cell in row] for row in table.rows]
    totals = [pdf.clean(cell) for cell in table.totals] if table.totals is not None else None
    # Figures line up on the right; a column counts as figures when every filled cell is one.
    # A running number column ("STT": 1, 2, 3, ...) is centred, as in hand-made reports.
    numeric = [
        any(row[i].strip() for row in body_rows)
        and all(_is_numeric(row[i]) for row in body_rows if row[i].strip())
        for i in range(n)
    ]
    ordinal = [
        bool(body_rows)
        and [row[i].strip() for row in body_rows] == [str(k) for k in range(1, len(body_rows) + 1)]
        for i in range(n)
    ]

    def align(i: int, value: str) -> Align:
        if not _is_numeric(value):
            return Align.L
        return Align.C if ordinal[i] else Align.R if numeric[i] else Align.L

    line = pdf.use("", _TABLE_PT) / _LINE * 1.15
    bold = FontFace(emphasis="BOLD")
    pdf.set_line_width(0.2)
    with pdf.table(
        col_widths=tuple(table.widths) if table.widths is not None else None,
        width=pdf.epw,
        align=Align.L,
        v_align=VAlign.M,
        text_align=Align.L,
        line_height=line,
        padding=(1.0, 1.2),
        headings_style=bold,
        repeat_headings=TableHeadingsDisplay.ON_TOP_OF_EVERY_PAGE,
    ) as grid:
        head = grid.row()
        for header in table.headers:
            head.cell(pdf.clean(header), align=Align.C)
        for row in body_rows:
            cells = grid.row()
            for i, value in enumerate(row):
                cells.cell(value, align=align(i, value))
        if totals is not None:
            cells = grid.row()
            for i, value in enumerate(totals):
                cells.cell(value, align=align(i, value), style=bold)
    pdf.ln(_PARA_GAP)


def _closing_height(pdf: _ReportPDF, doc: ReportDocument) -> float:
    left_w, right_w = _LEFT_COL, pdf.epw - _LEFT_COL
    label_h = pdf.use("BI", 12)
    item_h = pdf.use("", 11)
    items = _recipient_lines(pdf, doc.recipients)
    left_h = label_h + sum(pdf.measure(left_w, item_h, item) for item in items) if items else 0
    title_h = pdf.use("B", 13)
    signer_title = pdf.clean(doc.signer_title.upper())
    right_h = pdf.measure(right_w, title_h, signer_title) + _SIGNATURE_GAP + title_h
    return max(left_h, right_h)


def _closing(pdf: _ReportPDF, doc: ReportDocument, needed: float) -> None:
    """The "Nơi nhận" list on the left, the signature on the right, tops aligned, kept on one
    page when they fit on one."""
    left_x, left_w = pdf.l_margin, _LEFT_COL
    right_x, right_w = pdf.l_margin + _LEFT_COL, pdf.epw - _LEFT_COL
    label_h = pdf.use("BI", 12)
    item_h = pdf.use("", 11)
    items = _recipient_lines(pdf, doc.recipients)
    signer_title = pdf.clean(doc.signer_title.upper())
    pdf.ln(_CLOSING_GAP)
    if pdf.will_page_break(needed) and needed < pdf.eph:
        pdf.add_page()
    top = pdf.get_y()

    pdf.block(right_x, right_w, signer_title, "B", 13)
    pdf.set_y(pdf.get_y() + _SIGNATURE_GAP)
    pdf.block(right_x, right_w, doc.signer_name, "B", 13)
    right_end = pdf.get_y()

    # The left column may run onto a new page when the list is very long; that is fine.
    start_page = pdf.page_no()
    pdf.set_xy(left_x, top)
    if items:
        pdf.use("BI", 12)
        pdf.cell(left_w, label_h, RECIPIENTS_LABEL, new_x="LEFT", new_y="NEXT")
        pdf.use("", 11)
        for item in items:
            pdf.set_x(left_x)
            pdf.multi_cell(left_w, item_h, item, align=Align.L, new_x="LEFT", new_y="NEXT")
    if pdf.page_no() == start_page:
        pdf.set_y(max(pdf.get_y(), right_end))


def _recipient_lines(pdf: _ReportPDF, recipients: Sequence[str]) -> list[str]:
    """``- Name;`` for each recipient, the last one closed with a full stop as the decree
    shows (``- Lưu: VT.``); punctuation the caller already wrote is kept."""
    names = [" ".join(pdf.clean(r).split()).lstrip("-– ").rstrip() for r in recipients]
    names = [name for name in names if name]
    lines = []
    for i, name in enumerate(names):
        end = "." if i == len(names) - 1 else ";"
        if name[-1] not in ";.,:":
            name += end
        lines.append(f"- {name}")
    return lines
