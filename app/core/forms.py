"""What people type into forms and filter boxes, read once for every page.

Dates come as ``yyyy-mm-dd`` (what ``<input type="date">`` sends) or ``dd/mm/yyyy`` (what a
person types where the browser shows a plain text box); moments add ``HH:MM`` and are local time
(the deployment's time zone), stored as aware UTC. Each parser raises ``InvalidInput`` naming the
field, so a form can show the message beside it. Years outside ``MIN_YEAR..MAX_YEAR`` are typos
(``0026``, ``20266``), not dates anyone means.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from app.core.errors import InvalidInput
from app.core.i18n import gettext as _

MIN_YEAR, MAX_YEAR = 2000, 2100
DAY_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
MOMENT_FORMATS = (
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M",
    *DAY_FORMATS,  # a date alone means its first minute
)
MAX_ID_DIGITS = 18  # beyond this an "id" would overflow a BIGINT


def _strptime(text: str, formats: tuple[str, ...]) -> datetime | None:
    for fmt in formats:
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return moment if MIN_YEAR <= moment.year <= MAX_YEAR else None
    return None


def parse_day(value: str | None, *, field: str) -> date | None:
    """A date, or ``None`` when the box was left empty."""
    text = (value or "").strip()
    if not text:
        return None
    moment = _strptime(text, DAY_FORMATS)
    if moment is None:
        raise InvalidInput(
            _("{field}: '{value}' is not a date (dd/mm/yyyy).").format(field=field, value=text[:20])
        )
    return moment.date()


def parse_local_datetime(value: str | None, *, field: str, timezone: str) -> datetime:
    """A required moment in local time, answered as an aware UTC datetime."""
    text = (value or "").strip()
    if not text:
        raise InvalidInput(_("{field} is required.").format(field=field))
    moment = _strptime(text, MOMENT_FORMATS)
    if moment is None:
        raise InvalidInput(
            _("{field}: '{value}' is not a date and time (dd/mm/yyyy hh:mm).").format(
                field=field, value=text[:30]
            )
        )
    return moment.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def parse_int(
    value: str | None, *, field: str, minimum: int, maximum: int, required: bool = False
) -> int | None:
    """A whole number within bounds, or ``None`` when empty and not required."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(_("{field} is required.").format(field=field))
        return None
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise InvalidInput(
            _("{field} must be a whole number from {min} to {max}.").format(
                field=field, min=minimum, max=maximum
            )
        )
    return number


def parse_id(value: str | None) -> int | None:
    """A record id from a filter (``None`` when empty); anything else is a clear error."""
    text = (value or "").strip()
    if not text:
        return None
    if not text.isdecimal() or len(text) > MAX_ID_DIGITS:
        raise InvalidInput(_("'{value}' is not a valid id.").format(value=text[:20]))
    return int(text)


def day_start(day: date | None, timezone: str) -> datetime | None:
    """The first moment of ``day`` in ``timezone``, as an aware UTC datetime."""
    if day is None:
        return None
    return datetime.combine(day, time.min, ZoneInfo(timezone)).astimezone(UTC)


def day_end(day: date | None, timezone: str) -> datetime | None:
    """The last second of ``day`` in ``timezone`` (23:59:59 local), as an aware UTC datetime."""
    if day is None:
        return None
    return datetime.combine(day, time(23, 59, 59), ZoneInfo(timezone)).astimezone(UTC)


def local_day(value: datetime | None, timezone: str) -> str:
    """The ``yyyy-mm-dd`` value of a date input for a stored moment ('' for none)."""
    return value.astimezone(ZoneInfo(timezone)).date().isoformat() if value else ""


def local_input(value: datetime | None, timezone: str) -> str:
    """The ``datetime-local`` input value of a stored moment ('' for none)."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
