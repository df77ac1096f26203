"""The completion report: enrolments counted by status and rolled up the organisation tree,
with the learners behind every figure. Read-only; plain functions taking the session first.

Population. An enrolment counts when it is not withdrawn, its course is published or archived
(drafts never count), and its learner's account is active (``ReportFilter.include_inactive``
brings deactivated accounts back) and belongs to the scope organisation or an organisation
below it (province > commune > school).

Status of an enrolment, at ``now``:

- ``completed``: ``completed_at`` is set;
- ``in_progress``: not completed, and some progress or activity was recorded
  (``progress_percent > 0`` or ``last_activity_at`` set);
- ``not_started``: everything else.

These three partition ``enrolled``. ``overdue`` is an extra count, a subset of the enrolments
that are not completed: the enrolment's ``due_at`` (else the course's) is before ``now``. The
status filter ``overdue`` selects exactly those; a learner row's single ``status`` says
``overdue`` rather than in_progress / not_started when it applies.

Figures per row: ``completion_rate`` = completed / enrolled × 100; ``average_progress`` = mean
``progress_percent`` over the enrolments; ``average_score``: for each enrolment, the mean over
the course's quiz lessons the learner submitted of their best attempt (score / max_score × 100),
then the mean over the enrolments that have one (None when none has). All one decimal, 0.0
(or None for the score) when a row has no enrolment.

Grouping:

- ``organization``: a row per child of the scope organisation, each summing its whole subtree
  (a commune row is the sum of its schools), rows with no enrolment included; the totals are the
  scope. A school scope gives one row, the school. Without an ``organization_id`` an admin's
  scope is the root organisation (several roots: the roots are the rows, totals are everyone).
  Learners attached to the scope organisation itself (commune staff, say) get a row of their own
  (``direct``) when they have enrolments, so the rows always add up to the totals.
- ``course``: a row per course with matching enrolments, by title.
- ``level``: a row per school level of the course (``lms_course_label`` kind ``level``), plus
  "no level"; a course with several levels counts in each of them, so rows can add up to more
  than the totals, which count distinct enrolments.
- ``role``: a row per learner role.

Dates: ``date_from`` / ``date_to`` are calendar days in Asia/Ho_Chi_Minh (UTC+7, inclusive),
applied to ``enrolled_at`` or ``completed_at`` (``date_field``).

Permissions: admins see everything; a school manager sees only their own school (no
``organization_id`` means their school; another organisation is refused, never answered with an
empty report); everyone else is refused.

Cost: a constant number of SQL statements whatever the data size: the organisation list (one
query, the tree is summed in Python), a course check when filtering by course, one grouped
aggregate (scores come from a grouped subquery joined into it), and for ``level`` a second
aggregate for the distinct totals. Lesson-progress rows are never read: enrolments carry their
progress.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from app.accounts.models import Organization, OrgKind, Role, SchoolLevel, User
from app.core.collation import vi_sort_key
from app.core.db import UTCDateTime, utcnow
from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.lms.models import (
    Attempt,
    Course,
    CourseLabel,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    Lesson,
    LessonKind,
    Module,
)

REPORT_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
REPORT_ROLES = frozenset({Role.admin, Role.school_manager})
COUNTED_COURSES = (CourseStatus.published.value, CourseStatus.archived.value)
# The monthly trend covers at most this many months (the latest ones).
MAX_MONTHS = 120
# Rows fetched per round trip when streaming learners (exports).
STREAM_BATCH = 1000
NO_LEVEL = "none"

ROLE_NAMES = {
    Role.admin: N_("Administrator"),
    Role.school_manager: N_("School manager"),
    Role.author: N_("Content author"),
    Role.teacher: N_("Teacher"),
    Role.student: N_("Student"),
}
LEVEL_NAMES = {
    SchoolLevel.preschool: N_("Preschool"),
    SchoolLevel.primary: N_("Primary"),
    SchoolLevel.lower_secondary: N_("Lower secondary"),
}
STATUS_NAMES = {
    "not_started": N_("Not started"),
    "in_progress": N_("In progress"),
    "completed": N_("Completed"),
    "overdue": N_("Overdue"),
}


class GroupBy(enum.StrEnum):
    organization = "organization"
    course = "course"
    level = "level"
    role = "role"


class DateField(enum.StrEnum):
    enrolled = "enrolled"
    completed = "completed"


class StatusFilter(enum.StrEnum):
    not_started = "not_started"
    in_progress = "in_progress"
    completed = "completed"
    overdue = "overdue"


@dataclass(frozen=True)
class ReportFilter:
    group_by: GroupBy = GroupBy.organization
    organization_id: int | None = None
    course_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive, local dates (Asia/Ho_Chi_Minh)
    date_field: DateField = DateField.enrolled
    status: StatusFilter | None = None
    # Drill-down from a level or role row.
    level: SchoolLevel | None = None
    role: Role | None = None
    include_inactive: bool = False


@dataclass
class ReportRow:
    key: str
    label: str
    enrolled: int
    not_started: int
    in_progress: int
    completed: int
    overdue: int
    completion_rate: float  # 0-100, one decimal; 0.0 when enrolled == 0
    average_progress: float  # 0-100, one decimal
    average_score: float | None  # 0-100, one decimal; None without a submitted quiz attempt
    # Organisation rows: which organisation, its kind, whether it has organisations below it,
    # and whether the row counts only the learners attached to the scope organisation itself.
    organization_id: int | None = None
    kind: str | None = None
    has_children: bool = False
    direct: bool = False
    # Query parameters that narrow the learners drill-down to this row (None: no drill-down).
    drill: dict[str, str | int] | None = None


@dataclass
class CompletionReport:
    rows: list[ReportRow]
    totals: ReportRow
    filter: ReportFilter
    generated_at: datetime
    scope_label: str = ""  # the organisation the report covers ("" for every organisation)


@dataclass
class LearnerRow:
    user_id: int
    full_name: str
    email: str
    role: str
    organization_id: int
    organization_name: str
    course_id: int
    course_title: str
    status: str  # completed | overdue | in_progress | not_started
    progress_percent: int
    enrolled_at: datetime
    due_at: datetime | None
    last_activity_at: datetime | None
    completed_at: datetime | None
    average_score: float | None


# --- Permissions and scope -------------------------------------------------------------------


def check_report_access(viewer: User, organization_id: int | None) -> int | None:
    """The organisation the viewer's report covers (None: everything, admins only).

    Raises PermissionDenied for non-reporting roles and for a school manager asking about
    another organisation. Whether ``organization_id`` exists is the caller's check (404).
    """
    if viewer.role == Role.admin:
        return organization_id
    if viewer.role == Role.school_manager:
        if organization_id is None or organization_id == viewer.organization_id:
            return viewer.organization_id
        raise PermissionDenied(_("You can only see the reports of your own school."))
    raise PermissionDenied(_("Only administrators and school managers can see reports."))


@dataclass
class _Org:
    id: int
    name: str
    kind: str
    parent_id: int | None
    children: list[_Org] = field(default_factory=list)


@dataclass
class _Scope:
    """What a report covers: ``org`` (None: every organisation, rows are the roots)."""

    org: _Org | None
    orgs: dict[int, _Org]
    roots: list[_Org]

    def ids(self) -> list[int] | None:
        """The scope's organisation ids for the SQL filter (None: no filter needed)."""
        if self.org is None:
            return None
        found: list[int] = []
        stack = [self.org]
        while stack:
            org = stack.pop()
            found.append(org.id)
            stack.extend(org.children)
        return found


