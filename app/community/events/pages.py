"""HTML pages of events and partners.

- ``/events``: the calendar — upcoming events grouped by day, a month grid, filters by kind and
  organisation, "my events", and the personal calendar address (subscribe in a calendar app);
- ``/events/new``, ``/events/{id}/edit``: the event form (dates and times are typed in the
  configured time zone, Asia/Ho_Chi_Minh);
- ``/events/{id}``: details, register / cancel / waitlist, add to calendar (.ics), materials and
  co-organising partners; for organisers the check-in code in large type with its QR code,
  the attendance list, marking and CSV import;
- ``/events/{id}/checkin``: type (or scan) the code; the QR code opens this page with the code
  filled in, after signing in;
- ``/events/by-lesson/{lesson_id}``: the event of a course lesson (the lesson page links here:
  lms knows nothing of events);
- ``/partners``, ``/partners/{id}``: partners, their events and the content they contributed;
  administrators add, edit and delete them.

Forms post and redirect (303) with a flash message, or show the form again with the errors.
"""

from __future__ import annotations

import calendar as calendar_module
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.accounts import service as accounts
from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import Organization, Role, SchoolLevel, User
from app.community.events import api as events_api
from app.community.events import ics, policy, service
from app.community.events.models import Event, EventKind, Partner, PartnerKind
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep, utcnow
from app.core.errors import AppError, InvalidInput, NotFound
from app.core.forms import parse_day, parse_int
from app.core.i18n import gettext as _
from app.core.web import Offset, Pagination, redirect, render
from app.lcms import service as lcms
from app.lms import enrol_import

router = APIRouter(include_in_schema=False)

KINDS = [k.value for k in EventKind]
PARTNER_KINDS = [k.value for k in PartnerKind]
LEVELS = [lv.value for lv in SchoolLevel]
AUDIENCE_ROLES = [
    Role.teacher.value,
    Role.student.value,
    Role.school_manager.value,
    Role.author.value,
]
UPCOMING = 40
MONTH_LIMIT = 500
LIBRARY_CHOICES = 100
PARTNERS_PAGE = 30
ATTENDANCE_PAGE = 500

Short = Annotated[str, Form(max_length=50)]
Text = Annotated[str, Form(max_length=2000)]


async def _form(request: Request) -> FormData:
    return await request.form()


FormBody = Annotated[FormData, Depends(_form)]


# --- Small pure helpers ---------------------------------------------------------------------


def parse_clock(value: str | None, *, field: str) -> time | None:
    """A time typed in a form: ``HH:MM`` (what ``<input type="time">`` sends) or ``HHhMM``."""
    text = (value or "").strip().lower().replace("h", ":")
    if not text:
        return None
    if text.endswith(":"):
        text += "00"
    try:
        hours, minutes = (int(part) for part in text.split(":")[:2])
        return time(hours, minutes)
    except ValueError:
        raise InvalidInput(
            _("{field}: '{value}' is not a time (HH:MM).").format(field=field, value=text[:10])
        ) from None


def local_moment(day: date | None, clock: time | None, timezone: str) -> datetime | None:
    if day is None or clock is None:
        return None
    return datetime.combine(day, clock, ZoneInfo(timezone)).astimezone(UTC)


def local_parts(value: datetime | None, timezone: str) -> tuple[str, str]:
    """(``yyyy-mm-dd``, ``HH:MM``) of a stored moment, for the form's fields."""
    if value is None:
        return "", ""
    local = value.astimezone(ZoneInfo(timezone))
    return local.date().isoformat(), local.strftime("%H:%M")


def parse_month(value: str | None, today: date) -> date:
    """The first day of ``yyyy-mm`` (this month when missing or wrong)."""
    try:
        year, month = (int(p) for p in (value or "").split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return date(year, month, 1)
    except ValueError:
        pass
    return today.replace(day=1)


def month_weeks(first: date) -> list[list[date]]:
    """The weeks (Monday first) covering the month of ``first``."""
    return calendar_module.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)


def shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def checkin_url(request: Request, event_id: int, code: str) -> str:
    return f"{events_api.base(request)}/events/{event_id}/checkin?code={code}"


