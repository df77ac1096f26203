"""Contests: creation with a weighted rubric, the judging panel, entries (individual or team)
and their files, independent scoring, and published results with ranks and prizes.

Plain functions taking ``(session, actor, ...)``; the caller's session commits. Functions that
depend on the clock take ``now=`` (default: the current time), so tests move the deadline
without sleeping.

Rules worth knowing (the API and the pages follow them):

- entries are made and edited, and files added or removed, only between ``opens_at`` and
  ``closes_at`` (403 otherwise); one entry per person per contest (a team member counts);
  the contest's organisers (its creator and every administrator, ``policy.is_organizer``) and
  its judges are in no entry (409);
- a contest is created with its closing time in the future (422 otherwise);
- judging starts when the contest closes (scores are given to finished entries) and stops when
  the results are published (409 either side); a judge re-scoring replaces their own review;
- nobody sees another judge's scores before the results: a judge reads only their own review,
  the organiser only how many judges scored each entry;
- results need every entry scored by at least one judge (409 names how many are not); each
  entry's score is the mean over its judges of sum(weight x value / max_score) / sum(weight),
  as a percentage rounded to 2 decimals; equal scores share a rank and the next rank skips
  (1, 1, 3); publishing twice is 409.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts.models import Organization, Role, SchoolLevel, User
from app.accounts.service import descendant_ids
from app.community.contests import awards, policy
from app.community.contests.models import (
    Contest,
    ContestKind,
    ContestLevel,
    Criterion,
    Entry,
    EntryFile,
    EntryMember,
    EntryMode,
    Judge,
    MemberRole,
    Prize,
    Review,
    ReviewScore,
)
from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.core.i18n import N_, format_datetime, format_number
from app.core.i18n import gettext as _
from app.lcms.models import Blob

MAX_TITLE = 300
MAX_RULES = 20_000
MAX_SUMMARY = 10_000
MAX_COMMENT = 5_000
MAX_NAME = 200
MAX_CRITERIA = 20
MAX_PRIZES = 20
MAX_TEAM = 10  # members besides the person who submits
MAX_FILES = 10  # files per entry
MAX_WEIGHT = 1000.0
MAX_SCORE = 1000.0

ContestState = Literal["upcoming", "open", "closed", "published"]
STATE_LABELS = {
    "upcoming": N_("Upcoming"),
    "open": N_("Open"),
    "closed": N_("Closed"),
    "published": N_("Results published"),
}


# --- Input cleaning -----------------------------------------------------------------------


def clean_text(value: str | None, *, field: str, max_len: int, required: bool = False) -> str:
    text = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n")).strip()
    if required and not text:
        raise InvalidInput(_("{field} is required.").format(field=field))
    if len(text) > max_len:
        raise InvalidInput(
            _("{field} is longer than {n} characters.").format(field=field, n=max_len)
        )
    return text


def clean_line(value: str | None, *, field: str, max_len: int, required: bool = True) -> str:
    return clean_text(
        re.sub(r"\s+", " ", value or ""), field=field, max_len=max_len, required=required
    )


def _finite(value: float, *, field: str) -> float:
    if not math.isfinite(value):
        raise InvalidInput(_("{field} must be a number.").format(field=field))
    return float(value)


@dataclass(frozen=True)
class CriterionSpec:
    name: str
    weight: float
    max_score: float


@dataclass(frozen=True)
class PrizeSpec:
    rank: int
    name: str
    rank_to: int | None = None


def _clean_criteria(specs: Sequence[CriterionSpec]) -> list[CriterionSpec]:
    if not specs:
        raise InvalidInput(_("A contest needs at least one judging criterion."))
    if len(specs) > MAX_CRITERIA:
        raise InvalidInput(_("A contest has at most {n} criteria.").format(n=MAX_CRITERIA))
    cleaned: list[CriterionSpec] = []
    seen: set[str] = set()
    for spec in specs:
        name = clean_line(spec.name, field=_("Criterion name"), max_len=MAX_NAME)
        weight = _finite(spec.weight, field=_("Weight"))
        max_score = _finite(spec.max_score, field=_("Maximum score"))
        if not 0 < weight <= MAX_WEIGHT:
            raise InvalidInput(
                _("The weight of '{name}' must be above 0 and at most {max}.").format(
                    name=name, max=int(MAX_WEIGHT)
                )
            )
        if not 0 < max_score <= MAX_SCORE:
            raise InvalidInput(
                _("The maximum score of '{name}' must be above 0 and at most {max}.").format(
                    name=name, max=int(MAX_SCORE)
                )
            )
        if name.casefold() in seen:
            raise InvalidInput(_("Two criteria are named '{name}'.").format(name=name))
        seen.add(name.casefold())
        cleaned.append(CriterionSpec(name, weight, max_score))
    return cleaned


def _clean_prizes(specs: Sequence[PrizeSpec]) -> list[PrizeSpec]:
    if len(specs) > MAX_PRIZES:
        raise InvalidInput(_("A contest has at most {n} prizes.").format(n=MAX_PRIZES))
    cleaned: list[PrizeSpec] = []
    for spec in sorted(specs, key=lambda p: p.rank):
        name = clean_line(spec.name, field=_("Prize name"), max_len=MAX_NAME)
        rank_to = spec.rank_to if spec.rank_to is not None else spec.rank
        if spec.rank < 1 or rank_to < spec.rank or rank_to > 10_000:
            raise InvalidInput(
                _("The ranks of the prize '{name}' are not valid.").format(name=name)
            )
        if cleaned and spec.rank <= (cleaned[-1].rank_to or cleaned[-1].rank):
            raise InvalidInput(_("Two prizes cover the same rank {rank}.").format(rank=spec.rank))
        cleaned.append(PrizeSpec(spec.rank, name, rank_to))
    return cleaned


def _clean_levels(levels: Sequence[str]) -> list[str]:
    result: list[str] = []
    for level in levels:
        try:
            value = SchoolLevel(level).value
        except ValueError:
            raise InvalidInput(_("Unknown school level '{level}'.").format(level=level)) from None
        if value not in result:
            result.append(value)
    return result


# --- Contests -----------------------------------------------------------------------------


def state(contest: Contest, now: datetime | None = None) -> ContestState:
    now = now or utcnow()
    if contest.results_published_at is not None:
        return "published"
    if now < contest.opens_at:
        return "upcoming"
    if now < contest.closes_at:
        return "open"
    return "closed"


def create_contest(
    session: Session,
    actor: User,
    *,
    title: str,
    kind: str,
    rules: str = "",
    opens_at: datetime,
    closes_at: datetime,
    levels: Sequence[str] = (),
    criteria: Sequence[CriterionSpec],
    organization_id: int | None = None,
    entry_mode: str = EntryMode.individual.value,
    judges_skip_own_school: bool = False,
    prizes: Sequence[PrizeSpec] = (),
    now: datetime | None = None,
) -> Contest:
    """A new contest with its rubric and prizes. ``organization_id`` defaults to the actor's
    organisation: its subtree may enter. The closing time must be in the future (a contest
    born closed could never take an entry); an opening time in the past is fine (the contest
    is open at once)."""
    now = now or utcnow()
    org_id = organization_id if organization_id is not None else actor.organization_id
    policy.require_contest_creator(actor, org_id)
    if session.get(Organization, org_id) is None:
        raise NotFound(_("Organisation {id} does not exist.").format(id=org_id))
    title = clean_line(title, field=_("Title"), max_len=MAX_TITLE)
    rules = clean_text(rules, field=_("Rules"), max_len=MAX_RULES)
    try:
        kind = ContestKind(kind).value
    except ValueError:
        raise InvalidInput(_("Unknown contest kind '{kind}'.").format(kind=kind)) from None
    try:
        entry_mode = EntryMode(entry_mode).value
    except ValueError:
        raise InvalidInput(_("Unknown entry mode '{mode}'.").format(mode=entry_mode)) from None
    if opens_at.tzinfo is None or closes_at.tzinfo is None:
        raise InvalidInput(_("Dates need a time zone."))
    if closes_at <= opens_at:
        raise InvalidInput(_("The closing time must be after the opening time."))
    if closes_at <= now:
        raise InvalidInput(
            _("The closing time ({deadline}) has already passed: choose a later one.").format(
                deadline=format_datetime(closes_at)
            )
        )
    contest = Contest(
        title=title,
        kind=kind,
        rules=rules,
        opens_at=opens_at,
        closes_at=closes_at,
        organization_id=org_id,
        entry_mode=entry_mode,
        judges_skip_own_school=judges_skip_own_school,
        created_by_id=actor.id,
    )
    contest.level_rows = [ContestLevel(level=level) for level in _clean_levels(levels)]
    contest.criteria = [
        Criterion(name=c.name, weight=c.weight, max_score=c.max_score, position=i)
        for i, c in enumerate(_clean_criteria(criteria))
    ]
    contest.prizes = [
        Prize(rank_from=p.rank, rank_to=p.rank_to or p.rank, name=p.name)
        for p in _clean_prizes(prizes)
    ]
    session.add(contest)
    session.flush()
    return contest


def get_contest(session: Session, contest_id: int) -> Contest:
    contest = session.get(Contest, contest_id)
    if contest is None:
        raise NotFound(_("Contest {id} does not exist.").format(id=contest_id))
    return contest


def list_contests(
    session: Session,
    actor: User,
    *,
    status: ContestState | Literal["ended"] | None = None,
    limit: int = 20,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[Contest], int]:
    """Every signed-in user sees every contest (an announcement); ``status`` filters:
    upcoming (not open yet), open, closed (past the deadline, results not out), published,
    ended (closed or published)."""
    now = now or utcnow()
    query = select(Contest)
    if status == "upcoming":
        query = query.where(Contest.opens_at > now, Contest.results_published_at.is_(None))
    elif status == "open":
        query = query.where(
            Contest.opens_at <= now, Contest.closes_at > now, Contest.results_published_at.is_(None)
        )
    elif status == "closed":
        query = query.where(Contest.closes_at <= now, Contest.results_published_at.is_(None))
    elif status == "published":
        query = query.where(Contest.results_published_at.is_not(None))
    elif status == "ended":  # closed or published: the pages' "closed" tab
        query = query.where(
            or_(Contest.closes_at <= now, Contest.results_published_at.is_not(None))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = Contest.opens_at.asc() if status == "upcoming" else Contest.closes_at.desc()
    if status == "open":
        order = Contest.closes_at.asc()  # the nearest deadline first
    items = session.scalars(query.order_by(order, Contest.id.desc()).limit(limit).offset(offset))
    return list(items), total


def is_organizer(actor: User, contest: Contest) -> bool:
    return policy.is_organizer(actor, contest.created_by_id)


# --- Judges -------------------------------------------------------------------------------


def is_judge(session: Session, contest_id: int, user_id: int) -> bool:
    found = session.scalar(
        select(Judge.id).where(Judge.contest_id == contest_id, Judge.user_id == user_id)
    )
    return found is not None


def list_judges(session: Session, contest_id: int) -> list[Judge]:
    """The panel, by name (Vietnamese order, given name first)."""
    return list(
        session.scalars(
            select(Judge)
            .join(User, User.id == Judge.user_id)
            .where(Judge.contest_id == contest_id)
            .order_by(User.sort_name, Judge.id)
        )
    )


def add_judge(session: Session, actor: User, contest_id: int, user_id: int) -> Judge:
    contest = get_contest(session, contest_id)
    policy.require_organizer(actor, contest.created_by_id)
    if contest.results_published_at is not None:
        raise Conflict(_("The results are published: the panel can no longer change."))
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound(_("User {id} does not exist.").format(id=user_id))
    if user.role not in policy.JUDGE_ROLES:
        raise InvalidInput(_("Students cannot be judges."))
    if _member_entry_id(session, contest.id, user.id) is not None:
        raise Conflict(
            _("{name} has an entry in this contest and cannot judge it.").format(
                name=user.full_name
            )
        )
    if is_judge(session, contest.id, user.id):
        raise Conflict(_("{name} is already a judge.").format(name=user.full_name))
    judge = Judge(contest_id=contest.id, user_id=user.id)
    try:
        with session.begin_nested():
            session.add(judge)
    except IntegrityError:
        raise Conflict(_("{name} is already a judge.").format(name=user.full_name)) from None
    return judge


def remove_judge(session: Session, actor: User, contest_id: int, user_id: int) -> None:
    contest = get_contest(session, contest_id)
    policy.require_organizer(actor, contest.created_by_id)
    if contest.results_published_at is not None:
        raise Conflict(_("The results are published: the panel can no longer change."))
    judge = session.scalar(
        select(Judge).where(Judge.contest_id == contest.id, Judge.user_id == user_id)
    )
    if judge is None:
        raise NotFound(_("This person is not a judge of the contest."))
    scored = session.scalar(
        select(func.count(Review.id))
        .join(Entry, Entry.id == Review.entry_id)
        .where(Entry.contest_id == contest.id, Review.judge_id == user_id)
    )
    if scored:
        raise Conflict(_("This judge has already scored entries and cannot be removed."))
    session.delete(judge)
    session.flush()


# --- Eligibility and entries --------------------------------------------------------------


def eligibility_problem(session: Session, contest: Contest, user: User) -> str | None:
    """Why ``user`` may not enter ``contest`` (a translated sentence), or None."""
    if user.organization_id not in descendant_ids(session, contest.organization_id):
        return _("This contest is only open to {org} and the schools under it.").format(
            org=contest.organization.name
        )
    levels = contest.levels
    if levels and user.organization.level not in levels:
        names = ", ".join(_(LEVEL_NAMES[SchoolLevel(level)]) for level in levels)
        return _("This contest is only open to these school levels: {levels}.").format(levels=names)
    return None


LEVEL_NAMES = {
    SchoolLevel.preschool: N_("Preschool"),
    SchoolLevel.primary: N_("Primary"),
    SchoolLevel.lower_secondary: N_("Lower secondary"),
}


def _require_open(contest: Contest, now: datetime) -> None:
    if contest.results_published_at is not None or now >= contest.closes_at:
        raise PermissionDenied(
            _("The deadline ({deadline}) has passed: entries are locked.").format(
                deadline=format_datetime(contest.closes_at)
            )
        )
    if now < contest.opens_at:
        raise PermissionDenied(
            _("The contest opens on {date}: entries are not accepted yet.").format(
                date=format_datetime(contest.opens_at)
            )
        )


def _member_entry_id(session: Session, contest_id: int, user_id: int) -> int | None:
    return session.scalar(
        select(EntryMember.entry_id).where(
            EntryMember.contest_id == contest_id, EntryMember.user_id == user_id
        )
    )


def my_entry(session: Session, contest_id: int, user_id: int) -> Entry | None:
    entry_id = _member_entry_id(session, contest_id, user_id)
    return session.get(Entry, entry_id) if entry_id is not None else None


def _team(
    session: Session, contest: Contest, lead: User, member_ids: Sequence[int], entry_id: int | None
) -> list[User]:
    """The team members besides the lead, checked: they exist, may enter, are in no other
    entry of the contest, are not on the panel and do not organise the contest."""
    ids = [i for i in dict.fromkeys(member_ids) if i != lead.id]
    if contest.entry_mode == EntryMode.individual and ids:
        raise InvalidInput(_("This contest takes individual entries: no team members."))
    if len(ids) > MAX_TEAM:
        raise InvalidInput(_("A team has at most {n} members besides you.").format(n=MAX_TEAM))
    members: list[User] = []
    for user_id in ids:
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            raise InvalidInput(_("User {id} does not exist.").format(id=user_id))
        problem = eligibility_problem(session, contest, user)
        if problem is not None:
            raise PermissionDenied(f"{user.full_name}: {problem}")
        other = _member_entry_id(session, contest.id, user.id)
        if other is not None and other != entry_id:
            raise Conflict(
                _("{name} already has an entry in this contest.").format(name=user.full_name)
            )
        if is_judge(session, contest.id, user.id):
            raise Conflict(
                _("{name} is a judge of this contest and cannot enter it.").format(
                    name=user.full_name
                )
            )
        if is_organizer(user, contest):
            raise Conflict(
                _("{name} organises this contest and cannot be in an entry.").format(
                    name=user.full_name
                )
            )
        members.append(user)
    return members


def create_entry(
    session: Session,
    actor: User,
    contest_id: int,
    *,
    title: str,
    summary: str = "",
    member_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> Entry:
    now = now or utcnow()
    contest = get_contest(session, contest_id)
    _require_open(contest, now)
    problem = eligibility_problem(session, contest, actor)
    if problem is not None:
        raise PermissionDenied(problem)
    if is_organizer(actor, contest):
        raise Conflict(_("You organise this contest and cannot enter it."))
    if is_judge(session, contest.id, actor.id):
        raise Conflict(_("You are a judge of this contest and cannot enter it."))
    if _member_entry_id(session, contest.id, actor.id) is not None:
        raise Conflict(_("You already have an entry in this contest: edit it instead."))
    title = clean_line(title, field=_("Title"), max_len=MAX_TITLE)
    summary = clean_text(summary, field=_("Summary"), max_len=MAX_SUMMARY)
    team = _team(session, contest, actor, member_ids, None)
    entry = Entry(
        contest_id=contest.id,
        title=title,
        summary=summary,
        submitted_by_id=actor.id,
        organization_id=actor.organization_id,
        created_at=now,
        updated_at=now,
    )
    entry.members = [EntryMember(contest_id=contest.id, user_id=actor.id, role=MemberRole.lead)]
    entry.members += [
        EntryMember(contest_id=contest.id, user_id=u.id, role=MemberRole.member) for u in team
    ]
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        # A concurrent request entered the same person first: the unique key decided.
        raise Conflict(_("You already have an entry in this contest: edit it instead.")) from None
    return entry


def get_entry(session: Session, entry_id: int) -> Entry:
    entry = session.get(Entry, entry_id)
    if entry is None:
        raise NotFound(_("Entry {id} does not exist.").format(id=entry_id))
    return entry


def is_member(entry: Entry, user_id: int) -> bool:
    return any(m.user_id == user_id for m in entry.members)


def can_see_entry(session: Session, actor: User, entry: Entry, contest: Contest) -> bool:
    return (
        is_member(entry, actor.id)
        or is_organizer(actor, contest)
        or contest.results_published_at is not None
        or (actor.role == Role.school_manager and actor.organization_id == entry.organization_id)
        or is_judge(session, contest.id, actor.id)
    )


def get_entry_for(session: Session, actor: User, entry_id: int) -> Entry:
    """The entry, when ``actor`` may see it; 404 otherwise (its existence is not revealed)."""
    entry = get_entry(session, entry_id)
    if not can_see_entry(session, actor, entry, get_contest(session, entry.contest_id)):
        raise NotFound(_("Entry {id} does not exist.").format(id=entry_id))
    return entry


def check_can_edit_entry(
    session: Session, actor: User, entry_id: int, *, now: datetime | None = None
) -> Entry:
    """Members change their entry until the deadline (403 after it, and for anyone else)."""
    now = now or utcnow()
    entry = get_entry_for(session, actor, entry_id)
    if not is_member(entry, actor.id):
        raise PermissionDenied(_("Only the entry's authors can change it."))
    _require_open(get_contest(session, entry.contest_id), now)
    return entry


def update_entry(
    session: Session,
    actor: User,
    entry_id: int,
    *,
    title: str | None = None,
    summary: str | None = None,
    member_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> Entry:
    now = now or utcnow()
    entry = check_can_edit_entry(session, actor, entry_id, now=now)
    if title is not None:
        entry.title = clean_line(title, field=_("Title"), max_len=MAX_TITLE)
    if summary is not None:
        entry.summary = clean_text(summary, field=_("Summary"), max_len=MAX_SUMMARY)
    if member_ids is not None:
        contest = get_contest(session, entry.contest_id)
        lead = session.get(User, entry.submitted_by_id)
        assert lead is not None
        team = _team(session, contest, lead, member_ids, entry.id)
        wanted = {u.id for u in team}
        entry.members = [
            m for m in entry.members if m.role == MemberRole.lead or m.user_id in wanted
        ]
        have = {m.user_id for m in entry.members}
        entry.members += [
            EntryMember(contest_id=contest.id, user_id=u.id, role=MemberRole.member)
            for u in team
            if u.id not in have
        ]
    entry.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("Someone in the team already has an entry in this contest.")) from None
    return entry


# Entries sharing a rank are listed by their submitter's name, as prize lists are read.
_SUBMITTER_NAME = select(User.sort_name).where(User.id == Entry.submitted_by_id).scalar_subquery()


def _result_order(entry: Entry) -> tuple[int, str, int]:
    return entry.rank or 0, entry.submitted_by.sort_name, entry.id


def list_entries(
    session: Session, actor: User, contest_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[Entry], int]:
    """The entries ``actor`` may see: all of them for the organiser, the panel and, after
    the results, everyone; a school manager those of their school; anyone else their own."""
    contest = get_contest(session, contest_id)
    query = select(Entry).where(Entry.contest_id == contest.id)
    if not (
        is_organizer(actor, contest)
        or contest.results_published_at is not None
        or is_judge(session, contest.id, actor.id)
    ):
        mine = select(EntryMember.entry_id).where(
            EntryMember.contest_id == contest.id, EntryMember.user_id == actor.id
        )
        condition: ColumnElement[bool] = Entry.id.in_(mine)
        if actor.role == Role.school_manager:
            condition = or_(condition, Entry.organization_id == actor.organization_id)
        query = query.where(condition)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (
        (Entry.rank.asc(), _SUBMITTER_NAME, Entry.id.asc())
        if contest.results_published_at is not None
        else (Entry.created_at.asc(), Entry.id.asc())
    )
    items = session.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(items), total


# --- Entry files --------------------------------------------------------------------------


def add_entry_file(
    session: Session,
    actor: User,
    entry_id: int,
    *,
    sha256: str,
    size: int,
    media_type: str,
    filename: str,
    now: datetime | None = None,
) -> EntryFile:
    """Record a stored upload as a file of the entry (checks again: the deadline may have
    passed while the bytes were arriving)."""
    entry = check_can_edit_entry(session, actor, entry_id, now=now)
    count = session.scalar(select(func.count(EntryFile.id)).where(EntryFile.entry_id == entry.id))
    if (count or 0) >= MAX_FILES:
        raise Conflict(_("An entry has at most {n} files.").format(n=MAX_FILES))
    if session.get(Blob, sha256) is None:
        try:
            with session.begin_nested():
                session.add(Blob(sha256=sha256, size=size))
        except IntegrityError:
            pass  # the same bytes were recorded by a concurrent upload: stored once
    file = EntryFile(
        entry_id=entry.id,
        blob_sha256=sha256,
        size=size,
        media_type=media_type,
        filename=filename,
        uploaded_by_id=actor.id,
    )
    entry.files.append(file)
    entry.updated_at = now or utcnow()
    session.flush()
    return file


def get_entry_file_for(session: Session, actor: User, entry_id: int, file_id: int) -> EntryFile:
    entry = get_entry_for(session, actor, entry_id)
    file = session.get(EntryFile, file_id)
    if file is None or file.entry_id != entry.id:
        raise NotFound(_("File {id} does not exist.").format(id=file_id))
    return file


def remove_entry_file(
    session: Session, actor: User, entry_id: int, file_id: int, *, now: datetime | None = None
) -> None:
    entry = check_can_edit_entry(session, actor, entry_id, now=now)
    file = get_entry_file_for(session, actor, entry.id, file_id)
    session.delete(file)
    entry.updated_at = now or utcnow()
    session.flush()
    session.expire(entry, ["files"])


# --- Judging ------------------------------------------------------------------------------


def own_school_conflict(contest: Contest, entry: Entry, judge: User) -> bool:
    """With the rule on, a judge skips entries of their own school (any member's school)."""
    if not contest.judges_skip_own_school:
        return False
    schools = {entry.organization_id} | {m.user.organization_id for m in entry.members}
    return judge.organization_id in schools


def _require_can_score(session: Session, actor: User, contest: Contest, entry: Entry) -> None:
    if not is_judge(session, contest.id, actor.id):
        raise PermissionDenied(_("Only the contest's judges can score entries."))
    if is_member(entry, actor.id):
        raise PermissionDenied(_("You cannot score your own entry."))
    if own_school_conflict(contest, entry, actor):
        raise PermissionDenied(
            _("Judges do not score entries from their own school in this contest.")
        )


def score_entry(
    session: Session,
    actor: User,
    entry_id: int,
    *,
    scores: dict[int, float],
    comment: str = "",
    now: datetime | None = None,
) -> Review:
    """Record (or replace) ``actor``'s scores of the entry: every criterion, each within
    0..max_score."""
    now = now or utcnow()
    entry = get_entry(session, entry_id)
    contest = get_contest(session, entry.contest_id)
    _require_can_score(session, actor, contest, entry)
    if contest.results_published_at is not None:
        raise Conflict(_("The results are published: scores can no longer change."))
    if now < contest.closes_at:
        raise Conflict(
            _("Judging starts when the contest closes ({deadline}).").format(
                deadline=format_datetime(contest.closes_at)
            )
        )
    comment = clean_text(comment, field=_("Comment"), max_len=MAX_COMMENT)
    criteria = {c.id: c for c in contest.criteria}
    unknown = sorted(set(scores) - set(criteria))
    if unknown:
        raise InvalidInput(_("Criterion {id} is not part of this contest.").format(id=unknown[0]))
    missing = [c.name for c in contest.criteria if c.id not in scores]
    if missing:
        raise InvalidInput(
            _("Score every criterion; missing: {names}.").format(names=", ".join(missing))
        )
    for criterion_id, value in scores.items():
        criterion = criteria[criterion_id]
        if not math.isfinite(value) or not 0 <= value <= criterion.max_score:
            raise InvalidInput(
                _("The score for '{name}' must be between 0 and {max}.").format(
                    name=criterion.name, max=format_number(criterion.max_score)
                )
            )
    review = session.scalar(
        select(Review).where(Review.entry_id == entry.id, Review.judge_id == actor.id)
    )
    if review is None:
        review = Review(entry_id=entry.id, judge_id=actor.id)
        session.add(review)
    review.comment = comment
    review.scored_at = now
    by_criterion = {s.criterion_id: s for s in review.scores}
    for criterion_id, value in scores.items():
        if criterion_id in by_criterion:
            by_criterion[criterion_id].value = float(value)
        else:
            review.scores.append(ReviewScore(criterion_id=criterion_id, value=float(value)))
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            _("The scores were saved at the same moment elsewhere; try again.")
        ) from None
    return review


