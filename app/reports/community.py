"""Community activity in the reports: events held, attendance, clubs, contest entries, awards.

Counted per organisation for a period (local calendar days, both ends included):

- events held: events of the organisation that started in the period and before now;
- attendance: attendance records of those events (people present, online or in person);
- clubs: clubs of the organisation created by the end of the period (they stay active);
- contest entries: entries made in the period by the organisation's people
  (``app.community.contests.stats``);
- awards: commendations given in the period to the organisation or its people (same module).

Each figure is one grouped query over the requested organisations whatever their number; a
commune's figures are the sum of its own and its schools' (``rolled_up``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.models import Organization
from app.community.clubs.models import Club
from app.community.contests import stats
from app.community.events.models import Attendance, Event
from app.core.db import utcnow

FIELDS = ("events_held", "attendance", "clubs", "contest_entries", "awards")


@dataclass
class CommunityFigures:
    events_held: int = 0
    attendance: int = 0
    clubs: int = 0
    contest_entries: int = 0
    awards: int = 0

    def add(self, other: CommunityFigures) -> CommunityFigures:
        return CommunityFigures(*(getattr(self, f) + getattr(other, f) for f in FIELDS))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def community_figures(
    session: Session,
    organization_ids: Sequence[int],
    date_from: date | None,
    date_to: date | None,
    *,
    timezone: str = stats.DEFAULT_TIMEZONE,
    now: datetime | None = None,
) -> dict[int, CommunityFigures]:
    """Each requested organisation's own figures (not rolled up), zeros included."""
    ids = list(dict.fromkeys(organization_ids))
    figures = {org_id: CommunityFigures() for org_id in ids}
    if not ids:
        return figures
    start, end = stats.period_bounds(date_from, date_to, timezone)
    now = now or utcnow()
    held: list[ColumnElement[bool]] = [Event.organization_id.in_(ids), Event.starts_at < now]
    if start is not None:
        held.append(Event.starts_at >= start)
    if end is not None:
        held.append(Event.starts_at < end)
    events = session.execute(
        select(Event.organization_id, func.count(Event.id))
        .where(*held)
        .group_by(Event.organization_id)
    ).tuples()
    for org_id, count in events:
        figures[org_id].events_held = count
    present = session.execute(
        select(Event.organization_id, func.count(Attendance.id))
        .join(Attendance, Attendance.event_id == Event.id)
        .where(*held)
        .group_by(Event.organization_id)
    ).tuples()
    for org_id, count in present:
        figures[org_id].attendance = count
    club_filter: list[ColumnElement[bool]] = [Club.organization_id.in_(ids)]
    if end is not None:
        club_filter.append(Club.created_at < end)
    clubs = session.execute(
        select(Club.organization_id, func.count(Club.id))
        .where(*club_filter)
        .group_by(Club.organization_id)
    ).tuples()
    for org_id, count in clubs:
        figures[org_id].clubs = count
    entries = stats.entries_by_organization(session, ids, date_from, date_to, timezone=timezone)
    awards = stats.awards_by_organization(session, ids, date_from, date_to, timezone=timezone)
    for org_id in ids:
        figures[org_id].contest_entries = entries.get(org_id, 0)
        figures[org_id].awards = awards.get(org_id, 0)
    return figures


def rolled_up(
    session: Session,
    organization_id: int,
    date_from: date | None,
    date_to: date | None,
    *,
    timezone: str = stats.DEFAULT_TIMEZONE,
    now: datetime | None = None,
) -> CommunityFigures:
    """An organisation's figures with those of every organisation below it."""
    ids = accounts.descendant_ids(session, organization_id)
    total = CommunityFigures()
    for part in community_figures(
        session, ids, date_from, date_to, timezone=timezone, now=now
    ).values():
        total = total.add(part)
    return total


def by_children(
    session: Session,
    children: Mapping[int, Sequence[int]],
    date_from: date | None,
    date_to: date | None,
    *,
    timezone: str = stats.DEFAULT_TIMEZONE,
    now: datetime | None = None,
) -> dict[int, CommunityFigures]:
    """Figures per row organisation, each summed over the ids given for it (its subtree)."""
    every = [org_id for ids in children.values() for org_id in ids]
    own = community_figures(session, every, date_from, date_to, timezone=timezone, now=now)
    result = {}
    for row_id, ids in children.items():
        total = CommunityFigures()
        for org_id in ids:
            total = total.add(own[org_id])
        result[row_id] = total
    return result


def for_rows(
    session: Session,
    rows: Sequence[tuple[int, bool]],
    date_from: date | None,
    date_to: date | None,
    *,
    timezone: str = stats.DEFAULT_TIMEZONE,
    now: datetime | None = None,
) -> dict[int, CommunityFigures]:
    """Figures for report rows given as (organisation id, direct): a row sums its whole
    subtree, or only the organisation itself when ``direct`` (the scope's own members)."""
    children: dict[int | None, list[int]] = {}
    for org_id, parent_id in session.execute(select(Organization.id, Organization.parent_id)):
        children.setdefault(parent_id, []).append(org_id)

    def subtree(root: int) -> list[int]:
        found, todo = [], [root]
        while todo:
            current = todo.pop()
            found.append(current)
            todo.extend(children.get(current, ()))
        return found

    wanted = {org_id: ([org_id] if direct else subtree(org_id)) for org_id, direct in rows}
    return by_children(session, wanted, date_from, date_to, timezone=timezone, now=now)