def qr_svg(url: str, label: str) -> Markup:
    """The QR code of ``url`` as inline SVG (no script: fine under the CSP)."""
    svg = segno.make(url, error="m").svg_inline(
        scale=6, omitsize=True, title=label, svgclass="qr-code"
    )
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))


def _ints(values: list[str]) -> list[int]:
    out = []
    for value in values:
        try:
            out.append(int(value))
        except ValueError:
            raise InvalidInput(_("Choose from the list.")) from None
    return out


# --- Calendar -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    day: date
    events: list[Event]


def _local_day(value: datetime, timezone: str) -> date:
    return value.astimezone(ZoneInfo(timezone)).date()


@router.get("/events")
def calendar_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    organization_id: Annotated[str | None, Query(max_length=12)] = None,
    mine: Annotated[str | None, Query(max_length=5)] = None,
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    tz = settings.timezone
    kind_filter = kind if kind in KINDS else None
    org_text = organization_id or ""
    org_filter = int(org_text) if org_text.isdecimal() else None
    only_mine = mine == "1"
    now = utcnow()
    filters: dict[str, Any] = {
        "kind": kind_filter,
        "organization_id": org_filter,
        "mine": only_mine,
    }
    if org_filter is not None and not any(
        o.id == org_filter for o in accounts.list_organizations(session)
    ):
        filters["organization_id"] = org_filter = None
    upcoming = service.list_events(session, user, ends_after=now, limit=UPCOMING, **filters)
    days: list[Day] = []
    for event in upcoming.items:
        day = max(_local_day(event.starts_at, tz), _local_day(now, tz))
        if days and days[-1].day == day:
            days[-1].events.append(event)
        else:
            days.append(Day(day, [event]))
    first = parse_month(month, _local_day(now, tz))
    weeks = month_weeks(first)
    grid_start = datetime.combine(weeks[0][0], time.min, ZoneInfo(tz)).astimezone(UTC)
    grid_end = datetime.combine(weeks[-1][-1] + timedelta(days=1), time.min, ZoneInfo(tz))
    in_month = service.list_events(
        session,
        user,
        starts_from=grid_start,
        starts_before=grid_end.astimezone(UTC),
        limit=MONTH_LIMIT,
        **filters,
    )
    by_day: dict[date, list[Event]] = {}
    for event in in_month.items:
        by_day.setdefault(_local_day(event.starts_at, tz), []).append(event)
    feed = service.get_feed(session, user)
    return render(
        request,
        "community/events/calendar.html",
        {
            "days": days,
            "upcoming_total": upcoming.total,
            "weeks": weeks,
            "month": first,
            "prev_month": shift_month(first, -1).strftime("%Y-%m"),
            "next_month": shift_month(first, 1).strftime("%Y-%m"),
            "by_day": by_day,
            "today": _local_day(now, tz),
            "kinds": KINDS,
            "kind": kind_filter or "",
            "organization_id": org_filter or "",
            "mine": only_mine,
            "organizations": accounts.list_organizations(session),
            "can_create": policy.can_create(user),
            "feed_url": (
                f"{events_api.base(request)}/api/v1/calendar/"
                f"{service.feed_token(settings, feed)}.ics"
                if feed
                else None
            ),
            "filtered": bool(kind_filter or org_filter or only_mine),
        },
    )


@router.post("/events/feed", dependencies=[CSRFChecked])
def new_feed(
    request: Request, session: SessionDep, settings: SettingsDep, user: PageUser
) -> Response:
    service.new_feed(session, settings, user)
    return redirect(
        request,
        "/events#calendar-feed",
        message=_("Your calendar address is ready. Any older address no longer works."),
    )


@router.post("/events/feed/revoke", dependencies=[CSRFChecked])
def revoke_feed(request: Request, session: SessionDep, user: PageUser) -> Response:
    service.revoke_feed(session, user)
    return redirect(
        request, "/events#calendar-feed", message=_("Your calendar address was turned off.")
    )


@router.get("/events/my.ics")
def my_ics(request: Request, session: SessionDep, user: PageUser) -> Response:
    """Download your events once (the browser sends the cookie; no address to keep secret)."""
    return events_api.personal_calendar(request, session, user)


# --- Form ---------------------------------------------------------------------------------


