"""HTML pages of the completion report (cookie session; administrators and school managers).

- ``/reports``: the dashboard: headline figures, completion by school and by course as bar
  charts, completions per month as a trend, each beside its data table, and the first overdue
  learners;
- ``/reports/completion``: the whole report table, grouped by organisation, course, level or
  role (tabs), with a totals row; organisation rows with organisations below them open the same
  page scoped to that organisation, every row opens its learners;
- ``/reports/completion/learners``: the enrolments behind a figure, page by page;
- downloads of every table, through the page's cookie session: ``/reports/completion.csv`` /
  ``.xlsx`` and ``/reports/completion/learners.csv`` / ``.xlsx`` (built by ``app.reports.api``,
  the same files as the API's), ``/reports/completion/months.csv`` / ``.xlsx`` (the trend).

The filters travel in the query string exactly as typed (``PageQuery``), so the form, the tabs,
the drill-down and the download links all keep them. Without ``organization_id`` an
administrator sees their own organisation (the commune, for the commune's admin) and a school
manager their school; ``organization_id=all`` is every organisation. Input the page cannot read
(a malformed date, "from" after "to", an unknown grouping or status) is shown above the filters
with the status 422; a download with such input answers the 422 error page. Another school
(403) and an unknown organisation or course (404) are the error pages, never an empty report.
Charts are server-side SVG (``app.reports.charts``): no script.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.deps import PageUser
from app.accounts.models import Role, SchoolLevel, User
from app.core.collation import vi_sort_key
from app.core.db import SessionDep, utcnow
from app.core.errors import InvalidInput, NotFound
from app.core.forms import parse_day, parse_id
from app.core.i18n import N_, format_number
from app.core.i18n import gettext as _
from app.core.web import Offset, Pagination, render
from app.lms.models import Course
from app.reports import api as reports_api
from app.reports import community, exports, service
from app.reports.charts import Bar, bar_chart_svg, trend_chart_svg
from app.reports.exports import Column
from app.reports.service import (
    COUNTED_COURSES,
    REPORT_TZ,
    CompletionReport,
    DateField,
    GroupBy,
    ReportFilter,
    ReportRow,
    StatusFilter,
)

router = APIRouter(include_in_schema=False)

LEARNERS_PAGE_SIZE = 50
# Drawing width of the charts: narrower than charts.py's default, so their text is still about
# 13 px on a 360 px phone (the drawing scales with the column it sits in).
CHART_WIDTH = 480
TREND_HEIGHT = 240
OVERDUE_SHOWN = 10
ALL = "all"  # organization_id=all: every organisation (administrators)
EXTENSIONS = ("csv", "xlsx")


# --- Filters as typed --------------------------------------------------------------------------


E = TypeVar("E", GroupBy, DateField, StatusFilter, SchoolLevel, Role)


def _parse_choice(kind: type[E], value: str, label: str) -> E | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(
            _("{field}: '{value}' is not one of the choices.").format(field=label, value=value[:30])
        ) from None


@dataclass(frozen=True)
class PageQuery:
    """The report filters exactly as they came in the query string."""

    organization_id: str = ""
    course_id: str = ""
    date_from: str = ""
    date_to: str = ""
    date_field: str = ""
    status: str = ""
    group_by: str = ""
    level: str = ""
    role: str = ""

    def params(self, **changes: str | int | None) -> dict[str, str]:
        """The non-empty filters as query parameters (``from`` / ``to`` named as in the URL),
        with ``changes`` applied (None or "" removes a parameter)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        names = {"date_from": "from", "date_to": "to"}
        return {names.get(k, k): str(v) for k, v in values.items() if v not in (None, "")}

    def url(self, path: str, **changes: str | int | None) -> str:
        params = self.params(**changes)
        return f"{path}?{urlencode(params)}" if params else path

    def organization(self, viewer: User) -> int | None:
        """The organisation asked for: absent means the viewer's own, ``all`` everything."""
        if self.organization_id == ALL:
            return None
        if not self.organization_id:
            return viewer.organization_id if viewer.role == Role.admin else None
        return parse_id(self.organization_id)

    def to_filter(self, viewer: User) -> ReportFilter:
        """The service's filter; ``InvalidInput`` for anything the page cannot read."""
        date_from = parse_day(self.date_from, field=_("From date"))
        date_to = parse_day(self.date_to, field=_("To date"))
        if date_from and date_to and date_from > date_to:
            raise InvalidInput(_("The start date must not be after the end date."))
        return ReportFilter(
            group_by=_parse_choice(GroupBy, self.group_by, _("Group by")) or GroupBy.organization,
            organization_id=self.organization(viewer),
            course_id=parse_id(self.course_id),
            date_from=date_from,
            date_to=date_to,
            date_field=_parse_choice(DateField, self.date_field, _("Dates apply to"))
            or DateField.enrolled,
            status=_parse_choice(StatusFilter, self.status, _("Status")),
            level=_parse_choice(SchoolLevel, self.level, _("Level")),
            role=_parse_choice(Role, self.role, _("Role")),
        )


