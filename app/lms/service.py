"""Courses, modules, lessons and enrolment. Plain functions; the caller's session commits.
The content library is used only through ``app.lcms.service`` and ids."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, bindparam, case, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.core.db import utcnow
from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.core.i18n import gettext as _
from app.core.text import escape_like, fold, search_terms
from app.lcms import service as lcms
from app.lms import policy
from app.lms.models import (
    Course,
    CourseLabel,
    CourseStatus,
    Enrollment,
    EnrollmentSource,
    EnrollmentStatus,
    Lesson,
    LessonKind,
    LessonProgress,
    Module,
    ProgressStatus,
    Question,
    ReviewPolicy,
)

MAX_TITLE = 300
MAX_DESCRIPTION = 10_000
MAX_ASSIGN = 5000


# --- Courses -------------------------------------------------------------------------------


def get_course(session: Session, course_id: int) -> Course:
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(_("Course {id} does not exist.").format(id=course_id))
    return course


def get_enrollment(session: Session, user_id: int, course_id: int) -> Enrollment | None:
    return session.scalar(
        select(Enrollment).where(Enrollment.user_id == user_id, Enrollment.course_id == course_id)
    )


def get_course_for(session: Session, actor: User, course_id: int) -> Course:
    course = get_course(session, course_id)
    enrolled = (
        course.status != CourseStatus.published
        and not policy.is_author(actor)
        and get_enrollment(session, actor.id, course.id) is not None
    )
    policy.check_visible(actor, course, enrolled=enrolled)
    return course


def _set_labels(
    course: Course,
    *,
    levels: list[str] | None,
    topics: list[str] | None,
    roles: list[str] | None,
) -> None:
    wanted: dict[str, list[str] | None] = {
        "level": lcms.clean_levels(levels) if levels is not None else None,
        "topic": lcms.clean_labels(topics, field=_("Topics")) if topics is not None else None,
        "role": _clean_roles(roles) if roles is not None else None,
    }
    for kind, values in wanted.items():
        if values is None:
            continue
        keep = [label for label in course.labels if label.kind != kind]
        # Rows of values that stay are kept: the unit of work inserts before it deletes, so a
        # new row beside its old twin would break the unique (course, kind, value) key.
        same = {label.value: label for label in course.labels if label.kind == kind}
        course.labels = keep + [
            same.get(v) or CourseLabel(kind=kind, value=v, key=fold(v)[:60]) for v in values
        ]
    topics_now = [label.value for label in course.labels if label.kind == "topic"]
    course.search_title = fold(course.title)
    course.search_text = fold(" ".join([course.title, course.description, *topics_now]))


def _clean_roles(roles: list[str]) -> list[str]:
    cleaned = []
    for role in roles:
        if role not in (Role.teacher, Role.student, Role.school_manager, Role.author):
            raise InvalidInput(_("Unknown audience role '{role}'.").format(role=role))
        if role not in cleaned:
            cleaned.append(role)
    return cleaned


def _check_window(opens: datetime | None, closes: datetime | None, due: datetime | None) -> None:
    if opens and closes and opens >= closes:
        raise InvalidInput(_("Enrolment must open before it closes."))
    if due and opens and due <= opens:
        raise InvalidInput(_("The due date must come after enrolment opens."))


def create_course(
    session: Session,
    actor: User,
    *,
    title: str,
    description: str | None = None,
    levels: list[str] | None = None,
    topics: list[str] | None = None,
    roles: list[str] | None = None,
    cover_content_id: int | None = None,
    enroll_opens_at: datetime | None = None,
    enroll_closes_at: datetime | None = None,
    due_at: datetime | None = None,
    review_policy: str = ReviewPolicy.answers.value,
) -> Course:
    policy.require_author(actor)
    _check_window(enroll_opens_at, enroll_closes_at, due_at)
    if cover_content_id is not None:
        lcms.get_item(session, cover_content_id)
    course = Course(
        title=lcms.clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True),
        description=lcms.clean_text(description, field=_("Description"), max_len=MAX_DESCRIPTION),
        owner_id=actor.id,
        cover_content_id=cover_content_id,
        enroll_opens_at=enroll_opens_at,
        enroll_closes_at=enroll_closes_at,
        due_at=due_at,
        review_policy=ReviewPolicy(review_policy).value,
    )
    _set_labels(course, levels=levels, topics=topics, roles=roles)
    session.add(course)
    session.flush()
    return course


def update_course(
    session: Session,
    actor: User,
    course_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    levels: list[str] | None = None,
    topics: list[str] | None = None,
    roles: list[str] | None = None,
    due_at: datetime | None = None,
    enroll_opens_at: datetime | None = None,
    enroll_closes_at: datetime | None = None,
    set_dates: frozenset[str] = frozenset(),
) -> Course:
    course = get_course_for(session, actor, course_id)
    policy.require_owner(actor, course)
    require_editable(course)
    if title is not None:
        course.title = lcms.clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True)
    if description is not None:
        course.description = lcms.clean_text(
            description, field=_("Description"), max_len=MAX_DESCRIPTION
        )
    # Dates named in ``set_dates`` take the given value exactly (None clears the date);
    # the others change only when a new value is given.
    wanted = {
        "due_at": due_at,
        "enroll_opens_at": enroll_opens_at,
        "enroll_closes_at": enroll_closes_at,
    }
    for name, value in wanted.items():
        if value is not None or name in set_dates:
            setattr(course, name, value)
    _check_window(course.enroll_opens_at, course.enroll_closes_at, course.due_at)
    _set_labels(course, levels=levels, topics=topics, roles=roles)
    course.updated_at = utcnow()
    session.flush()
    return course


@dataclass(frozen=True)
class CoursePage:
    items: list[Course]
    total: int


def _has_label(kind: str, value: str) -> ColumnElement[bool]:
    return exists().where(
        CourseLabel.course_id == Course.id,
        CourseLabel.kind == kind,
        CourseLabel.key == fold(value),
    )


def list_courses(
    session: Session,
    actor: User,
    *,
    q: str | None = None,
    level: str | None = None,
    topic: str | None = None,
    status: str | None = None,
    catalogue: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> CoursePage:
    """The catalogue: published courses (authors also see drafts unless ``catalogue``)."""
    query = select(Course)
    if catalogue or not policy.is_author(actor):
        query = query.where(Course.status == CourseStatus.published.value)
    if status:
        query = query.where(Course.status == CourseStatus(status).value)
    if level:
        query = query.where(_has_label("level", level))
    if topic:
        query = query.where(_has_label("topic", topic))
    order: list[ColumnElement[object]] = []
    terms = search_terms(q or "")
    if terms:
        patterns = [f"%{escape_like(t)}%" for t in terms]
        query = query.where(and_(*(Course.search_text.like(p, escape="\\") for p in patterns)))
        score = sum(
            (case((Course.search_title.like(p, escape="\\"), 1), else_=0) for p in patterns),
            start=case(
                (Course.search_title.like(f"%{escape_like(fold(q or ''))}%", escape="\\"), 5),
                else_=0,
            ),
        )
        order.append(score.desc())
    order += [Course.updated_at.desc(), Course.id.desc()]  # type: ignore[list-item]
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    return CoursePage(items=items, total=total)


# --- Structure -----------------------------------------------------------------------------


@dataclass
class Outline:
    """A course with its modules and lessons, loaded in a constant number of queries."""

    course: Course
    modules: list[Module]
    lessons: dict[int, list[Lesson]]  # module id -> lessons in order
    pinned: dict[int, lcms.PinnedVersion]  # content version id -> what it pins


def outline(session: Session, course: Course) -> Outline:
    modules = list(
        session.scalars(
            select(Module).where(Module.course_id == course.id).order_by(Module.position, Module.id)
        )
    )
    lessons: dict[int, list[Lesson]] = {m.id: [] for m in modules}
    rows = session.scalars(
        select(Lesson)
        .join(Module, Module.id == Lesson.module_id)
        .where(Module.course_id == course.id)
        .order_by(Lesson.position, Lesson.id)
    )
    for lesson in rows:
        lessons[lesson.module_id].append(lesson)
    version_ids = [
        lesson.content_version_id
        for group in lessons.values()
        for lesson in group
        if lesson.content_version_id is not None
    ]
    return Outline(course, modules, lessons, lcms.pinned_versions(session, version_ids))


def add_module(session: Session, actor: User, course_id: int, *, title: str) -> Module:
    course = get_course_for(session, actor, course_id)
    policy.require_owner(actor, course)
    require_editable(course)
    position = (
        session.scalar(select(func.max(Module.position)).where(Module.course_id == course.id)) or 0
    ) + 1
    module = Module(
        course_id=course.id,
        position=position,
        title=lcms.clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True),
    )
    session.add(module)
    course.updated_at = utcnow()
    session.flush()
    return module


def get_module(session: Session, module_id: int) -> Module:
    module = session.get(Module, module_id)
    if module is None:
        raise NotFound(_("Module {id} does not exist.").format(id=module_id))
    return module


def get_lesson(session: Session, lesson_id: int) -> Lesson:
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise NotFound(_("Lesson {id} does not exist.").format(id=lesson_id))
    return lesson


def lesson_with_course_id(session: Session, lesson_id: int) -> tuple[Lesson, int]:
    """A lesson and its course's id in one query (the progress path needs no Course)."""
    row = session.execute(
        select(Lesson, Module.course_id)
        .join(Module, Module.id == Lesson.module_id)
        .where(Lesson.id == lesson_id)
    ).first()
    if row is None:
        raise NotFound(_("Lesson {id} does not exist.").format(id=lesson_id))
    return row[0], row[1]