def my_review(session: Session, actor: User, entry_id: int) -> Review | None:
    return session.scalar(
        select(Review).where(Review.entry_id == entry_id, Review.judge_id == actor.id)
    )


def reviews_for(session: Session, actor: User, entry_id: int) -> list[Review]:
    """The reviews ``actor`` may read: before the results only their own; after them the
    organiser reads all (the entrants read the anonymous summary, ``criterion_means``)."""
    entry = get_entry_for(session, actor, entry_id)
    contest = get_contest(session, entry.contest_id)
    if contest.results_published_at is not None and is_organizer(actor, contest):
        return list(
            session.scalars(select(Review).where(Review.entry_id == entry.id).order_by(Review.id))
        )
    own = my_review(session, actor, entry.id)
    return [own] if own is not None else []


@dataclass(frozen=True)
class QueueItem:
    entry: Entry
    review: Review | None


def judge_queue(session: Session, actor: User, contest_id: int) -> list[QueueItem]:
    """The entries a judge scores (own-school and own entries left out), with their own
    review where there is one; never anyone else's."""
    contest = get_contest(session, contest_id)
    if not is_judge(session, contest.id, actor.id):
        raise PermissionDenied(_("Only the contest's judges can score entries."))
    entries = session.scalars(
        select(Entry).where(Entry.contest_id == contest.id).order_by(Entry.created_at, Entry.id)
    ).all()
    reviews = {
        r.entry_id: r
        for r in session.scalars(
            select(Review).where(
                Review.judge_id == actor.id, Review.entry_id.in_([e.id for e in entries])
            )
        )
    }
    return [
        QueueItem(entry, reviews.get(entry.id))
        for entry in entries
        if not is_member(entry, actor.id) and not own_school_conflict(contest, entry, actor)
    ]


