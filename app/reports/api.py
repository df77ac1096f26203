"""JSON API of the completion report, its learners drill-down, and their CSV / XLSX exports.

The report exports are computed like the JSON (small: one row per group) and streamed from
memory. The learner exports stream every matching enrolment from a database cursor: they read
through a session that stays open until the response is sent (``scope="request"``), and at most
``EXPORT_CONCURRENCY`` of them run at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.accounts.deps import ApiUser
from app.accounts.models import Role, SchoolLevel, User
from app.core.db import SessionDep, get_session, utcnow
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.openapi import file_response
from app.core.web import Offset
from app.reports import exports, service
from app.reports.exports import Column
from app.reports.schemas import CompletionOut, LearnerReportOut, LearnerReportPage
from app.reports.service import (
    REPORT_TZ,
    CompletionReport,
    DateField,
    GroupBy,
    LearnerRow,
    ReportFilter,
    ReportRow,
    StatusFilter,
)

router = APIRouter(prefix="/api/v1", tags=["reports"])
CSV_FILE: dict[int | str, dict[str, Any]] = {200: file_response("text/csv")}
XLSX_FILE: dict[int | str, dict[str, Any]] = {200: file_response(exports.XLSX_MEDIA_TYPE)}

EXPORT_CONCURRENCY = 4
# Declared before ApiUser in the export endpoints, so a request waiting for an export slot
# holds no other database session meanwhile.
ExportSession = Annotated[
    Session, Depends(get_session, scope="request", max_concurrency=EXPORT_CONCURRENCY)
]


def report_filter(
    group_by: GroupBy = GroupBy.organization,
    organization_id: int | None = None,
    course_id: int | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    date_field: DateField = DateField.enrolled,
    status: StatusFilter | None = None,
    level: SchoolLevel | None = None,
    role: Role | None = None,
) -> ReportFilter:
    return ReportFilter(
        group_by=group_by,
        organization_id=organization_id,
        course_id=course_id,
        date_from=date_from,
        date_to=date_to,
        date_field=date_field,
        status=status,
        level=level,
        role=role,
    )


Filter = Annotated[ReportFilter, Depends(report_filter)]


# --- Export layout ---------------------------------------------------------------------------

GROUP_HEADERS = {
    GroupBy.organization: N_("Organisation"),
    GroupBy.course: N_("Course"),
    GroupBy.level: N_("Level"),
    GroupBy.role: N_("Role"),
}


def report_columns(group_by: GroupBy) -> list[Column]:
    return [
        Column("label", _(GROUP_HEADERS[group_by]), width=40),
        Column("enrolled", _("Enrolled"), "int"),
        Column("not_started", _("Not started"), "int"),
        Column("in_progress", _("In progress"), "int"),
        Column("completed", _("Completed"), "int"),
        Column("overdue", _("Overdue"), "int"),
        Column("completion_rate", _("Completion rate (%)"), "percent"),
        Column("average_progress", _("Average progress (%)"), "percent"),
        Column("average_score", _("Average score (%)"), "percent"),
    ]


def learner_columns() -> list[Column]:
    return [
        Column("full_name", _("Full name"), width=30),
        Column("email", _("Email"), width=30),
        Column("role", _("Role"), width=16),
        Column("organization_name", _("Organisation"), width=30),
        Column("course_title", _("Course"), width=40),
        Column("status", _("Status"), width=16),
        Column("progress_percent", _("Progress (%)"), "percent"),
        Column("enrolled_at", _("Enrolled at"), "datetime"),
        Column("due_at", _("Due"), "datetime"),
        Column("last_activity_at", _("Last activity"), "datetime"),
        Column("completed_at", _("Completed at"), "datetime"),
        Column("average_score", _("Average score (%)"), "percent"),
    ]


def _row_map(row: ReportRow) -> dict[str, Any]:
    return {
        "label": row.label,
        "enrolled": row.enrolled,
        "not_started": row.not_started,
        "in_progress": row.in_progress,
        "completed": row.completed,
        "overdue": row.overdue,
        "completion_rate": row.completion_rate,
        "average_progress": row.average_progress,
        "average_score": row.average_score,
    }


def _learner_maps(rows: Iterable[LearnerRow]) -> Iterator[Mapping[str, Any]]:
    roles = {role.value: _(name) for role, name in service.ROLE_NAMES.items()}
    statuses = {key: _(name) for key, name in service.STATUS_NAMES.items()}
    for row in rows:
        yield {
            "full_name": row.full_name,
            "email": row.email,
            "role": roles.get(row.role, row.role),
            "organization_name": row.organization_name,
            "course_title": row.course_title,
            "status": statuses.get(row.status, row.status),
            "progress_percent": row.progress_percent,
            "enrolled_at": row.enrolled_at,
            "due_at": row.due_at,
            "last_activity_at": row.last_activity_at,
            "completed_at": row.completed_at,
            "average_score": row.average_score,
        }


def _filename(stem: str, ext: str) -> str:
    return f"{stem}-{utcnow().astimezone(REPORT_TZ).date().isoformat()}.{ext}"


def _download(body: Iterator[bytes], media_type: str, filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _report_title(report: CompletionReport) -> str:
    title = _("Completion report")
    return f"{title} — {report.scope_label}" if report.scope_label else title


# --- Completion report -----------------------------------------------------------------------


@router.get("/reports/completion", response_model=CompletionOut, response_model_by_alias=True)
def completion(flt: Filter, session: SessionDep, user: ApiUser) -> CompletionOut:
    """Enrolments by status, grouped by organisation (rolled up the tree), course, level or
    role, with totals. Admins and school managers (their own school) only."""
    return CompletionOut.of(service.completion_report(session, user, flt))


def completion_file(
    session: Session, user: User, flt: ReportFilter, extension: str
) -> StreamingResponse:
    """The report as a ``csv`` or ``xlsx`` download (the API's and the pages')."""
    report = service.completion_report(session, user, flt)
    columns = report_columns(flt.group_by)
    rows = [_row_map(r) for r in report.rows]
    totals = _row_map(report.totals)
    filename = _filename("bao-cao-hoan-thanh", extension)
    if extension == "csv":
        return _download(
            exports.csv_stream(columns, rows, totals), exports.CSV_MEDIA_TYPE, filename
        )
    body = exports.xlsx_stream(
        columns, rows, totals, title=_report_title(report), sheet_title=_("Completion")
    )
    return _download(body, exports.XLSX_MEDIA_TYPE, filename)


@router.get("/reports/completion.csv", response_class=StreamingResponse, responses=CSV_FILE)
def completion_csv(flt: Filter, session: SessionDep, user: ApiUser) -> StreamingResponse:
    return completion_file(session, user, flt, "csv")


@router.get("/reports/completion.xlsx", response_class=StreamingResponse, responses=XLSX_FILE)
def completion_xlsx(flt: Filter, session: SessionDep, user: ApiUser) -> StreamingResponse:
    return completion_file(session, user, flt, "xlsx")


# --- Learners drill-down ---------------------------------------------------------------------


@router.get("/reports/completion/learners", response_model=LearnerReportPage)
def completion_learners(
    flt: Filter,
    session: SessionDep,
    user: ApiUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> LearnerReportPage:
    """The enrolments behind the report (same filters), by organisation, name and course."""
    rows, total = service.learner_page(session, user, flt, limit=limit, offset=offset)
    return LearnerReportPage(items=[LearnerReportOut.of(r) for r in rows], total=total)


def _learner_export(
    session: Session, user: User, flt: ReportFilter
) -> tuple[Iterator[Mapping[str, Any]], dict[str, Any]]:
    """The learner rows (streamed) and a totals row: the count, mean progress and score."""
    now = utcnow()
    rows = service.iter_learners(session, user, flt, now=now)
    totals = service.completion_report(
        session, user, replace(flt, group_by=GroupBy.role), now=now
    ).totals
    summary = {
        "full_name": _("Total: {count} enrolments").format(count=totals.enrolled),
        "progress_percent": totals.average_progress,
        "average_score": totals.average_score,
    }
    return _learner_maps(rows), summary


def learners_file(
    stream: Session, user: User, flt: ReportFilter, extension: str
) -> StreamingResponse:
    """The learners as a ``csv`` or ``xlsx`` download, read through ``stream``, a session that
    stays open until the response is sent (``ExportSession``)."""
    rows, totals = _learner_export(stream, user, flt)
    filename = _filename("danh-sach-hoc-vien", extension)
    if extension == "csv":
        body = exports.csv_stream(learner_columns(), rows, totals)
        return _download(body, exports.CSV_MEDIA_TYPE, filename)
    body = exports.xlsx_stream(
        learner_columns(), rows, totals, title=_("Learners"), sheet_title=_("Learners")
    )
    return _download(body, exports.XLSX_MEDIA_TYPE, filename)


@router.get(
    "/reports/completion/learners.csv", response_class=StreamingResponse, responses=CSV_FILE
)
def completion_learners_csv(stream: ExportSession, flt: Filter, user: ApiUser) -> StreamingResponse:
    return learners_file(stream, user, flt, "csv")


@router.get(
    "/reports/completion/learners.xlsx", response_class=StreamingResponse, responses=XLSX_FILE
)
def completion_learners_xlsx(
    stream: ExportSession, flt: Filter, user: ApiUser
) -> StreamingResponse:
    return learners_file(stream, user, flt, "xlsx")