def _sort_key(name: str) -> tuple[str, str]:
    """Vietnamese dictionary order (organisations, course titles), the name as a tie-break."""
    return vi_sort_key(name), name


def _load_orgs(session: Session) -> tuple[dict[int, _Org], list[_Org]]:
    """Every organisation, linked into a tree, in one query."""
    rows = session.execute(
        select(Organization.id, Organization.name, Organization.kind, Organization.parent_id)
    ).all()
    orgs = {r.id: _Org(r.id, r.name, r.kind, r.parent_id) for r in rows}
    roots: list[_Org] = []
    for org in sorted(orgs.values(), key=lambda o: _sort_key(o.name)):
        parent = orgs.get(org.parent_id) if org.parent_id is not None else None
        (parent.children if parent else roots).append(org)
    return orgs, roots


def _check_filter(flt: ReportFilter) -> None:
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        raise InvalidInput(_("The start date must not be after the end date."))


def _resolve(session: Session, viewer: User, flt: ReportFilter) -> _Scope:
    """Check the viewer and the filter; load the organisation tree (one query, plus one for
    the course when filtering by course)."""
    org_id = check_report_access(viewer, flt.organization_id)
    _check_filter(flt)
    orgs, roots = _load_orgs(session)
    org: _Org | None = None
    if org_id is not None:
        org = orgs.get(org_id)
        if org is None:
            raise NotFound(_("Organisation {id} does not exist.").format(id=org_id))
    elif len(roots) == 1:
        org = roots[0]
    if flt.course_id is not None:
        status = session.scalar(select(Course.status).where(Course.id == flt.course_id))
        # Drafts are "not found" to school managers, as everywhere else in the app.
        if status is None or (status == CourseStatus.draft and viewer.role != Role.admin):
            raise NotFound(_("Course {id} does not exist.").format(id=flt.course_id))
    return _Scope(org, orgs, roots)