def course_of_lesson(session: Session, lesson: Lesson) -> Course:
    return get_course(session, get_module(session, lesson.module_id).course_id)


def add_lesson(
    session: Session,
    actor: User,
    module_id: int,
    *,
    title: str,
    kind: str,
    content_id: int | None = None,
    content_version: int | None = None,
    required: bool = True,
    pass_score: int = 70,
    completion_threshold: int = 90,
    max_attempts: int | None = None,
    time_limit_seconds: int | None = None,
    shuffle: bool = True,
) -> Lesson:
    module = get_module(session, module_id)
    course = get_course_for(session, actor, module.course_id)
    policy.require_owner(actor, course)
    require_editable(course)
    try:
        lesson_kind = LessonKind(kind)
    except ValueError:
        raise InvalidInput(_("Unknown lesson kind '{kind}'.").format(kind=kind)) from None
    # An event lesson has no content: attendance recorded for the linked event completes it
    # (progress.complete_event_lesson), never a progress event.
    version_id = item_id = None
    if lesson_kind == LessonKind.content:
        if content_id is None:
            raise InvalidInput(_("A content lesson needs a library item (content_id)."))
        version = lcms.resolve_version(session, content_id, content_version)
        if course.status != CourseStatus.draft and not lcms.was_published(session, version):
            # A live course would hand learners a version the library never published.
            raise Conflict(_("Only published versions can be added to a published course."))
        version_id, item_id = version.id, version.item_id
    elif content_id is not None:
        raise InvalidInput(_("Only content lessons show a library item."))
    if not 0 <= pass_score <= 100 or not 1 <= completion_threshold <= 100:
        raise InvalidInput(_("Scores and thresholds are percentages (0–100)."))
    if max_attempts is not None and max_attempts < 1:
        raise InvalidInput(_("Allow at least one attempt."))
    if time_limit_seconds is not None and time_limit_seconds < 10:
        raise InvalidInput(_("A time limit is at least 10 seconds."))
    position = (
        session.scalar(select(func.max(Lesson.position)).where(Lesson.module_id == module.id)) or 0
    ) + 1
    lesson = Lesson(
        module_id=module.id,
        position=position,
        kind=lesson_kind.value,
        required=required,
        title=lcms.clean_text(title, field=_("Title"), max_len=MAX_TITLE, required=True),
        content_item_id=item_id,
        content_version_id=version_id,
        pass_score=pass_score,
        completion_threshold=completion_threshold,
        max_attempts=max_attempts,
        time_limit_seconds=time_limit_seconds,
        shuffle=shuffle,
    )
    session.add(lesson)
    course.updated_at = utcnow()
    session.flush()
    return lesson


