"""Pydantic shapes of the reports API. ``rows[].{key, label, enrolled, completed,
completion_rate}`` and ``totals`` are fixed by DESIGN.md; the other fields extend them."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from app.accounts.models import Role, SchoolLevel
from app.reports.service import (
    CompletionReport,
    DateField,
    GroupBy,
    LearnerRow,
    ReportFilter,
    ReportRow,
    StatusFilter,
)


class ReportRowOut(BaseModel):
    key: str
    label: str
    enrolled: int
    not_started: int
    in_progress: int
    completed: int
    overdue: int
    completion_rate: float
    average_progress: float
    average_score: float | None
    organization_id: int | None = None
    kind: str | None = None
    has_children: bool = False
    direct: bool = False
    drill: dict[str, str | int] | None = None

    @classmethod
    def of(cls, row: ReportRow) -> ReportRowOut:
        return cls(
            key=row.key,
            label=row.label,
            enrolled=row.enrolled,
            not_started=row.not_started,
            in_progress=row.in_progress,
            completed=row.completed,
            overdue=row.overdue,
            completion_rate=row.completion_rate,
            average_progress=row.average_progress,
            average_score=row.average_score,
            organization_id=row.organization_id,
            kind=row.kind,
            has_children=row.has_children,
            direct=row.direct,
            drill=row.drill,
        )


class FilterOut(BaseModel):
    """The filter the report was computed with (``from`` / ``to`` as in the query string)."""

    group_by: GroupBy
    organization_id: int | None
    course_id: int | None
    from_: date | None = Field(serialization_alias="from")
    to: date | None
    date_field: DateField
    status: StatusFilter | None
    level: SchoolLevel | None
    role: Role | None

    @classmethod
    def of(cls, flt: ReportFilter) -> FilterOut:
        return cls(
            group_by=flt.group_by,
            organization_id=flt.organization_id,
            course_id=flt.course_id,
            from_=flt.date_from,
            to=flt.date_to,
            date_field=flt.date_field,
            status=flt.status,
            level=flt.level,
            role=flt.role,
        )


class CompletionOut(BaseModel):
    rows: list[ReportRowOut]
    totals: ReportRowOut
    group_by: GroupBy
    scope: str
    generated_at: datetime
    filter: FilterOut

    @classmethod
    def of(cls, report: CompletionReport) -> CompletionOut:
        return cls(
            rows=[ReportRowOut.of(r) for r in report.rows],
            totals=ReportRowOut.of(report.totals),
            group_by=report.filter.group_by,
            scope=report.scope_label,
            generated_at=report.generated_at,
            filter=FilterOut.of(report.filter),
        )


class LearnerReportOut(BaseModel):
    user_id: int
    full_name: str
    email: str
    role: str
    organization_id: int
    organization_name: str
    course_id: int
    course_title: str
    status: StatusFilter
    progress_percent: int
    enrolled_at: datetime
    due_at: datetime | None
    last_activity_at: datetime | None
    completed_at: datetime | None
    average_score: float | None

    @classmethod
    def of(cls, row: LearnerRow) -> LearnerReportOut:
        return cls(
            user_id=row.user_id,
            full_name=row.full_name,
            email=row.email,
            role=row.role,
            organization_id=row.organization_id,
            organization_name=row.organization_name,
            course_id=row.course_id,
            course_title=row.course_title,
            status=StatusFilter(row.status),
            progress_percent=row.progress_percent,
            enrolled_at=row.enrolled_at,
            due_at=row.due_at,
            last_activity_at=row.last_activity_at,
            completed_at=row.completed_at,
            average_score=row.average_score,
        )


class LearnerReportPage(BaseModel):
    items: list[LearnerReportOut]
    total: int