Typed = Annotated[str, Query(max_length=40)]


def page_query(
    organization_id: Typed = "",
    course_id: Typed = "",
    date_from: Annotated[str, Query(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=40)] = "",
    date_field: Typed = "",
    status: Typed = "",
    group_by: Typed = "",
    level: Typed = "",
    role: Typed = "",
) -> PageQuery:
    return PageQuery(
        organization_id=organization_id.strip(),
        course_id=course_id.strip(),
        date_from=date_from.strip(),
        date_to=date_to.strip(),
        date_field=date_field.strip(),
        status=status.strip(),
        group_by=group_by.strip(),
        level=level.strip(),
        role=role.strip(),
    )


QueryDep = Annotated[PageQuery, Depends(page_query)]


def _reporter(user: PageUser) -> User:
    service.check_report_access(user, None)  # teachers, students, authors: 403
    return user


ReporterUser = Annotated[User, Depends(_reporter)]


# --- What the forms offer ----------------------------------------------------------------------


@dataclass(frozen=True)
class OrgChoice:
    id: int
    name: str
    kind: str
    depth: int
    parent_id: int | None


def _org_choices(session: Session) -> list[OrgChoice]:
    """Every organisation, depth first under its parent (the select shows the tree)."""
    found: list[OrgChoice] = []

    def walk(nodes: list[accounts.OrgNode], depth: int) -> None:
        for node in nodes:
            org = node.org
            found.append(OrgChoice(org.id, org.name, org.kind, depth, org.parent_id))
            walk(node.children, depth + 1)

    walk(accounts.organization_tree(session), 0)
    return found


def _courses(session: Session) -> list[tuple[int, str]]:
    """Courses that can have figures (published or archived), by title in Vietnamese order."""
    rows = session.execute(
        select(Course.id, Course.title).where(Course.status.in_(COUNTED_COURSES))
    ).all()
    return [(r.id, r.title) for r in sorted(rows, key=lambda r: (vi_sort_key(r.title), r.id))]


def _form_context(session: Session, user: User, query: PageQuery) -> dict[str, Any]:
    is_admin = user.role == Role.admin
    orgs = _org_choices(session) if is_admin else []
    selected = query.organization_id or (str(user.organization_id) if is_admin else "")
    return {
        "query": query,
        "is_admin": is_admin,
        "org_choices": orgs,
        "selected_org": selected,
        "courses": _courses(session),
        "error": None,
        # The tabs between the dashboard and the report keep the filters both understand.
        "nav": {
            "dashboard": query.url("/reports", group_by=None, status=None, level=None, role=None),
            "completion": query.url("/reports/completion", level=None, role=None),
        },
    }


# --- Numbers for charts and tables -------------------------------------------------------------


def _bars(rows: list[ReportRow]) -> list[Bar]:
    return [
        Bar(
            row.label,
            row.completion_rate,
            f"{format_number(row.completed)}/{format_number(row.enrolled)}",
        )
        for row in rows
    ]


