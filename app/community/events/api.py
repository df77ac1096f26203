"""JSON API of events (registration, check-in, attendance, calendars) and partners."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.accounts import service as accounts
from app.accounts.deps import ApiUser
from app.accounts.models import User
from app.accounts.schemas import LineErrorOut
from app.community.events import ics, policy, service
from app.community.events.models import (
    AttendanceSource,
    Event,
    EventKind,
    Partner,
    PartnerKind,
    Registration,
    RegistrationStatus,
)
from app.community.events.schemas import (
    AttendanceImportOut,
    AttendanceMark,
    AttendancePage,
    AttendeeOut,
    CalendarFeedOut,
    CancelOut,
    CheckinCodeOut,
    CheckinIn,
    CheckinOut,
    EventIn,
    EventOut,
    EventPage,
    EventUpdate,
    MyStatus,
    PartnerIn,
    PartnerOut,
    PartnerPage,
    PartnerRef,
    PartnerUpdate,
    RegisterIn,
    RegistrationOut,
)
from app.core.db import SessionDep, SettingsDep, utcnow
from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.i18n import gettext as _
from app.core.openapi import file_response
from app.core.web import Limit, Offset
from app.lms import enrol_import

router = APIRouter(prefix="/api/v1", tags=["events"])
ICS_TYPE = "text/calendar; charset=utf-8"


# --- Shapes --------------------------------------------------------------------------------


def base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def my_status(session: Session, user: User, event: Event) -> MyStatus:
    registration = service.registration_of(session, user.id, event.id)
    attendance = service.attendance_of(session, user.id, event.id)
    live = registration if registration and registration.status != "cancelled" else None
    return MyStatus(
        registration=RegistrationStatus(live.status) if live else None,
        waitlist_position=service.waitlist_position(session, live) if live else None,
        attended=attendance is not None,
        attended_at=attendance.recorded_at if attendance else None,
    )


def event_out(
    session: Session,
    user: User,
    event: Event,
    *,
    partners: dict[int, Partner] | None = None,
    with_me: bool = True,
) -> EventOut:
    partner_ids = [p.partner_id for p in event.partners]
    known = partners if partners is not None else service.partners_by_id(session, partner_ids)
    return EventOut(
        id=event.id,
        uuid=event.uuid,
        title=event.title,
        kind=EventKind(event.kind),
        description=event.description,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        location=event.location,
        online_url=event.online_url,
        organization_id=event.organization_id,
        organization_name=event.organization.name,
        levels=event.values("level"),
        roles=event.values("role"),
        capacity=event.capacity,
        seats_left=service.seats_left(session, event),
        lesson_id=event.lesson_id,
        materials=[m.content_item_id for m in event.materials],
        partner_ids=partner_ids,
        partners=[
            PartnerRef(id=p.id, name=p.name, kind=PartnerKind(p.kind))
            for pid in partner_ids
            if (p := known.get(pid)) is not None
        ],
        audience_organization_ids=[a.organization_id for a in event.audience],
        created_by_id=event.created_by_id,
        is_organiser=policy.is_organiser(user, event),
        me=my_status(session, user, event) if with_me else None,
        ics_url=f"/api/v1/events/{event.id}.ics",
        created_at=event.created_at,
        updated_at=event.updated_at,
    )


def registration_out(session: Session, registration: Registration) -> RegistrationOut:
    return RegistrationOut(
        event_id=registration.event_id,
        user_id=registration.user_id,
        status=RegistrationStatus(registration.status),
        waitlist_position=service.waitlist_position(session, registration),
        requested_at=registration.requested_at,
    )


def calendar_event(root: str, event: Event) -> ics.CalendarEvent:
    details = [event.description] if event.description else []
    if event.online_url:
        details.append(_("Online: {url}").format(url=event.online_url))
    return ics.CalendarEvent(
        uid=f"{event.uuid}@hocso",
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        updated_at=event.updated_at,
        location=event.location or (event.online_url or ""),
        description="\n\n".join(details),
        url=f"{root}/events/{event.id}",
    )


def ics_response(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type=ICS_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-cache",
        },
    )


def feed_out(request: Request, token: str | None, created_at: datetime | None) -> CalendarFeedOut:
    url = f"{base(request)}/api/v1/calendar/{token}.ics" if token else None
    return CalendarFeedOut(url=url, created_at=created_at)


# --- Events --------------------------------------------------------------------------------


@router.post("/events", response_model=EventOut, status_code=201)
def create_event(body: EventIn, session: SessionDep, user: ApiUser) -> EventOut:
    event = service.create_event(
        session,
        user,
        title=body.title,
        kind=body.kind.value,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        organization_id=body.organization_id,
        location=body.location,
        online_url=body.online_url,
        description=body.description,
        levels=[lv.value for lv in body.levels],
        roles=[r.value for r in body.roles],
        capacity=body.capacity,
        lesson_id=body.lesson_id,
        material_ids=body.materials,
        partner_ids=body.partner_ids,
        audience_ids=body.audience_organization_ids,
    )
    return event_out(session, user, event)


@router.get("/events", response_model=EventPage)
def list_events(
    session: SessionDep,
    user: ApiUser,
    date_from: Annotated[datetime | None, Query(alias="from")] = None,
    date_to: Annotated[datetime | None, Query(alias="to")] = None,
    kind: EventKind | None = None,
    organization_id: int | None = None,
    mine: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> EventPage:
    """Events you can see, in start order. ``from``/``to`` select events that end after
    ``from`` and start before ``to`` (ISO datetimes with an offset); ``mine``: those you
    registered for, attended or organise."""
    for value in (date_from, date_to):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(_("Times need a time zone (e.g. 2026-12-01T08:00:00+07:00)."))
    page = service.list_events(
        session,
        user,
        ends_after=date_from,
        starts_before=date_to,
        kind=kind.value if kind else None,
        organization_id=organization_id,
        mine=mine,
        limit=limit,
        offset=offset,
    )
    ids = sorted({p.partner_id for e in page.items for p in e.partners})
    partners = service.partners_by_id(session, ids)
    return EventPage(
        items=[event_out(session, user, e, partners=partners, with_me=False) for e in page.items],
        total=page.total,
    )


# Before /events/{event_id}: "/events/5.ics" would otherwise reach it as id "5.ics".
@router.get(
    "/events/{event_id}.ics", response_class=Response, responses={200: file_response(ICS_TYPE)}
)
def event_ics(request: Request, event_id: int, session: SessionDep, user: ApiUser) -> Response:
    """One event as an iCalendar file (RFC 5545) to add to a calendar."""
    event = service.get_event_for(session, user, event_id)
    body = ics.calendar([calendar_event(base(request), event)], name=event.title, stamp=utcnow())
    return ics_response(body, f"event-{event.id}.ics")


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(event_id: int, session: SessionDep, user: ApiUser) -> EventOut:
    return event_out(session, user, service.get_event_for(session, user, event_id))


@router.patch("/events/{event_id}", response_model=EventOut)
def update_event(event_id: int, body: EventUpdate, session: SessionDep, user: ApiUser) -> EventOut:
    """Organisers only. Absent fields stay; an explicit null clears an optional field."""
    renames = {
        "materials": "material_ids",
        "audience_organization_ids": "audience_ids",
    }
    changes: dict[str, object] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if isinstance(value, list):
            value = [v.value if hasattr(v, "value") else v for v in value]
        elif hasattr(value, "value"):
            value = value.value
        changes[renames.get(name, name)] = value
    event = service.update_event(session, user, event_id, changes)
    return event_out(session, user, event)


@router.post("/events/{event_id}/register", response_model=RegistrationOut, status_code=201)
def register(
    event_id: int, session: SessionDep, user: ApiUser, body: RegisterIn | None = None
) -> RegistrationOut:
    """Take a seat. A second registration is 409; a full event is 409 ``event_full`` (with
    ``waitlist_available``): send ``{"waitlist": true}`` to join its waitlist."""
    waitlist = body.waitlist if body else False
    registration = service.register(session, user, event_id, waitlist=waitlist)
    return registration_out(session, registration)


@router.delete("/events/{event_id}/register", response_model=CancelOut)
def cancel(event_id: int, session: SessionDep, user: ApiUser) -> CancelOut:
    """Cancel your registration; the first people on the waitlist get the free seat."""
    result = service.cancel_registration(session, user, event_id)
    return CancelOut(
        event_id=event_id,
        status=RegistrationStatus(result.registration.status),
        promoted_user_ids=result.promoted_user_ids,
    )


@router.post("/events/{event_id}/checkin-code", response_model=CheckinCodeOut)
def checkin_code(
    request: Request, event_id: int, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> CheckinCodeOut:
    """Organisers: a new check-in code (the previous one stops working), valid from 30
    minutes before the start to the end."""
    code = service.new_checkin_code(session, settings, user, event_id)
    return CheckinCodeOut(
        code=code.code,
        opens_at=code.opens_at,
        expires_at=code.expires_at,
        checkin_url=f"{base(request)}/events/{event_id}/checkin?code={code.code}",
    )


@router.post("/events/{event_id}/checkin", response_model=CheckinOut)
def checkin(
    event_id: int, body: CheckinIn, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> Response:
    """Check in with the code the organiser shows. Idempotent: checking in again answers the
    first check-in. A wrong code is 422 ``wrong_code``; outside the window, 403."""
    try:
        result = service.check_in(session, settings, user, event_id, body.code)
    except service.WrongCode as exc:
        # Answered, not raised: the failure is committed and counts against guessing.
        service.record_checkin_failure(session, user, event_id)
        return JSONResponse(exc.payload(), status_code=exc.status_code)
    out = CheckinOut(
        event_id=event_id,
        user_id=user.id,
        attended_at=result.attendance.recorded_at,
        already=result.already,
        lesson_completed=result.lesson_completed,
    )
    return JSONResponse(out.model_dump(mode="json"))


def attendee_out(row: service.AttendeeRow) -> AttendeeOut:
    return AttendeeOut(
        user_id=row.user.id,
        full_name=row.user.full_name,
        email=row.user.email,
        organization_id=row.user.organization_id,
        registration=RegistrationStatus(row.registration.status) if row.registration else None,
        attended=row.attendance is not None,
        attended_at=row.attendance.recorded_at if row.attendance else None,
        source=AttendanceSource(row.attendance.source) if row.attendance else None,
    )


@router.get("/events/{event_id}/attendance", response_model=AttendancePage)
def attendance(
    event_id: int, session: SessionDep, user: ApiUser, limit: Limit = 100, offset: Offset = 0
) -> AttendancePage:
    """Organisers: everyone registered, waiting or present."""
    listing = service.attendance_list(session, user, event_id, limit=limit, offset=offset)
    return AttendancePage(
        items=[attendee_out(r) for r in listing.rows],
        total=listing.total,
        registered=listing.registered,
        waitlisted=listing.waitlisted,
        attended=listing.attended,
    )


@router.put("/events/{event_id}/attendance/{user_id}", response_model=AttendeeOut)
def mark_attendance(
    event_id: int, user_id: int, body: AttendanceMark, session: SessionDep, user: ApiUser
) -> AttendeeOut:
    """Organisers: mark someone present (``{"present": true}``) or remove the mark."""
    service.set_attendance(session, user, event_id, user_id, present=body.present)
    target = accounts.get_user(session, user_id)
    registration = service.registration_of(session, user_id, event_id)
    return attendee_out(
        service.AttendeeRow(
            target,
            registration if registration and registration.status != "cancelled" else None,
            service.attendance_of(session, user_id, event_id),
        )
    )


@router.post(
    "/events/{event_id}/attendance/import",
    response_model=AttendanceImportOut,
    responses={
        422: {
            "description": "Invalid input. A CSV with wrong lines: the error body also carries "
            "marked, already and errors (every line's problem), and nobody is marked."
        }
    },
)
async def import_attendance(
    event_id: int,
    session: SessionDep,
    user: ApiUser,
    file: Annotated[UploadFile, File(description="CSV with a header 'email', one per line")],
) -> Response:
    """Organisers: mark present everyone a CSV lists. All or nothing: with any bad line the
    answer is 422 with every line's error, and nobody is marked."""
    data = await file.read(enrol_import.MAX_BYTES + 1)
    if len(data) > enrol_import.MAX_BYTES:
        raise PayloadTooLarge(_("The file is larger than {n} MB.").format(n=2))
    result = await run_in_threadpool(service.import_attendance, session, user, event_id, data)
    out = AttendanceImportOut(
        marked=result.marked,
        already=result.already,
        errors=[LineErrorOut(line=e.line, message=e.message) for e in result.errors],
    )
    if result.errors:  # the API's error shape, with the per-line report beside it
        raise InvalidInput(
            _("Nobody was marked: correct the lines listed and try again."),
            extra=out.model_dump(mode="json"),
        )
    return JSONResponse(out.model_dump(mode="json"))