def reorder_modules(session: Session, actor: User, course_id: int, module_ids: list[int]) -> None:
    course = get_course_for(session, actor, course_id)
    policy.require_owner(actor, course)
    require_editable(course)
    current = set(session.scalars(select(Module.id).where(Module.course_id == course.id)))
    if set(module_ids) != current or len(module_ids) != len(current):
        raise InvalidInput(_("Give every module of the course exactly once."))
    for position, module_id in enumerate(module_ids, start=1):
        session.execute(update(Module).where(Module.id == module_id).values(position=position))
    course.updated_at = utcnow()  # every outline change moves it (the outline cache's key)


def reorder_lessons(session: Session, actor: User, module_id: int, lesson_ids: list[int]) -> None:
    module = get_module(session, module_id)
    course = get_course_for(session, actor, module.course_id)
    policy.require_owner(actor, course)
    require_editable(course)
    current = set(session.scalars(select(Lesson.id).where(Lesson.module_id == module.id)))
    if set(lesson_ids) != current or len(lesson_ids) != len(current):
        raise InvalidInput(_("Give every lesson of the module exactly once."))
    for position, lesson_id in enumerate(lesson_ids, start=1):
        session.execute(update(Lesson).where(Lesson.id == lesson_id).values(position=position))
    course.updated_at = utcnow()