def _scope_id(report: CompletionReport) -> int | None:
    return report.totals.organization_id


def _row_links(
    query: PageQuery, report: CompletionReport, path: str, *, schools: bool = False
) -> list[tuple[ReportRow, str | None, str | None]]:
    """Each row with the page scoped to it (organisations with organisations below them, and
    schools too when ``schools``) and its learners drill-down (None when the row has none)."""
    linked = []
    for row in report.rows:
        scoped = None
        if (
            row.organization_id is not None
            and (row.has_children or schools)
            and not row.direct
            and row.organization_id != _scope_id(report)
        ):
            scoped = query.url(path, organization_id=row.organization_id)
        drill = (
            query.url("/reports/completion/learners", group_by=None, **row.drill)
            if row.drill is not None
            else None
        )
        linked.append((row, scoped, drill))
    return linked


def _parent_url(
    query: PageQuery, report: CompletionReport, orgs: list[OrgChoice], path: str
) -> tuple[str, str] | None:
    """The link up to the organisation above the scope, for administrators."""
    by_id = {o.id: o for o in orgs}
    scope = by_id.get(_scope_id(report) or -1)
    if scope is None or scope.parent_id is None or scope.parent_id not in by_id:
        return None
    parent = by_id[scope.parent_id]
    return parent.name, query.url(path, organization_id=parent.id)


# --- The dashboard -----------------------------------------------------------------------------


def _dashboard_query(query: PageQuery) -> PageQuery:
    """The dashboard's own filters (a grouping, status or drill-down does not apply to it)."""
    return replace(query, group_by="", status="", level="", role="")


def _community_table(
    session: Session, by_org: CompletionReport, flt: ReportFilter, now: datetime
) -> tuple[list[tuple[str, None, community.CommunityFigures]], community.CommunityFigures]:
    """The dashboard's community activity: a row per row of the report by organisation, and
    the scope's own activity (events its office runs, say) in a row of its own even when it
    has no learners of its own, so the rows add up to ``community.rolled_up`` of the scope."""
    org_rows = [(r.label, r.organization_id, r.direct) for r in by_org.rows if r.organization_id]
    scope_id = _scope_id(by_org)
    # The scope has no row of its own when it has children but no learners of its own.
    own = scope_id if all(org_id != scope_id for _l, org_id, _d in org_rows) else None
    wanted = [(org_id, direct) for _label, org_id, direct in org_rows]
    if own is not None:
        wanted.append((own, True))
    activity = community.for_rows(session, wanted, flt.date_from, flt.date_to, now=now)
    table = [(label, None, activity[org_id]) for label, org_id, _direct in org_rows]
    if own is not None and any(activity[own].as_dict().values()):
        label = _("{name} (own members)").format(name=by_org.scope_label)
        table.append((label, None, activity[own]))
    total = community.CommunityFigures()
    for _label, _href, figures in table:
        total = total.add(figures)
    return table, total


