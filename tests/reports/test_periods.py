"""Reporting periods: parsing, bounds, deadlines, names, and the periods offered in forms."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from app.core import i18n
from app.core.errors import InvalidInput
from app.core.i18n import set_locale
from app.reports.periods import (
    DUE_AFTER_DAYS,
    PeriodKind,
    current_period,
    default_period,
    parse_period,
    previous_period,
    recent_periods,
)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages are compared in English, whatever the catalogues say in Vietnamese."""
    before = i18n.get_locale()
    i18n.set_locale("en")
    yield
    i18n.set_locale(before)


@pytest.mark.parametrize(
    ("label", "canonical", "kind", "starts_on", "ends_on"),
    [
        ("2026-Q1", "2026-Q1", PeriodKind.quarter, date(2026, 1, 1), date(2026, 3, 31)),
        ("2026-Q2", "2026-Q2", PeriodKind.quarter, date(2026, 4, 1), date(2026, 6, 30)),
        ("2026-Q3", "2026-Q3", PeriodKind.quarter, date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-Q4", "2026-Q4", PeriodKind.quarter, date(2026, 10, 1), date(2026, 12, 31)),
        (" 2026-q4 ", "2026-Q4", PeriodKind.quarter, date(2026, 10, 1), date(2026, 12, 31)),
        (
            "2026-2027-HK1",
            "2026-2027-HK1",
            PeriodKind.semester,
            date(2026, 9, 1),
            date(2027, 1, 15),
        ),
        (
            "2026-2027-hk2",
            "2026-2027-HK2",
            PeriodKind.semester,
            date(2027, 1, 16),
            date(2027, 5, 31),
        ),
        ("2026", "2026", PeriodKind.year, date(2026, 1, 1), date(2026, 12, 31)),
        ("2020", "2020", PeriodKind.year, date(2020, 1, 1), date(2020, 12, 31)),
        (
            "2099-2100-HK2",
            "2099-2100-HK2",
            PeriodKind.semester,
            date(2100, 1, 16),
            date(2100, 5, 31),
        ),
    ],
)
def test_valid_labels(
    label: str, canonical: str, kind: PeriodKind, starts_on: date, ends_on: date
) -> None:
    period = parse_period(label)
    assert period.label == canonical
    assert period.kind == kind
    assert (period.starts_on, period.ends_on) == (starts_on, ends_on)
    assert (period.due_on - period.ends_on).days == DUE_AFTER_DAYS


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "is not a reporting period"),
        ("Q4-2026", "is not a reporting period"),
        ("2026-Q0", "quarters 1 to 4"),
        ("2026-Q5", "quarters 1 to 4"),
        ("2026-2028-HK1", "two consecutive years"),
        ("2027-2026-HK1", "two consecutive years"),
        ("2026-2027-HK3", "HK1 and HK2"),
        ("2026-2027", "is not a reporting period"),
        ("2019", "between 2020 and 2100"),
        ("2101-Q1", "between 2020 and 2100"),
        ("2100-2101-HK1", "between 2020 and 2100"),
        ("26-Q4", "is not a reporting period"),
        ("2026-Q4; DROP TABLE", "is not a reporting period"),
        ("2026-H1", "is not a reporting period"),
    ],
)
def test_invalid_labels_are_422_with_a_clear_message(label: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_period(label)
    assert caught.value.status_code == 422
    assert message in caught.value.detail


@pytest.mark.parametrize(
    ("label", "english", "vietnamese"),
    [
        ("2026-Q4", "Quarter IV/2026", "Quý IV/2026"),
        ("2026-Q1", "Quarter I/2026", "Quý I/2026"),
        (
            "2026-2027-HK1",
            "Semester I of school year 2026–2027",
            "Học kỳ I năm học 2026–2027",
        ),
        (
            "2026-2027-HK2",
            "Semester II of school year 2026–2027",
            "Học kỳ II năm học 2026–2027",
        ),
        ("2026", "Year 2026", "Năm 2026"),
    ],
)
def test_display_names(label: str, english: str, vietnamese: str) -> None:
    try:
        set_locale("en")
        assert parse_period(label).display == english
        set_locale("vi")
        assert parse_period(label).display == vietnamese
    finally:
        set_locale("vi")


def test_due_at_is_the_end_of_the_due_day_in_local_time() -> None:
    period = parse_period("2026-Q4")
    assert period.due_on == date(2027, 1, 10)
    due = period.due_at("Asia/Ho_Chi_Minh")
    # 23:59:59.999999 on 10/01/2027 in UTC+7 is 16:59:59.999999 UTC.
    assert due == datetime(2027, 1, 10, 16, 59, 59, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "today", "expected"),
    [
        (PeriodKind.quarter, date(2026, 11, 26), "2026-Q4"),
        (PeriodKind.quarter, date(2026, 1, 1), "2026-Q1"),
        (PeriodKind.quarter, date(2026, 6, 30), "2026-Q2"),
        (PeriodKind.semester, date(2026, 11, 26), "2026-2027-HK1"),
        (PeriodKind.semester, date(2027, 1, 15), "2026-2027-HK1"),
        (PeriodKind.semester, date(2027, 1, 16), "2026-2027-HK2"),
        (PeriodKind.semester, date(2027, 7, 20), "2026-2027-HK2"),  # summer: the one just ended
        (PeriodKind.semester, date(2027, 9, 1), "2027-2028-HK1"),
        (PeriodKind.year, date(2026, 11, 26), "2026"),
    ],
)
def test_current_period(kind: PeriodKind, today: date, expected: str) -> None:
    assert current_period(kind, today).label == expected
    if kind != PeriodKind.semester or today.month not in (6, 7, 8):
        assert current_period(kind, today).contains(today)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("2026-Q1", "2025-Q4"),
        ("2026-Q3", "2026-Q2"),
        ("2026-2027-HK1", "2025-2026-HK2"),
        ("2026-2027-HK2", "2026-2027-HK1"),
        ("2026", "2025"),
    ],
)
def test_previous_period(label: str, expected: str) -> None:
    assert previous_period(parse_period(label)).label == expected


def test_recent_periods_for_the_form() -> None:
    labels = [p.label for p in recent_periods(date(2027, 1, 5))]
    assert labels == [
        "2027-Q1",
        "2026-Q4",
        "2026-Q3",
        "2026-Q2",
        "2026-2027-HK1",
        "2025-2026-HK2",
        "2027",
        "2026",
    ]
    # Early in 2020 nothing before the first year is offered.
    assert "2019" not in [p.label for p in recent_periods(date(2020, 2, 1))]
    # The form proposes the last quarter that has ended.
    assert default_period(date(2027, 1, 5)).label == "2026-Q4"