def apply_content_update(session: Session, actor: User, lesson_id: int) -> Lesson:
    """Pin the item's current published version. Learners who completed the lesson keep
    their completion, and their record keeps the version they saw."""
    lesson = get_lesson(session, lesson_id)
    course = course_of_lesson(session, lesson)
    policy.require_owner(actor, course)
    require_editable(course)
    if lesson.content_item_id is None:
        raise InvalidInput(_("Only content lessons show a library item."))
    version = lcms.resolve_version(session, lesson.content_item_id, None)
    lesson.content_version_id = version.id
    course.updated_at = utcnow()
    session.flush()
    return lesson


def _check_required_quizzes(session: Session, lessons: list[Lesson]) -> None:
    """A required quiz must be passable: at least one question, worth points in all (one
    without questions cannot be started; one of 0 points would be passed by any answers)."""
    quizzes = [le for le in lessons if le.kind == LessonKind.quiz and le.required]
    if not quizzes:
        return
    points = dict(
        session.execute(
            select(Question.lesson_id, func.sum(Question.points))
            .where(Question.lesson_id.in_([le.id for le in quizzes]))
            .group_by(Question.lesson_id)
        )
        .tuples()
        .all()
    )
    for lesson in quizzes:
        if not points.get(lesson.id):
            raise Conflict(
                _(
                    "The required quiz '{title}' needs questions worth at least one point "
                    "before the course is published."
                ).format(title=lesson.title)
            )


def publish_course(session: Session, actor: User, course_id: int) -> Course:
    course = get_course_for(session, actor, course_id)
    policy.require_owner(actor, course)
    if course.status == CourseStatus.archived:
        raise Conflict(_("This course is archived."))
    plan = outline(session, course)
    lessons = [lesson for group in plan.lessons.values() for lesson in group]
    if not lessons:
        raise Conflict(_("A course needs at least one lesson before it is published."))
    _check_required_quizzes(session, lessons)
    for lesson in lessons:
        if lesson.content_version_id is None:
            continue
        version = lcms.get_version(session, lesson.content_version_id)
        if not lcms.was_published(session, version):
            raise Conflict(
                _("Lesson '{title}' shows a version that was never published.").format(
                    title=lesson.title
                )
            )
    was = course.status
    course.status = CourseStatus.published.value
    course.updated_at = utcnow()
    session.flush()
    if was != CourseStatus.published:
        _audit_course(session, actor, course, audit.AuditAction.course_published)
    return course


