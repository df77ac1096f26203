"""Reporting periods: what a label such as ``2026-Q4`` means, when it is due, how it is shown.

Three kinds of period, each with one canonical label (the API's ``period`` field and the stored
key of a periodic report):

- quarter ``YYYY-Qn`` (n = 1..4): the calendar quarter, e.g. ``2026-Q4`` = 01/10–31/12/2026;
- semester ``YYYY-YYYY-HKn`` (n = 1, 2) of a school year whose second year is the first plus one:
  HK1 runs from ``SEMESTER_1_START`` of the first year to ``SEMESTER_1_END`` of the second,
  HK2 from ``SEMESTER_2_START`` to ``SEMESTER_2_END`` of the second year. Vietnamese school
  years differ slightly by province and year (the Ministry publishes the frame each summer);
  these constants are the usual frame: HK1 01/09–15/01, HK2 16/01–31/05. The summer between
  (June–August) belongs to no semester;
- year ``YYYY``: the calendar year.

Years run from ``MIN_YEAR`` to ``MAX_YEAR``. Labels are read case-insensitively and with
surrounding blanks ignored; anything else is ``InvalidInput`` (422) with a message that shows
the three accepted forms. Dates are whole local days (``starts_on`` and ``ends_on`` inclusive).

A period's report is due ``DUE_AFTER_DAYS`` days after its last day (``due_on``, inclusive: a
report submitted by the end of that day, local time, is on time).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.core.errors import InvalidInput
from app.core.i18n import gettext as _

MIN_YEAR, MAX_YEAR = 2020, 2100

# The school-year frame (month, day). HK1 starts in the first year and ends in the second.
SEMESTER_1_START = (9, 1)
SEMESTER_1_END = (1, 15)
SEMESTER_2_START = (1, 16)
SEMESTER_2_END = (5, 31)

# Reports are due this many days after the period's last day.
DUE_AFTER_DAYS = 10

MAX_LABEL_LENGTH = 20

_QUARTER = re.compile(r"(\d{4})-Q(\d+)")
_SEMESTER = re.compile(r"(\d{4})-(\d{4})-HK(\d+)")
_YEAR = re.compile(r"(\d{4})")
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


class PeriodKind(enum.StrEnum):
    quarter = "quarter"
    semester = "semester"
    year = "year"


@dataclass(frozen=True, order=True)
class Period:
    # Field order makes sorting chronological (then shorter periods first).
    starts_on: date
    ends_on: date
    kind: PeriodKind
    label: str

    @property
    def due_on(self) -> date:
        """The last day on which the period's report is on time."""
        return self.ends_on + timedelta(days=DUE_AFTER_DAYS)

    def due_at(self, timezone: str) -> datetime:
        """The deadline as an aware UTC moment: the end of ``due_on`` in ``timezone``."""
        return end_of_day(self.due_on, timezone)

    def contains(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    @property
    def display(self) -> str:
        """The period in words, in the current locale ("Quý IV/2026", "Học kỳ I năm học …")."""
        if self.kind == PeriodKind.quarter:
            year, number = self.label.split("-Q")
            return _("Quarter {number}/{year}").format(number=_ROMAN[int(number)], year=year)
        if self.kind == PeriodKind.semester:
            first, second, number = self.label.replace("-HK", "-").split("-")
            return _("Semester {number} of school year {first}–{second}").format(
                number=_ROMAN[int(number)], first=first, second=second
            )
        return _("Year {year}").format(year=self.label)


def end_of_day(day: date, timezone: str) -> datetime:
    """The last moment of ``day`` in ``timezone``, as an aware UTC datetime."""
    return (
        datetime.combine(day + timedelta(days=1), time.min, ZoneInfo(timezone))
        - timedelta(microseconds=1)
    ).astimezone(UTC)


def _invalid(label: str) -> InvalidInput:
    return InvalidInput(
        _(
            "'{label}' is not a reporting period. Use 2026-Q4 for a quarter, 2026-2027-HK1 or "
            "2026-2027-HK2 for a semester of a school year, or 2026 for a year."
        ).format(label=label[:MAX_LABEL_LENGTH])
    )


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(
            _("The year of a reporting period must be between {min} and {max}.").format(
                min=MIN_YEAR, max=MAX_YEAR
            )
        )


def quarter(year: int, number: int) -> Period:
    _check_year(year)
    if not 1 <= number <= 4:
        raise InvalidInput(_("A year has quarters 1 to 4 only."))
    start = date(year, 3 * number - 2, 1)
    end = date(year, 12, 31) if number == 4 else date(year, 3 * number + 1, 1) - timedelta(days=1)
    return Period(start, end, PeriodKind.quarter, f"{year}-Q{number}")


def semester(first_year: int, number: int) -> Period:
    """Semester ``number`` (1 or 2) of the school year ``first_year``–``first_year + 1``."""
    _check_year(first_year)
    _check_year(first_year + 1)
    if number not in (1, 2):
        raise InvalidInput(_("A school year has semesters HK1 and HK2 only."))
    second_year = first_year + 1
    if number == 1:
        start = date(first_year, *SEMESTER_1_START)
        end = date(second_year, *SEMESTER_1_END)
    else:
        start = date(second_year, *SEMESTER_2_START)
        end = date(second_year, *SEMESTER_2_END)
    return Period(start, end, PeriodKind.semester, f"{first_year}-{second_year}-HK{number}")


def year(value: int) -> Period:
    _check_year(value)
    return Period(date(value, 1, 1), date(value, 12, 31), PeriodKind.year, str(value))


def parse_period(label: str) -> Period:
    """The period a label names; ``InvalidInput`` (422) for anything else."""
    text = (label or "").strip().upper()
    if not text or len(text) > MAX_LABEL_LENGTH:
        raise _invalid(text)
    if match := _QUARTER.fullmatch(text):
        return quarter(int(match[1]), int(match[2]))
    if match := _SEMESTER.fullmatch(text):
        first, second = int(match[1]), int(match[2])
        if second != first + 1:
            raise InvalidInput(
                _(
                    "A school year spans two consecutive years, such as 2026-2027; "
                    "'{label}' does not."
                ).format(label=text)
            )
        return semester(first, int(match[3]))
    if _YEAR.fullmatch(text):
        return year(int(text))
    raise _invalid(text)


def current_period(kind: PeriodKind | str, today: date) -> Period:
    """The period of ``kind`` that contains ``today``. In the summer (no semester runs), the
    semester is HK2 that has just ended: the one a school reports on then."""
    kind = PeriodKind(kind)
    if kind == PeriodKind.quarter:
        return quarter(today.year, (today.month - 1) // 3 + 1)
    if kind == PeriodKind.year:
        return year(today.year)
    if (today.month, today.day) >= SEMESTER_1_START:
        return semester(today.year, 1)
    if (today.month, today.day) <= SEMESTER_1_END:
        return semester(today.year - 1, 1)
    return semester(today.year - 1, 2)


def previous_period(period: Period) -> Period:
    """The period of the same kind just before ``period``."""
    if period.kind == PeriodKind.quarter:
        y, n = period.starts_on.year, (period.starts_on.month - 1) // 3 + 1
        return quarter(y - 1, 4) if n == 1 else quarter(y, n - 1)
    if period.kind == PeriodKind.year:
        return year(period.starts_on.year - 1)
    first = int(period.label[:4])
    return semester(first - 1, 2) if period.label.endswith("HK1") else semester(first, 1)


def recent_periods(
    today: date, *, quarters: int = 4, semesters: int = 2, years: int = 2
) -> list[Period]:
    """Periods a school may be reporting on ``today``: the current one of each kind and the
    ones just before it (``quarters`` quarters, ``semesters`` semesters, ``years`` years), most
    recent first within each kind. Periods before ``MIN_YEAR`` are left out."""
    found: list[Period] = []
    for kind, count in (
        (PeriodKind.quarter, quarters),
        (PeriodKind.semester, semesters),
        (PeriodKind.year, years),
    ):
        try:
            period = current_period(kind, today)
        except InvalidInput:  # before MIN_YEAR
            continue
        for _index in range(count):
            found.append(period)
            try:
                period = previous_period(period)
            except InvalidInput:
                break
    return found


def default_period(today: date) -> Period:
    """What the "new report" form proposes: the last quarter that has ended (a report is
    usually written in the days after the period, before it is due)."""
    return previous_period(current_period(PeriodKind.quarter, today))
