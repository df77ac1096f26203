"""The completion report service: roll-up over a hand-built tree, grouping, filters,
permissions, learners drill-down, the monthly trend, and a constant number of SQL statements.

The tree: province > commune C1 (schools S1, S2, S3) and commune C2 (school S4), plus an
admin attached to C1 itself. Enrolments, one per state (``now`` is the real clock):

    e1  t1  K1  completed 2 days ago, best quiz attempts 80 % and 100 %  -> score 90
    e2  t1  K2  40 %, active, no due date, quiz 50 %                     -> in progress
    e3  t2  K1  untouched; the course's due date passed                  -> not started, overdue
    e4  t2  K3  draft course                                             -> never counted
    e5  st1 K1  0 % but active; own due date in 5 days (course's passed) -> in progress
    e6  st1 K2  withdrawn                                                -> never counted
    e7  t3  K1  50 %, own due date 3 days ago; an unsubmitted attempt     -> in progress, overdue
    e8  t3  K4  archived course, completed 40 days ago (enrolled 60)     -> completed
    e9  t4  K2  completed yesterday, quiz 100 %                          -> completed
    e10 adm K2  untouched                                                -> not started
    e11 gone K2 deactivated account                                      -> not counted
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from app.accounts.models import Organization, Role, SchoolLevel, User
from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.lms.models import Attempt, Course, CourseLabel, Enrollment, Lesson, Module
from app.reports import service
from app.reports.service import (
    DateField,
    GroupBy,
    ReportFilter,
    ReportRow,
    StatusFilter,
    check_report_access,
    completion_report,
    completions_by_month,
    iter_learners,
    learner_page,
)
from tests.factories import make_org, make_user

HCM = service.REPORT_TZ


@dataclass
class Tree:
    now: datetime
    province: Organization
    c1: Organization
    c2: Organization
    s1: Organization
    s2: Organization
    s3: Organization
    s4: Organization
    admin: User
    manager: User
    other_manager: User
    teacher: User
    student: User
    author: User
    k1: Course
    k2: Course
    k3: Course
    k4: Course


def add_course(
    db: Session,
    owner: User,
    title: str,
    *,
    status: str = "published",
    levels: tuple[str, ...] = (),
    due_at: datetime | None = None,
    quizzes: int = 1,
) -> tuple[Course, list[Lesson]]:
    course = Course(title=title, status=status, owner_id=owner.id, due_at=due_at)
    db.add(course)
    db.flush()
    for level in levels:
        db.add(CourseLabel(course_id=course.id, kind="level", value=level, key=level))
    module = Module(course_id=course.id, title="Học phần 1")
    db.add(module)
    db.flush()
    lessons = [
        Lesson(module_id=module.id, title=f"Kiểm tra {i + 1}", kind="quiz") for i in range(quizzes)
    ]
    db.add_all(lessons)
    db.flush()
    return course, lessons


def enrol(
    db: Session,
    user: User,
    course: Course,
    *,
    status: str = "active",
    due_at: datetime | None = None,
    enrolled_at: datetime | None = None,
    completed_at: datetime | None = None,
    last_activity_at: datetime | None = None,
    progress: int = 0,
) -> Enrollment:
    enrollment = Enrollment(
        user_id=user.id,
        course_id=course.id,
        source="assigned",
        status="completed" if completed_at and status == "active" else status,
        due_at=due_at,
        enrolled_at=enrolled_at or utcnow(),
        completed_at=completed_at,
        last_activity_at=last_activity_at,
        progress_percent=100 if completed_at else progress,
    )
    db.add(enrollment)
    db.flush()
    return enrollment


def attempt(
    db: Session, user: User, lesson: Lesson, score: int | None, max_score: int = 10
) -> None:
    number = (
        db.query(Attempt).filter(Attempt.user_id == user.id, Attempt.lesson_id == lesson.id).count()
        + 1
    )
    db.add(
        Attempt(
            user_id=user.id,
            lesson_id=lesson.id,
            number=number,
            layout={},
            answers={},
            submitted_at=utcnow() if score is not None else None,
            score=score,
            max_score=max_score,
            passed=None if score is None else score * 2 >= max_score,
        )
    )
    db.flush()


def build_tree(db: Session, settings: Settings) -> Tree:
    now = utcnow()
    day = timedelta(days=1)
    province = make_org(db, kind="province", level=None, name="Tỉnh Thái Nguyên")
    c1 = make_org(db, kind="commune", parent=province, name="Xã Tân Cương")
    c2 = make_org(db, kind="commune", parent=province, name="Xã Phúc Xuân")
    s1 = make_org(db, parent=c1, name="Trường Tiểu học Tân Cương")
    s2 = make_org(db, parent=c1, name="Trường THCS Tân Cương", level="lower_secondary")
    s3 = make_org(db, parent=c1, name="Trường Mầm non Tân Cương", level="preschool")
    s4 = make_org(db, parent=c2, name="Trường Tiểu học Phúc Xuân")

    def user(role: str, org: Organization, name: str, **kw: Any) -> User:
        return make_user(
            db, settings, role=role, organization=org, full_name=name, password=None, **kw
        )

    admin = user("admin", c1, "Quản trị xã")
    author = user("author", c1, "Tác giả")
    manager = user("school_manager", s1, "Hiệu trưởng S1")
    other_manager = user("school_manager", s2, "Hiệu trưởng S2")
    t1 = user("teacher", s1, "Nguyễn Văn An")
    t2 = user("teacher", s1, "Trần Thị Bình")
    st1 = user("student", s1, "Lê Minh Châu")
    t3 = user("teacher", s2, "Phạm Văn Dũng")
    user("teacher", s3, "Hoàng Thị Em")  # a school where nobody enrolled
    t4 = user("teacher", s4, "Vũ Văn Giang")
    gone = user("teacher", s2, "Đã nghỉ", is_active=False)

    k1, (q1, q2) = add_course(
        db,
        author,
        "Chuyển đổi số",
        levels=("primary", "lower_secondary"),
        due_at=now - day,
        quizzes=2,
    )
    k2, (q3,) = add_course(db, author, "An toàn mạng", levels=("primary",))
    k3, _ = add_course(db, author, "Bản nháp", status="draft", levels=("primary",))
    k4, _ = add_course(db, author, "Khoá cũ", status="archived")

    enrol(db, t1, k1, due_at=now - day, enrolled_at=now - 20 * day, completed_at=now - 2 * day)
    attempt(db, t1, q1, 6)
    attempt(db, t1, q1, 8)
    attempt(db, t1, q2, 10)
    enrol(db, t1, k2, progress=40, last_activity_at=now - day)
    attempt(db, t1, q3, 5)
    enrol(db, t2, k1)  # due date: the course's (yesterday)
    enrol(db, t2, k3, progress=30, last_activity_at=now)
    enrol(db, st1, k1, due_at=now + 5 * day, last_activity_at=now - day)
    enrol(db, st1, k2, status="withdrawn", progress=20, last_activity_at=now)
    enrol(db, t3, k1, due_at=now - 3 * day, progress=50, last_activity_at=now - 4 * day)
    attempt(db, t3, q1, None)  # started, never submitted: no score
    enrol(db, t3, k4, enrolled_at=now - 60 * day, completed_at=now - 40 * day)
    enrol(db, t4, k2, completed_at=now - day)
    attempt(db, t4, q3, 10)
    enrol(db, admin, k2)
    enrol(db, gone, k2, completed_at=now - day)
    return Tree(
        now=now,
        province=province,
        c1=c1,
        c2=c2,
        s1=s1,
        s2=s2,
        s3=s3,
        s4=s4,
        admin=admin,
        manager=manager,
        other_manager=other_manager,
        teacher=t1,
        student=st1,
        author=author,
        k1=k1,
        k2=k2,
        k3=k3,
        k4=k4,
    )


@pytest.fixture
def tree(db: Session, settings: Settings) -> Tree:
    return build_tree(db, settings)


def figures(row: ReportRow) -> tuple[Any, ...]:
    """(enrolled, not_started, in_progress, completed, overdue, rate, progress, score)."""
    return (
        row.enrolled,
        row.not_started,
        row.in_progress,
        row.completed,
        row.overdue,
        row.completion_rate,
        row.average_progress,
        row.average_score,
    )


S1 = (4, 1, 2, 1, 1, 25.0, 35.0, 70.0)
S2 = (2, 0, 1, 1, 1, 50.0, 75.0, None)
EMPTY = (0, 0, 0, 0, 0, 0.0, 0.0, None)
S4 = (1, 0, 0, 1, 0, 100.0, 100.0, 100.0)
C1_OWN = (1, 1, 0, 0, 0, 0.0, 0.0, None)
C1 = (7, 2, 3, 2, 2, 28.6, 41.4, 70.0)
PROVINCE = (8, 2, 3, 3, 2, 37.5, 48.8, 80.0)


def report(db: Session, viewer: User, **kw: Any) -> service.CompletionReport:
    return completion_report(db, viewer, ReportFilter(**kw))


# --- Roll-up and grouping --------------------------------------------------------------------


def test_province_rows_are_communes_summing_their_schools(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin, organization_id=tree.province.id)
    by_label = {r.label: r for r in got.rows}
    assert list(by_label) == ["Xã Phúc Xuân", "Xã Tân Cương"]  # by name, accents folded
    assert figures(by_label["Xã Tân Cương"]) == C1
    assert figures(by_label["Xã Phúc Xuân"]) == S4
    assert figures(got.totals) == PROVINCE
    assert got.totals.key == str(tree.province.id)
    assert got.scope_label == "Tỉnh Thái Nguyên"
    c1 = by_label["Xã Tân Cương"]
    assert (c1.key, c1.organization_id, c1.kind, c1.has_children) == (
        str(tree.c1.id),
        tree.c1.id,
        "commune",
        True,
    )
    assert c1.drill == {"organization_id": tree.c1.id}


def test_commune_rows_are_its_schools_with_empty_ones_and_own_members(
    db: Session, tree: Tree
) -> None:
    got = report(db, tree.admin, organization_id=tree.c1.id)
    rows = {r.label: r for r in got.rows}
    assert figures(rows["Trường Tiểu học Tân Cương"]) == S1
    assert figures(rows["Trường THCS Tân Cương"]) == S2
    assert figures(rows["Trường Mầm non Tân Cương"]) == EMPTY  # nobody enrolled: still listed
    own = [r for r in got.rows if r.direct]
    assert len(own) == 1
    assert figures(own[0]) == C1_OWN
    assert figures(got.totals) == C1
    # The rows add up to the totals.
    assert sum(r.enrolled for r in got.rows) == got.totals.enrolled
    assert sum(r.overdue for r in got.rows) == got.totals.overdue


def test_admin_without_organisation_sees_the_root(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin)
    assert {r.label for r in got.rows} == {"Xã Tân Cương", "Xã Phúc Xuân"}
    assert figures(got.totals) == PROVINCE


def test_school_scope_is_one_row(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin, organization_id=tree.s2.id)
    assert [figures(r) for r in got.rows] == [S2]
    assert figures(got.totals) == S2
    assert got.rows[0].has_children is False


def test_group_by_course(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin, organization_id=tree.province.id, group_by=GroupBy.course)
    rows = {r.label: r for r in got.rows}
    assert set(rows) == {"Chuyển đổi số", "An toàn mạng", "Khoá cũ"}  # never the draft
    assert figures(rows["Chuyển đổi số"]) == (4, 1, 2, 1, 2, 25.0, 37.5, 90.0)
    assert figures(rows["An toàn mạng"]) == (3, 1, 1, 1, 0, 33.3, 46.7, 75.0)
    assert figures(rows["Khoá cũ"]) == (1, 0, 0, 1, 0, 100.0, 100.0, None)
    assert rows["An toàn mạng"].key == str(tree.k2.id)
    assert rows["An toàn mạng"].drill == {"course_id": tree.k2.id}
    assert figures(got.totals) == PROVINCE


def test_group_by_level_counts_a_course_in_each_of_its_levels(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin, organization_id=tree.province.id, group_by=GroupBy.level)
    assert [r.key for r in got.rows] == ["primary", "lower_secondary", "none"]
    enrolled = {r.key: r.enrolled for r in got.rows}
    assert enrolled == {"primary": 7, "lower_secondary": 4, "none": 1}
    assert got.rows[0].drill == {"level": "primary"}
    # Distinct enrolments: 8, not 12.
    assert figures(got.totals) == PROVINCE


def test_group_by_role(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin, organization_id=tree.province.id, group_by=GroupBy.role)
    assert [(r.key, r.enrolled) for r in got.rows] == [("admin", 1), ("teacher", 6), ("student", 1)]
    assert figures(got.totals) == PROVINCE


def test_deactivated_learners_only_on_request(db: Session, tree: Tree) -> None:
    flt = ReportFilter(organization_id=tree.s2.id)
    assert completion_report(db, tree.admin, flt).totals.enrolled == 2
    assert (
        completion_report(db, tree.admin, replace(flt, include_inactive=True)).totals.enrolled == 3
    )


# --- Filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (StatusFilter.completed, (3, 0, 0, 3, 0)),
        (StatusFilter.overdue, (2, 1, 1, 0, 2)),
        (StatusFilter.not_started, (2, 2, 0, 0, 1)),
        (StatusFilter.in_progress, (3, 0, 3, 0, 1)),
    ],
)
def test_status_filter(
    db: Session, tree: Tree, status: StatusFilter, expected: tuple[int, ...]
) -> None:
    got = report(db, tree.admin, organization_id=tree.province.id, status=status)
    assert figures(got.totals)[:5] == expected
    assert sum(r.enrolled for r in got.rows) == expected[0]


def test_course_filter(db: Session, tree: Tree) -> None:
    got = report(db, tree.admin, organization_id=tree.c1.id, course_id=tree.k1.id)
    assert got.totals.enrolled == 4
    rows = {r.label: r.enrolled for r in got.rows}
    assert rows["Trường Tiểu học Tân Cương"] == 3
    assert rows["Trường THCS Tân Cương"] == 1


def test_level_and_role_filters(db: Session, tree: Tree) -> None:
    assert report(db, tree.admin, level=SchoolLevel.lower_secondary).totals.enrolled == 4
    got = report(db, tree.admin, level=SchoolLevel.primary, group_by=GroupBy.level)
    assert [r.key for r in got.rows] == ["primary"]
    assert got.totals.enrolled == 7
    assert report(db, tree.admin, role=Role.student).totals.enrolled == 1


def test_completed_date_range_in_local_days(db: Session, tree: Tree) -> None:
    today = tree.now.astimezone(HCM).date()
    two_days_ago = (tree.now - timedelta(days=2)).astimezone(HCM).date()
    got = report(
        db, tree.admin, date_field=DateField.completed, date_from=two_days_ago, date_to=today
    )
    assert got.totals.enrolled == 2  # e1 and e9, not e8 (40 days ago)
    assert got.totals.completed == 2


def test_enrolled_date_range(db: Session, tree: Tree) -> None:
    month_ago = (tree.now - timedelta(days=30)).astimezone(HCM).date()
    got = report(db, tree.admin, date_to=month_ago)
    assert got.totals.enrolled == 1  # e8, enrolled 60 days ago
    got = report(db, tree.admin, date_from=month_ago)
    assert got.totals.enrolled == 7


def test_date_bounds_are_local_calendar_days(db: Session, settings: Settings) -> None:
    school = make_org(db, name="Trường Biên")
    author = make_user(db, settings, role="author", organization=school, password=None)
    admin = make_user(db, settings, role="admin", organization=school, password=None)
    course, _ = add_course(db, author, "Khoá ngày")
    learner = make_user(db, settings, organization=school, password=None)
    # 1 March 17:30 UTC is 2 March 00:30 in Hà Nội.
    enrol(db, learner, course, enrolled_at=datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
    on = {"organization_id": school.id}
    assert (
        report(
            db, admin, **on, date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)
        ).totals.enrolled
        == 1
    )
    assert report(db, admin, **on, date_to=date(2026, 3, 1)).totals.enrolled == 0
    assert report(db, admin, **on, date_from=date(2026, 3, 3)).totals.enrolled == 0


def test_start_after_end_is_invalid(db: Session, tree: Tree) -> None:
    with pytest.raises(InvalidInput):
        report(db, tree.admin, date_from=date(2026, 5, 2), date_to=date(2026, 5, 1))


# --- Permissions -----------------------------------------------------------------------------


def test_school_manager_sees_only_their_school(db: Session, tree: Tree) -> None:
    got = report(db, tree.manager)
    assert [figures(r) for r in got.rows] == [S1]
    assert figures(got.totals) == S1
    assert figures(report(db, tree.manager, organization_id=tree.s1.id).totals) == S1
    # Their school, whatever the grouping.
    assert report(db, tree.manager, group_by=GroupBy.course).totals.enrolled == 4
    for other in (tree.s2.id, tree.c1.id, tree.province.id, 987654):
        with pytest.raises(PermissionDenied):
            report(db, tree.manager, organization_id=other)


def test_other_roles_are_refused(db: Session, tree: Tree) -> None:
    for viewer in (tree.teacher, tree.student, tree.author):
        with pytest.raises(PermissionDenied):
            report(db, viewer)
        with pytest.raises(PermissionDenied):
            learner_page(db, viewer, ReportFilter(), limit=10, offset=0)
    assert check_report_access(tree.admin, None) is None
    assert check_report_access(tree.manager, None) == tree.s1.id


def test_unknown_organisation_or_course_is_not_found(db: Session, tree: Tree) -> None:
    with pytest.raises(NotFound):
        report(db, tree.admin, organization_id=987654)
    with pytest.raises(NotFound):
        report(db, tree.admin, course_id=987654)
    # A draft course does not exist for a school manager; for an admin it counts nothing.
    with pytest.raises(NotFound):
        report(db, tree.manager, course_id=tree.k3.id)
    assert report(db, tree.admin, course_id=tree.k3.id).totals.enrolled == 0


# --- Learners --------------------------------------------------------------------------------


def test_learner_page_pages_through_everyone(db: Session, tree: Tree) -> None:
    flt = ReportFilter(organization_id=tree.province.id)
    seen = []
    for offset in (0, 3, 6):
        rows, total = learner_page(db, tree.admin, flt, limit=3, offset=offset)
        assert total == 8
        seen += [(r.user_id, r.course_id) for r in rows]
    assert len(seen) == len(set(seen)) == 8
    streamed = [(r.user_id, r.course_id) for r in iter_learners(db, tree.admin, flt)]
    assert streamed == seen  # same order
    rows, _ = learner_page(db, tree.admin, flt, limit=100, offset=0)
    by_key = {(r.full_name, r.course_title): r for r in rows}
    done = by_key[("Nguyễn Văn An", "Chuyển đổi số")]
    assert (done.status, done.progress_percent, done.average_score) == ("completed", 100, 90.0)
    assert done.organization_name == "Trường Tiểu học Tân Cương"
    assert by_key[("Trần Thị Bình", "Chuyển đổi số")].status == "overdue"
    assert by_key[("Trần Thị Bình", "Chuyển đổi số")].due_at == tree.k1.due_at
    assert by_key[("Lê Minh Châu", "Chuyển đổi số")].status == "in_progress"
    assert by_key[("Quản trị xã", "An toàn mạng")].status == "not_started"
    assert by_key[("Phạm Văn Dũng", "Chuyển đổi số")].average_score is None


def test_learners_follow_the_filters_and_the_managers_school(db: Session, tree: Tree) -> None:
    rows, total = learner_page(db, tree.manager, ReportFilter(), limit=50, offset=0)
    assert total == 4
    assert {r.organization_id for r in rows} == {tree.s1.id}
    _rows, total = learner_page(
        db, tree.admin, ReportFilter(status=StatusFilter.overdue), limit=50, offset=0
    )
    assert total == 2
    with pytest.raises(PermissionDenied):
        iter_learners(db, tree.manager, ReportFilter(organization_id=tree.s2.id))


def test_completions_by_month(db: Session, settings: Settings) -> None:
    school = make_org(db, name="Trường Tháng")
    admin = make_user(db, settings, role="admin", organization=school, password=None)
    course, _ = add_course(db, admin, "Khoá tháng")
    for when in (
        datetime(2026, 1, 31, 18, 0, tzinfo=UTC),  # 1 February, 01:00 in Hà Nội
        datetime(2026, 4, 10, 3, 0, tzinfo=UTC),
        datetime(2026, 4, 20, 3, 0, tzinfo=UTC),
    ):
        learner = make_user(db, settings, organization=school, password=None)
        enrol(db, learner, course, enrolled_at=when - timedelta(days=5), completed_at=when)
    enrol(db, make_user(db, settings, organization=school, password=None), course)
    flt = ReportFilter(
        organization_id=school.id, date_from=date(2026, 1, 1), date_to=date(2026, 5, 31)
    )
    assert completions_by_month(db, admin, flt) == [
        ("01/2026", 0),
        ("02/2026", 1),
        ("03/2026", 0),
        ("04/2026", 2),
        ("05/2026", 0),
    ]
    now = datetime(2026, 6, 15, tzinfo=UTC)
    got = completions_by_month(db, admin, ReportFilter(organization_id=school.id), now=now)
    assert got[0] == ("02/2026", 1)
    assert got[-1] == ("06/2026", 0)
    assert len(got) == 5


# --- SQL statements --------------------------------------------------------------------------


@pytest.fixture
def count_statements(engine: Engine) -> Iterator[Callable[[Callable[[], object]], int]]:
    counter = {"n": 0}

    def listener(*_args: object) -> None:
        counter["n"] += 1

    event.listen(engine, "before_cursor_execute", listener)

    def count(call: Callable[[], object]) -> int:
        counter["n"] = 0
        call()
        return counter["n"]

    yield count
    event.remove(engine, "before_cursor_execute", listener)


def add_learners(db: Session, settings: Settings, tree: Tree, copies: int) -> None:
    """Per copy, in every school: a teacher in K1 (with a quiz attempt) and a student in K2."""
    k1_quiz = db.query(Lesson).join(Module).filter(Module.course_id == tree.k1.id).first()
    assert k1_quiz is not None
    for _copy in range(copies):
        for school in (tree.s1, tree.s2, tree.s3, tree.s4):
            teacher = make_user(db, settings, organization=school, password=None)
            enrol(db, teacher, tree.k1, progress=30, last_activity_at=utcnow())
            attempt(db, teacher, k1_quiz, 7)
            student = make_user(db, settings, role="student", organization=school, password=None)
            enrol(db, student, tree.k2, completed_at=utcnow())


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_statement_count_does_not_grow_with_the_data(
    db: Session,
    settings: Settings,
    tree: Tree,
    group_by: GroupBy,
    count_statements: Callable[[Callable[[], object]], int],
) -> None:
    flt = ReportFilter(group_by=group_by, organization_id=tree.province.id)
    filtered = replace(flt, course_id=tree.k1.id, status=StatusFilter.in_progress)

    def measure() -> tuple[int, int, int, int]:
        db.flush()
        db.expire_all()  # nothing served from the identity map...
        assert tree.admin.role == "admin"  # ...but the viewer, loaded by the request already
        return (
            count_statements(lambda: completion_report(db, tree.admin, flt)),
            count_statements(lambda: completion_report(db, tree.admin, filtered)),
            count_statements(lambda: learner_page(db, tree.admin, flt, limit=20, offset=0)),
            count_statements(lambda: list(iter_learners(db, tree.admin, flt))),
        )

    add_learners(db, settings, tree, 1)
    small = measure()
    small_total = completion_report(db, tree.admin, flt).totals.enrolled
    add_learners(db, settings, tree, 9)
    large = measure()
    assert completion_report(db, tree.admin, flt).totals.enrolled == small_total + 9 * 8
    assert small == large, (small, large)
    assert small[0] <= (3 if group_by == GroupBy.level else 2)
    assert small[1] <= small[0] + 1  # one more: the course check
    assert small[2] <= 4
    assert small[3] <= 3
