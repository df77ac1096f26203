"""HTML pages of periodic reports (cookie session; school managers and administrators).

- ``/reports/periodic``: the reports (a manager: their school's; an admin: every school's,
  filtered by period, school and status), with the way to a new report;
- ``/reports/periodic/new`` (form) and ``POST /reports/periodic``: a new draft;
- ``/reports/periodic/{id}``: the report: the frozen figures (a draft: a live preview, labelled
  as such), the narrative, its status and revision history, and its actions (edit, submit with
  a confirmation box, new revision, XLSX and PDF downloads);
- ``/reports/periodic/{id}/edit``: the draft's narrative and number;
- ``/reports/periodic/overview``: for administrators, per period, each school's status (on time,
  late, draft, missing) and the roll-up of the submitted figures.

Forms post and redirect (303) with a flash message, or render the form again with the error
beside its field and the error's status. Every form carries the CSRF token (``CSRFChecked``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import Organization, OrgKind, Role, User
from app.core.db import SessionDep, SettingsDep, utcnow
from app.core.errors import AppError, InvalidInput, PermissionDenied
from app.core.i18n import gettext as _
from app.core.web import Offset, Pagination, redirect, render
from app.reports import exports, periodic
from app.reports.periodic import PeriodicReport, ReportStatus
from app.reports.periodic_api import file_headers, pdf_body, xlsx_body
from app.reports.periods import (
    DUE_AFTER_DAYS,
    Period,
    default_period,
    parse_period,
    recent_periods,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
Short = Annotated[str, Form(max_length=100)]
LongText = Annotated[str, Form(max_length=2 * periodic.MAX_NARRATIVE)]
Flag = Annotated[str | None, Form(max_length=10)]
OptionalId = Annotated[str | None, Form(max_length=20)]


def _reporter(user: PageUser) -> User:
    if user.role not in (Role.admin, Role.school_manager):
        raise PermissionDenied(
            _("Only school managers and administrators can work with periodic reports.")
        )
    return user


ReporterUser = Annotated[User, Depends(_reporter)]


def _today(request: Request) -> date:
    return utcnow().astimezone(ZoneInfo(request.app.state.settings.timezone)).date()


def _schools(session: Session) -> list[Organization]:
    return list(
        session.scalars(
            select(Organization)
            .where(Organization.kind == OrgKind.school.value)
            .order_by(Organization.sort_name, Organization.id)
        )
    )


def _scopes(session: Session) -> list[Organization]:
    """Organisations an overview can cover: the communes and provinces."""
    return list(
        session.scalars(
            select(Organization)
            .where(Organization.kind != OrgKind.school.value)
            .order_by(Organization.kind.desc(), Organization.sort_name, Organization.id)
        )
    )


def _period_choices(today: date, selected: str | None = None) -> list[tuple[str, list[Period]]]:
    """Recent periods grouped by kind for a select; ``selected`` is kept if it is older."""
    periods = recent_periods(today)
    if selected:
        try:
            chosen = parse_period(selected)
        except InvalidInput:
            chosen = None
        if chosen is not None and chosen not in periods:
            periods.append(chosen)
    groups = [
        (_("Quarters"), "quarter"),
        (_("Semesters"), "semester"),
        (_("Years"), "year"),
    ]
    return [(label, [p for p in periods if p.kind == kind]) for label, kind in groups]


def _optional_int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdecimal() and len(text) < 10 else None


# --- The list --------------------------------------------------------------------------------


@router.get("/reports/periodic")
def list_page(
    request: Request,
    session: SessionDep,
    user: ReporterUser,
    period: Annotated[str | None, Query(max_length=100)] = None,
    organization_id: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    offset: Offset = 0,
) -> Response:
    org_id = _optional_int(organization_id) if user.role == Role.admin else None
    page = periodic.list_reports(
        session,
        user,
        organization_id=org_id,
        period=period or None,
        status=status or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    return render(
        request,
        "reports/periodic_list.html",
        {
            "reports": page.items,
            "total": page.total,
            "pagination": Pagination(total=page.total, limit=PAGE_SIZE, offset=offset),
            "is_admin": user.role == Role.admin,
            "schools": _schools(session) if user.role == Role.admin else [],
            "period_groups": _period_choices(_today(request), period),
            "statuses": [s.value for s in ReportStatus],
            "filters": {
                "period": period or "",
                "organization_id": org_id or "",
                "status": status or "",
            },
            "filtered": bool(period or org_id or status),
        },
    )


# --- New report ------------------------------------------------------------------------------


def _render_new(
    request: Request,
    session: Session,
    user: User,
    *,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    error: str | None = None,
    existing_id: int | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "reports/periodic_form.html",
        {
            "report": None,
            "form": form,
            "errors": errors or {},
            "error": error,
            "existing_id": existing_id,
            "is_admin": user.role == Role.admin,
            "schools": _schools(session) if user.role == Role.admin else [],
            "period_groups": _period_choices(_today(request), form.get("period")),
            "max_narrative": periodic.MAX_NARRATIVE,
            "max_number": periodic.MAX_NUMBER,
            "due_days": DUE_AFTER_DAYS,
        },
        status_code=status_code,
    )


@router.get("/reports/periodic/new")
def new_page(
    request: Request,
    session: SessionDep,
    user: ReporterUser,
    period: Annotated[str | None, Query(max_length=100)] = None,
    organization_id: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    form = {
        "period": period or default_period(_today(request)).label,
        "organization_id": _optional_int(organization_id) or "",
        "narrative": "",
        "number": "",
    }
    return _render_new(request, session, user, form=form)


def _field_errors(exc: AppError) -> tuple[dict[str, str], str | None]:
    """The error beside its field when the service named one, else as the form's error."""
    where = exc.extra.get("field")
    if isinstance(where, str):
        return {where: exc.detail}, None
    return {}, exc.detail


