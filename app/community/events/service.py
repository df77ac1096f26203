"""Events: creation and editing, who sees them, registration with a waitlist, check-in codes,
attendance (by code, marked, imported from CSV) completing a linked course lesson, personal
calendar feeds; partners and the content they contributed.

Plain functions; the caller's session commits. The learning package is used through
``app.lms.service`` / ``app.lms.progress`` (the lesson link and its completion), the library
through ``app.lcms.service`` (materials, partners' contents)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts import service as accounts
from app.accounts.importer import LineError
from app.accounts.models import Organization, Role, SchoolLevel, User
from app.community.events import policy
from app.community.events.models import (
    Attendance,
    AttendanceSource,
    CalendarFeed,
    CheckinFailure,
    Event,
    EventAudience,
    EventKind,
    EventLabel,
    EventMaterial,
    EventPartner,
    Partner,
    PartnerContent,
    PartnerKind,
    Registration,
    RegistrationStatus,
)
from app.core.collation import vi_sort_key
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyRequests,
)
from app.core.i18n import format_datetime
from app.core.i18n import gettext as _
from app.core.security import digest
from app.lcms import policy as lcms_policy
from app.lcms import service as lcms
from app.lcms.models import ContentItem, ContentStatus
from app.lms import enrol_import, progress
from app.lms import policy as lms_policy
from app.lms import service as lms
from app.lms.models import Enrollment, EnrollmentStatus, LessonKind, Module
from app.lms.models import Lesson as LmsLesson

MAX_TITLE = 300
MAX_DESCRIPTION = 10_000
MAX_LOCATION = 300
MAX_CAPACITY = 100_000
MAX_LINKS = 50  # materials, partners, audience organisations per event
MAX_DURATION = timedelta(days=31)

CHECKIN_OPENS_BEFORE = timedelta(minutes=30)
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0, 1: nothing to misread
CODE_LENGTH = 6
CHECKIN_MAX_FAILURES = 10
CHECKIN_FAILURE_WINDOW = timedelta(minutes=10)
FEED_PAST = timedelta(days=90)

AUDIENCE_ROLES = (Role.teacher, Role.student, Role.school_manager, Role.author, Role.admin)


# --- Lookups -------------------------------------------------------------------------------


def ancestor_ids(session: Session, organization_id: int) -> list[int]:
    """The organisation and every organisation above it (a recursive query)."""
    tree = (
        select(Organization.id, Organization.parent_id)
        .where(Organization.id == organization_id)
        .cte("org_up", recursive=True)
    )
    tree = tree.union_all(
        select(Organization.id, Organization.parent_id).where(Organization.id == tree.c.parent_id)
    )
    return list(session.scalars(select(tree.c.id)))


def get_event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound(_("Event {id} does not exist.").format(id=event_id))
    return event


def _enrolled_in_lesson_course(session: Session, user_id: int, lesson_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    LmsLesson.id == lesson_id,
                    Module.id == LmsLesson.module_id,
                    Enrollment.course_id == Module.course_id,
                    Enrollment.user_id == user_id,
                    Enrollment.status != EnrollmentStatus.withdrawn.value,
                )
            )
        )
    )


def can_see(session: Session, actor: User, event: Event) -> bool:
    if policy.can_see(actor, event, ancestor_ids(session, actor.organization_id)):
        return True
    # A learner of the course the event is a lesson of sees it, wherever they are.
    return event.lesson_id is not None and _enrolled_in_lesson_course(
        session, actor.id, event.lesson_id
    )


def get_event_for(session: Session, actor: User, event_id: int) -> Event:
    """The event if ``actor`` may see it; otherwise 404 (nobody learns it exists)."""
    event = get_event(session, event_id)
    if not can_see(session, actor, event):
        raise NotFound(_("Event {id} does not exist.").format(id=event_id))
    return event


def get_organised(session: Session, actor: User, event_id: int) -> Event:
    event = get_event_for(session, actor, event_id)
    policy.require_organiser(actor, event)
    return event


def _user_level(user: User) -> str | None:
    return user.organization.level if user.organization is not None else None


# --- Cleaning ------------------------------------------------------------------------------


def clean_kind(value: str) -> str:
    try:
        return EventKind(value).value
    except ValueError:
        raise InvalidInput(_("Unknown event kind '{kind}'.").format(kind=value)) from None


def clean_online_url(value: str | None) -> str | None:
    """An http(s) meeting link, or None; ``javascript:`` and other schemes are refused."""
    if value is None or not value.strip():
        return None
    try:
        return lcms.clean_url(value)
    except InvalidInput as exc:
        raise InvalidInput(_("Online link: {reason}").format(reason=exc.detail)) from None


def _clean_levels(levels: list[str]) -> list[str]:
    out: list[str] = []
    for level in levels:
        if level not in SchoolLevel._value2member_map_:
            raise InvalidInput(_("Unknown school level '{level}'.").format(level=level))
        if level not in out:
            out.append(level)
    return out


def _clean_roles(roles: list[str]) -> list[str]:
    out: list[str] = []
    for role in roles:
        if role not in Role._value2member_map_:
            raise InvalidInput(_("Unknown audience role '{role}'.").format(role=role))
        if role not in out:
            out.append(role)
    return out


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidInput(_("Times need a time zone (e.g. 2026-12-01T08:00:00+07:00)."))
    if ends_at <= starts_at:
        raise InvalidInput(_("The event must end after it starts."))
    if ends_at - starts_at > MAX_DURATION:
        raise InvalidInput(_("An event lasts at most 31 days."))


def _check_capacity(capacity: int | None) -> None:
    if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
        raise InvalidInput(
            _("Capacity must be a whole number from 1 to {max}.").format(max=MAX_CAPACITY)
        )


def _unique_ids(ids: list[int] | None, *, field: str) -> list[int]:
    out: list[int] = []
    for value in ids or []:
        if value not in out:
            out.append(value)
    if len(out) > MAX_LINKS:
        raise InvalidInput(_("{field}: at most {n} values.").format(field=field, n=MAX_LINKS))
    return out


def _check_materials(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    found = dict(
        session.execute(select(ContentItem.id, ContentItem.status).where(ContentItem.id.in_(ids)))
        .tuples()
        .all()
    )
    for item_id in ids:
        if item_id not in found:
            raise InvalidInput(_("Library item {id} does not exist.").format(id=item_id))
        if found[item_id] != ContentStatus.published:
            raise InvalidInput(
                _("Library item {id} is not published: attendees could not open it.").format(
                    id=item_id
                )
            )


def _check_partners(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    found = set(session.scalars(select(Partner.id).where(Partner.id.in_(ids))))
    for partner_id in ids:
        if partner_id not in found:
            raise InvalidInput(_("Partner {id} does not exist.").format(id=partner_id))


def _check_audience(session: Session, organization_id: int, ids: list[int]) -> None:
    if not ids:
        return
    inside = set(accounts.descendant_ids(session, organization_id))
    for org_id in ids:
        if org_id not in inside:
            raise InvalidInput(
                _(
                    "Audience organisation {id} is not the event's organisation or one below it."
                ).format(id=org_id)
            )


def _check_placement(session: Session, actor: User, organization_id: int) -> None:
    accounts.get_organization(session, organization_id)
    if actor.role == Role.admin:
        return
    if organization_id not in accounts.descendant_ids(session, actor.organization_id):
        raise PermissionDenied(
            _("You can only hold events in your own organisation or the schools below it.")
        )


def _check_lesson(session: Session, actor: User, lesson_id: int, event_id: int | None) -> None:
    lesson = lms.get_lesson(session, lesson_id)
    if lesson.kind != LessonKind.event:
        raise InvalidInput(
            _("Lesson {id} is not an event lesson: add a lesson of kind “event”.").format(
                id=lesson_id
            )
        )
    course = lms.course_of_lesson(session, lesson)
    lms_policy.require_owner(actor, course)
    other = session.scalar(select(Event.id).where(Event.lesson_id == lesson_id))
    if other is not None and other != event_id:
        raise Conflict(_("Lesson {id} is already linked to another event.").format(id=lesson_id))


def _set_labels(event: Event, *, levels: list[str] | None, roles: list[str] | None) -> None:
    for kind, values in (("level", levels), ("role", roles)):
        if values is None:
            continue
        keep = [label for label in event.labels if label.kind != kind]
        # Kept values keep their rows (a new twin would be inserted before the old is deleted).
        same = {label.value: label for label in event.labels if label.kind == kind}
        event.labels = keep + [same.get(v) or EventLabel(kind=kind, value=v) for v in values]


def _set_links(
    event: Event,
    *,
    material_ids: list[int] | None,
    partner_ids: list[int] | None,
    audience_ids: list[int] | None,
) -> None:
    if material_ids is not None:
        event.materials = [
            EventMaterial(content_item_id=item_id, position=n)
            for n, item_id in enumerate(material_ids)
        ]
    if partner_ids is not None:
        event.partners = [EventPartner(partner_id=p) for p in partner_ids]
    if audience_ids is not None:
        event.audience = [EventAudience(organization_id=o) for o in audience_ids]


def _flush_lesson_link(session: Session, lesson_id: int | None) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Two organisers linked the same lesson at once: the unique key let one through.
        raise Conflict(
            _("Lesson {id} is already linked to another event.").format(id=lesson_id)
        ) from None


# --- Create, edit, list --------------------------------------------------------------------


def create_event(
    session: Session,
    actor: User,
    *,
    title: str,
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    organization_id: int,
    location: str | None = None,
    online_url: str | None = None,
    description: str | None = None,
    levels: list[str] | None = None,
    roles: list[str] | None = None,
    capacity: int | None = None,
    lesson_id: int | None = None,
    material_ids: list[int] | None = None,
    partner_ids: list[int] | None = None,
    audience_ids: list[int] | None = None,
) -> Event:
    policy.require_creator(actor)
    _check_placement(session, actor, organization_id)
    _check_times(starts_at, ends_at)
    _check_capacity(capacity)
    materials = _unique_ids(material_ids, field=_("Materials"))
    partners = _unique_ids(partner_ids, field=_("Partners"))
    audience = _unique_ids(audience_ids, field=_("Audience organisations"))
    _check_materials(session, materials)
    _check_partners(session, partners)
    _check_audience(session, organization_id, audience)
    if lesson_id is not None:
        _check_lesson(session, actor, lesson_id, None)
    event = Event(
        title=lcms.clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True),
        kind=clean_kind(kind),
        description=lcms.clean_text(description, field=_("Description"), max_len=MAX_DESCRIPTION),
        starts_at=starts_at,
        ends_at=ends_at,
        location=lcms.clean_text(location, field=_("Place"), max_len=MAX_LOCATION),
        online_url=clean_online_url(online_url),
        organization_id=organization_id,
        capacity=capacity,
        lesson_id=lesson_id,
        created_by_id=actor.id,
    )
    _set_labels(event, levels=_clean_levels(levels or []), roles=_clean_roles(roles or []))
    _set_links(event, material_ids=materials, partner_ids=partners, audience_ids=audience)
    session.add(event)
    _flush_lesson_link(session, lesson_id)
    audit.record(
        session,
        actor=actor,
        action=audit.AuditAction.event_created,
        target_type="event",
        target_id=event.id,
        target_label=event.title,
        organization_id=event.organization_id,
        detail={"kind": event.kind, "starts_at": event.starts_at, "lesson_id": lesson_id},
    )
    return event


UPDATABLE = frozenset(
    {
        "title",
        "kind",
        "description",
        "starts_at",
        "ends_at",
        "location",
        "online_url",
        "organization_id",
        "levels",
        "roles",
        "capacity",
        "lesson_id",
        "material_ids",
        "partner_ids",
        "audience_ids",
    }
)


def update_event(session: Session, actor: User, event_id: int, changes: dict[str, object]) -> Event:
    """Change the fields named in ``changes`` (None clears an optional field)."""
    event = get_organised(session, actor, event_id)
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidInput(_("Unknown fields: {names}.").format(names=", ".join(sorted(unknown))))

    def text(name: str, max_len: int, field: str, *, required: bool = False) -> str:
        return lcms.clean_text(
            str(changes[name] or ""), field=field, max_len=max_len, required=required
        )

    if "title" in changes:
        event.title = text("title", MAX_TITLE, _("Title"), required=True)
    if "kind" in changes:
        event.kind = clean_kind(str(changes["kind"]))
    if "description" in changes:
        event.description = text("description", MAX_DESCRIPTION, _("Description"))
    if "location" in changes:
        event.location = text("location", MAX_LOCATION, _("Place"))
    if "online_url" in changes:
        value = changes["online_url"]
        event.online_url = clean_online_url(value if isinstance(value, str) else None)
    starts = changes.get("starts_at", event.starts_at)
    ends = changes.get("ends_at", event.ends_at)
    if not isinstance(starts, datetime) or not isinstance(ends, datetime):
        raise InvalidInput(_("Give the start and the end of the event."))
    _check_times(starts, ends)
    event.starts_at, event.ends_at = starts, ends
    if "organization_id" in changes:
        org_id = changes["organization_id"]
        if not isinstance(org_id, int):
            raise InvalidInput(_("Choose the organisation holding the event."))
        _check_placement(session, actor, org_id)
        event.organization_id = org_id
    if "capacity" in changes:
        capacity = changes["capacity"]
        capacity = capacity if isinstance(capacity, int) else None
        _check_capacity(capacity)
        taken = _registered_count(session, event.id)
        if capacity is not None and capacity < taken:
            raise InvalidInput(
                _("{n} people are already registered: the capacity cannot be lower.").format(
                    n=taken
                )
            )
        event.capacity = capacity
    if "levels" in changes:
        _set_labels(event, levels=_clean_levels(_strs(changes["levels"])), roles=None)
    if "roles" in changes:
        _set_labels(event, levels=None, roles=_clean_roles(_strs(changes["roles"])))
    links: dict[str, list[int] | None] = {}
    for name, label in (
        ("material_ids", _("Materials")),
        ("partner_ids", _("Partners")),
        ("audience_ids", _("Audience organisations")),
    ):
        links[name] = _unique_ids(_ints(changes[name]), field=label) if name in changes else None
    if links["material_ids"] is not None:
        _check_materials(session, links["material_ids"])
    if links["partner_ids"] is not None:
        _check_partners(session, links["partner_ids"])
    audience = (
        links["audience_ids"]
        if links["audience_ids"] is not None
        else [a.organization_id for a in event.audience]
    )
    _check_audience(session, event.organization_id, audience)
    _set_links(
        event,
        material_ids=links["material_ids"],
        partner_ids=links["partner_ids"],
        audience_ids=links["audience_ids"],
    )
    if "lesson_id" in changes and changes["lesson_id"] != event.lesson_id:
        # Only a change is checked: organisers who do not own the course still edit the rest
        # of a linked event (and may unlink it).
        lesson_id = changes["lesson_id"]
        if lesson_id is not None:
            if not isinstance(lesson_id, int):
                raise InvalidInput(_("Choose an event lesson."))
            _check_lesson(session, actor, lesson_id, event.id)
        event.lesson_id = lesson_id
    event.updated_at = utcnow()
    _flush_lesson_link(session, event.lesson_id)
    _promote(session, event)
    return event


def _strs(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _ints(value: object) -> list[int]:
    if not isinstance(value, list | tuple):
        return []
    if not all(isinstance(v, int) for v in value):
        raise InvalidInput(_("Give a list of ids."))
    return list(value)


@dataclass(frozen=True)
class EventPage:
    items: list[Event]
    total: int


def _visible_clause(session: Session, actor: User) -> ColumnElement[bool] | None:
    """The events ``actor`` sees, as a WHERE clause (None: everything, for administrators)."""
    if actor.role == Role.admin:
        return None
    ancestors = ancestor_ids(session, actor.organization_id)
    in_audience = and_(
        Event.organization_id.in_(ancestors),
        or_(
            ~exists().where(EventAudience.event_id == Event.id),
            exists().where(
                EventAudience.event_id == Event.id, EventAudience.organization_id.in_(ancestors)
            ),
        ),
    )
    clauses: list[ColumnElement[bool]] = [in_audience, Event.created_by_id == actor.id]
    if actor.role == Role.school_manager:
        clauses.append(Event.organization_id == actor.organization_id)
    clauses.append(
        exists().where(
            LmsLesson.id == Event.lesson_id,
            Module.id == LmsLesson.module_id,
            Enrollment.course_id == Module.course_id,
            Enrollment.user_id == actor.id,
            Enrollment.status != EnrollmentStatus.withdrawn.value,
        )
    )
    return or_(*clauses)


def _mine_clause(actor: User) -> ColumnElement[bool]:
    return or_(
        Event.created_by_id == actor.id,
        exists().where(
            Registration.event_id == Event.id,
            Registration.user_id == actor.id,
            Registration.status != RegistrationStatus.cancelled.value,
        ),
        exists().where(Attendance.event_id == Event.id, Attendance.user_id == actor.id),
    )


def list_events(
    session: Session,
    actor: User,
    *,
    starts_from: datetime | None = None,
    starts_before: datetime | None = None,
    ends_after: datetime | None = None,
    kind: str | None = None,
    organization_id: int | None = None,
    mine: bool = False,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = False,
) -> EventPage:
    """Visible events in start order. ``ends_after`` keeps events still running or to come;
    ``organization_id`` matches that organisation and everything below it."""
    query = select(Event)
    visible = _visible_clause(session, actor)
    if visible is not None:
        query = query.where(visible)
    if mine:
        query = query.where(_mine_clause(actor))
    if kind:
        query = query.where(Event.kind == clean_kind(kind))
    if organization_id is not None:
        query = query.where(
            Event.organization_id.in_(accounts.descendant_ids(session, organization_id))
        )
    if starts_from is not None:
        query = query.where(Event.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(Event.starts_at < starts_before)
    if ends_after is not None:
        query = query.where(Event.ends_at > ends_after)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = (
        (Event.starts_at.desc(), Event.id.desc()) if newest_first else (Event.starts_at, Event.id)
    )
    items = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    return EventPage(items=items, total=total)


def event_for_lesson(session: Session, actor: User, lesson_id: int) -> Event:
    event_id = session.scalar(select(Event.id).where(Event.lesson_id == lesson_id))
    if event_id is None:
        raise NotFound(_("No event is linked to this lesson yet."))
    return get_event_for(session, actor, event_id)


# --- Registration --------------------------------------------------------------------------


def _registered_count(session: Session, event_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                Registration.event_id == event_id,
                Registration.status == RegistrationStatus.registered.value,
            )
        )
        or 0
    )


def _lock(session: Session, event: Event) -> None:
    """The event's row lock (PostgreSQL): registrations for one event run one at a time, so
    two people never take the last seat together. SQLite writers are serialised already."""
    session.execute(select(Event.id).where(Event.id == event.id).with_for_update())


def registration_of(session: Session, user_id: int, event_id: int) -> Registration | None:
    return session.scalar(
        select(Registration).where(
            Registration.event_id == event_id, Registration.user_id == user_id
        )
    )


def attendance_of(session: Session, user_id: int, event_id: int) -> Attendance | None:
    return session.scalar(
        select(Attendance).where(Attendance.event_id == event_id, Attendance.user_id == user_id)
    )


def seats_left(session: Session, event: Event) -> int | None:
    if event.capacity is None:
        return None
    return max(0, event.capacity - _registered_count(session, event.id))


def waitlist_position(session: Session, registration: Registration) -> int | None:
    if registration.status != RegistrationStatus.waitlisted:
        return None
    ahead = session.scalar(
        select(func.count()).where(
            Registration.event_id == registration.event_id,
            Registration.status == RegistrationStatus.waitlisted.value,
            or_(
                Registration.requested_at < registration.requested_at,
                and_(
                    Registration.requested_at == registration.requested_at,
                    Registration.id < registration.id,
                ),
            ),
        )
    )
    return (ahead or 0) + 1


class EventFull(Conflict):
    """409 for a full event, offering the waitlist."""

    code = "event_full"


def register(
    session: Session, actor: User, event_id: int, *, waitlist: bool = False
) -> Registration:
    """Take a seat, or (``waitlist``) a place on the waitlist when the event is full."""
    event = get_event_for(session, actor, event_id)
    _lock(session, event)
    if event.ends_at <= utcnow():
        raise Conflict(_("This event has ended."))
    problem = policy.audience_problem(actor, event, _user_level(actor))
    if problem:
        raise PermissionDenied(problem)
    registration = registration_of(session, actor.id, event.id)
    if registration is not None and registration.status == RegistrationStatus.registered:
        raise Conflict(_("You are already registered for this event."))
    if registration is not None and registration.status == RegistrationStatus.waitlisted:
        raise Conflict(_("You are already on this event's waitlist."))
    left = seats_left(session, event)
    status = RegistrationStatus.registered
    if left == 0:
        if not waitlist:
            raise EventFull(
                _(
                    "This event is full. You can join the waitlist: you get a seat "
                    "automatically when someone cancels."
                ),
                extra={"waitlist_available": True},
            )
        status = RegistrationStatus.waitlisted
    now = utcnow()
    if registration is None:
        registration = Registration(event_id=event.id, user_id=actor.id)
        session.add(registration)
    registration.status = status.value
    registration.requested_at = now
    registration.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("You are already registered for this event.")) from None
    return registration


@dataclass(frozen=True)
class Cancelled:
    registration: Registration
    promoted_user_ids: list[int]


def cancel_registration(session: Session, actor: User, event_id: int) -> Cancelled:
    """Give up a seat (or a waitlist place); the first people waiting move up."""
    event = get_event_for(session, actor, event_id)
    _lock(session, event)
    registration = registration_of(session, actor.id, event.id)
    if registration is None or registration.status == RegistrationStatus.cancelled:
        raise NotFound(_("You are not registered for this event."))
    if event.ends_at <= utcnow():
        raise Conflict(_("This event has ended."))
    registration.status = RegistrationStatus.cancelled.value
    registration.updated_at = utcnow()
    session.flush()
    return Cancelled(registration, _promote(session, event))


def _promote(session: Session, event: Event) -> list[int]:
    """Give free seats to the waitlist, first come first served; the promoted user ids."""
    left = seats_left(session, event)
    if left == 0:
        return []
    query = (
        select(Registration)
        .where(
            Registration.event_id == event.id,
            Registration.status == RegistrationStatus.waitlisted.value,
        )
        .order_by(Registration.requested_at, Registration.id)
    )
    waiting = list(session.scalars(query if left is None else query.limit(left)))
    now = utcnow()
    for registration in waiting:
        registration.status = RegistrationStatus.registered.value
        registration.updated_at = now
    session.flush()
    return [r.user_id for r in waiting]


# --- Check-in codes ------------------------------------------------------------------------


def checkin_window(event: Event) -> tuple[datetime, datetime]:
    return event.starts_at - CHECKIN_OPENS_BEFORE, event.ends_at


def derive_code(settings: Settings, event_id: int, nonce: str) -> str:
    mac = hmac.new(
        settings.secret_key.encode(), f"event-checkin:{event_id}:{nonce}".encode(), hashlib.sha256
    ).digest()
    number = int.from_bytes(mac[:16], "big")
    chars = []
    for _i in range(CODE_LENGTH):
        number, index = divmod(number, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[index])
    return "".join(chars)


def normalise_code(value: str) -> str:
    return "".join(c for c in value.upper() if c.isalnum())


@dataclass(frozen=True)
class CheckinCode:
    code: str
    opens_at: datetime
    expires_at: datetime


def current_code(settings: Settings, event: Event) -> CheckinCode | None:
    """The code in force (for the organiser's page), or None before one is made or after
    the event."""
    if event.checkin_nonce is None or utcnow() > event.ends_at:
        return None
    opens, closes = checkin_window(event)
    return CheckinCode(derive_code(settings, event.id, event.checkin_nonce), opens, closes)


def new_checkin_code(
    session: Session, settings: Settings, actor: User, event_id: int
) -> CheckinCode:
    """A fresh code (the previous one stops working at once), valid from 30 minutes before
    the start to the end of the event."""
    event = get_organised(session, actor, event_id)
    if utcnow() > event.ends_at:
        raise Conflict(_("This event has ended: check-in is closed."))
    event.checkin_nonce = secrets.token_hex(16)
    session.flush()
    code = current_code(settings, event)
    assert code is not None
    return code


class WrongCode(InvalidInput):
    code = "wrong_code"


@dataclass(frozen=True)
class CheckinResult:
    attendance: Attendance
    already: bool
    lesson_completed: bool


def _throttle(session: Session, actor: User) -> None:
    since = utcnow() - CHECKIN_FAILURE_WINDOW
    rows = list(
        session.scalars(
            select(CheckinFailure.failed_at)
            .where(CheckinFailure.user_id == actor.id, CheckinFailure.failed_at > since)
            .order_by(CheckinFailure.failed_at)
        )
    )
    if len(rows) >= CHECKIN_MAX_FAILURES:
        wait = int((rows[0] + CHECKIN_FAILURE_WINDOW - utcnow()).total_seconds()) + 1
        raise TooManyRequests(
            _("Too many wrong codes. Try again in {minutes} minute(s).").format(
                minutes=max(1, math.ceil(wait / 60))
            ),
            retry_after=wait,
        )


def record_checkin_failure(session: Session, actor: User, event_id: int) -> None:
    """Count a wrong code. The caller answers the error without raising, so this is committed
    (like a failed sign-in)."""
    session.add(CheckinFailure(event_id=event_id, user_id=actor.id, failed_at=utcnow()))


def check_in(
    session: Session, settings: Settings, actor: User, event_id: int, code: str
) -> CheckinResult:
    """Record the actor's attendance with the code the organiser shows. Checking in twice
    answers the first check-in. A wrong code raises ``WrongCode`` (the caller records it with
    ``record_checkin_failure``)."""
    event = get_event_for(session, actor, event_id)
    existing = attendance_of(session, actor.id, event.id)
    if existing is not None:
        completed = _complete_lesson(session, event, actor.id)
        return CheckinResult(existing, already=True, lesson_completed=completed)
    _throttle(session, actor)
    opens, closes = checkin_window(event)
    now = utcnow()
    if now < opens:
        raise PermissionDenied(
            _("Check-in opens at {time}, 30 minutes before the event starts.").format(
                time=format_datetime(opens)
            )
        )
    if now > closes:
        raise PermissionDenied(
            _("Check-in closed at {time}, when the event ended.").format(
                time=format_datetime(closes)
            )
        )
    problem = policy.audience_problem(actor, event, _user_level(actor))
    if problem:
        raise PermissionDenied(problem)
    typed = normalise_code(code)
    expected = derive_code(settings, event.id, event.checkin_nonce) if event.checkin_nonce else None
    if expected is None or not hmac.compare_digest(typed.encode(), expected.encode()):
        raise WrongCode(
            _(
                "This check-in code is wrong or no longer valid. Ask the organiser for the "
                "code shown now."
            )
        )
    attendance, new, completed = _mark_present(
        session, event, actor.id, source=AttendanceSource.code, by=actor
    )
    return CheckinResult(attendance, already=not new, lesson_completed=completed)


# --- Attendance ----------------------------------------------------------------------------


def _complete_lesson(session: Session, event: Event, user_id: int) -> bool:
    if event.lesson_id is None:
        return False
    return progress.complete_event_lesson(session, user_id, event.lesson_id)


def _mark_present(
    session: Session, event: Event, user_id: int, *, source: AttendanceSource, by: User
) -> tuple[Attendance, bool, bool]:
    """(attendance, newly recorded, lesson newly completed). Recording again changes nothing,
    but completes the linked lesson if the person enrolled in its course since."""
    attendance = attendance_of(session, user_id, event.id)
    new = False
    if attendance is None:
        try:
            with session.begin_nested():
                attendance = Attendance(
                    event_id=event.id,
                    user_id=user_id,
                    source=source.value,
                    recorded_by_id=by.id,
                    recorded_at=utcnow(),
                )
                session.add(attendance)
            new = True
        except IntegrityError:  # a concurrent check-in recorded it first
            attendance = attendance_of(session, user_id, event.id)
            assert attendance is not None
    return attendance, new, _complete_lesson(session, event, user_id)


def _require_recordable(event: Event) -> None:
    opens, _closes = checkin_window(event)
    if utcnow() < opens:
        raise Conflict(
            _("Attendance can be recorded from {time}, 30 minutes before the start.").format(
                time=format_datetime(opens)
            )
        )


def _audience_org_ids(session: Session, event: Event) -> set[int]:
    roots = [a.organization_id for a in event.audience] or [event.organization_id]
    out: set[int] = set()
    for root in roots:
        out.update(accounts.descendant_ids(session, root))
    return out


def _attendee_problem(user: User, event: Event, orgs: set[int]) -> str | None:
    if not user.is_active:
        return _("The account {email} is deactivated.").format(email=user.email)
    if user.organization_id not in orgs:
        return _("{email} is not in this event's audience.").format(email=user.email)
    return None


def set_attendance(
    session: Session, actor: User, event_id: int, user_id: int, *, present: bool
) -> Attendance | None:
    """The organiser marks someone present (or removes the mark). Removing it does not undo
    a lesson completion: the transcript keeps what was once attested."""
    event = get_organised(session, actor, event_id)
    target = accounts.get_user(session, user_id)
    if not present:
        session.execute(
            delete(Attendance).where(Attendance.event_id == event.id, Attendance.user_id == user_id)
        )
        return None
    _require_recordable(event)
    problem = _attendee_problem(target, event, _audience_org_ids(session, event))
    if problem:
        raise InvalidInput(problem)
    attendance, _new, _completed = _mark_present(
        session, event, target.id, source=AttendanceSource.organiser, by=actor
    )
    return attendance


@dataclass
class AttendanceImport:
    marked: int = 0
    already: int = 0
    errors: list[LineError] = field(default_factory=list)


def import_attendance(
    session: Session, actor: User, event_id: int, data: bytes
) -> AttendanceImport:
    """Mark present everyone a CSV of emails lists (header ``email``). All or nothing: any
    unknown, deactivated or out-of-audience email is reported with its line number and nobody
    is marked."""
    event = get_organised(session, actor, event_id)
    _require_recordable(event)
    parsed = enrol_import.parse_emails(data)
    result = AttendanceImport(errors=list(parsed.errors))
    emails = [line.email for line in parsed.lines]
    found: dict[str, User] = {}
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        for known in session.scalars(select(User).where(User.email.in_(chunk))):
            found[known.email] = known
    orgs = _audience_org_ids(session, event)
    users: list[User] = []
    for line in parsed.lines:
        user = found.get(line.email)
        problem = (
            _("No user has the email {email}.").format(email=line.email)
            if user is None
            else _attendee_problem(user, event, orgs)
        )
        if problem:
            result.errors.append(LineError(line.line, problem))
        elif user is not None:
            users.append(user)
    result.errors.sort(key=lambda e: e.line)
    if result.errors:
        return result
    for user in users:
        _attendance, new, _completed = _mark_present(
            session, event, user.id, source=AttendanceSource.import_, by=actor
        )
        if new:
            result.marked += 1
        else:
            result.already += 1
    audit.record(
        session,
        actor=actor,
        action=audit.AuditAction.event_attendance_imported,
        target_type="event",
        target_id=event.id,
        target_label=event.title,
        organization_id=event.organization_id,
        detail={"marked": result.marked, "already": result.already},
    )
    return result


@dataclass(frozen=True)
class AttendeeRow:
    user: User
    registration: Registration | None
    attendance: Attendance | None


@dataclass(frozen=True)
class AttendanceList:
    rows: list[AttendeeRow]
    total: int
    registered: int
    waitlisted: int
    attended: int


def attendance_list(
    session: Session, actor: User, event_id: int, *, limit: int = 100, offset: int = 0
) -> AttendanceList:
    """Everyone registered, waiting or present, by name (the organiser's list)."""
    event = get_organised(session, actor, event_id)
    registrations = {
        r.user_id: r
        for r in session.scalars(
            select(Registration).where(
                Registration.event_id == event.id,
                Registration.status != RegistrationStatus.cancelled.value,
            )
        )
    }
    attendances = {
        a.user_id: a
        for a in session.scalars(select(Attendance).where(Attendance.event_id == event.id))
    }
    users = {r.user_id: r.user for r in registrations.values()}
    users.update({a.user_id: a.user for a in attendances.values()})
    ordered = sorted(users.values(), key=lambda u: (u.sort_name, u.id))
    rows = [
        AttendeeRow(u, registrations.get(u.id), attendances.get(u.id))
        for u in ordered[offset : offset + limit]
    ]
    statuses = [r.status for r in registrations.values()]
    return AttendanceList(
        rows=rows,
        total=len(ordered),
        registered=statuses.count(RegistrationStatus.registered.value),
        waitlisted=statuses.count(RegistrationStatus.waitlisted.value),
        attended=len(attendances),
    )


# --- Lesson link ---------------------------------------------------------------------------


def linkable_lessons(session: Session, actor: User) -> list[tuple[LmsLesson, str]]:
    """Event lessons ``actor`` may link (their courses; every course for an administrator)
    that no event holds yet, with their course titles."""
    from app.lms.models import Course

    query = (
        select(LmsLesson, Course.title)
        .join(Module, Module.id == LmsLesson.module_id)
        .join(Course, Course.id == Module.course_id)
        .where(
            LmsLesson.kind == LessonKind.event.value,
            ~exists().where(Event.lesson_id == LmsLesson.id),
        )
        .order_by(Course.title, Module.position, LmsLesson.position)
    )
    if actor.role != Role.admin:
        query = query.where(Course.owner_id == actor.id)
    found = [(lesson, title) for lesson, title in session.execute(query.limit(200)).tuples()]
    # Courses in Vietnamese order (the sort is stable: lessons keep their order in a course).
    return sorted(found, key=lambda pair: vi_sort_key(pair[1]))


def lesson_title(session: Session, lesson_id: int) -> tuple[str, str, int] | None:
    """(lesson title, course title, course id) of a linked lesson."""
    from app.lms.models import Course

    row = session.execute(
        select(LmsLesson.title, Course.title, Course.id)
        .join(Module, Module.id == LmsLesson.module_id)
        .join(Course, Course.id == Module.course_id)
        .where(LmsLesson.id == lesson_id)
    ).first()
    return (row[0], row[1], row[2]) if row else None


# --- Calendars -----------------------------------------------------------------------------


def calendar_events(session: Session, user: User) -> list[Event]:
    """The user's events for a calendar: registered, waiting, attended or organised; from
    90 days ago on."""
    since = utcnow() - FEED_PAST
    return list(
        session.scalars(
            select(Event)
            .where(_mine_clause(user), Event.ends_at > since)
            .order_by(Event.starts_at, Event.id)
            .limit(1000)
        )
    )


def feed_token(settings: Settings, feed: CalendarFeed) -> str:
    mac = hmac.new(
        settings.secret_key.encode(),
        f"calendar-feed:{feed.user_id}:{feed.nonce}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def get_feed(session: Session, user: User) -> CalendarFeed | None:
    return session.get(CalendarFeed, user.id)


def new_feed(session: Session, settings: Settings, user: User) -> CalendarFeed:
    """Create the user's secret calendar address, or replace it (the old one stops working)."""
    feed = session.get(CalendarFeed, user.id)
    if feed is None:
        feed = CalendarFeed(user_id=user.id)
        session.add(feed)
    feed.nonce = secrets.token_hex(16)
    feed.created_at = utcnow()
    feed.token_digest = digest(feed_token(settings, feed))
    session.flush()
    return feed


def revoke_feed(session: Session, user: User) -> None:
    session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))


def user_by_feed_token(session: Session, token: str) -> User:
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.token_digest == digest(token)))
    user = session.get(User, feed.user_id) if feed is not None else None
    if user is None or not user.is_active:
        raise NotFound(_("This calendar address does not exist or was revoked."))
    return user