@router.get("/reports")
def dashboard(
    request: Request, session: SessionDep, user: ReporterUser, query: QueryDep
) -> Response:
    query = _dashboard_query(query)
    context = _form_context(session, user, query)
    try:
        flt = query.to_filter(user)
    except InvalidInput as exc:
        context["error"] = exc.detail
        return render(request, "reports/dashboard.html", context, status_code=exc.status_code)
    now = utcnow()
    by_org = service.completion_report(session, user, flt, now=now)
    by_course = service.completion_report(
        session, user, replace(flt, group_by=GroupBy.course), now=now
    )
    months = service.completions_by_month(session, user, flt, now=now)
    overdue, overdue_total = service.learner_page(
        session,
        user,
        replace(flt, status=StatusFilter.overdue),
        limit=OVERDUE_SHOWN,
        offset=0,
        now=now,
    )
    community_table, community_total = _community_table(session, by_org, flt, now)
    all_schools = bool(by_org.rows) and all(r.kind == "school" for r in by_org.rows)
    org_title = _("Completion by school") if all_schools else _("Completion by organisation")
    course_title = _("Completion by course")
    no_data = _("No data yet")
    context.update(
        totals=by_org.totals,
        scope_label=by_org.scope_label,
        school_scope=by_org.totals.kind == "school",
        org_title=org_title,
        org_table=[
            (row.label, scoped, row)
            for row, scoped, _drill in _row_links(query, by_org, "/reports", schools=True)
        ],
        org_chart=bar_chart_svg(
            _bars(by_org.rows),
            title=_("{title}: completion rate (%)").format(title=org_title),
            empty_text=no_data,
            width=CHART_WIDTH,
            id_prefix="chart-organizations",
        ),
        course_title=course_title,
        course_table=[
            (row.label, drill, row)
            for row, _scoped, drill in _row_links(query, by_course, "/reports")
        ],
        course_totals=by_course.totals,
        course_chart=bar_chart_svg(
            _bars(by_course.rows),
            title=_("{title}: completion rate (%)").format(title=course_title),
            empty_text=no_data,
            width=CHART_WIDTH,
            id_prefix="chart-courses",
        ),
        months=months,
        months_table=[(label, None, {"count": count}) for label, count in months],
        months_total=sum(count for _label, count in months),
        months_chart=trend_chart_svg(
            months,
            title=_("Completions per month"),
            empty_text=no_data,
            width=CHART_WIDTH,
            height=TREND_HEIGHT,
            id_prefix="chart-months",
        ),
        overdue=overdue,
        overdue_total=overdue_total,
        community_table=community_table,
        community_total=community_total,
        links={
            "completion": query.url("/reports/completion"),
            "org_xlsx": query.url("/reports/completion.xlsx", group_by="organization"),
            "org_csv": query.url("/reports/completion.csv", group_by="organization"),
            "course_xlsx": query.url("/reports/completion.xlsx", group_by="course"),
            "course_csv": query.url("/reports/completion.csv", group_by="course"),
            "months_xlsx": query.url("/reports/completion/months.xlsx"),
            "months_csv": query.url("/reports/completion/months.csv"),
            "overdue": query.url("/reports/completion/learners", status="overdue"),
            "overdue_xlsx": query.url("/reports/completion/learners.xlsx", status="overdue"),
            "overdue_csv": query.url("/reports/completion/learners.csv", status="overdue"),
        },
        parent=_parent_url(query, by_org, context["org_choices"], "/reports"),
        status_names=_status_names(),
        generated_at=now,
    )
    return render(request, "reports/dashboard.html", context)


def _status_names() -> dict[str, str]:
    return {key: _(name) for key, name in service.STATUS_NAMES.items()}


# --- The completion report ---------------------------------------------------------------------

GROUP_TABS = {
    GroupBy.organization: N_("By organisation"),
    GroupBy.course: N_("By course"),
    GroupBy.level: N_("By level"),
    GroupBy.role: N_("By role"),
}


@router.get("/reports/completion")
def completion_page(
    request: Request, session: SessionDep, user: ReporterUser, query: QueryDep
) -> Response:
    query = replace(query, level="", role="")
    context = _form_context(session, user, query)
    context["group_by"] = query.group_by or GroupBy.organization.value
    context["tabs"] = [
        (g.value, _(label), query.url("/reports/completion", group_by=g.value))
        for g, label in GROUP_TABS.items()
    ]
    context["status_names"] = _status_names()
    try:
        flt = query.to_filter(user)
    except InvalidInput as exc:
        context["error"] = exc.detail
        return render(request, "reports/completion.html", context, status_code=exc.status_code)
    report = service.completion_report(session, user, flt)
    context.update(
        group_by=flt.group_by.value,
        group_header=_(reports_api.GROUP_HEADERS[flt.group_by]),
        report=report,
        rows=_row_links(query, report, "/reports/completion"),
        totals=report.totals,
        totals_url=query.url("/reports/completion/learners"),
        parent=_parent_url(query, report, context["org_choices"], "/reports/completion"),
        links={
            "dashboard": query.url("/reports", group_by=None, status=None),
            "xlsx": query.url("/reports/completion.xlsx", group_by=flt.group_by.value),
            "csv": query.url("/reports/completion.csv", group_by=flt.group_by.value),
            "learners_xlsx": query.url("/reports/completion/learners.xlsx"),
            "learners_csv": query.url("/reports/completion/learners.csv"),
        },
    )
    return render(request, "reports/completion.html", context)