@router.post("/reports/periodic", dependencies=[CSRFChecked])
def create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReporterUser,
    period: Short = "",
    organization_id: OptionalId = None,
    narrative: LongText = "",
    number: Short = "",
) -> Response:
    form = {
        "period": period,
        "organization_id": organization_id or "",
        "narrative": narrative,
        "number": number,
    }
    try:
        if user.role == Role.admin:
            org_id = _optional_int(organization_id)
            if org_id is None:
                raise InvalidInput(
                    _("Choose the school the report is for."),
                    extra={"field": "organization_id"},
                )
        else:
            org_id = user.organization_id
        report = periodic.create_draft(
            session,
            user,
            organization_id=org_id,
            period=period,
            narrative=narrative,
            number=number,
            timezone=settings.timezone,
        )
        session.flush()
    except AppError as exc:
        session.rollback()
        errors, error = _field_errors(exc)
        existing = exc.extra.get("report_id")
        return _render_new(
            request,
            session,
            user,
            form=form,
            errors=errors,
            error=error,
            existing_id=existing if isinstance(existing, int) else None,
            status_code=exc.status_code,
        )
    return redirect(
        request,
        f"/reports/periodic/{report.id}",
        message=_("Draft report created. Check the figures, then submit it."),
    )


# --- The commune overview --------------------------------------------------------------------


@router.get("/reports/periodic/overview")
def overview_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReporterUser,
    period: Annotated[str | None, Query(max_length=100)] = None,
    organization_id: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    label = period or default_period(_today(request)).label
    result = periodic.commune_overview(
        session, user, label, _optional_int(organization_id), timezone=settings.timezone
    )
    return render(
        request,
        "reports/periodic_overview.html",
        {
            "overview": result,
            "period_groups": _period_choices(_today(request), result.period.label),
            "scopes": _scopes(session),
            "filters": {
                "period": result.period.label,
                "organization_id": result.scope.id if result.scope else "",
            },
        },
    )


# --- One report ------------------------------------------------------------------------------