# --- SQL building blocks ---------------------------------------------------------------------


def _local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=REPORT_TZ).astimezone(UTC)


def _score_subquery() -> Any:
    """Per (learner, course): the mean over quiz lessons of the best submitted attempt, in %."""
    best = (
        select(
            Attempt.user_id,
            Attempt.lesson_id,
            func.max(cast(Attempt.score, Float) * 100 / Attempt.max_score).label("pct"),
        )
        .where(
            Attempt.submitted_at.is_not(None),
            Attempt.score.is_not(None),
            Attempt.max_score > 0,
        )
        .group_by(Attempt.user_id, Attempt.lesson_id)
        .subquery("best")
    )
    return (
        select(best.c.user_id, Module.course_id, func.avg(best.c.pct).label("score"))
        .join(Lesson, Lesson.id == best.c.lesson_id)
        .join(Module, Module.id == Lesson.module_id)
        .where(Lesson.kind == LessonKind.quiz.value)
        .group_by(best.c.user_id, Module.course_id)
        .subquery("quiz_score")
    )


@dataclass(frozen=True)
class _Exprs:
    """The status conditions of an enrolment at ``now``."""

    completed: ColumnElement[bool]
    started: ColumnElement[bool]
    overdue: ColumnElement[bool]
    due: ColumnElement[datetime]


def _exprs(now: datetime) -> _Exprs:
    due = func.coalesce(Enrollment.due_at, Course.due_at, type_=UTCDateTime())
    not_completed = Enrollment.completed_at.is_(None)
    started = or_(Enrollment.progress_percent > 0, Enrollment.last_activity_at.is_not(None))
    return _Exprs(
        completed=Enrollment.completed_at.is_not(None),
        started=and_(not_completed, started),
        overdue=and_(not_completed, due < literal(now, UTCDateTime())),
        due=due,
    )


def _conditions(
    flt: ReportFilter, scope_ids: Sequence[int] | None, ex: _Exprs, now: datetime
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        Enrollment.status != EnrollmentStatus.withdrawn.value,
        Course.status.in_(COUNTED_COURSES),
    ]
    if scope_ids is not None:
        conds.append(User.organization_id.in_(scope_ids))
    if not flt.include_inactive:
        conds.append(User.is_active.is_(True))
    if flt.course_id is not None:
        conds.append(Enrollment.course_id == flt.course_id)
    if flt.role is not None:
        conds.append(User.role == flt.role.value)
    if flt.level is not None:
        conds.append(
            Enrollment.course_id.in_(
                select(CourseLabel.course_id).where(
                    CourseLabel.kind == "level", CourseLabel.value == flt.level.value
                )
            )
        )
    column = (
        Enrollment.completed_at if flt.date_field == DateField.completed else Enrollment.enrolled_at
    )
    if flt.date_from is not None:
        conds.append(column >= literal(_local_midnight_utc(flt.date_from), UTCDateTime()))
    if flt.date_to is not None:
        end = _local_midnight_utc(flt.date_to + timedelta(days=1))
        conds.append(column < literal(end, UTCDateTime()))
    if flt.status == StatusFilter.completed:
        conds.append(ex.completed)
    elif flt.status == StatusFilter.in_progress:
        conds.append(ex.started)
    elif flt.status == StatusFilter.not_started:
        conds.append(and_(Enrollment.completed_at.is_(None), ~ex.started))
    elif flt.status == StatusFilter.overdue:
        conds.append(ex.overdue)
    return conds


