"""The audit log for administrators: the JSON API (``GET /api/v1/audit``, ``.csv``) and the page
``/admin/audit`` with its filters, pagination and a CSV download keeping the filters.

Entries are written by ``app.accounts.audit.record`` inside each action's own transaction; this
module only reads them. The CSV exports stream from a database cursor through a session that
stays open until the response is sent (``scope="request"``), like the report exports.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.audit import AuditAction, AuditEntry, iter_entries, list_entries, require_auditor
from app.accounts.deps import ApiUser, PageUser
from app.accounts.models import Organization, User
from app.accounts.schemas import Page
from app.core.db import SessionDep, SettingsDep, get_session, utcnow
from app.core.errors import InvalidInput
from app.core.forms import parse_day, parse_id
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.openapi import file_response
from app.core.web import Offset, Pagination, render
from app.reports import exports
from app.reports.exports import Column

api_router = APIRouter(prefix="/api/v1", tags=["audit"])
page_router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
EXPORT_CONCURRENCY = 2
# Declared before the user dependency, so a request waiting for an export slot holds no other
# database session meanwhile.
ExportSession = Annotated[
    Session, Depends(get_session, scope="request", max_concurrency=EXPORT_CONCURRENCY)
]

ACTION_LABELS: dict[str, str] = {
    AuditAction.user_created: N_("User created"),
    AuditAction.user_updated: N_("User changed"),
    AuditAction.user_deactivated: N_("User deactivated"),
    AuditAction.user_reactivated: N_("User reactivated"),
    AuditAction.user_imported: N_("Users imported from CSV"),
    AuditAction.organization_created: N_("Organisation created"),
    AuditAction.organization_updated: N_("Organisation changed"),
    AuditAction.content_published: N_("Content published"),
    AuditAction.content_rolled_back: N_("Content rolled back"),
    AuditAction.content_archived: N_("Content archived"),
    AuditAction.content_restored: N_("Content restored"),
    AuditAction.course_published: N_("Course published"),
    AuditAction.course_archived: N_("Course archived"),
    AuditAction.enrollment_assigned: N_("Learners assigned to a course"),
    AuditAction.enrollment_self: N_("Self-enrolment"),
    AuditAction.enrollment_withdrawn: N_("Enrolment withdrawn"),
    AuditAction.certificate_revoked: N_("Certificate revoked"),
    AuditAction.report_submitted: N_("Report submitted"),
    AuditAction.event_created: N_("Event created"),
    AuditAction.event_attendance_imported: N_("Event attendance imported"),
    AuditAction.contest_results_published: N_("Contest results published"),
    AuditAction.award_created: N_("Award given"),
}
# Entries whose detail is {field: [old, new]}.
CHANGE_ACTIONS = frozenset({AuditAction.user_updated, AuditAction.organization_updated})

TARGET_LABELS = {
    "user": N_("User"),
    "organization": N_("Organisation"),
    "content": N_("Content"),
    "course": N_("Course"),
    "enrollment": N_("Enrolment"),
    "certificate": N_("Certificate"),
    "report": N_("Report"),
    "event": N_("Event"),
    "contest": N_("Contest"),
    "award": N_("Award"),
}
VIA_LABELS = {"web": N_("Web page"), "api": N_("API"), "cli": N_("Command line")}
DETAIL_LABELS = {
    "full_name": N_("Full name"),
    "role": N_("Role"),
    "organization_id": N_("Organisation"),
    "parent_id": N_("Parent organisation"),
    "name": N_("Name"),
    "kind": N_("Kind"),
    "level": N_("Level"),
    "with_password": N_("Password set"),
    "created": N_("Users created"),
    "skipped": N_("Already existed"),
    "emails": N_("Emails"),
    "from_version": N_("From version"),
    "to_version": N_("To version"),
}
# Stored codes shown by name (the same msgids as the templates' labels).
VALUE_LABELS = {
    "role": {
        "admin": N_("Administrator"),
        "school_manager": N_("School manager"),
        "author": N_("Content author"),
        "teacher": N_("Teacher"),
        "student": N_("Student"),
    },
    "kind": {"province": N_("Province"), "commune": N_("Commune"), "school": N_("School")},
    "level": {
        "preschool": N_("Preschool"),
        "primary": N_("Primary"),
        "lower_secondary": N_("Lower secondary"),
    },
}
ORG_FIELDS = frozenset({"organization_id", "parent_id"})


# --- Filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    action: str | None = None
    organization_id: int | None = None
    date_from: datetime | None = None  # inclusive
    date_to: datetime | None = None  # exclusive
    q: str | None = None


def day_bounds(
    day_from: date | None, day_to: date | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """``[start of day_from, start of the day after day_to)`` in ``timezone``, as UTC."""
    if day_from is not None and day_to is not None and day_from > day_to:
        raise InvalidInput(_("The start date is after the end date."))
    zone = ZoneInfo(timezone)

    def start(day: date) -> datetime:
        return datetime.combine(day, time.min, zone).astimezone(UTC)

    return (
        start(day_from) if day_from is not None else None,
        start(day_to + timedelta(days=1)) if day_to is not None else None,
    )


def api_filter(
    settings: SettingsDep,
    actor_id: int | None = None,
    action: AuditAction | None = None,
    organization_id: int | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditFilter:
    start, end = day_bounds(date_from, date_to, settings.timezone)
    return AuditFilter(
        actor_id=actor_id,
        action=action.value if action else None,
        organization_id=organization_id,
        date_from=start,
        date_to=end,
        q=q,
    )


ApiFilter = Annotated[AuditFilter, Depends(api_filter)]


def _check_organization(session: Session, flt: AuditFilter) -> None:
    if flt.organization_id is not None:
        accounts.get_organization(session, flt.organization_id)  # unknown: 404


# --- How an entry reads ----------------------------------------------------------------------


def _value(key: str, value: Any, org_names: Mapping[int, str]) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if key in ORG_FIELDS and isinstance(value, int):
        return org_names.get(value, f"#{value}")
    if isinstance(value, str) and value in VALUE_LABELS.get(key, {}):
        return _(VALUE_LABELS[key][value])
    if isinstance(value, list):
        return ", ".join(_value(key, v, org_names) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def describe_detail(entry: AuditEntry, org_names: Mapping[int, str]) -> list[tuple[str, str]]:
    """The entry's detail as (label, text) pairs; changes read "old → new"."""
    lines = []
    for key, value in (entry.detail or {}).items():
        label = _(DETAIL_LABELS[key]) if key in DETAIL_LABELS else key
        if entry.action in CHANGE_ACTIONS and isinstance(value, list) and len(value) == 2:
            text = f"{_value(key, value[0], org_names)} → {_value(key, value[1], org_names)}"
        else:
            text = _value(key, value, org_names)
        lines.append((label, text))
    return lines


