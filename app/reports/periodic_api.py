"""JSON API of periodic reports (bearer tokens; school managers for their school, admins):

- ``POST /api/v1/reports/periodic`` {organization_id, period, narrative, number?} → 201 draft;
- ``GET /api/v1/reports/periodic`` ?organization_id= &period= &status= &limit= &offset=
  → {items, total};
- ``GET /api/v1/reports/periodic/overview`` ?period= &organization_id= (admins): per school
  on time / late / draft / missing, and the roll-up of the frozen figures;
- ``GET|PATCH /api/v1/reports/periodic/{id}`` (PATCH: drafts only, else 409);
- ``POST /api/v1/reports/periodic/{id}/submit`` (freezes the figures; a replay is 409) and
  ``POST /api/v1/reports/periodic/{id}/revise`` (a new draft revision);
- ``GET /api/v1/reports/periodic/{id}.xlsx`` and ``.pdf``.

The rules live in ``app.reports.periodic``; this module only translates HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.accounts.deps import ApiUser
from app.accounts.models import User
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep, utcnow
from app.core.openapi import file_response
from app.core.storage import content_disposition
from app.core.web import Limit, Offset
from app.reports import exports, periodic
from app.reports.pdf import render_report_pdf
from app.reports.periodic import PeriodicReport, ReportStatus, Timeliness
from app.reports.periods import PeriodKind, parse_period

router = APIRouter(prefix="/api/v1", tags=["reports"])

# Generous caps: the service checks the real limits with clear messages.
PeriodText = Annotated[str, Field(max_length=100)]
NarrativeText = Annotated[str, Field(max_length=2 * periodic.MAX_NARRATIVE)]
NumberText = Annotated[str, Field(max_length=4 * periodic.MAX_NUMBER)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeriodicReportIn(Strict):
    organization_id: int
    period: PeriodText
    narrative: NarrativeText = ""
    number: NumberText | None = None


class PeriodicReportUpdate(Strict):
    narrative: NarrativeText | None = None
    number: NumberText | None = None


class PeriodOut(BaseModel):
    label: str
    kind: PeriodKind
    name: str  # in words, in the request's language
    starts_on: date
    ends_on: date
    due_on: date


class PeriodicReportSummary(BaseModel):
    id: int
    organization_id: int
    organization_name: str
    period: str
    period_info: PeriodOut
    revision: int
    status: ReportStatus
    narrative: str
    number: str
    created_by_id: int
    created_at: datetime
    updated_at: datetime
    submitted_by_id: int | None
    submitted_at: datetime | None
    supersedes_id: int | None


class FiguresOut(BaseModel):
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    generated_at: datetime


class PeriodicReportOut(PeriodicReportSummary):
    # The frozen snapshot; null for a draft (drafts are previewed, never frozen).
    figures: FiguresOut | None


class PeriodicReportPage(BaseModel):
    items: list[PeriodicReportSummary]
    total: int


class SchoolStatusOut(BaseModel):
    organization_id: int
    name: str
    status: Timeliness
    report_id: int | None
    revision: int | None
    submitted_at: datetime | None
    first_submitted_at: datetime | None
    revision_open: bool


class OverviewOut(BaseModel):
    period: PeriodOut
    organization_id: int | None
    due_at: datetime
    past_due: bool
    counts: dict[str, int]
    schools: list[SchoolStatusOut]
    rollup: FiguresOut


def period_out(report_period: str) -> PeriodOut:
    period = parse_period(report_period)
    return PeriodOut(
        label=period.label,
        kind=period.kind,
        name=period.display,
        starts_on=period.starts_on,
        ends_on=period.ends_on,
        due_on=period.due_on,
    )


def _summary_fields(report: PeriodicReport) -> dict[str, Any]:
    return {
        "id": report.id,
        "organization_id": report.organization_id,
        "organization_name": report.organization.name,
        "period": report.period,
        "period_info": period_out(report.period),
        "revision": report.revision,
        "status": ReportStatus(report.status),
        "narrative": report.narrative,
        "number": report.number,
        "created_by_id": report.created_by_id,
        "created_at": report.created_at,
        "updated_at": report.updated_at,
        "submitted_by_id": report.submitted_by_id,
        "submitted_at": report.submitted_at,
        "supersedes_id": report.supersedes_id,
    }


def report_out(report: PeriodicReport) -> PeriodicReportOut:
    figures = None
    if report.figures is not None:
        figures = FiguresOut(
            rows=report.figures["rows"],
            totals=report.figures["totals"],
            generated_at=datetime.fromisoformat(report.figures["generated_at"]),
        )
    return PeriodicReportOut(**_summary_fields(report), figures=figures)


@router.post("/reports/periodic", response_model=PeriodicReportOut, status_code=201)
def create_report(
    body: PeriodicReportIn, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> PeriodicReportOut:
    """A draft report of a school for a period (``2026-Q4``, ``2026-2027-HK1``, ``2026``).
    409 when the school already has one for the period (finish the draft, or revise)."""
    report = periodic.create_draft(
        session,
        user,
        organization_id=body.organization_id,
        period=body.period,
        narrative=body.narrative,
        number=body.number or "",
        timezone=settings.timezone,
    )
    session.flush()
    return report_out(report)


@router.get("/reports/periodic", response_model=PeriodicReportPage)
def list_reports(
    session: SessionDep,
    user: ApiUser,
    organization_id: int | None = None,
    period: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PeriodicReportPage:
    page = periodic.list_reports(
        session,
        user,
        organization_id=organization_id,
        period=period,
        status=status,
        limit=limit,
        offset=offset,
    )
    return PeriodicReportPage(
        items=[PeriodicReportSummary(**_summary_fields(r)) for r in page.items], total=page.total
    )


@router.get("/reports/periodic/overview", response_model=OverviewOut)
def overview(
    session: SessionDep,
    settings: SettingsDep,
    user: ApiUser,
    period: Annotated[str, Query(max_length=100)],
    organization_id: int | None = None,
) -> OverviewOut:
    """Administrators: which schools under ``organization_id`` (default: every school)
    submitted the period's report on time, late, only drafted it, or not at all; and the sum of
    their frozen figures."""
    result = periodic.commune_overview(
        session, user, period, organization_id, timezone=settings.timezone
    )
    return OverviewOut(
        period=period_out(result.period.label),
        organization_id=result.scope.id if result.scope else None,
        due_at=result.due_at,
        past_due=result.past_due,
        counts=result.counts,
        schools=[
            SchoolStatusOut(
                organization_id=s.organization_id,
                name=s.name,
                status=s.status,
                report_id=s.report.id if s.report else None,
                revision=s.report.revision if s.report else None,
                submitted_at=s.report.submitted_at if s.report else None,
                first_submitted_at=s.first_submitted_at,
                revision_open=s.revision_open,
            )
            for s in result.schools
        ],
        rollup=FiguresOut(
            rows=result.rollup_rows, totals=result.rollup_totals, generated_at=result.generated_at
        ),
    )


@router.get("/reports/periodic/{report_id:int}", response_model=PeriodicReportOut)
def get_report(report_id: int, session: SessionDep, user: ApiUser) -> PeriodicReportOut:
    return report_out(periodic.get_report(session, user, report_id))


@router.patch("/reports/periodic/{report_id:int}", response_model=PeriodicReportOut)
def update_report(
    report_id: int, body: PeriodicReportUpdate, session: SessionDep, user: ApiUser
) -> PeriodicReportOut:
    """Change a draft's narrative or number. A submitted report is never edited (409)."""
    report = periodic.update_draft(
        session, user, report_id, narrative=body.narrative, number=body.number
    )
    return report_out(report)