def _render_view(
    request: Request,
    session: Session,
    user: User,
    report_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    report = periodic.get_report(session, user, report_id)
    revisions = periodic.history(session, report)
    figures = periodic.figures_of(session, user, report)
    newer = next((r for r in revisions if r.supersedes_id == report.id), None)
    return render(
        request,
        "reports/periodic_view.html",
        {
            "report": report,
            "period": report.period_info,
            "figures": figures,
            "revisions": revisions,
            "newer": newer,
            "paragraphs": [p for p in report.narrative.split("\n") if p.strip()],
            "is_admin": user.role == Role.admin,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/reports/periodic/{report_id:int}")
def view_page(
    request: Request, report_id: int, session: SessionDep, user: ReporterUser
) -> Response:
    return _render_view(request, session, user, report_id)


def _render_edit(
    request: Request,
    session: Session,
    user: User,
    report: PeriodicReport,
    *,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "reports/periodic_form.html",
        {
            "report": report,
            "period": report.period_info,
            "form": form,
            "errors": errors or {},
            "error": error,
            "existing_id": None,
            "is_admin": user.role == Role.admin,
            "max_narrative": periodic.MAX_NARRATIVE,
            "max_number": periodic.MAX_NUMBER,
        },
        status_code=status_code,
    )


@router.get("/reports/periodic/{report_id:int}/edit")
def edit_page(
    request: Request, report_id: int, session: SessionDep, user: ReporterUser
) -> Response:
    report = periodic.get_report(session, user, report_id)
    if not report.is_draft:
        return redirect(
            request,
            f"/reports/periodic/{report.id}",
            message=_("A submitted report cannot be changed. Make a new revision of it instead."),
            level="error",
        )
    form = {"narrative": report.narrative, "number": report.number}
    return _render_edit(request, session, user, report, form=form)


@router.post("/reports/periodic/{report_id:int}/edit", dependencies=[CSRFChecked])
def edit(
    request: Request,
    report_id: int,
    session: SessionDep,
    user: ReporterUser,
    narrative: LongText = "",
    number: Short = "",
) -> Response:
    form = {"narrative": narrative, "number": number}
    try:
        report = periodic.update_draft(session, user, report_id, narrative=narrative, number=number)
    except AppError as exc:
        session.rollback()
        report = periodic.get_report(session, user, report_id)
        errors, error = _field_errors(exc)
        return _render_edit(
            request,
            session,
            user,
            report,
            form=form,
            errors=errors,
            error=error,
            status_code=exc.status_code,
        )
    return redirect(request, f"/reports/periodic/{report.id}", message=_("Draft saved."))


@router.post("/reports/periodic/{report_id:int}/submit", dependencies=[CSRFChecked])
def submit(
    request: Request,
    report_id: int,
    session: SessionDep,
    user: ReporterUser,
    confirm: Flag = None,
) -> Response:
    try:
        if not confirm:
            raise InvalidInput(
                _("Tick the box to confirm that the report should be submitted as it is.")
            )
        report = periodic.submit(session, user, report_id)
    except AppError as exc:
        session.rollback()
        return _render_view(
            request, session, user, report_id, error=exc.detail, status_code=exc.status_code
        )
    return redirect(
        request,
        f"/reports/periodic/{report.id}",
        message=_("Report submitted. Its figures are now frozen."),
    )


@router.post("/reports/periodic/{report_id:int}/revise", dependencies=[CSRFChecked])
def revise(request: Request, report_id: int, session: SessionDep, user: ReporterUser) -> Response:
    try:
        revision = periodic.revise(session, user, report_id)
        session.flush()
    except AppError as exc:
        session.rollback()
        return _render_view(
            request, session, user, report_id, error=exc.detail, status_code=exc.status_code
        )
    return redirect(
        request,
        f"/reports/periodic/{revision.id}/edit",
        message=_(
            "Revision {n} created as a draft. The submitted report stays current until you "
            "submit this revision."
        ).format(n=revision.revision),
    )


@router.get("/reports/periodic/{report_id:int}.xlsx")
def xlsx_download(
    report_id: int, session: SessionDep, settings: SettingsDep, user: ReporterUser
) -> StreamingResponse:
    report = periodic.get_report(session, user, report_id)
    return StreamingResponse(
        xlsx_body(session, user, report, settings),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers=file_headers(report, "xlsx"),
    )


@router.get("/reports/periodic/{report_id:int}.pdf")
def pdf_download(
    report_id: int, session: SessionDep, settings: SettingsDep, user: ReporterUser
) -> Response:
    report = periodic.get_report(session, user, report_id)
    return Response(
        pdf_body(session, user, report, settings),
        media_type="application/pdf",
        headers=file_headers(report, "pdf"),
    )