def judged_counts(session: Session, actor: User, contest_id: int) -> dict[int, int]:
    """For the organiser: how many judges scored each entry (never the scores)."""
    contest = get_contest(session, contest_id)
    policy.require_organizer(actor, contest.created_by_id)
    rows = session.execute(
        select(Review.entry_id, func.count(Review.id))
        .join(Entry, Entry.id == Review.entry_id)
        .where(Entry.contest_id == contest.id)
        .group_by(Review.entry_id)
    )
    return dict(rows.tuples().all())


# --- Results ------------------------------------------------------------------------------


def review_percent(criteria: Sequence[Criterion], values: dict[int, float]) -> float:
    """One judge's total: sum(weight x value / max_score) / sum(weight), as a percentage."""
    total_weight = sum(c.weight for c in criteria)
    earned = sum(c.weight * values.get(c.id, 0.0) / c.max_score for c in criteria)
    return 100.0 * earned / total_weight


def entry_score(criteria: Sequence[Criterion], reviews: Sequence[dict[int, float]]) -> float:
    """The mean of the judges' totals, rounded to 2 decimals (equal after rounding = a tie)."""
    if not reviews:
        raise ValueError("an entry without reviews has no score")
    return round(sum(review_percent(criteria, r) for r in reviews) / len(reviews), 2)