@router.post("/reports/periodic/{report_id:int}/submit", response_model=PeriodicReportOut)
def submit_report(report_id: int, session: SessionDep, user: ApiUser) -> PeriodicReportOut:
    """Freeze the figures now and submit. Submitting again is a 409: revise instead."""
    return report_out(periodic.submit(session, user, report_id))


@router.post(
    "/reports/periodic/{report_id:int}/revise", response_model=PeriodicReportOut, status_code=201
)
def revise_report(report_id: int, session: SessionDep, user: ApiUser) -> PeriodicReportOut:
    """A new draft revision of a submitted report; on submission it supersedes the old one."""
    revision = periodic.revise(session, user, report_id)
    session.flush()
    return report_out(revision)


# --- Files -----------------------------------------------------------------------------------


def xlsx_body(
    session: Session, user: User, report: PeriodicReport, settings: Settings
) -> Iterator[bytes]:
    """The report's figures as a spreadsheet (the live preview for a draft)."""
    figures = periodic.figures_of(session, user, report)
    return exports.xlsx_stream(
        periodic.report_columns(),
        figures.rows,
        figures.totals,
        title=periodic.export_title(report, figures),
        sheet_title=report.period,
        tz=settings.timezone,
    )


def pdf_body(session: Session, user: User, report: PeriodicReport, settings: Settings) -> bytes:
    figures = periodic.figures_of(session, user, report)
    today = utcnow().astimezone(ZoneInfo(settings.timezone)).date()
    return render_report_pdf(
        periodic.report_document(report, figures, today=today, timezone=settings.timezone)
    )


def file_headers(report: PeriodicReport, extension: str) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(
            "attachment", periodic.export_filename(report, extension)
        ),
        "Cache-Control": "no-store",
    }


@router.get(
    "/reports/periodic/{report_id:int}.xlsx",
    response_class=StreamingResponse,
    responses={200: file_response(exports.XLSX_MEDIA_TYPE)},
)
def report_xlsx(
    report_id: int, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> StreamingResponse:
    report = periodic.get_report(session, user, report_id)
    return StreamingResponse(
        xlsx_body(session, user, report, settings),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers=file_headers(report, "xlsx"),
    )


@router.get(
    "/reports/periodic/{report_id:int}.pdf",
    response_class=Response,
    responses={200: file_response("application/pdf")},
)
def report_pdf(
    report_id: int, session: SessionDep, settings: SettingsDep, user: ApiUser
) -> Response:
    """The report in the Vietnamese administrative layout (a draft is marked DỰ THẢO)."""
    report = periodic.get_report(session, user, report_id)
    return Response(
        pdf_body(session, user, report, settings),
        media_type="application/pdf",
        headers=file_headers(report, "pdf"),
    )
