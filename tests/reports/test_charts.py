"""Server-side SVG charts: well-formed, escaped, accessible, proportional."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.core import i18n
from app.reports.charts import Bar, axis_ticks, bar_chart_svg, format_value, trend_chart_svg

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = '<script>alert("x")</script> & \'Trường\' "A"'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def by_class(root: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    return [
        el
        for el in root.iter(f"{{{NS['svg']}}}{tag}")
        if css_class in (el.get("class") or "").split()
    ]


def assert_accessible(root: ET.Element, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert root.get("viewBox", "").startswith("0 0 ")
    labelled_by = (root.get("aria-labelledby") or "").split()
    assert len(labelled_by) == 2
    ids = {el.get("id"): el for el in root.iter() if el.get("id")}
    title_el, desc_el = (ids[ref] for ref in labelled_by)
    assert title_el.tag.endswith("}title")
    assert title_el.text == title
    assert desc_el.tag.endswith("}desc")
    assert desc_el.text


SCHOOLS = [
    Bar("Trường THCS Tân Cương", 100.0, "30/30"),
    Bar("Trường Tiểu học Tân Cương", 50.0, "10/20"),
    Bar("Trường Mầm non Tân Cương", 25.0),
    Bar("Trường Không Ai", 0.0, "0/4"),
]


def test_bar_chart_is_accessible_xml_with_one_bar_per_item() -> None:
    root = parse(bar_chart_svg(SCHOOLS, title="Completion by school"))
    assert_accessible(root, "Completion by school")
    assert len(by_class(root, "rect", "chart-bar")) == len(SCHOOLS)
    labels = [el.text for el in by_class(root, "text", "chart-label")]
    assert labels == [bar.label for bar in SCHOOLS]
    values = [el.text for el in by_class(root, "text", "chart-value")]
    assert values == ["100% (30/30)", "50% (10/20)", "25%", "0% (0/4)"]
    desc = root.find("svg:desc", NS)
    assert desc is not None
    assert "Trường Tiểu học Tân Cương: 50% (10/20)" in (desc.text or "")


def test_bar_widths_are_proportional_to_values() -> None:
    root = parse(bar_chart_svg(SCHOOLS, title="t"))
    widths = [float(el.get("width", "nan")) for el in by_class(root, "rect", "chart-bar")]
    assert widths[0] > 0
    assert widths[1] == pytest.approx(widths[0] / 2)
    assert widths[2] == pytest.approx(widths[0] / 4)
    assert widths[3] == 0
    # The track behind each bar is the 100% length.
    tracks = [float(el.get("width", "nan")) for el in by_class(root, "rect", "chart-track")]
    assert tracks == [widths[0]] * len(SCHOOLS)


def test_bar_scale_follows_max_value_or_a_larger_value() -> None:
    counts = [Bar("A", 30), Bar("B", 15)]
    root = parse(bar_chart_svg(counts, title="t", max_value=60, unit=""))
    track = float(by_class(root, "rect", "chart-track")[0].get("width", "nan"))
    widths = [float(el.get("width", "nan")) for el in by_class(root, "rect", "chart-bar")]
    assert widths == pytest.approx([track / 2, track / 4])
    over = parse(bar_chart_svg([Bar("A", 200), Bar("B", 50)], title="t", max_value=100))
    widths = [float(el.get("width", "nan")) for el in by_class(over, "rect", "chart-bar")]
    assert widths == pytest.approx([track, track / 4])


def test_bar_chart_height_grows_with_the_number_of_bars() -> None:
    def height(n: int) -> float:
        root = parse(bar_chart_svg([Bar(f"S{i}", i) for i in range(n)], title="t"))
        return float(root.get("viewBox", "").split()[3])

    assert height(1) < height(2) < height(10)
    assert height(10) - height(9) == pytest.approx(height(2) - height(1))


def test_all_text_is_escaped() -> None:
    svg = bar_chart_svg(
        [Bar(HOSTILE, 40, detail='<b>"1/2"</b>')],
        title=HOSTILE,
        empty_text=HOSTILE,
        desc=HOSTILE,
    )
    assert "<script" not in svg
    assert "<b>" not in svg
    root = parse(svg)
    assert_accessible(root, HOSTILE)
    assert [el.text for el in by_class(root, "text", "chart-label")] == [HOSTILE]
    assert [el.text for el in by_class(root, "text", "chart-value")] == ['40% (<b>"1/2"</b>)']

    trend = trend_chart_svg([(HOSTILE, 3)], title=HOSTILE, unit="<u>")
    assert "<script" not in trend
    assert "<u>" not in trend
    root = parse(trend)
    assert_accessible(root, HOSTILE)
    point_title = by_class(root, "circle", "chart-point")[0].find("svg:title", NS)
    assert point_title is not None
    assert point_title.text == f"{HOSTILE}: 3<u>"


def test_control_characters_are_dropped() -> None:
    parse(bar_chart_svg([Bar("a\x00b\x1b", 1)], title="\x07t"))


def test_long_labels_are_shortened_but_kept_whole_in_the_tooltip() -> None:
    name = "Trường Tiểu học và Trung học cơ sở " * 5
    root = parse(bar_chart_svg([Bar(name, 10)], title="t"))
    shown = by_class(root, "text", "chart-label")[0].text or ""
    assert shown.endswith("…")
    assert len(shown) < len(name)
    row = by_class(root, "g", "chart-row")[0]
    tooltip = row.find("svg:title", NS)
    assert tooltip is not None
    assert (tooltip.text or "").startswith(name)


def test_ids_are_unique_per_chart() -> None:
    first = parse(bar_chart_svg(SCHOOLS, title="By school"))
    second = parse(bar_chart_svg(SCHOOLS[:2], title="By course"))
    trend = parse(trend_chart_svg([("01/2026", 1)], title="By school"))
    ids = [el.get("id") for root in (first, second, trend) for el in root.iter() if el.get("id")]
    assert len(ids) == 6
    assert len(set(ids)) == 6
    custom = parse(bar_chart_svg(SCHOOLS, title="t", id_prefix="school chart"))
    assert custom.get("aria-labelledby") == "school-chart-title school-chart-desc"


def test_empty_bar_chart_says_so() -> None:
    root = parse(bar_chart_svg([], title="Completion by school", empty_text="Chưa có dữ liệu"))
    assert_accessible(root, "Completion by school")
    assert [el.text for el in by_class(root, "text", "chart-empty")] == ["Chưa có dữ liệu"]
    assert by_class(root, "rect", "chart-bar") == []


def test_trend_chart_points_line_and_axis() -> None:
    months = [("01/2026", 3), ("02/2026", 0), ("03/2026", 7), ("04/2026", 5)]
    root = parse(trend_chart_svg(months, title="Completions per month"))
    assert_accessible(root, "Completions per month")
    points = by_class(root, "circle", "chart-point")
    assert len(points) == len(months)
    line = by_class(root, "polyline", "chart-line")
    assert len(line) == 1
    assert len(line[0].get("points", "").split()) == len(months)

    grid = by_class(root, "line", "chart-grid")
    assert 3 <= len(grid) <= 5
    ticks = [el.text for el in by_class(root, "text", "chart-axis")][: len(grid)]
    assert ticks == ["0", "2", "4", "6", "8"]
    # Higher values are drawn higher; zero sits on the lowest gridline.
    heights = {
        label: float(p.get("cy", "nan")) for (label, _), p in zip(months, points, strict=True)
    }
    assert heights["03/2026"] < heights["04/2026"] < heights["01/2026"] < heights["02/2026"]
    assert heights["02/2026"] == pytest.approx(max(float(g.get("y1", "nan")) for g in grid))
    x_labels = [el.text for el in by_class(root, "text", "chart-axis")][len(grid) :]
    assert x_labels == [label for label, _ in months]


def test_trend_chart_labels_thin_out_but_keep_the_latest() -> None:
    months = [(f"{m % 12 + 1:02d}/{2025 + m // 12}", m) for m in range(24)]
    root = parse(trend_chart_svg(months, title="t"))
    assert len(by_class(root, "circle", "chart-point")) == 24
    grid = by_class(root, "line", "chart-grid")
    x_labels = [el.text for el in by_class(root, "text", "chart-axis")][len(grid) :]
    assert 3 <= len(x_labels) <= 8
    assert x_labels[-1] == "12/2026"


def test_empty_trend_chart_says_so() -> None:
    root = parse(trend_chart_svg([], title="t", empty_text="No completions yet"))
    assert [el.text for el in by_class(root, "text", "chart-empty")] == ["No completions yet"]
    assert by_class(root, "circle", "chart-point") == []


@pytest.mark.parametrize(
    ("top", "integers", "expected"),
    [
        (100, False, [0, 50, 100]),
        (66.7, False, [0, 20, 40, 60, 80]),
        (7, True, [0, 2, 4, 6, 8]),
        (3, True, [0, 1, 2, 3]),
        (1, True, [0, 1, 2]),
        (0, True, [0, 1, 2]),
        (0.3, False, [0, 0.1, 0.2, 0.3]),
        (1234, True, [0, 500, 1000, 1500]),
    ],
)
def test_axis_ticks(top: float, integers: bool, expected: list[float]) -> None:
    ticks = axis_ticks(top, integers=integers)
    assert ticks == pytest.approx(expected)
    assert 3 <= len(ticks) <= 5
    assert ticks[-1] >= top


def test_values_are_formatted_for_the_locale() -> None:
    before = i18n.get_locale()
    try:
        i18n.set_locale("vi")
        assert format_value(66.66, "%") == "66,7%"
        assert format_value(1234, "") == "1.234"
        i18n.set_locale("en")
        assert format_value(66.66, "%") == "66.7%"
        assert format_value(1234, "") == "1,234"
    finally:
        i18n.set_locale(before)
    assert format_value(50.0, "%") == "50%"
    assert format_value(float("nan")) == "0"
