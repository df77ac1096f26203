"""Charts drawn on the server as inline SVG: no JavaScript, nothing from a CDN.

Each function returns one complete ``<svg>`` element, ready to be inserted as it is (``|safe``):
every piece of text in it is escaped here. It scales to its container (``width="100%"`` and a
viewBox), so the page's CSS decides its size, e.g. ``.chart { max-width: 40rem; height: auto }``.
Colours come from CSS classes (``chart-bar``, ``chart-track``, ``chart-label``, ``chart-value``,
``chart-axis``, ``chart-grid``, ``chart-line``, ``chart-point``, ``chart-empty``; a value drawn
inside a nearly full bar also has ``chart-value-inside``); the fill and stroke attributes are
only a fallback, since any CSS rule overrides them (and the page's CSP forbids inline ``style``).

Accessibility: ``role="img"`` labelled by the chart's ``<title>`` and ``<desc>`` (the data in
words); the page still shows the same data as a table beside the chart. Bars are horizontal,
with the label above each bar, so long Vietnamese school names keep the full width on a phone.

Captions are passed in already translated; numbers are formatted for the current locale.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from app.core.i18n import format_number

_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DESC_ITEMS = 30  # the description lists at most this many data points

# Sizes are in drawing units, chosen for the default 640-unit width: the drawing shrinks with
# its container, so 19-unit labels are still about 10 px on a 360 px phone screen.
PAD = 8
LABEL_SIZE = 19
VALUE_SIZE = 17
AXIS_SIZE = 16
BAR_HEIGHT = 20
BAR_PITCH = 58  # label line + bar + gap
VALUE_AREA = 150  # kept free right of the bars for "100% (30/30)"
CHAR_WIDTH = 0.53  # average glyph width, in font sizes, to decide when a label is cut

COLOURS = {
    "bar": "#2563eb",
    "track": "#e5e7eb",
    "label": "#1f2937",
    "value": "#374151",
    "axis": "#6b7280",
    "grid": "#e5e7eb",
    "line": "#2563eb",
    "point": "#1d4ed8",
}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    detail: str = ""  # shown after the value, e.g. "12/30"


def _text(value: str) -> str:
    """Escaped for XML text and attribute values alike, without characters XML forbids."""
    return escape(_ILLEGAL_XML.sub("", value), quote=True)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _num(value: float) -> str:
    """A coordinate: short, and never in exponent notation."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_value(value: float, unit: str = "") -> str:
    """``66,7%`` (vi) / ``66.7%`` (en): one decimal at most, then the unit."""
    rounded = round(float(_finite(value)), 1)
    return f"{format_number(int(rounded) if rounded.is_integer() else rounded)}{unit}"


def _prefix(id_prefix: str | None, kind: str, *parts: object) -> str:
    """A document-unique id prefix: the caller's, or one derived from the chart's content."""
    if id_prefix:
        cleaned = _ID_UNSAFE.sub("-", id_prefix)
        return cleaned if cleaned[0].isalpha() else f"c{cleaned}"
    digest = hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"chart-{kind}-{digest}"


def _describe(items: Sequence[str]) -> str:
    shown = "; ".join(items[:_DESC_ITEMS])
    return shown + ("; …" if len(items) > _DESC_ITEMS else "")


def _shorten(label: str, room: float, size: float) -> str:
    limit = max(int(room / (size * CHAR_WIDTH)), 4)
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _open(prefix: str, kind: str, width: int, height: float, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'aria-labelledby="{prefix}-title {prefix}-desc" viewBox="0 0 {width} {_num(height)}" '
        f'width="100%" preserveAspectRatio="xMidYMin meet">',
        f'<title id="{prefix}-title">{_text(title)}</title>',
        f'<desc id="{prefix}-desc">{_text(desc)}</desc>',
    ]