def _empty_form(settings: Settings, user: User) -> dict[str, Any]:
    start = utcnow().astimezone(ZoneInfo(settings.timezone)) + timedelta(days=7)
    day = start.date().isoformat()
    return {
        "title": "",
        "kind": "seminar",
        "organization_id": str(user.organization_id),
        "start_date": day,
        "start_time": "08:00",
        "end_date": day,
        "end_time": "11:00",
        "location": "",
        "online_url": "",
        "capacity": "",
        "description": "",
        "levels": [],
        "roles": [],
        "materials": [],
        "partner_ids": [],
        "audience_ids": [],
        "lesson_id": "",
    }


def _event_form(event: Event, settings: Settings) -> dict[str, Any]:
    sd, st = local_parts(event.starts_at, settings.timezone)
    ed, et = local_parts(event.ends_at, settings.timezone)
    return {
        "title": event.title,
        "kind": event.kind,
        "organization_id": str(event.organization_id),
        "start_date": sd,
        "start_time": st,
        "end_date": ed,
        "end_time": et,
        "location": event.location,
        "online_url": event.online_url or "",
        "capacity": str(event.capacity or ""),
        "description": event.description,
        "levels": event.values("level"),
        "roles": event.values("role"),
        "materials": [str(m.content_item_id) for m in event.materials],
        "partner_ids": [str(p.partner_id) for p in event.partners],
        "audience_ids": [str(a.organization_id) for a in event.audience],
        "lesson_id": str(event.lesson_id or ""),
    }


def _read_form(form: FormData) -> dict[str, Any]:
    def one(name: str, limit: int = 2000) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    def many(name: str) -> list[str]:
        return [v for v in form.getlist(name) if isinstance(v, str)][:100]

    return {
        "title": one("title", 400),
        "kind": one("kind", 30),
        "organization_id": one("organization_id", 12),
        "start_date": one("start_date", 20),
        "start_time": one("start_time", 10),
        "end_date": one("end_date", 20),
        "end_time": one("end_time", 10),
        "location": one("location", 400),
        "online_url": one("online_url", 2100),
        "capacity": one("capacity", 10),
        "description": one("description", 11000),
        "levels": many("levels"),
        "roles": many("roles"),
        "materials": many("materials"),
        "partner_ids": many("partner_ids"),
        "audience_ids": many("audience_ids"),
        "lesson_id": one("lesson_id", 12),
    }


