"""HTML pages for building courses (authors) and enrolling learners (managers).

- ``/studio/courses``: my courses (``?all=1``: everyone's) and the "new course" form;
- ``/studio/courses/{id}``: the builder: details, modules, lessons, quiz questions, reordering,
  content updates, publish and archive;
- ``/courses/{id}/learners``: who takes the course and how far they are, with the enrolment
  forms (by organisation and role, or from a CSV file of emails).

Every form works without JavaScript: it posts, and the answer is a 303 redirect with a flash
message, or the page again with the error and the error's status. Dates are whole days in the
configured time zone (Asia/Ho_Chi_Minh): a due date or a closing date means the end of that day,
an opening date its start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.accounts.deps import CSRFChecked, PageUser
from app.accounts.models import Organization, Role, SchoolLevel, User
from app.core.db import SessionDep, SettingsDep, utcnow
from app.core.errors import AppError, InvalidInput, NotFound
from app.core.forms import day_end, day_start, local_day, parse_day, parse_int
from app.core.i18n import gettext as _
from app.core.web import Offset, Pagination, redirect, render
from app.lcms import service as lcms
from app.lcms.models import ContentKind
from app.lms import enrol_import, policy, quiz, service
from app.lms.models import (
    Course,
    EnrollmentSource,
    Lesson,
    LessonKind,
    Module,
    Question,
    QuestionKind,
    ReviewPolicy,
)

router = APIRouter(include_in_schema=False)

COURSES_PAGE_SIZE = 20
LEARNERS_PAGE_SIZE = 50
LIBRARY_CHOICES = 100
CHOICE_ROWS = 6

LEVELS = [lv.value for lv in SchoolLevel]
AUDIENCE_ROLES = [Role.teacher.value, Role.student.value, Role.school_manager.value]
ASSIGN_ROLES = [
    Role.teacher.value,
    Role.student.value,
    Role.school_manager.value,
    Role.author.value,
]
REVIEW_POLICIES = [p.value for p in ReviewPolicy]
# Event lessons are completed by attendance at the event linked to them (/events).
LESSON_KINDS = [LessonKind.content.value, LessonKind.quiz.value, LessonKind.event.value]
QUESTION_KINDS = [k.value for k in QuestionKind]

Text = Annotated[str, Form(max_length=1000)]
LongText = Annotated[str, Form(max_length=10000)]
Short = Annotated[str, Form(max_length=50)]
Flag = Annotated[str | None, Form(max_length=10)]
Values = Annotated[list[str] | None, Form()]


def _author(user: PageUser) -> User:
    policy.require_author(user)
    return user


AuthorUser = Annotated[User, Depends(_author)]


# --- Small pure helpers (unit-tested) -----------------------------------------------------


def moved(ids: list[int], target: int, direction: str) -> list[int]:
    """``ids`` with ``target`` swapped with its neighbour above ("up") or below ("down").
    At either end nothing moves."""
    if direction not in ("up", "down"):
        raise InvalidInput(_("Choose whether to move up or down."))
    order = list(ids)
    index = order.index(target)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return order


def split_commas(value: str | None) -> list[str]:
    return [part for part in (value or "").split(",") if part.strip()]


# --- Shared lookups -----------------------------------------------------------------------


def _can_edit(user: User, course: Course) -> bool:
    return user.role == Role.admin or course.owner_id == user.id


def _module_of(session: Session, course: Course, module_id: int) -> Module:
    module = service.get_module(session, module_id)
    if module.course_id != course.id:
        raise NotFound(_("Module {id} does not exist.").format(id=module_id))
    return module


def _lesson_of(session: Session, course: Course, lesson_id: int) -> tuple[Lesson, Module]:
    lesson = service.get_lesson(session, lesson_id)
    module = service.get_module(session, lesson.module_id)
    if module.course_id != course.id:
        raise NotFound(_("Lesson {id} does not exist.").format(id=lesson_id))
    return lesson, module


def _lesson_counts(session: Session, course_ids: list[int]) -> dict[int, int]:
    if not course_ids:
        return {}
    rows = session.execute(
        select(Module.course_id, func.count(Lesson.id))
        .join(Lesson, Lesson.module_id == Module.id)
        .where(Module.course_id.in_(course_ids))
        .group_by(Module.course_id)
    )
    return dict(rows.tuples().all())


def _course_form(course: Course, timezone: str) -> dict[str, Any]:
    return {
        "title": course.title,
        "description": course.description,
        "levels": course.values("level"),
        "topics": ", ".join(course.values("topic")),
        "roles": course.values("role"),
        "due_date": local_day(course.due_at, timezone),
        "enroll_opens": local_day(course.enroll_opens_at, timezone),
        "enroll_closes": local_day(course.enroll_closes_at, timezone),
        "review_policy": course.review_policy,
    }


def _form_context() -> dict[str, Any]:
    return {
        "levels": LEVELS,
        "audience_roles": AUDIENCE_ROLES,
        "review_policies": REVIEW_POLICIES,
        "lesson_kinds": LESSON_KINDS,
        "question_kinds": QUESTION_KINDS,
        "choice_rows": CHOICE_ROWS,
    }


@dataclass(frozen=True)
class CourseDates:
    due_at: datetime | None
    enroll_opens_at: datetime | None
    enroll_closes_at: datetime | None


def _course_dates(timezone: str, due: str, opens: str, closes: str) -> CourseDates:
    return CourseDates(
        due_at=day_end(parse_day(due, field=_("Due date")), timezone),
        enroll_opens_at=day_start(parse_day(opens, field=_("Enrolment opens")), timezone),
        enroll_closes_at=day_end(parse_day(closes, field=_("Enrolment closes")), timezone),
    )


# --- My courses ---------------------------------------------------------------------------


@router.get("/studio/courses")
def courses_page(
    request: Request,
    session: SessionDep,
    user: AuthorUser,
    show_all: Annotated[bool, Query(alias="all")] = False,
    offset: Offset = 0,
) -> Response:
    return _render_courses(request, session, user, show_all=show_all, offset=offset)


def _render_courses(
    request: Request,
    session: Session,
    user: User,
    *,
    show_all: bool = False,
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    query = select(Course)
    if not show_all:
        query = query.where(Course.owner_id == user.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    courses = list(
        session.scalars(
            query.order_by(Course.updated_at.desc(), Course.id.desc())
            .limit(COURSES_PAGE_SIZE)
            .offset(offset)
        )
    )
    context: dict[str, Any] = {
        "courses": courses,
        "total": total,
        "lesson_counts": _lesson_counts(session, [c.id for c in courses]),
        "pagination": Pagination(total=total, limit=COURSES_PAGE_SIZE, offset=offset),
        "show_all": show_all,
        "form": {"review_policy": ReviewPolicy.answers.value},
        **_form_context(),
    }
    context.update(extra)
    return render(request, "lms/builder/courses.html", context, status_code=status_code)


def _review_policy(value: str) -> str:
    if value not in REVIEW_POLICIES:
        raise InvalidInput(_("Choose what learners see after a quiz."))
    return value


@router.post("/studio/courses", dependencies=[CSRFChecked])
def course_create(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: AuthorUser,
    title: Text = "",
    description: LongText = "",
    levels: Values = None,
    topics: Text = "",
    roles: Values = None,
    due_date: Short = "",
    enroll_opens: Short = "",
    enroll_closes: Short = "",
    review_policy: Short = ReviewPolicy.answers.value,
) -> Response:
    form = {
        "title": title,
        "description": description,
        "levels": levels or [],
        "topics": topics,
        "roles": roles or [],
        "due_date": due_date,
        "enroll_opens": enroll_opens,
        "enroll_closes": enroll_closes,
        "review_policy": review_policy,
    }
    try:
        dates = _course_dates(settings.timezone, due_date, enroll_opens, enroll_closes)
        course = service.create_course(
            session,
            user,
            title=title,
            description=description,
            levels=levels or [],
            topics=split_commas(topics),
            roles=roles or [],
            due_at=dates.due_at,
            enroll_opens_at=dates.enroll_opens_at,
            enroll_closes_at=dates.enroll_closes_at,
            review_policy=_review_policy(review_policy),
        )
    except AppError as exc:
        session.rollback()
        return _render_courses(
            request, session, user, status_code=exc.status_code, form=form, error=exc.detail
        )
    return redirect(
        request,
        f"/studio/courses/{course.id}",
        message=_("Course '{title}' created. Add its modules and lessons.").format(
            title=course.title
        ),
    )


# --- The builder --------------------------------------------------------------------------


def _questions_by_lesson(session: Session, lesson_ids: list[int]) -> dict[int, list[Question]]:
    found: dict[int, list[Question]] = {lesson_id: [] for lesson_id in lesson_ids}
    if lesson_ids:
        rows = session.scalars(
            select(Question)
            .where(Question.lesson_id.in_(lesson_ids))
            .order_by(Question.position, Question.id)
        )
        for question in rows:
            found[question.lesson_id].append(question)
    return found


def _render_builder(
    request: Request,
    session: Session,
    user: User,
    course_id: int,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    """The builder. On an error, ``error`` is its message, ``error_at`` the id of the form it
    belongs to (the page links to it) and ``form`` what that form sent."""
    settings = request.app.state.settings
    course = service.get_course_for(session, user, course_id)
    plan = service.outline(session, course)
    lessons = [lesson for group in plan.lessons.values() for lesson in group]
    quiz_ids = [lesson.id for lesson in lessons if lesson.kind == LessonKind.quiz]
    can_edit = _can_edit(user, course)
    items = (
        [
            item
            for item in lcms.list_items(
                session, user, status="published", limit=LIBRARY_CHOICES
            ).items
            if item.kind != ContentKind.link
        ]
        if can_edit
        else []
    )
    context: dict[str, Any] = {
        "course": course,
        "plan": plan,
        "lesson_count": len(lessons),
        "questions": _questions_by_lesson(session, quiz_ids),
        "library_items": items,
        "can_edit": can_edit,
        "can_see_learners": can_edit,
        "details": _course_form(course, settings.timezone),
        "error": None,
        "error_at": None,
        "form": {},
        **_form_context(),
    }
    context.update(extra)
    return render(request, "lms/builder/course.html", context, status_code=status_code)


def _failed(
    request: Request,
    session: Session,
    user: User,
    course_id: int,
    exc: AppError,
    *,
    at: str,
    form: dict[str, Any] | None = None,
) -> Response:
    session.rollback()
    return _render_builder(
        request,
        session,
        user,
        course_id,
        status_code=exc.status_code,
        error=exc.detail,
        error_at=at,
        form=form or {},
    )


def _back(course_id: int, anchor: str | None = None) -> str:
    return f"/studio/courses/{course_id}" + (f"#{anchor}" if anchor else "")


@router.get("/studio/courses/{course_id}")
def builder_page(
    request: Request, course_id: int, session: SessionDep, user: AuthorUser
) -> Response:
    return _render_builder(request, session, user, course_id)


@router.post("/studio/courses/{course_id}", dependencies=[CSRFChecked])
def course_update(
    request: Request,
    course_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: AuthorUser,
    title: Text = "",
    description: LongText = "",
    levels: Values = None,
    topics: Text = "",
    roles: Values = None,
    due_date: Short = "",
    enroll_opens: Short = "",
    enroll_closes: Short = "",
) -> Response:
    form = {
        "title": title,
        "description": description,
        "levels": levels or [],
        "topics": topics,
        "roles": roles or [],
        "due_date": due_date,
        "enroll_opens": enroll_opens,
        "enroll_closes": enroll_closes,
    }
    try:
        dates = _course_dates(settings.timezone, due_date, enroll_opens, enroll_closes)
        service.update_course(
            session,
            user,
            course_id,
            title=title,
            description=description,
            levels=levels or [],
            topics=split_commas(topics),
            roles=roles or [],
            due_at=dates.due_at,
            enroll_opens_at=dates.enroll_opens_at,
            enroll_closes_at=dates.enroll_closes_at,
            # The form always holds all three dates: an emptied field clears its date.
            set_dates=frozenset({"due_at", "enroll_opens_at", "enroll_closes_at"}),
        )
    except AppError as exc:
        return _failed(request, session, user, course_id, exc, at="details", form=form)
    return redirect(request, _back(course_id), message=_("Changes saved."))


@router.post("/studio/courses/{course_id}/modules", dependencies=[CSRFChecked])
def module_add(
    request: Request, course_id: int, session: SessionDep, user: AuthorUser, title: Text = ""
) -> Response:
    try:
        module = service.add_module(session, user, course_id, title=title)
    except AppError as exc:
        return _failed(
            request, session, user, course_id, exc, at="add-module", form={"title": title}
        )
    return redirect(
        request,
        _back(course_id, f"module-{module.id}"),
        message=_("Module '{title}' added.").format(title=module.title),
    )


@router.post("/studio/courses/{course_id}/modules/{module_id}/move", dependencies=[CSRFChecked])
def module_move(
    request: Request,
    course_id: int,
    module_id: int,
    session: SessionDep,
    user: AuthorUser,
    direction: Short = "",
) -> Response:
    course = service.get_course_for(session, user, course_id)
    module = _module_of(session, course, module_id)
    try:
        ids = [m.id for m in service.outline(session, course).modules]
        service.reorder_modules(session, user, course.id, moved(ids, module.id, direction))
    except AppError as exc:
        return _failed(request, session, user, course_id, exc, at=f"module-{module_id}")
    return redirect(
        request,
        _back(course_id, f"module-{module_id}"),
        message=_("Module '{title}' moved.").format(title=module.title),
    )


def _lesson_form(
    kind: str,
    content_id: str,
    content_version: str,
    completion_threshold: str,
    pass_score: str,
    max_attempts: str,
    time_limit_minutes: str,
) -> dict[str, Any]:
    """The add_lesson arguments a lesson form asks for. Only the fields of the chosen kind
    count: the form shows both sets, since it works without JavaScript."""
    if kind not in LESSON_KINDS:
        raise InvalidInput(_("Choose the kind of lesson: content, quiz or event."))
    if kind == LessonKind.content:
        return {
            "content_id": parse_int(
                content_id, field=_("Library item"), minimum=1, maximum=2**31 - 1, required=True
            ),
            "content_version": parse_int(
                content_version, field=_("Version"), minimum=1, maximum=100_000
            ),
            "completion_threshold": parse_int(
                completion_threshold,
                field=_("Completion threshold"),
                minimum=1,
                maximum=100,
                required=True,
            ),
        }
    if kind == LessonKind.event:
        return {}  # the event is linked from its own page (/events/new, "Course lesson")
    minutes = parse_int(time_limit_minutes, field=_("Time limit (minutes)"), minimum=1, maximum=600)
    return {
        "pass_score": parse_int(
            pass_score, field=_("Pass score"), minimum=0, maximum=100, required=True
        ),
        "max_attempts": parse_int(
            max_attempts, field=_("Attempts allowed"), minimum=1, maximum=100
        ),
        "time_limit_seconds": minutes * 60 if minutes else None,
    }


@router.post("/studio/courses/{course_id}/modules/{module_id}/lessons", dependencies=[CSRFChecked])
def lesson_add(
    request: Request,
    course_id: int,
    module_id: int,
    session: SessionDep,
    user: AuthorUser,
    title: Text = "",
    kind: Short = "",
    content_id: Short = "",
    content_version: Short = "",
    required: Flag = None,
    completion_threshold: Short = "90",
    pass_score: Short = "70",
    max_attempts: Short = "",
    time_limit_minutes: Short = "",
    shuffle: Flag = None,
) -> Response:
    course = service.get_course_for(session, user, course_id)
    module = _module_of(session, course, module_id)
    form = {
        "title": title,
        "kind": kind,
        "content_id": content_id,
        "content_version": content_version,
        "required": bool(required),
        "completion_threshold": completion_threshold,
        "pass_score": pass_score,
        "max_attempts": max_attempts,
        "time_limit_minutes": time_limit_minutes,
        "shuffle": bool(shuffle),
    }
    try:
        arguments = _lesson_form(
            kind,
            content_id,
            content_version,
            completion_threshold,
            pass_score,
            max_attempts,
            time_limit_minutes,
        )
        lesson = service.add_lesson(
            session,
            user,
            module.id,
            title=title,
            kind=kind,
            required=bool(required),
            shuffle=bool(shuffle),
            **arguments,
        )
    except AppError as exc:
        return _failed(
            request, session, user, course_id, exc, at=f"add-lesson-{module_id}", form=form
        )
    return redirect(
        request,
        _back(course_id, f"lesson-{lesson.id}"),
        message=_("Lesson '{title}' added.").format(title=lesson.title),
    )


@router.post("/studio/courses/{course_id}/lessons/{lesson_id}/move", dependencies=[CSRFChecked])
def lesson_move(
    request: Request,
    course_id: int,
    lesson_id: int,
    session: SessionDep,
    user: AuthorUser,
    direction: Short = "",
) -> Response:
    course = service.get_course_for(session, user, course_id)
    lesson, module = _lesson_of(session, course, lesson_id)
    try:
        ids = [le.id for le in service.outline(session, course).lessons[module.id]]
        service.reorder_lessons(session, user, module.id, moved(ids, lesson.id, direction))
    except AppError as exc:
        return _failed(request, session, user, course_id, exc, at=f"lesson-{lesson_id}")
    return redirect(
        request,
        _back(course_id, f"lesson-{lesson_id}"),
        message=_("Lesson '{title}' moved.").format(title=lesson.title),
    )


@router.post(
    "/studio/courses/{course_id}/lessons/{lesson_id}/update-content", dependencies=[CSRFChecked]
)
def lesson_apply_update(
    request: Request, course_id: int, lesson_id: int, session: SessionDep, user: AuthorUser
) -> Response:
    course = service.get_course_for(session, user, course_id)
    lesson, _module = _lesson_of(session, course, lesson_id)
    try:
        service.apply_content_update(session, user, lesson.id)
        number = lcms.get_version(session, lesson.content_version_id or 0).number
    except AppError as exc:
        return _failed(request, session, user, course_id, exc, at=f"lesson-{lesson_id}")
    return redirect(
        request,
        _back(course_id, f"lesson-{lesson_id}"),
        message=_("Lesson '{title}' now shows version {n}.").format(title=lesson.title, n=number),
    )


def _choices(texts: list[str] | None, correct: list[str] | None) -> list[tuple[str, bool]]:
    ticked = set(correct or [])
    return [
        (text, str(index) in ticked)
        for index, text in enumerate((texts or [])[:CHOICE_ROWS], start=1)
        if text.strip()
    ]


@router.post(
    "/studio/courses/{course_id}/lessons/{lesson_id}/questions", dependencies=[CSRFChecked]
)
def question_add(
    request: Request,
    course_id: int,
    lesson_id: int,
    session: SessionDep,
    user: AuthorUser,
    text: LongText = "",
    kind: Short = "",
    choice_text: Values = None,
    choice_correct: Values = None,
    answer: Text = "",
    true_false: Short = "",
    ignore_accents: Flag = None,
    points: Short = "1",
) -> Response:
    course = service.get_course_for(session, user, course_id)
    lesson, _module = _lesson_of(session, course, lesson_id)
    form = {
        "text": text,
        "kind": kind,
        "choice_text": list(choice_text or []),
        "choice_correct": list(choice_correct or []),
        "answer": answer,
        "true_false": true_false,
        "ignore_accents": bool(ignore_accents),
        "points": points,
    }
    try:
        if kind not in QUESTION_KINDS:
            raise InvalidInput(_("Choose the kind of question."))
        choices = _choices(choice_text, choice_correct)
        given_answer: str | None = None
        if kind == QuestionKind.short:
            given_answer, choices = answer, []
        elif kind == QuestionKind.true_false and not choices:
            given_answer = true_false
        question = quiz.add_question(
            session,
            user,
            lesson.id,
            text=text,
            kind=kind,
            choices=choices,
            answer=given_answer,
            points=parse_int(points, field=_("Points"), minimum=0, maximum=100, required=True) or 0,
            ignore_accents=bool(ignore_accents),
        )
    except AppError as exc:
        return _failed(
            request, session, user, course_id, exc, at=f"add-question-{lesson_id}", form=form
        )
    return redirect(
        request,
        _back(course_id, f"question-{question.id}"),
        message=_("Question added to '{title}'.").format(title=lesson.title),
    )


@router.post("/studio/courses/{course_id}/publish", dependencies=[CSRFChecked])
def course_publish(
    request: Request, course_id: int, session: SessionDep, user: AuthorUser
) -> Response:
    try:
        course = service.publish_course(session, user, course_id)
    except AppError as exc:
        return _failed(request, session, user, course_id, exc, at="course-status")
    return redirect(
        request,
        _back(course_id),
        message=_("Course '{title}' is published: learners can enrol.").format(title=course.title),
    )


@router.post("/studio/courses/{course_id}/archive", dependencies=[CSRFChecked])
def course_archive(
    request: Request,
    course_id: int,
    session: SessionDep,
    user: AuthorUser,
    confirm: Flag = None,
) -> Response:
    try:
        if not confirm:
            raise InvalidInput(_("Tick the box to confirm that the course should be archived."))
        course = service.archive_course(session, user, course_id)
    except AppError as exc:
        return _failed(request, session, user, course_id, exc, at="course-status")
    return redirect(
        request,
        _back(course_id),
        message=_("Course '{title}' is archived.").format(title=course.title),
    )


# --- Learners and enrolment ---------------------------------------------------------------


def _can_assign(user: User) -> bool:
    return user.role in (Role.admin, Role.school_manager)


def _assignable_orgs(session: Session, user: User) -> list[Organization]:
    if user.role == Role.admin:
        return accounts.list_organizations(session)
    return [accounts.get_organization(session, user.organization_id)]


def _render_learners(
    request: Request,
    session: Session,
    user: User,
    course_id: int,
    *,
    offset: int = 0,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    settings = request.app.state.settings
    # course_learners decides who may look (admins, school managers, the owner), whatever the
    # course's status: an archived course's records stay visible to the school.
    rows, total = service.course_learners(
        session, user, course_id, limit=LEARNERS_PAGE_SIZE, offset=offset
    )
    course = service.get_course(session, course_id)
    can_assign = _can_assign(user)
    default_due = local_day(course.due_at, settings.timezone)
    context: dict[str, Any] = {
        "course": course,
        "rows": rows,
        "total": total,
        "now": utcnow(),
        "pagination": Pagination(total=total, limit=LEARNERS_PAGE_SIZE, offset=offset),
        "can_assign": can_assign,
        "can_build": policy.is_author(user),
        "organizations": _assignable_orgs(session, user) if can_assign else [],
        "assign_roles": ASSIGN_ROLES,
        "assign_form": {"role": Role.teacher.value, "due_date": default_due},
        "import_form": {"due_date": default_due},
        "header": enrol_import.HEADER,
        "max_rows": enrol_import.MAX_ROWS,
    }
    context.update(extra)
    return render(request, "lms/builder/learners.html", context, status_code=status_code)


@router.get("/courses/{course_id}/learners")
def learners_page(
    request: Request,
    course_id: int,
    session: SessionDep,
    user: PageUser,
    offset: Offset = 0,
) -> Response:
    return _render_learners(request, session, user, course_id, offset=offset)


def _enrolled_message(result: service.AssignResult) -> str:
    return _("Enrolled: {enrolled}. Already enrolled: {already}.").format(
        enrolled=result.enrolled, already=result.already
    )


@router.post("/courses/{course_id}/learners/assign", dependencies=[CSRFChecked])
def learners_assign(
    request: Request,
    course_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    organization_id: Short = "",
    role: Short = "",
    due_date: Short = "",
) -> Response:
    policy.require_assigner(user)
    form = {"organization_id": organization_id, "role": role, "due_date": due_date}
    try:
        org_id = parse_int(
            organization_id, field=_("Organisation"), minimum=1, maximum=2**31 - 1, required=True
        )
        if role and role not in ASSIGN_ROLES:
            raise InvalidInput(_("Unknown role '{role}'.").format(role=role))
        result = service.assign(
            session,
            user,
            course_id,
            organization_id=org_id,
            role=role or None,
            due_at=day_end(parse_day(due_date, field=_("Due date")), settings.timezone),
        )
    except AppError as exc:
        session.rollback()
        return _render_learners(
            request,
            session,
            user,
            course_id,
            status_code=exc.status_code,
            assign_error=exc.detail,
            assign_form=form,
        )
    return redirect(request, f"/courses/{course_id}/learners", message=_enrolled_message(result))


@router.post("/courses/{course_id}/learners/import", dependencies=[CSRFChecked])
def learners_import(
    request: Request,
    course_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    file: Annotated[UploadFile | None, File()] = None,
    due_date: Short = "",
) -> Response:
    policy.require_assigner(user)
    form = {"due_date": due_date}
    failure: dict[str, Any] = {"import_form": form, "filename": file.filename if file else ""}
    try:
        due_at = day_end(parse_day(due_date, field=_("Due date")), settings.timezone)
        if file is None or not file.filename:
            raise InvalidInput(_("Choose a CSV file."))
        data = file.file.read(enrol_import.MAX_BYTES + 1)
        if len(data) > enrol_import.MAX_BYTES:
            raise InvalidInput(_("The file is larger than {n} MB.").format(n=2))
        checked = enrol_import.check_file(session, user, data)
        if checked.errors:
            return _render_learners(
                request,
                session,
                user,
                course_id,
                status_code=422,
                import_errors=checked.errors,
                **failure,
            )
        result = service.assign(
            session,
            user,
            course_id,
            user_ids=checked.user_ids,
            due_at=due_at,
            source=EnrollmentSource.import_.value,
        )
    except AppError as exc:
        session.rollback()
        return _render_learners(
            request,
            session,
            user,
            course_id,
            status_code=exc.status_code,
            import_error=exc.detail,
            **failure,
        )
    return redirect(request, f"/courses/{course_id}/learners", message=_enrolled_message(result))