def action_label(code: str) -> str:
    return _(ACTION_LABELS[code]) if code in ACTION_LABELS else code


def target_type_label(code: str) -> str:
    return _(TARGET_LABELS[code]) if code in TARGET_LABELS else code


def actor_text(entry: AuditEntry) -> str:
    if entry.actor_label:
        return entry.actor_label
    return _("System (command line)") if entry.via == "cli" else "—"


def _org_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Organization.id, Organization.name)).tuples().all())


# --- API ---------------------------------------------------------------------------------------


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_label: str
    action: str
    action_label: str
    target_type: str
    target_id: str | None
    target_label: str
    organization_id: int | None
    organization_name: str | None
    detail: dict[str, Any]
    ip: str | None
    via: str


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        at=entry.at,
        actor_id=entry.actor_id,
        actor_label=entry.actor_label,
        action=entry.action,
        action_label=action_label(entry.action),
        target_type=entry.target_type,
        target_id=entry.target_id,
        target_label=entry.target_label,
        organization_id=entry.organization_id,
        organization_name=entry.organization.name if entry.organization else None,
        detail=entry.detail or {},
        ip=entry.ip,
        via=entry.via,
    )


@api_router.get("/audit", response_model=Page[AuditEntryOut])
def audit_list(
    flt: ApiFilter,
    session: SessionDep,
    user: ApiUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> Page[AuditEntryOut]:
    """The audit log, newest first (administrators only). ``organization_id`` includes the
    organisations below it; ``from``/``to`` are days in the app's time zone, both included;
    ``q`` searches the actor's and the target's name or email, accents ignored."""
    require_auditor(user)
    _check_organization(session, flt)
    items, total = list_entries(session, **asdict(flt), limit=limit, offset=offset)
    return Page(items=[entry_out(e) for e in items], total=total)


@api_router.get(
    "/audit.csv", response_class=StreamingResponse, responses={200: file_response("text/csv")}
)
def audit_csv(
    stream: ExportSession, flt: ApiFilter, user: ApiUser, settings: SettingsDep
) -> StreamingResponse:
    """The same entries as a CSV file (UTF-8 with BOM), every matching entry."""
    require_auditor(user)
    _check_organization(stream, flt)
    return csv_download(stream, flt, settings.timezone)


# --- CSV ---------------------------------------------------------------------------------------


def csv_columns() -> list[Column]:
    return [
        Column("at", _("When"), "datetime"),
        Column("actor", _("Who"), "text"),
        Column("action_label", _("Action"), "text"),
        Column("action", _("Action code"), "text"),
        Column("target_type", _("Target type"), "text"),
        Column("target_id", _("Target ID"), "text"),
        Column("target_label", _("Target"), "text"),
        Column("organization", _("Organisation"), "text"),
        Column("detail", _("Audit details"), "text"),
        Column("ip", _("IP address"), "text"),
        Column("via", _("Channel"), "text"),
    ]


def _csv_rows(session: Session, flt: AuditFilter) -> Iterator[Mapping[str, Any]]:
    org_names = _org_names(session)
    for entry in iter_entries(session, **asdict(flt)):
        yield {
            "at": entry.at,
            "actor": actor_text(entry),
            "action_label": action_label(entry.action),
            "action": entry.action,
            "target_type": target_type_label(entry.target_type),
            "target_id": entry.target_id,
            "target_label": entry.target_label,
            "organization": org_names.get(entry.organization_id, "")
            if entry.organization_id is not None
            else "",
            "detail": "; ".join(f"{k}: {v}" for k, v in describe_detail(entry, org_names)),
            "ip": entry.ip,
            "via": _(VIA_LABELS[entry.via]) if entry.via in VIA_LABELS else entry.via,
        }


def csv_download(session: Session, flt: AuditFilter, timezone: str) -> StreamingResponse:
    day = utcnow().astimezone(ZoneInfo(timezone)).date().isoformat()
    # The query runs now, before the answer starts: a filter the database refuses (a NUL
    # character) is an error answer, not a file cut off after its first bytes.
    rows = _csv_rows(session, flt)
    first = next(rows, None)
    rows = itertools.chain([] if first is None else [first], rows)
    return StreamingResponse(
        exports.csv_stream(csv_columns(), rows, tz=timezone),
        media_type=exports.CSV_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="nhat-ky-quan-tri-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )


# --- Page --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageQuery:
    """The page's filters exactly as typed, so the form and the links keep them."""

    action: str = ""
    q: str = ""
    organization_id: str = ""
    actor_id: str = ""
    date_from: str = ""
    date_to: str = ""

    def params(self) -> dict[str, str]:
        values = {
            "action": self.action,
            "q": self.q,
            "organization_id": self.organization_id,
            "actor_id": self.actor_id,
            "from": self.date_from,
            "to": self.date_to,
        }
        return {k: v for k, v in values.items() if v}

    def to_filter(self, timezone: str) -> AuditFilter:
        start, end = day_bounds(
            parse_day(self.date_from, field=_("From date")),
            parse_day(self.date_to, field=_("To date")),
            timezone,
        )
        return AuditFilter(
            actor_id=parse_id(self.actor_id),
            action=self.action if self.action in ACTION_LABELS else None,
            organization_id=parse_id(self.organization_id),
            date_from=start,
            date_to=end,
            q=self.q or None,
        )


Text = Annotated[str, Query(max_length=200)]


def page_query(
    action: Text = "",
    q: Text = "",
    organization_id: Annotated[str, Query(max_length=20)] = "",
    actor_id: Annotated[str, Query(max_length=20)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=20)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=20)] = "",
) -> PageQuery:
    return PageQuery(
        action=action.strip(),
        q=q.strip(),
        organization_id=organization_id.strip(),
        actor_id=actor_id.strip(),
        date_from=date_from.strip(),
        date_to=date_to.strip(),
    )