def _population(select_: Select[Any]) -> Select[Any]:
    return (
        select_.select_from(Enrollment)
        .join(User, User.id == Enrollment.user_id)
        .join(Course, Course.id == Enrollment.course_id)
    )


def _count_if(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _sum_columns(ex: _Exprs, score: Any) -> list[Any]:
    return [
        func.count(Enrollment.id).label("enrolled"),
        _count_if(ex.completed).label("completed"),
        _count_if(ex.started).label("in_progress"),
        _count_if(ex.overdue).label("overdue"),
        func.coalesce(func.sum(Enrollment.progress_percent), 0).label("progress_sum"),
        func.sum(score.c.score).label("score_sum"),
        func.count(score.c.score).label("score_n"),
    ]


# --- Sums and rows ---------------------------------------------------------------------------


@dataclass
class _Sums:
    enrolled: int = 0
    completed: int = 0
    in_progress: int = 0
    overdue: int = 0
    progress_sum: float = 0.0
    score_sum: float = 0.0
    score_n: int = 0

    @classmethod
    def of(cls, row: Any) -> _Sums:
        return cls(
            enrolled=int(row.enrolled or 0),
            completed=int(row.completed or 0),
            in_progress=int(row.in_progress or 0),
            overdue=int(row.overdue or 0),
            progress_sum=float(row.progress_sum or 0),
            score_sum=float(row.score_sum or 0),
            score_n=int(row.score_n or 0),
        )

    def add(self, other: _Sums) -> _Sums:
        return _Sums(
            self.enrolled + other.enrolled,
            self.completed + other.completed,
            self.in_progress + other.in_progress,
            self.overdue + other.overdue,
            self.progress_sum + other.progress_sum,
            self.score_sum + other.score_sum,
            self.score_n + other.score_n,
        )

    def row(self, key: str, label: str, **extra: Any) -> ReportRow:
        return ReportRow(
            key=key,
            label=label,
            enrolled=self.enrolled,
            not_started=self.enrolled - self.completed - self.in_progress,
            in_progress=self.in_progress,
            completed=self.completed,
            overdue=self.overdue,
            completion_rate=one_decimal(self.completed * 100 / self.enrolled)
            if self.enrolled
            else 0.0,
            average_progress=one_decimal(self.progress_sum / self.enrolled)
            if self.enrolled
            else 0.0,
            average_score=one_decimal(self.score_sum / self.score_n) if self.score_n else None,
            **extra,
        )


def one_decimal(value: float) -> float:
    # Half away from zero (66.65 -> 66.7), not Python's banker's rounding.
    return float(int(value * 10 + 0.5 + 1e-9)) / 10


def _sum_all(parts: Sequence[_Sums]) -> _Sums:
    total = _Sums()
    for part in parts:
        total = total.add(part)
    return total


def _org_rows(scope: _Scope, sums: dict[int, _Sums]) -> tuple[list[ReportRow], _Sums, str]:
    """Rows for the children of the scope (each summing its subtree), the scope's sums, and
    its label."""
    subtree: dict[int, _Sums] = {}

    def total(org: _Org) -> _Sums:
        if org.id not in subtree:
            subtree[org.id] = _sum_all(
                [sums.get(org.id, _Sums()), *(total(child) for child in org.children)]
            )
        return subtree[org.id]

    def org_row(org: _Org) -> ReportRow:
        return total(org).row(
            str(org.id),
            org.name,
            organization_id=org.id,
            kind=org.kind,
            has_children=bool(org.children),
            drill={"organization_id": org.id},
        )

    if scope.org is None:
        members = scope.roots
        return [org_row(o) for o in members], _sum_all([total(o) for o in members]), ""
    org = scope.org
    if org.kind == OrgKind.school or not org.children:
        return [org_row(org)], total(org), org.name
    rows = [org_row(child) for child in org.children]
    own = sums.get(org.id)
    if own is not None and own.enrolled:
        rows.append(
            own.row(
                str(org.id),
                _("{name} (own members)").format(name=org.name),
                organization_id=org.id,
                kind=org.kind,
                direct=True,
            )
        )
    return rows, total(org), org.name


# --- The report ------------------------------------------------------------------------------


def completion_report(
    session: Session, viewer: User, flt: ReportFilter, *, now: datetime | None = None
) -> CompletionReport:
    now = now or utcnow()
    scope = _resolve(session, viewer, flt)
    ex = _exprs(now)
    score = _score_subquery()
    conds = _conditions(flt, scope.ids(), ex, now)

    def grouped(*keys: Any, join_labels: bool = False) -> list[Any]:
        query = _population(select(*keys, *_sum_columns(ex, score)))
        if join_labels:
            on = [CourseLabel.course_id == Enrollment.course_id, CourseLabel.kind == "level"]
            if flt.level is not None:
                on.append(CourseLabel.value == flt.level.value)
            query = query.outerjoin(CourseLabel, and_(*on))
        query = query.outerjoin(
            score, and_(score.c.user_id == Enrollment.user_id, score.c.course_id == Course.id)
        ).where(*conds)
        if keys:
            query = query.group_by(*keys)
        return list(session.execute(query).all())

    scope_label = ""
    rows: list[ReportRow]
    if flt.group_by == GroupBy.organization:
        sums = {r.organization_id: _Sums.of(r) for r in grouped(User.organization_id)}
        rows, totals, scope_label = _org_rows(scope, sums)
    elif flt.group_by == GroupBy.course:
        found = sorted(grouped(Course.id, Course.title), key=lambda r: _sort_key(r.title))
        rows = [_Sums.of(r).row(str(r.id), r.title, drill={"course_id": r.id}) for r in found]
        totals = _sum_all([_Sums.of(r) for r in found])
    elif flt.group_by == GroupBy.level:
        by_level = {r.value: _Sums.of(r) for r in grouped(CourseLabel.value, join_labels=True)}
        order = {lv.value: i for i, lv in enumerate(SchoolLevel)}
        rows = [
            by_level[value].row(
                value or NO_LEVEL,
                _(LEVEL_NAMES[SchoolLevel(value)]) if value in order else value or _("No level"),
                drill={"level": value} if value in order else None,
            )
            for value in sorted(by_level, key=lambda v: order.get(v or "", len(order)))
        ]
        # A course with several levels is in several rows: the totals count each enrolment once.
        totals = _sum_all([_Sums.of(r) for r in grouped()])
    else:
        found = grouped(User.role)
        role_order = [r.value for r in Role]
        found.sort(key=lambda r: role_order.index(r.role) if r.role in role_order else 99)
        rows = [
            _Sums.of(r).row(
                r.role,
                _(ROLE_NAMES[Role(r.role)]) if r.role in role_order else r.role,
                drill={"role": r.role},
            )
            for r in found
        ]
        totals = _sum_all([_Sums.of(r) for r in found])
    if flt.group_by != GroupBy.organization and scope.org is not None:
        scope_label = scope.org.name
    total_row = totals.row(
        str(scope.org.id) if scope.org else "all",
        _("Total"),
        organization_id=scope.org.id if scope.org else None,
        kind=scope.org.kind if scope.org else None,
    )
    return CompletionReport(rows, total_row, flt, now, scope_label)


# --- Learners (drill-down and exports) -------------------------------------------------------


def _learner_query(
    session: Session, viewer: User, flt: ReportFilter, now: datetime
) -> tuple[Select[Any], list[ColumnElement[bool]]]:
    scope = _resolve(session, viewer, flt)
    ex = _exprs(now)
    score = _score_subquery()
    conds = _conditions(flt, scope.ids(), ex, now)
    query = (
        _population(
            select(
                User.id.label("user_id"),
                User.full_name,
                User.email,
                User.role,
                User.organization_id,
                Organization.name.label("organization_name"),
                Course.id.label("course_id"),
                Course.title.label("course_title"),
                Enrollment.progress_percent,
                Enrollment.enrolled_at,
                ex.due.label("due_at"),
                Enrollment.last_activity_at,
                Enrollment.completed_at,
                score.c.score,
            )
        )
        .join(Organization, Organization.id == User.organization_id)
        .outerjoin(
            score, and_(score.c.user_id == Enrollment.user_id, score.c.course_id == Course.id)
        )
        .where(*conds)
        .order_by(
            Organization.sort_name,
            Organization.id,
            User.sort_name,
            User.id,
            Course.title,
            Course.id,
        )
    )
    return query, conds


def _learner(row: Any, now: datetime) -> LearnerRow:
    due: datetime | None = row.due_at
    if row.completed_at is not None:
        status = "completed"
    elif due is not None and due < now:
        status = "overdue"
    elif row.progress_percent > 0 or row.last_activity_at is not None:
        status = "in_progress"
    else:
        status = "not_started"
    return LearnerRow(
        user_id=row.user_id,
        full_name=row.full_name,
        email=row.email,
        role=row.role,
        organization_id=row.organization_id,
        organization_name=row.organization_name,
        course_id=row.course_id,
        course_title=row.course_title,
        status=status,
        progress_percent=row.progress_percent,
        enrolled_at=row.enrolled_at,
        due_at=due,
        last_activity_at=row.last_activity_at,
        completed_at=row.completed_at,
        average_score=one_decimal(float(row.score)) if row.score is not None else None,
    )


def learner_page(
    session: Session,
    viewer: User,
    flt: ReportFilter,
    *,
    limit: int,
    offset: int,
    now: datetime | None = None,
) -> tuple[list[LearnerRow], int]:
    """One page of the enrolments behind the report (same filter, same scope), and the total.
    Ordered by organisation, learner name, course."""
    now = now or utcnow()
    query, conds = _learner_query(session, viewer, flt, now)
    total = session.scalar(_population(select(func.count(Enrollment.id))).where(*conds)) or 0
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return [_learner(r, now) for r in rows], int(total)


def iter_learners(
    session: Session, viewer: User, flt: ReportFilter, *, now: datetime | None = None
) -> Iterator[LearnerRow]:
    """Every enrolment behind the report, streamed from the database in batches (exports).

    Permissions and the filter are checked now, before the first row is asked for, so an
    HTTP caller can still answer with an error status. The session must stay open while the
    iterator is consumed.
    """
    now = now or utcnow()
    query, _conds = _learner_query(session, viewer, flt, now)
    result = session.execute(query.execution_options(yield_per=STREAM_BATCH))
    return _stream(result, now)


def _stream(result: Any, now: datetime) -> Iterator[LearnerRow]:
    try:
        for row in result:
            yield _learner(row, now)
    finally:
        result.close()


# --- Monthly trend ---------------------------------------------------------------------------


def _month_key(session: Session) -> Any:
    """The local (UTC+7, no daylight saving) year-month of ``completed_at`` as 'YYYY-MM'."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(REPORT_TZ.key, Enrollment.completed_at), "YYYY-MM")
    return func.strftime("%Y-%m", Enrollment.completed_at, "+7 hours")


def _month_range(first: date, last: date) -> list[tuple[int, int]]:
    months: list[tuple[int, int]] = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months[-MAX_MONTHS:]


def completions_by_month(
    session: Session, viewer: User, flt: ReportFilter, *, now: datetime | None = None
) -> list[tuple[str, int]]:
    """Completed enrolments per local month ("MM/YYYY", count), every month of the range
    present (zeros included): from ``date_from`` (else the first completion) to ``date_to``
    (else this month), at most the last 120 months. The date range applies to
    ``completed_at`` whatever ``date_field`` says."""
    now = now or utcnow()
    flt = replace(flt, date_field=DateField.completed)
    scope = _resolve(session, viewer, flt)
    ex = _exprs(now)
    conds = _conditions(flt, scope.ids(), ex, now)
    month = _month_key(session).label("month")
    found = {
        r.month: int(r.n)
        for r in session.execute(
            _population(select(month, func.count(Enrollment.id).label("n")))
            .where(*conds, ex.completed)
            .group_by(month)
        ).all()
    }
    today = now.astimezone(REPORT_TZ).date()
    last = flt.date_to or today
    if flt.date_from is not None:
        first = flt.date_from
    elif found:
        year, mon = min(found).split("-")
        first = date(int(year), int(mon), 1)
    else:
        return []
    return [
        (f"{m:02d}/{y}", found.get(f"{y:04d}-{m:02d}", 0)) for y, m in _month_range(first, last)
    ]
