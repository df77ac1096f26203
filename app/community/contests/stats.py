"""Figures of contests and awards for the reports (``app.reports`` reads them; nothing here
checks permissions: the report decides whose figures a reader may see).

Both counters answer ``{organization_id: count}`` for exactly the organisations asked (every
asked id present, zero included), without rolling a commune up from its schools: pass the
schools and add them up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.community.contests.models import Award, Entry

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def period_bounds(
    date_from: date | datetime | None,
    date_to: date | datetime | None,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[datetime | None, datetime | None]:
    """[start, end) as aware datetimes. Aware datetimes are taken as they are (``date_to``
    exclusive); plain dates are whole local days with ``date_to`` included (a reporting
    period's ``starts_on``..``ends_on``)."""
    zone = ZoneInfo(timezone)

    def bound(value: date | datetime | None, *, end: bool) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime given as a period bound")
            return value
        start = datetime.combine(value, time.min, zone)
        return start + timedelta(days=1) if end else start

    return bound(date_from, end=False), bound(date_to, end=True)


def _count_by(
    session: Session,
    key: InstrumentedAttribute[int],
    moment: InstrumentedAttribute[datetime],
    organization_ids: Sequence[int],
    date_from: date | datetime | None,
    date_to: date | datetime | None,
    timezone: str,
) -> dict[int, int]:
    ids = list(dict.fromkeys(organization_ids))
    counts = dict.fromkeys(ids, 0)
    if not ids:
        return counts
    start, end = period_bounds(date_from, date_to, timezone)
    conditions: list[ColumnElement[bool]] = [key.in_(ids)]
    if start is not None:
        conditions.append(moment >= start)
    if end is not None:
        conditions.append(moment < end)
    rows = session.execute(select(key, func.count()).where(and_(*conditions)).group_by(key))
    counts.update(dict(rows.tuples().all()))
    return counts


def entries_by_organization(
    session: Session,
    organization_ids: Sequence[int],
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    *,
    timezone: str = DEFAULT_TIMEZONE,
) -> dict[int, int]:
    """Contest entries submitted by each organisation's people (the submitter's school when
    the entry was made), by the entry's creation time."""
    return _count_by(
        session,
        Entry.organization_id,
        Entry.created_at,
        organization_ids,
        date_from,
        date_to,
        timezone,
    )


def awards_by_organization(
    session: Session,
    organization_ids: Sequence[int],
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    *,
    timezone: str = DEFAULT_TIMEZONE,
) -> dict[int, int]:
    """Awards counted for each organisation (to its people, as of the award, and to the
    organisation itself), by the award's date."""
    return _count_by(
        session,
        Award.scope_organization_id,
        Award.awarded_at,
        organization_ids,
        date_from,
        date_to,
        timezone,
    )