PageQueryDep = Annotated[PageQuery, Depends(page_query)]


@page_router.get("/admin/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    query: PageQueryDep,
    offset: Offset = 0,
) -> Response:
    require_auditor(user)
    organizations = accounts.list_organizations(session)
    org_names = {o.id: o.name for o in organizations}
    context: dict[str, Any] = {
        "query": query,
        "organizations": organizations,
        "actions": [(code, _(label)) for code, label in ACTION_LABELS.items()],
        "entries": [],
        "total": 0,
        "pagination": None,
        "csv_url": "/admin/audit.csv" + (f"?{urlencode(query.params())}" if query.params() else ""),
    }
    try:
        flt = query.to_filter(settings.timezone)
    except InvalidInput as exc:
        context["error"] = exc.detail
        return render(request, "reports/audit.html", context, status_code=exc.status_code)
    _check_organization(session, flt)
    items, total = list_entries(session, **asdict(flt), limit=PAGE_SIZE, offset=offset)
    actor_filter = None
    if flt.actor_id is not None:
        actor = session.get(User, flt.actor_id)
        actor_filter = actor.full_name if actor else f"#{flt.actor_id}"
    context.update(
        entries=[
            {
                "entry": e,
                "actor": actor_text(e),
                "action": action_label(e.action),
                "target_type": target_type_label(e.target_type),
                "organization": org_names.get(e.organization_id) if e.organization_id else None,
                "detail": describe_detail(e, org_names),
                "via": _(VIA_LABELS[e.via]) if e.via in VIA_LABELS else e.via,
            }
            for e in items
        ],
        total=total,
        pagination=Pagination(total=total, limit=PAGE_SIZE, offset=offset),
        actor_filter=actor_filter,
        without_actor_url="/admin/audit"
        + (
            f"?{urlencode(params)}"
            if (params := {k: v for k, v in query.params().items() if k != "actor_id"})
            else ""
        ),
    )
    return render(request, "reports/audit.html", context)


@page_router.get("/admin/audit.csv")
def audit_page_csv(
    stream: ExportSession,
    settings: SettingsDep,
    user: PageUser,
    query: PageQueryDep,
) -> StreamingResponse:
    """The page's download: the same filters, the cookie session instead of a token."""
    require_auditor(user)
    flt = query.to_filter(settings.timezone)
    _check_organization(stream, flt)
    return csv_download(stream, flt, settings.timezone)