def _audit_course(session: Session, actor: User, course: Course, action: str) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="course",
        target_id=course.id,
        target_label=course.title,
    )


def archive_course(session: Session, actor: User, course_id: int) -> Course:
    course = get_course_for(session, actor, course_id)
    policy.require_owner(actor, course)
    if course.status != CourseStatus.archived:
        course.status = CourseStatus.archived.value
        course.updated_at = utcnow()
        session.flush()
        _audit_course(session, actor, course, audit.AuditAction.course_archived)
    return course


# --- Enrolment -----------------------------------------------------------------------------


def _check_open(course: Course) -> None:
    if course.status != CourseStatus.published:
        raise Conflict(_("This course is not open for enrolment."))
    now = utcnow()
    if course.enroll_opens_at and now < course.enroll_opens_at:
        raise Conflict(_("Enrolment for this course has not opened yet."))
    if course.enroll_closes_at and now >= course.enroll_closes_at:
        raise Conflict(_("Enrolment for this course has closed."))


def _enroll(
    session: Session,
    user_id: int,
    course: Course,
    *,
    source: str,
    due_at: datetime | None,
    assigned_by: int | None,
) -> bool:
    """Enrol one user; True when newly enrolled (or resumed after a withdrawal)."""
    existing = get_enrollment(session, user_id, course.id)
    if existing is not None:
        if existing.status != EnrollmentStatus.withdrawn:
            if due_at and assigned_by:
                existing.due_at = due_at
            return False
        existing.status = (
            EnrollmentStatus.completed.value
            if existing.completed_at
            else EnrollmentStatus.active.value
        )
        existing.due_at = due_at or existing.due_at
        return True
    try:
        with session.begin_nested():
            session.add(
                Enrollment(
                    user_id=user_id,
                    course_id=course.id,
                    source=source,
                    due_at=due_at or course.due_at,
                    assigned_by_id=assigned_by,
                )
            )
    except IntegrityError:
        return False  # a concurrent request enrolled them: one enrolment, counted as already
    return True


def enroll_self(session: Session, actor: User, course_id: int) -> tuple[Enrollment, bool]:
    # Not get_course_for: a draft, archived or closed course answers 409 (not open), as agreed.
    course = get_course(session, course_id)
    existing = get_enrollment(session, actor.id, course.id)
    if existing is None:
        _check_open(course)
    elif existing.status == EnrollmentStatus.withdrawn and course.status != CourseStatus.published:
        # Coming back resumes the learner's own history: the enrolment window keeps new
        # learners out, not one who withdrew (by mistake, say) from a course still running.
        raise Conflict(_("This course is not open for enrolment."))
    created = _enroll(
        session,
        actor.id,
        course,
        source=EnrollmentSource.self_.value,
        due_at=None,
        assigned_by=None,
    )
    enrollment = get_enrollment(session, actor.id, course.id)
    assert enrollment is not None
    if created:
        _audit_enrollment(session, actor, enrollment, course, audit.AuditAction.enrollment_self)
    return enrollment, created


def _audit_enrollment(
    session: Session, actor: User, enrollment: Enrollment, course: Course, action: str
) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        target_type="enrollment",
        target_id=enrollment.id,
        target_label=course.title,
        organization_id=actor.organization_id,
        detail={"course_id": course.id},
    )


def withdraw(session: Session, actor: User, course_id: int) -> Enrollment:
    enrollment = get_enrollment(session, actor.id, course_id)
    if enrollment is None:
        raise NotFound(_("You are not enrolled in this course."))
    if enrollment.status != EnrollmentStatus.withdrawn:
        enrollment.status = EnrollmentStatus.withdrawn.value
        course = get_course(session, course_id)
        _audit_enrollment(
            session, actor, enrollment, course, audit.AuditAction.enrollment_withdrawn
        )
    return enrollment


