"""Awards ("biểu dương, khen thưởng"): commendations to a person or an organisation, entered by
an administrator or created for the prize winners when a contest's results are published.

Plain functions; the caller's session commits. Each award is audited (``award.created``).
Who sees what: a person their own awards, a school manager those counted for their school (the
awards of its people and of the school itself), an administrator all of them.

Awards made for contest winners are official records: their title is the prize's name and the
reason is written in Vietnamese (the language of the certificate of merit), whatever language
the organiser's screen was in.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts.models import Organization, Role, User
from app.community.contests import policy
from app.community.contests.models import Award, Entry
from app.community.contests.stats import DEFAULT_TIMEZONE, period_bounds
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.i18n import gettext as _
from app.core.text import fold, search_terms

if TYPE_CHECKING:
    from app.community.contests.models import Contest

MAX_TITLE = 300
MAX_REASON = 5_000
MAX_DECISION = 100


def _clean(value: str | None, *, field: str, max_len: int, required: bool) -> str:
    text = unicodedata.normalize("NFC", (value or "").replace("\r\n", "\n")).strip()
    if required and not text:
        raise InvalidInput(_("{field} is required.").format(field=field))
    if len(text) > max_len:
        raise InvalidInput(
            _("{field} is longer than {n} characters.").format(field=field, n=max_len)
        )
    return text


def _insert(
    session: Session,
    actor: User | None,
    *,
    title: str,
    user: User | None,
    organization: Organization | None,
    reason: str,
    decision_number: str,
    awarded_at: datetime,
    entry_id: int | None,
    issuer_organization_id: int,
) -> Award:
    if awarded_at.tzinfo is None:
        raise InvalidInput(_("Dates need a time zone."))
    if user is not None:
        scope, recipient = user.organization_id, user.full_name
    elif organization is not None:
        scope, recipient = organization.id, organization.name
    else:
        raise InvalidInput(_("Give the award to exactly one person or one organisation."))
    award = Award(
        title=title,
        user_id=user.id if user is not None else None,
        organization_id=organization.id if organization is not None else None,
        scope_organization_id=scope,
        issuer_organization_id=issuer_organization_id,
        reason=reason,
        decision_number=decision_number,
        awarded_at=awarded_at,
        entry_id=entry_id,
        created_by_id=actor.id if actor is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(award)
    except IntegrityError:
        raise Conflict(_("This person already has an award for this entry.")) from None
    audit.record(
        session,
        actor=actor,
        action=audit.AuditAction.award_created,
        target_type="award",
        target_id=award.id,
        target_label=f"{title} — {recipient}",
        organization_id=scope,
        detail={"decision_number": decision_number, "entry_id": entry_id},
    )
    return award


def create_award(
    session: Session,
    actor: User,
    *,
    title: str,
    user_id: int | None = None,
    organization_id: int | None = None,
    reason: str = "",
    decision_number: str = "",
    awarded_at: datetime,
    entry_id: int | None = None,
    issuer_organization_id: int | None = None,
) -> Award:
    """An administrator's award to exactly one of a user or an organisation. The issuing body
    defaults to the administrator's organisation (the commune)."""
    policy.require_award_creator(actor)
    if (user_id is None) == (organization_id is None):
        raise InvalidInput(_("Give the award to exactly one person or one organisation."))
    title = _clean(title, field=_("Title"), max_len=MAX_TITLE, required=True)
    reason = _clean(reason, field=_("Reason"), max_len=MAX_REASON, required=True)
    decision_number = _clean(
        decision_number, field=_("Decision number"), max_len=MAX_DECISION, required=False
    )
    user = organization = None
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_("User {id} does not exist.").format(id=user_id))
    else:
        organization = session.get(Organization, organization_id)
        if organization is None:
            raise NotFound(_("Organisation {id} does not exist.").format(id=organization_id))
    if entry_id is not None and session.get(Entry, entry_id) is None:
        raise NotFound(_("Entry {id} does not exist.").format(id=entry_id))
    issuer = issuer_organization_id or actor.organization_id
    if session.get(Organization, issuer) is None:
        raise NotFound(_("Organisation {id} does not exist.").format(id=issuer))
    return _insert(
        session,
        actor,
        title=title,
        user=user,
        organization=organization,
        reason=reason,
        decision_number=decision_number,
        awarded_at=awarded_at,
        entry_id=entry_id,
        issuer_organization_id=issuer,
    )