# --- Partners ------------------------------------------------------------------------------


def clean_partner_kind(value: str) -> str:
    try:
        return PartnerKind(value).value
    except ValueError:
        raise InvalidInput(_("Unknown partner kind '{kind}'.").format(kind=value)) from None


def clean_website(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return lcms.clean_url(value)
    except InvalidInput as exc:
        raise InvalidInput(_("Website: {reason}").format(reason=exc.detail)) from None


def get_partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(_("Partner {id} does not exist.").format(id=partner_id))
    return partner


def _check_contents(session: Session, ids: list[int]) -> None:
    if not ids:
        return
    found = set(session.scalars(select(ContentItem.id).where(ContentItem.id.in_(ids))))
    for item_id in ids:
        if item_id not in found:
            raise InvalidInput(_("Library item {id} does not exist.").format(id=item_id))


def _flush_partner_name(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("A partner named '{name}' already exists.").format(name=name)) from None


def create_partner(
    session: Session,
    actor: User,
    *,
    name: str,
    kind: str,
    website: str | None = None,
    contact: str | None = None,
    description: str | None = None,
    content_ids: list[int] | None = None,
) -> Partner:
    policy.require_partner_admin(actor)
    contents = _unique_ids(content_ids, field=_("Library items"))
    _check_contents(session, contents)
    partner = Partner(
        name=lcms.clean_text(name, field=_("Name"), max_len=200, required=True),
        kind=clean_partner_kind(kind),
        website=clean_website(website),
        contact=lcms.clean_text(contact, field=_("Contact"), max_len=300),
        description=lcms.clean_text(description, field=_("Description"), max_len=MAX_DESCRIPTION),
        contents=[PartnerContent(content_item_id=i) for i in contents],
    )
    session.add(partner)
    _flush_partner_name(session, partner.name)
    return partner


def update_partner(
    session: Session, actor: User, partner_id: int, changes: dict[str, object]
) -> Partner:
    policy.require_partner_admin(actor)
    partner = get_partner(session, partner_id)
    if "name" in changes:
        partner.name = lcms.clean_text(
            str(changes["name"] or ""), field=_("Name"), max_len=200, required=True
        )
    if "kind" in changes:
        partner.kind = clean_partner_kind(str(changes["kind"]))
    if "website" in changes:
        value = changes["website"]
        partner.website = clean_website(value if isinstance(value, str) else None)
    if "contact" in changes:
        partner.contact = lcms.clean_text(
            str(changes["contact"] or ""), field=_("Contact"), max_len=300
        )
    if "description" in changes:
        partner.description = lcms.clean_text(
            str(changes["description"] or ""), field=_("Description"), max_len=MAX_DESCRIPTION
        )
    if "content_ids" in changes:
        contents = _unique_ids(_ints(changes["content_ids"]), field=_("Library items"))
        _check_contents(session, contents)
        partner.contents = [PartnerContent(content_item_id=i) for i in contents]
    partner.updated_at = utcnow()
    _flush_partner_name(session, partner.name)
    return partner


def delete_partner(session: Session, actor: User, partner_id: int) -> None:
    policy.require_partner_admin(actor)
    session.delete(get_partner(session, partner_id))
    session.flush()


def list_partners(
    session: Session, *, kind: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Partner], int]:
    query = select(Partner)
    if kind:
        query = query.where(Partner.kind == clean_partner_kind(kind))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.order_by(Partner.name).limit(limit).offset(offset)))
    return items, total


def partners_by_id(session: Session, ids: list[int]) -> dict[int, Partner]:
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(select(Partner).where(Partner.id.in_(ids)))}


def partner_events(session: Session, actor: User, partner_id: int) -> list[Event]:
    query = (
        select(Event)
        .join(EventPartner, EventPartner.event_id == Event.id)
        .where(EventPartner.partner_id == partner_id)
    )
    visible = _visible_clause(session, actor)
    if visible is not None:
        query = query.where(visible)
    return list(session.scalars(query.order_by(Event.starts_at.desc()).limit(50)))


def content_items(session: Session, actor: User, ids: list[int]) -> list[ContentItem]:
    """Library items by id, in the given order, that ``actor`` may open."""
    if not ids:
        return []
    items = {i.id: i for i in session.scalars(select(ContentItem).where(ContentItem.id.in_(ids)))}
    return [items[i] for i in ids if i in items and lcms_policy.can_see_item(actor, items[i])]