@dataclass(frozen=True)
class AssignResult:
    enrolled: int
    already: int


def assign(
    session: Session,
    actor: User,
    course_id: int,
    *,
    user_ids: list[int] | None = None,
    organization_id: int | None = None,
    role: str | None = None,
    due_at: datetime | None = None,
    source: str = EnrollmentSource.assigned.value,
) -> AssignResult:
    """Enrol a list of users, or every active user of ``role`` in an organisation and the
    organisations below it. A school manager may assign only within their own school."""
    policy.require_assigner(actor)
    course = get_course(session, course_id)
    _check_open(course)
    if user_ids is not None:
        if not user_ids or len(user_ids) > MAX_ASSIGN:
            raise InvalidInput(_("Give between 1 and {n} users.").format(n=MAX_ASSIGN))
        users = list(session.scalars(select(User).where(User.id.in_(set(user_ids)))))
        if len(users) != len(set(user_ids)):
            raise NotFound(_("Some of these users do not exist."))
        inactive = [u.email for u in users if not u.is_active]
        if inactive:
            raise InvalidInput(
                _("Deactivated accounts cannot be enrolled: {emails}.").format(
                    emails=", ".join(inactive[:5])
                )
            )
    elif organization_id is not None:
        accounts.get_organization(session, organization_id)
        query = select(User).where(
            User.organization_id.in_(accounts.descendant_ids(session, organization_id)),
            User.is_active,
        )
        if role:
            query = query.where(User.role == accounts.clean_role(role).value)
        users = list(session.scalars(query))
    else:
        raise InvalidInput(_("Give user_ids, or organization_id (and role)."))
    if actor.role != Role.admin:
        if organization_id is not None and organization_id != actor.organization_id:
            raise PermissionDenied(_("You can only assign courses within your own school."))
        if any(u.organization_id != actor.organization_id for u in users):
            raise PermissionDenied(_("You can only assign courses within your own school."))
    enrolled = already = 0
    for user in users:
        if _enroll(session, user.id, course, source=source, due_at=due_at, assigned_by=actor.id):
            enrolled += 1
        else:
            already += 1
    session.flush()
    if enrolled:
        # One entry per assignment, not per learner: a whole commune can be thousands. A list
        # of users from one school is filed under that school.
        schools = {u.organization_id for u in users}
        scope = next(iter(schools)) if len(schools) == 1 else None
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.enrollment_assigned,
            target_type="course",
            target_id=course.id,
            target_label=course.title,
            organization_id=organization_id if organization_id is not None else scope,
            detail={
                "enrolled": enrolled,
                "already": already,
                "role": role,
                "due_at": due_at,
                "source": source,
                "user_ids": sorted(u.id for u in users)[:20] if user_ids is not None else None,
            },
        )
    return AssignResult(enrolled=enrolled, already=already)


@dataclass(frozen=True)
class MyEnrollment:
    enrollment: Enrollment
    course: Course


def _mine(actor: User) -> ColumnElement[bool]:
    return and_(
        Enrollment.user_id == actor.id, Enrollment.status != EnrollmentStatus.withdrawn.value
    )