def award_for_entry(
    session: Session,
    actor: User,
    *,
    contest: Contest,
    entry: Entry,
    user: User,
    decision_number: str,
    awarded_at: datetime,
) -> Award:
    """The award of one member of a prize-winning entry (called when results are published;
    the contest's organisation gives it)."""
    assert entry.prize is not None
    reason = (
        f"Đã có thành tích đạt {entry.prize} Cuộc thi “{contest.title}” "
        f"với bài dự thi “{entry.title}”."
    )
    return _insert(
        session,
        actor,
        title=entry.prize[:MAX_TITLE],
        user=user,
        organization=None,
        reason=reason,
        decision_number=decision_number,
        awarded_at=awarded_at,
        entry_id=entry.id,
        issuer_organization_id=contest.organization_id,
    )


# --- Reading ------------------------------------------------------------------------------


# Newest first; awards of one decision (same date) by the recipient's name, Vietnamese order.
_NEWEST_FIRST = (
    Award.awarded_at.desc(),
    func.coalesce(
        select(User.sort_name).where(User.id == Award.user_id).scalar_subquery(),
        select(Organization.sort_name)
        .where(Organization.id == Award.organization_id)
        .scalar_subquery(),
    ),
    Award.id.desc(),
)


def _visible(actor: User) -> Select[tuple[Award]]:
    query = select(Award)
    if actor.role == Role.admin:
        return query
    if actor.role == Role.school_manager:
        return query.where(
            or_(Award.user_id == actor.id, Award.scope_organization_id == actor.organization_id)
        )
    return query.where(Award.user_id == actor.id)


def can_see(actor: User, award: Award) -> bool:
    return (
        actor.role == Role.admin
        or award.user_id == actor.id
        or (
            actor.role == Role.school_manager
            and award.scope_organization_id == actor.organization_id
        )
    )


def get_award_for(session: Session, actor: User, award_id: int) -> Award:
    award = session.get(Award, award_id)
    if award is None or not can_see(actor, award):
        raise NotFound(_("Award {id} does not exist.").format(id=award_id))
    return award


def list_awards(
    session: Session,
    actor: User,
    *,
    user_id: int | None = None,
    organization_id: int | None = None,
    year: int | None = None,
    q: str | None = None,
    from_contests: bool | None = None,
    limit: int = 50,
    offset: int = 0,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[list[Award], int]:
    """The awards ``actor`` may see, newest first. ``organization_id`` matches the awards
    counted for that organisation (its people's and its own); ``year`` the awards dated in that
    calendar year where the decisions are signed (``timezone``: one dated 1 January at local
    midnight is still 31 December in UTC); ``q`` the title, reason, decision number or
    recipient's name, accents and case ignored."""
    query = _visible(actor)
    if user_id is not None:
        query = query.where(Award.user_id == user_id)
    if organization_id is not None:
        query = query.where(Award.scope_organization_id == organization_id)
    if year is not None:
        start, end = period_bounds(date(year, 1, 1), date(year, 12, 31), timezone)
        query = query.where(Award.awarded_at >= start, Award.awarded_at < end)
    if from_contests is not None:
        query = query.where(
            Award.entry_id.is_not(None) if from_contests else Award.entry_id.is_(None)
        )
    terms = search_terms(q or "")
    if terms:
        candidates = list(session.scalars(query))
        matched = [a.id for a in candidates if all(t in _search_text(a) for t in terms)]
        query = select(Award).where(Award.id.in_(matched))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(*_NEWEST_FIRST).limit(limit).offset(offset))
    return list(items), total


def _search_text(award: Award) -> str:
    return fold(" ".join([award.title, award.reason, award.decision_number, award.recipient_name]))


def awards_for_user(session: Session, user_id: int) -> list[Award]:
    """A person's awards, newest first (for profiles; the caller checks who may look)."""
    return list(
        session.scalars(select(Award).where(Award.user_id == user_id).order_by(*_NEWEST_FIRST))
    )


def awards_for_organization(
    session: Session, organization_id: int, *, include_people: bool = False
) -> list[Award]:
    """Awards given to the organisation itself; with ``include_people`` also those of its
    people (counted for it). Newest first; the caller checks who may look."""
    condition = (
        Award.scope_organization_id == organization_id
        if include_people
        else Award.organization_id == organization_id
    )
    return list(session.scalars(select(Award).where(condition).order_by(*_NEWEST_FIRST)))