# --- Calendars -----------------------------------------------------------------------------


def personal_calendar(request: Request, session: Session, user: User) -> Response:
    events = service.calendar_events(session, user)
    body = ics.calendar(
        [calendar_event(base(request), e) for e in events],
        name=_("HọcSố events: {name}").format(name=user.full_name),
        stamp=utcnow(),
    )
    return ics_response(body, "hocso-events.ics")


@router.get("/me/calendar.ics", response_class=Response, responses={200: file_response(ICS_TYPE)})
def my_calendar(request: Request, session: SessionDep, user: ApiUser) -> Response:
    """Your events (registered, waiting, attended, organised) as an iCalendar feed."""
    return personal_calendar(request, session, user)


@router.get(
    "/calendar/{token}.ics", response_class=Response, responses={200: file_response(ICS_TYPE)}
)
def calendar_by_token(request: Request, token: str, session: SessionDep) -> Response:
    """The same feed at a secret address, for calendar apps that cannot send a token."""
    return personal_calendar(request, session, service.user_by_feed_token(session, token))


@router.get("/me/calendar-feed", response_model=CalendarFeedOut)
def get_feed(
    request: Request, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> CalendarFeedOut:
    feed = service.get_feed(session, user)
    token = service.feed_token(settings, feed) if feed else None
    return feed_out(request, token, feed.created_at if feed else None)


@router.post("/me/calendar-feed", response_model=CalendarFeedOut)
def new_feed(
    request: Request, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> CalendarFeedOut:
    """A new secret calendar address (the previous one stops working)."""
    feed = service.new_feed(session, settings, user)
    return feed_out(request, service.feed_token(settings, feed), feed.created_at)


@router.delete("/me/calendar-feed", status_code=204)
def revoke_feed(session: SessionDep, user: ApiUser) -> None:
    service.revoke_feed(session, user)


# --- Partners ------------------------------------------------------------------------------


def partner_out(partner: Partner) -> PartnerOut:
    return PartnerOut(
        id=partner.id,
        name=partner.name,
        kind=PartnerKind(partner.kind),
        website=partner.website,
        contact=partner.contact,
        description=partner.description,
        content_ids=[c.content_item_id for c in partner.contents],
        created_at=partner.created_at,
        updated_at=partner.updated_at,
    )


@router.post("/partners", response_model=PartnerOut, status_code=201, tags=["partners"])
def create_partner(body: PartnerIn, session: SessionDep, user: ApiUser) -> PartnerOut:
    partner = service.create_partner(
        session,
        user,
        name=body.name,
        kind=body.kind.value,
        website=body.website,
        contact=body.contact,
        description=body.description,
        content_ids=body.content_ids,
    )
    return partner_out(partner)


@router.get("/partners", response_model=PartnerPage, tags=["partners"])
def list_partners(
    session: SessionDep,
    user: ApiUser,
    kind: PartnerKind | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PartnerPage:
    items, total = service.list_partners(
        session, kind=kind.value if kind else None, limit=limit, offset=offset
    )
    return PartnerPage(items=[partner_out(p) for p in items], total=total)


@router.get("/partners/{partner_id}", response_model=PartnerOut, tags=["partners"])
def get_partner(partner_id: int, session: SessionDep, user: ApiUser) -> PartnerOut:
    return partner_out(service.get_partner(session, partner_id))


@router.patch("/partners/{partner_id}", response_model=PartnerOut, tags=["partners"])
def update_partner(
    partner_id: int, body: PartnerUpdate, session: SessionDep, user: ApiUser
) -> PartnerOut:
    changes: dict[str, object] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        changes[name] = value.value if hasattr(value, "value") else value
    return partner_out(service.update_partner(session, user, partner_id, changes))


@router.delete("/partners/{partner_id}", status_code=204, tags=["partners"])
def delete_partner(partner_id: int, session: SessionDep, user: ApiUser) -> None:
    service.delete_partner(session, user, partner_id)