def _empty(prefix: str, kind: str, width: int, title: str, empty_text: str) -> str:
    height = 60
    parts = _open(prefix, kind, width, height, title, empty_text)
    parts.append(
        f'<text class="chart-empty" x="{width / 2:g}" y="{height / 2 + 5:g}" '
        f'text-anchor="middle" font-size="{LABEL_SIZE}" fill="{COLOURS["axis"]}">'
        f"{_text(empty_text)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart_svg(
    bars: Sequence[Bar],
    *,
    title: str,
    max_value: float = 100.0,
    unit: str = "%",
    width: int = 640,
    empty_text: str = "No data",
    id_prefix: str | None = None,
    desc: str | None = None,
) -> str:
    """Horizontal bars, one per item in the given order, lengths proportional to ``value``.

    The scale runs from 0 to ``max_value`` (100 for percentages), or to the largest value if
    one is bigger. ``desc`` defaults to the data in words ("label: value; …").
    """
    prefix = _prefix(id_prefix, "bars", title, [(b.label, b.value, b.detail) for b in bars])
    if not bars:
        return _empty(prefix, "bars", width, title, empty_text)

    def value_text(bar: Bar) -> str:
        shown = format_value(bar.value, unit)
        return f"{shown} ({bar.detail})" if bar.detail else shown

    values = [_finite(bar.value) for bar in bars]
    scale = max(_finite(max_value), *values)
    if scale <= 0:
        scale = 1.0
    track = width - 2 * PAD - VALUE_AREA
    height = PAD + (len(bars) - 1) * BAR_PITCH + LABEL_SIZE + 6 + BAR_HEIGHT + PAD
    described = (
        desc if desc is not None else _describe([f"{b.label}: {value_text(b)}" for b in bars])
    )
    parts = _open(prefix, "bars", width, height, title, described)
    for index, (bar, value) in enumerate(zip(bars, values, strict=True)):
        top = PAD + index * BAR_PITCH
        bar_y = top + LABEL_SIZE + 6
        length = track * max(value, 0.0) / scale
        label = _shorten(bar.label, width - 2 * PAD, LABEL_SIZE)
        shown = value_text(bar)
        # The value follows the bar, or sits at its end inside it when there is no room left.
        inside = PAD + length + 6 + len(shown) * VALUE_SIZE * CHAR_WIDTH > width - PAD
        value_attrs = (
            f'class="chart-value chart-value-inside" x="{_num(PAD + length - 6)}" '
            f'text-anchor="end" fill="#ffffff"'
            if inside
            else f'class="chart-value" x="{_num(PAD + length + 6)}" fill="{COLOURS["value"]}"'
        )
        parts.append(
            f'<g class="chart-row"><title>{_text(bar.label)}: {_text(shown)}</title>'
            f'<text class="chart-label" x="{PAD}" y="{top + LABEL_SIZE - 2}" '
            f'font-size="{LABEL_SIZE}" fill="{COLOURS["label"]}">{_text(label)}</text>'
            f'<rect class="chart-track" x="{PAD}" y="{bar_y}" width="{_num(track)}" '
            f'height="{BAR_HEIGHT}" rx="3" fill="{COLOURS["track"]}"/>'
            f'<rect class="chart-bar" x="{PAD}" y="{bar_y}" width="{_num(length)}" '
            f'height="{BAR_HEIGHT}" rx="3" fill="{COLOURS["bar"]}"/>'
            f'<text {value_attrs} y="{bar_y + BAR_HEIGHT - 4}" font-size="{VALUE_SIZE}">'
            f"{_text(shown)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def axis_ticks(top: float, *, integers: bool = False) -> list[float]:
    """0 up to a round maximum ≥ ``top``, in 2–4 equal steps of 1, 2 or 5 × 10ⁿ (3–5 ticks)."""
    top = max(top, 0.0)
    if top == 0:
        top = 1.0
    raw = top / 4
    base = 10.0 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw * (1 - 1e-9))
    if integers:
        step = max(step, 1.0)
    intervals = max(2, math.ceil(top / step - 1e-9))
    return [round(step * i, 10) for i in range(intervals + 1)]


def trend_chart_svg(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    height: int = 280,
    empty_text: str = "No data",
    id_prefix: str | None = None,
    desc: str | None = None,
) -> str:
    """A line with a point per period (labels such as "01/2026"), the y axis from 0 to a
    round maximum with 3–5 gridlines. ``desc`` defaults to the data in words."""
    prefix = _prefix(id_prefix, "trend", title, list(points))
    if not points:
        return _empty(prefix, "trend", width, title, empty_text)

    # Room on the left for the y labels, on the right for half of the last month's label.
    left, right, top_margin, bottom = 64, 40, 12, 40
    plot_w = width - left - right
    plot_h = height - top_margin - bottom
    values = [_finite(value) for _, value in points]
    ticks = axis_ticks(max(values), integers=all(float(v).is_integer() for v in values))
    y_max = ticks[-1]

    def x_at(index: int) -> float:
        if len(points) == 1:
            return left + plot_w / 2
        return left + plot_w * index / (len(points) - 1)

    def y_at(value: float) -> float:
        return top_margin + plot_h * (1 - min(max(value, 0.0), y_max) / y_max)

    spoken = [
        f"{label}: {format_value(v, unit)}" for (label, _), v in zip(points, values, strict=True)
    ]
    described = desc if desc is not None else _describe(spoken)
    parts = _open(prefix, "trend", width, height, title, described)
    for tick in ticks:
        y = _num(y_at(tick))
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y}" y2="{y}" '
            f'stroke="{COLOURS["grid"]}" stroke-width="1"/>'
            f'<text class="chart-axis" x="{left - 6}" y="{_num(y_at(tick) + AXIS_SIZE / 3)}" '
            f'text-anchor="end" font-size="{AXIS_SIZE}" fill="{COLOURS["axis"]}">'
            f"{_text(format_value(tick, unit))}</text>"
        )
    baseline = _num(y_at(0))
    parts.append(
        f'<line class="chart-axis" x1="{left}" x2="{width - right}" y1="{baseline}" '
        f'y2="{baseline}" stroke="{COLOURS["axis"]}" stroke-width="1"/>'
    )

    # About one x label per 90 units ("01/2026" is ~70), so months never overlap; counted from
    # the end, so the latest period always has its label.
    every = max(1, math.ceil(len(points) / max(1, plot_w // 90)))
    label_y = height - bottom + AXIS_SIZE + 6
    for index, (label, _value) in enumerate(points):
        if (len(points) - 1 - index) % every == 0:
            parts.append(
                f'<text class="chart-axis" x="{_num(x_at(index))}" y="{label_y}" '
                f'text-anchor="middle" font-size="{AXIS_SIZE}" fill="{COLOURS["axis"]}">'
                f"{_text(label)}</text>"
            )

    coordinates = " ".join(f"{_num(x_at(i))},{_num(y_at(value))}" for i, value in enumerate(values))
    parts.append(
        f'<polyline class="chart-line" points="{coordinates}" fill="none" '
        f'stroke="{COLOURS["line"]}" stroke-width="2.5" stroke-linejoin="round"/>'
    )
    for index, ((label, _raw), value) in enumerate(zip(points, values, strict=True)):
        parts.append(
            f'<circle class="chart-point" cx="{_num(x_at(index))}" cy="{_num(y_at(value))}" '
            f'r="4" fill="{COLOURS["point"]}"><title>{_text(label)}: '
            f"{_text(format_value(value, unit))}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