def _parse_event_form(f: dict[str, Any], timezone: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The service's arguments from the form, and the errors of each field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    def attempt(name: str, fn: Any) -> Any:
        try:
            return fn()
        except AppError as exc:
            errors[name] = exc.detail
            return None

    values["title"] = f["title"]
    values["kind"] = f["kind"]
    values["organization_id"] = attempt(
        "organization_id",
        lambda: parse_int(
            f["organization_id"], field=_("Organisation"), minimum=1, maximum=2**31, required=True
        ),
    )
    start_day = attempt("start_date", lambda: parse_day(f["start_date"], field=_("Start date")))
    start_clock = attempt("start_time", lambda: parse_clock(f["start_time"], field=_("Start time")))
    end_day = attempt("end_date", lambda: parse_day(f["end_date"], field=_("End date")))
    end_clock = attempt("end_time", lambda: parse_clock(f["end_time"], field=_("End time")))
    for name, value in (
        ("start_date", start_day),
        ("start_time", start_clock),
        ("end_date", end_day),
        ("end_time", end_clock),
    ):
        if value is None and name not in errors:
            errors[name] = _("This field is required.")
    values["starts_at"] = local_moment(start_day, start_clock, timezone)
    values["ends_at"] = local_moment(end_day, end_clock, timezone)
    if values["starts_at"] and values["ends_at"] and values["ends_at"] <= values["starts_at"]:
        errors["end_time"] = _("The event must end after it starts.")
    values["location"] = f["location"]
    values["online_url"] = attempt("online_url", lambda: service.clean_online_url(f["online_url"]))
    values["capacity"] = attempt(
        "capacity",
        lambda: parse_int(f["capacity"], field=_("Capacity"), minimum=1, maximum=100_000),
    )
    values["description"] = f["description"]
    values["levels"] = [v for v in f["levels"] if v in LEVELS]
    values["roles"] = [v for v in f["roles"] if v in AUDIENCE_ROLES]
    values["material_ids"] = attempt("materials", lambda: _ints(f["materials"])) or []
    values["partner_ids"] = attempt("partner_ids", lambda: _ints(f["partner_ids"])) or []
    values["audience_ids"] = attempt("audience_ids", lambda: _ints(f["audience_ids"])) or []
    values["lesson_id"] = attempt(
        "lesson_id",
        lambda: parse_int(f["lesson_id"], field=_("Course lesson"), minimum=1, maximum=2**31),
    )
    return values, errors


def _form_context(
    session: Session, user: User, event: Event | None, form: dict[str, Any]
) -> dict[str, Any]:
    if user.role == Role.admin:
        organizations = accounts.list_organizations(session)
    else:
        allowed = set(accounts.descendant_ids(session, user.organization_id))
        organizations = [o for o in accounts.list_organizations(session) if o.id in allowed]
    library = lcms.list_items(session, user, status="published", limit=LIBRARY_CHOICES).items
    lessons = service.linkable_lessons(session, user)
    current = service.lesson_title(session, event.lesson_id) if event and event.lesson_id else None
    partners, _total = service.list_partners(session, limit=200)
    return {
        "event": event,
        "form": form,
        "kinds": KINDS,
        "levels": LEVELS,
        "audience_roles": AUDIENCE_ROLES,
        "organizations": organizations,
        "schools": [o for o in organizations if o.kind == "school"],
        "library_items": library,
        "partners": partners,
        "lessons": lessons,
        "current_lesson": current,
    }


def _render_form(
    request: Request,
    session: Session,
    user: User,
    event: Event | None,
    form: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = _form_context(session, user, event, form)
    context.update({"errors": errors or {}, "error": error})
    return render(request, "community/events/form.html", context, status_code=status_code)


@router.get("/events/new")
def new_event_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: PageUser
) -> Response:
    policy.require_creator(user)
    return _render_form(request, session, user, None, _empty_form(settings, user))


@router.post("/events/new", dependencies=[CSRFChecked])
def create_event(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    form: FormBody,
) -> Response:
    policy.require_creator(user)
    f = _read_form(form)
    values, errors = _parse_event_form(f, settings.timezone)
    if errors:
        return _render_form(
            request,
            session,
            user,
            None,
            f,
            errors=errors,
            error=_("Please correct the errors below."),
            status_code=422,
        )
    try:
        event = service.create_event(session, user, **values)
    except AppError as exc:
        session.rollback()
        return _render_form(
            request, session, user, None, f, error=exc.detail, status_code=exc.status_code
        )
    return redirect(request, f"/events/{event.id}", message=_("The event was created."))


@router.get("/events/by-lesson/{lesson_id}")
def event_by_lesson(
    request: Request, lesson_id: int, session: SessionDep, user: PageUser
) -> Response:
    """The event linked to a course lesson (the lesson page links here)."""
    event = service.event_for_lesson(session, user, lesson_id)
    return redirect(request, f"/events/{event.id}")


# --- Event page ---------------------------------------------------------------------------


def _event_context(
    request: Request, session: Session, settings: Settings, user: User, event: Event
) -> dict[str, Any]:
    organiser = policy.is_organiser(user, event)
    registration = service.registration_of(session, user.id, event.id)
    live = registration if registration and registration.status != "cancelled" else None
    attendance = service.attendance_of(session, user.id, event.id)
    code = service.current_code(settings, event) if organiser else None
    url = checkin_url(request, event.id, code.code) if code else None
    now = utcnow()
    opens, closes = service.checkin_window(event)
    partner_map = service.partners_by_id(session, [p.partner_id for p in event.partners])
    context: dict[str, Any] = {
        "event": event,
        "organiser": organiser,
        "registration": live,
        "waitlist_position": service.waitlist_position(session, live) if live else None,
        "attendance": attendance,
        "seats_left": service.seats_left(session, event),
        "ended": event.ends_at <= now,
        "checkin_open": opens <= now <= closes,
        "checkin_opens": opens,
        "audience_problem": policy.audience_problem(
            user, event, user.organization.level if user.organization else None
        ),
        "materials": service.content_items(
            session, user, [m.content_item_id for m in event.materials]
        ),
        "partners": [
            partner_map[p.partner_id] for p in event.partners if p.partner_id in partner_map
        ],
        "audience_orgs": [
            org
            for a in event.audience
            if (org := session.get(Organization, a.organization_id)) is not None
        ],
        "lesson": service.lesson_title(session, event.lesson_id) if event.lesson_id else None,
        "code": code,
        "checkin_url": url,
        "qr": qr_svg(url, _("QR code to check in: %(url)s") % {"url": url}) if url else None,
    }
    if organiser:
        context["listing"] = service.attendance_list(session, user, event.id, limit=ATTENDANCE_PAGE)
    return context


@router.get("/events/{event_id}")
def event_page(
    request: Request, event_id: int, session: SessionDep, settings: SettingsDep, user: PageUser
) -> Response:
    event = service.get_event_for(session, user, event_id)
    return render(
        request,
        "community/events/event.html",
        _event_context(request, session, settings, user, event),
    )


@router.get("/events/{event_id}/calendar.ics")
def event_ics(request: Request, event_id: int, session: SessionDep, user: PageUser) -> Response:
    """ "Add to calendar" for a browser (the API's .ics needs a bearer token)."""
    event = service.get_event_for(session, user, event_id)
    body = ics.calendar(
        [events_api.calendar_event(events_api.base(request), event)],
        name=event.title,
        stamp=utcnow(),
    )
    return events_api.ics_response(body, f"event-{event.id}.ics")


@router.get("/events/{event_id}/edit")
def edit_event_page(
    request: Request, event_id: int, session: SessionDep, settings: SettingsDep, user: PageUser
) -> Response:
    event = service.get_organised(session, user, event_id)
    return _render_form(request, session, user, event, _event_form(event, settings))


@router.post("/events/{event_id}/edit", dependencies=[CSRFChecked])
def edit_event(
    request: Request,
    event_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    form: FormBody,
) -> Response:
    event = service.get_organised(session, user, event_id)
    f = _read_form(form)
    values, errors = _parse_event_form(f, settings.timezone)
    if errors:
        return _render_form(
            request,
            session,
            user,
            event,
            f,
            errors=errors,
            error=_("Please correct the errors below."),
            status_code=422,
        )
    changes = dict(values)
    if changes.get("lesson_id") is None and event.lesson_id is not None and not f["lesson_id"]:
        changes["lesson_id"] = None
    try:
        service.update_event(session, user, event.id, changes)
    except AppError as exc:
        session.rollback()
        event = service.get_organised(session, user, event_id)
        return _render_form(
            request, session, user, event, f, error=exc.detail, status_code=exc.status_code
        )
    return redirect(request, f"/events/{event_id}", message=_("The event was saved."))


@router.post("/events/{event_id}/register", dependencies=[CSRFChecked])
def register(
    request: Request, event_id: int, session: SessionDep, user: PageUser, form: FormBody
) -> Response:
    url = f"/events/{event_id}"
    try:
        registration = service.register(
            session, user, event_id, waitlist=form.get("waitlist") == "1"
        )
    except NotFound:
        raise
    except AppError as exc:
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    if registration.status == "waitlisted":
        return redirect(
            request,
            url,
            message=_("You are on the waitlist. You get a seat automatically if one frees up."),
        )
    return redirect(request, url, message=_("You are registered. See you there!"))


@router.post("/events/{event_id}/cancel", dependencies=[CSRFChecked])
def cancel(request: Request, event_id: int, session: SessionDep, user: PageUser) -> Response:
    url = f"/events/{event_id}"
    # An event the user may not see is "not found" (404), as on every other event route; only
    # the problems of a visible event come back as a message on its page.
    service.get_event_for(session, user, event_id)
    try:
        service.cancel_registration(session, user, event_id)
    except AppError as exc:
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(request, url, message=_("Your registration was cancelled."))


@router.post("/events/{event_id}/code", dependencies=[CSRFChecked])
def new_code(
    request: Request, event_id: int, session: SessionDep, settings: SettingsDep, user: PageUser
) -> Response:
    url = f"/events/{event_id}#checkin-code"
    try:
        service.new_checkin_code(session, settings, user, event_id)
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(
        request, url, message=_("A new check-in code is shown. The previous one no longer works.")
    )


# --- Check-in -----------------------------------------------------------------------------


@router.get("/events/{event_id}/checkin")
def checkin_page(
    request: Request,
    event_id: int,
    session: SessionDep,
    user: PageUser,
    code: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    event = service.get_event_for(session, user, event_id)
    return render(
        request,
        "community/events/checkin.html",
        {
            "event": event,
            "code": service.normalise_code(code or ""),
            "attendance": service.attendance_of(session, user.id, event.id),
            "error": None,
        },
    )


@router.post("/events/{event_id}/checkin", dependencies=[CSRFChecked])
def checkin(
    request: Request,
    event_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    code: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    event = service.get_event_for(session, user, event_id)
    try:
        result = service.check_in(session, settings, user, event.id, code)
    except service.WrongCode as exc:
        # Shown, not raised: the failure is committed and counts against guessing.
        service.record_checkin_failure(session, user, event.id)
        return _checkin_error(request, session, user, event, code, exc)
    except AppError as exc:
        session.rollback()
        return _checkin_error(request, session, user, event, code, exc)
    if result.already:
        message = _("You had already checked in. Thank you!")
    elif result.lesson_completed:
        message = _("You are checked in. The course lesson of this event is completed.")
    else:
        message = _("You are checked in. Thank you!")
    return redirect(request, f"/events/{event.id}", message=message)


def _checkin_error(
    request: Request, session: Session, user: User, event: Event, code: str, exc: AppError
) -> Response:
    event = service.get_event_for(session, user, event.id)
    return render(
        request,
        "community/events/checkin.html",
        {
            "event": event,
            "code": service.normalise_code(code)[:12],
            "attendance": None,
            "error": exc.detail,
        },
        status_code=exc.status_code,
    )


# --- Attendance (organisers) --------------------------------------------------------------


@router.post("/events/{event_id}/attendance", dependencies=[CSRFChecked])
def mark_by_email(
    request: Request,
    event_id: int,
    session: SessionDep,
    user: PageUser,
    email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    url = f"/events/{event_id}#attendance"
    try:
        service.get_organised(session, user, event_id)
        target = accounts.find_user_by_email(session, accounts.clean_email(email))
        if target is None:
            raise InvalidInput(_("No user has the email {email}.").format(email=email.strip()))
        service.set_attendance(session, user, event_id, target.id, present=True)
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(
        request, url, message=_("{name} is marked present.").format(name=target.full_name)
    )


@router.post("/events/{event_id}/attendance/import", dependencies=[CSRFChecked])
def import_attendance(
    request: Request,
    event_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    event = service.get_organised(session, user, event_id)
    try:
        if file is None or not file.filename:
            raise InvalidInput(_("Choose a CSV file."))
        data = file.file.read(enrol_import.MAX_BYTES + 1)
        if len(data) > enrol_import.MAX_BYTES:
            raise InvalidInput(_("The file is larger than {n} MB.").format(n=2))
        result = service.import_attendance(session, user, event.id, data)
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        session.rollback()
        return redirect(
            request, f"/events/{event_id}#attendance", message=exc.detail, level="error"
        )
    if result.errors:
        session.rollback()
        event = service.get_organised(session, user, event_id)
        context = _event_context(request, session, settings, user, event)
        context["import_errors"] = result.errors
        return render(request, "community/events/event.html", context, status_code=422)
    return redirect(
        request,
        f"/events/{event_id}#attendance",
        message=_("{marked} marked present, {already} already were.").format(
            marked=result.marked, already=result.already
        ),
    )


# Declared after ``/attendance/import``: that path would otherwise match ``{user_id}``.
@router.post("/events/{event_id}/attendance/{user_id}", dependencies=[CSRFChecked])
def mark(
    request: Request,
    event_id: int,
    user_id: int,
    session: SessionDep,
    user: PageUser,
    present: Short = "1",
) -> Response:
    url = f"/events/{event_id}#attendance"
    try:
        service.set_attendance(session, user, event_id, user_id, present=present == "1")
    except AppError as exc:
        if exc.status_code in (403, 404):
            raise
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    message = _("Marked present.") if present == "1" else _("The attendance mark was removed.")
    return redirect(request, url, message=message)


# --- Partners -----------------------------------------------------------------------------


def _partner_form(partner: Partner | None) -> dict[str, Any]:
    if partner is None:
        return {
            "name": "",
            "kind": "agency",
            "website": "",
            "contact": "",
            "description": "",
            "content_ids": [],
        }
    return {
        "name": partner.name,
        "kind": partner.kind,
        "website": partner.website or "",
        "contact": partner.contact,
        "description": partner.description,
        "content_ids": [str(c.content_item_id) for c in partner.contents],
    }


def _read_partner(form: FormData) -> dict[str, Any]:
    def one(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    return {
        "name": one("name", 250),
        "kind": one("kind", 30),
        "website": one("website", 2100),
        "contact": one("contact", 350),
        "description": one("description", 11000),
        "content_ids": [v for v in form.getlist("content_ids") if isinstance(v, str)][:100],
    }


def _render_partners(
    request: Request,
    session: Session,
    user: User,
    *,
    offset: int = 0,
    kind: str | None = None,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    items, total = service.list_partners(session, kind=kind, limit=PARTNERS_PAGE, offset=offset)
    is_admin = user.role == Role.admin
    return render(
        request,
        "community/events/partners.html",
        {
            "partners": items,
            "total": total,
            "pagination": Pagination(total=total, limit=PARTNERS_PAGE, offset=offset),
            "kinds": PARTNER_KINDS,
            "kind": kind or "",
            "is_admin": is_admin,
            "form": form or _partner_form(None),
            "error": error,
            "library_items": (
                lcms.list_items(session, user, status="published", limit=LIBRARY_CHOICES).items
                if is_admin
                else []
            ),
        },
        status_code=status_code,
    )


@router.get("/partners")
def partners_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    offset: Offset = 0,
) -> Response:
    return _render_partners(
        request, session, user, offset=offset, kind=kind if kind in PARTNER_KINDS else None
    )


def _partner_values(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f["name"],
        "kind": f["kind"],
        "website": f["website"],
        "contact": f["contact"],
        "description": f["description"],
        "content_ids": _ints(f["content_ids"]),
    }


@router.post("/partners", dependencies=[CSRFChecked])
def create_partner(
    request: Request, session: SessionDep, user: PageUser, form: FormBody
) -> Response:
    policy.require_partner_admin(user)
    f = _read_partner(form)
    try:
        partner = service.create_partner(session, user, **_partner_values(f))
    except AppError as exc:
        session.rollback()
        return _render_partners(
            request, session, user, form=f, error=exc.detail, status_code=exc.status_code
        )
    return redirect(request, f"/partners/{partner.id}", message=_("The partner was added."))


@router.get("/partners/{partner_id}")
def partner_page(
    request: Request, partner_id: int, session: SessionDep, user: PageUser
) -> Response:
    partner = service.get_partner(session, partner_id)
    return _render_partner(request, session, user, partner)


def _render_partner(
    request: Request,
    session: Session,
    user: User,
    partner: Partner,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    is_admin = user.role == Role.admin
    return render(
        request,
        "community/events/partner.html",
        {
            "partner": partner,
            "contents": service.content_items(
                session, user, [c.content_item_id for c in partner.contents]
            ),
            "events": service.partner_events(session, user, partner.id),
            "is_admin": is_admin,
            "kinds": PARTNER_KINDS,
            "form": form or _partner_form(partner),
            "error": error,
            "library_items": (
                lcms.list_items(session, user, status="published", limit=LIBRARY_CHOICES).items
                if is_admin
                else []
            ),
        },
        status_code=status_code,
    )


@router.post("/partners/{partner_id}", dependencies=[CSRFChecked])
def update_partner(
    request: Request, partner_id: int, session: SessionDep, user: PageUser, form: FormBody
) -> Response:
    policy.require_partner_admin(user)
    f = _read_partner(form)
    try:
        service.update_partner(session, user, partner_id, _partner_values(f))
    except AppError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        partner = service.get_partner(session, partner_id)
        return _render_partner(
            request, session, user, partner, form=f, error=exc.detail, status_code=exc.status_code
        )
    return redirect(request, f"/partners/{partner_id}", message=_("The partner was saved."))


@router.post("/partners/{partner_id}/delete", dependencies=[CSRFChecked])
def delete_partner(
    request: Request, partner_id: int, session: SessionDep, user: PageUser
) -> Response:
    service.delete_partner(session, user, partner_id)
    return redirect(request, "/partners", message=_("The partner was deleted."))