def competition_ranks(scores: dict[int, float]) -> dict[int, int]:
    """Rank = 1 + how many scored strictly higher: equal scores share a rank, the next one
    skips (100, 90, 90, 80 -> 1, 2, 2, 4)."""
    ordered = sorted(scores.values(), reverse=True)
    return {key: 1 + sum(1 for s in ordered if s > score) for key, score in scores.items()}


def prize_for(prizes: Sequence[Prize], rank: int) -> str | None:
    for prize in prizes:
        if prize.rank_from <= rank <= prize.rank_to:
            return prize.name
    return None


def publish_results(
    session: Session,
    actor: User,
    contest_id: int,
    *,
    create_awards: bool = True,
    decision_number: str = "",
    awarded_at: datetime | None = None,
    now: datetime | None = None,
) -> list[Entry]:
    """Compute scores and ranks, publish them, and (``create_awards``) give each member of a
    prize-winning entry an award. 409 before the deadline, with unscored entries, or twice."""
    now = now or utcnow()
    contest = get_contest(session, contest_id)
    policy.require_organizer(actor, contest.created_by_id)
    if contest.results_published_at is not None:
        raise Conflict(_("The results of this contest are already published."))
    if now < contest.closes_at:
        raise Conflict(
            _("The contest is still open until {deadline}: publish the results after it.").format(
                deadline=format_datetime(contest.closes_at)
            )
        )
    decision_number = clean_line(
        decision_number, field=_("Decision number"), max_len=100, required=False
    )
    entries = list(session.scalars(select(Entry).where(Entry.contest_id == contest.id)))
    values: dict[int, list[dict[int, float]]] = {e.id: [] for e in entries}
    reviews = session.scalars(
        select(Review).where(Review.entry_id.in_([e.id for e in entries]))
    ).all()
    for review in reviews:
        values[review.entry_id].append({s.criterion_id: s.value for s in review.scores})
    unscored = [e for e in entries if not values[e.id]]
    if unscored:
        raise Conflict(
            _(
                "{n} entries have no score yet (for example '{title}'): every entry needs "
                "at least one judge's score before the results are published."
            ).format(n=len(unscored), title=unscored[0].title)
        )
    # The guarded UPDATE takes the contest's row (or SQLite's write) lock: of two concurrent
    # publishes one changes the row, the other finds it published and answers 409.
    claimed = session.execute(
        update(Contest)
        .where(Contest.id == contest.id, Contest.results_published_at.is_(None))
        .values(results_published_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(_("The results of this contest are already published."))
    session.refresh(contest)
    scores = {e.id: entry_score(contest.criteria, values[e.id]) for e in entries}
    ranks = competition_ranks(scores)
    for entry in entries:
        entry.score = scores[entry.id]
        entry.rank = ranks[entry.id]
        entry.prize = prize_for(contest.prizes, entry.rank)
    session.flush()
    created = 0
    if create_awards:
        for entry in sorted(entries, key=_result_order):
            if entry.prize is None:
                continue
            for member in entry.members:
                awards.award_for_entry(
                    session,
                    actor,
                    contest=contest,
                    entry=entry,
                    user=member.user,
                    decision_number=decision_number,
                    awarded_at=awarded_at or now,
                )
                created += 1
    audit.record(
        session,
        actor=actor,
        action=audit.AuditAction.contest_results_published,
        target_type="contest",
        target_id=contest.id,
        target_label=contest.title,
        organization_id=contest.organization_id,
        detail={"entries": len(entries), "awards": created},
    )
    session.flush()
    return sorted(entries, key=_result_order)


def results(session: Session, actor: User, contest_id: int) -> list[Entry]:
    """Published results, best first; 409 before they are published."""
    contest = get_contest(session, contest_id)
    if contest.results_published_at is None:
        raise Conflict(_("The results of this contest are not published yet."))
    return list(
        session.scalars(
            select(Entry)
            .where(Entry.contest_id == contest.id)
            .order_by(Entry.rank, _SUBMITTER_NAME, Entry.id)
        )
    )


def criterion_means(session: Session, entry: Entry) -> dict[int, float]:
    """After the results: each criterion's mean over the judges (no judge is named)."""
    rows = session.execute(
        select(ReviewScore.criterion_id, func.avg(ReviewScore.value))
        .join(Review, Review.id == ReviewScore.review_id)
        .where(Review.entry_id == entry.id)
        .group_by(ReviewScore.criterion_id)
    )
    return {criterion_id: round(float(mean), 2) for criterion_id, mean in rows.tuples()}


def feedback(session: Session, actor: User, entry_id: int) -> list[str]:
    """After the results, the judges' comments for the entry's authors and the organiser
    (without the judges' names); nothing before."""
    entry = get_entry_for(session, actor, entry_id)
    contest = get_contest(session, entry.contest_id)
    if contest.results_published_at is None:
        return []
    if not (is_member(entry, actor.id) or is_organizer(actor, contest)):
        return []
    comments = session.scalars(
        select(Review.comment).where(Review.entry_id == entry.id).order_by(Review.id)
    )
    return [c for c in comments if c]