def my_enrollments(
    session: Session, actor: User, *, limit: int | None = None, offset: int = 0
) -> list[MyEnrollment]:
    """The actor's enrolments (not withdrawn): unfinished first, by due date (those without
    one after those with one, on every database), then title; a page of them with ``limit``
    (all without)."""
    query = (
        select(Enrollment, Course)
        .join(Course, Course.id == Enrollment.course_id)
        .where(_mine(actor))
        .order_by(
            Enrollment.completed_at.is_not(None),
            Enrollment.due_at.is_(None),
            Enrollment.due_at,
            Course.title,
            Enrollment.id,
        )
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [MyEnrollment(e, c) for e, c in session.execute(query).all()]


def count_my_enrollments(session: Session, actor: User) -> int:
    return session.scalar(select(func.count()).select_from(Enrollment).where(_mine(actor))) or 0


def require_editable(course: Course) -> None:
    if course.status == CourseStatus.archived:
        raise Conflict(_("This course is archived: it can no longer be changed."))


def require_active_enrollment(
    session: Session, actor: User, course: Course | int, *, lock: bool = False
) -> Enrollment:
    """The actor's live enrolment. ``lock`` takes its row lock (PostgreSQL; SQLite writers are
    already serialised): progress updates of one learner in one course then run one at a
    time, so the completion count never misses a lesson completed concurrently."""
    course_id = course if isinstance(course, int) else course.id
    query = select(Enrollment).where(
        Enrollment.user_id == actor.id, Enrollment.course_id == course_id
    )
    enrollment = session.scalar(query.with_for_update() if lock else query)
    if enrollment is None or enrollment.status == EnrollmentStatus.withdrawn:
        raise PermissionDenied(_("Enrol in this course first."))
    return enrollment


def lesson_file_version(session: Session, actor: User, lesson_id: int) -> int:
    """The content version a lesson shows, if ``actor`` may fetch it: authors, and learners
    with an active enrolment (even after the library item moved on or was archived)."""
    lesson = get_lesson(session, lesson_id)
    course = get_course_for(session, actor, course_of_lesson(session, lesson).id)
    if not policy.is_author(actor):
        require_active_enrollment(session, actor, course)
    if lesson.content_version_id is None:
        raise NotFound(_("This lesson has no file."))
    return lesson.content_version_id


@dataclass(frozen=True)
class LearnerRow:
    user: User
    enrollment: Enrollment


def course_learners(
    session: Session, actor: User, course_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[LearnerRow], int]:
    """Who is enrolled and how far they are (admins: all; school managers: their school)."""
    course = get_course(session, course_id)
    if course.status == CourseStatus.draft and not policy.is_author(actor):
        # A draft does not exist for non-authors; archived courses keep their records.
        raise NotFound(_("Course {id} does not exist.").format(id=course.id))
    if actor.role == Role.school_manager:
        scope = User.organization_id == actor.organization_id
    elif actor.role == Role.admin or course.owner_id == actor.id:
        scope = User.id.is_not(None)
    else:
        raise PermissionDenied(_("You are not allowed to see who takes this course."))
    query = (
        select(User, Enrollment)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, scope)
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(User.sort_name, User.id).limit(limit).offset(offset)
    ).all()
    return [LearnerRow(u, e) for u, e in rows], total


# Built once: every progress event runs it.
_COMPLETION_COUNTS = (
    select(func.count(Lesson.id), func.count(LessonProgress.id))
    .select_from(Lesson)
    .join(Module, Module.id == Lesson.module_id)
    .outerjoin(
        LessonProgress,
        and_(
            LessonProgress.lesson_id == Lesson.id,
            LessonProgress.user_id == bindparam("user_id"),
            LessonProgress.status == ProgressStatus.completed.value,
        ),
    )
    .where(Module.course_id == bindparam("course_id"), Lesson.required)
)


def completion_counts(session: Session, user_id: int, course_id: int) -> tuple[int, int]:
    """(required lessons, of which completed by the user), in one query."""
    params = {"user_id": user_id, "course_id": course_id}
    row = session.execute(_COMPLETION_COUNTS, params).one()
    return int(row[0]), int(row[1])


def progress_map(session: Session, user_id: int, course_id: int) -> dict[int, LessonProgress]:
    rows = session.scalars(
        select(LessonProgress)
        .join(Lesson, Lesson.id == LessonProgress.lesson_id)
        .join(Module, Module.id == Lesson.module_id)
        .where(LessonProgress.user_id == user_id, Module.course_id == course_id)
    )
    return {p.lesson_id: p for p in rows}


def percent(done: int, total: int) -> int:
    return 100 if total == 0 else math.floor(done * 100 / total)