# --- Learners ----------------------------------------------------------------------------------


@router.get("/reports/completion/learners")
def learners_page(
    request: Request,
    session: SessionDep,
    user: ReporterUser,
    query: QueryDep,
    offset: Offset = 0,
) -> Response:
    context = _form_context(session, user, query)
    context["status_names"] = _status_names()
    context["links"] = {"report": query.url("/reports/completion", level=None, role=None)}
    try:
        flt = query.to_filter(user)
    except InvalidInput as exc:
        context["error"] = exc.detail
        return render(request, "reports/learners.html", context, status_code=exc.status_code)
    rows, total = service.learner_page(session, user, flt, limit=LEARNERS_PAGE_SIZE, offset=offset)
    drill: list[tuple[str, str]] = []
    if flt.level is not None:
        drill.append((_("Level"), _(service.LEVEL_NAMES[flt.level])))
    if flt.role is not None:
        drill.append((_("Role"), _(service.ROLE_NAMES[flt.role])))
    context.update(
        rows=rows,
        total=total,
        pagination=Pagination(total=total, limit=LEARNERS_PAGE_SIZE, offset=offset),
        drill=drill,
        role_names={role.value: _(name) for role, name in service.ROLE_NAMES.items()},
    )
    context["links"].update(
        xlsx=query.url("/reports/completion/learners.xlsx"),
        csv=query.url("/reports/completion/learners.csv"),
    )
    return render(request, "reports/learners.html", context)


# --- Downloads (the cookie session's twins of the API's) ---------------------------------------


def _extension(value: str) -> str:
    if value not in EXTENSIONS:
        raise NotFound(_("Page not found"))
    return value


@router.get("/reports/completion.{extension}")
def completion_download(
    extension: str, session: SessionDep, user: ReporterUser, query: QueryDep
) -> StreamingResponse:
    flt = query.to_filter(user)
    return reports_api.completion_file(session, user, flt, _extension(extension))


@router.get("/reports/completion/learners.{extension}")
def learners_download(
    extension: str, stream: reports_api.ExportSession, user: ReporterUser, query: QueryDep
) -> StreamingResponse:
    flt = query.to_filter(user)
    return reports_api.learners_file(stream, user, flt, _extension(extension))


def month_columns() -> list[Column]:
    return [Column("month", _("Month"), width=14), Column("completed", _("Completions"), "int")]


@router.get("/reports/completion/months.{extension}")
def months_download(
    extension: str, session: SessionDep, user: ReporterUser, query: QueryDep
) -> StreamingResponse:
    """The dashboard's trend table: completions per month (by completion date)."""
    extension = _extension(extension)
    months = service.completions_by_month(session, user, _dashboard_query(query).to_filter(user))
    rows: list[Mapping[str, Any]] = [{"month": m, "completed": n} for m, n in months]
    totals = {"month": _("Total"), "completed": sum(n for _m, n in months)}
    day = utcnow().astimezone(REPORT_TZ).date().isoformat()
    filename = f"hoan-thanh-theo-thang-{day}.{extension}"
    body: Iterator[bytes]
    if extension == "csv":
        body, media = exports.csv_stream(month_columns(), rows, totals), exports.CSV_MEDIA_TYPE
    else:
        body = exports.xlsx_stream(
            month_columns(),
            rows,
            totals,
            title=_("Completions per month"),
            sheet_title=_("Completions per month"),
        )
        media = exports.XLSX_MEDIA_TYPE
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
