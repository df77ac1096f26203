"""JSON API of the learning package: courses, enrolment, progress, quizzes, certificates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.accounts import auth
from app.accounts.deps import ApiClaims, ApiUser
from app.accounts.models import Organization, OrgKind, SchoolLevel, User
from app.accounts.schemas import LineErrorOut
from app.core.db import SessionDep, begin_autocommit_read, begin_write, utcnow
from app.core.errors import InvalidInput, NotFound, PayloadTooLarge
from app.core.i18n import gettext as _
from app.core.web import Limit, Offset
from app.lcms.files import FILE_RESPONSES, serve_version
from app.lms import course_view, enrol_import, policy, progress, quiz, service
from app.lms.models import (
    Attempt,
    Certificate,
    Course,
    CourseStatus,
    Enrollment,
    EnrollmentStatus,
    QuestionKind,
)
from app.lms.schemas import (
    AnswersIn,
    AssignOut,
    AttemptOut,
    CertificateOut,
    CertificatePage,
    CertificatePublic,
    ChoiceCreated,
    ChoiceShown,
    CourseIn,
    CourseOut,
    CoursePage,
    CourseSummary,
    CourseUpdate,
    EnrollImportOut,
    EnrollmentOut,
    EnrollmentPage,
    EnrollmentsIn,
    EnrollOut,
    LearnerOut,
    LearnerPage,
    LessonIn,
    LessonOut,
    ModuleIn,
    ModuleOut,
    OrderIn,
    ProgressIn,
    ProgressOut,
    QuestionCreated,
    QuestionIn,
    QuestionShown,
    ReviewOut,
    RevokeIn,
    SubmitOut,
)

router = APIRouter(prefix="/api/v1", tags=["learning"])


def summary(course: Course) -> CourseSummary:
    return CourseSummary(
        id=course.id,
        uuid=course.uuid,
        title=course.title,
        description=course.description,
        status=CourseStatus(course.status),
        levels=course.values("level"),
        topics=course.values("topic"),
        roles=course.values("role"),
        owner_id=course.owner_id,
        due_at=course.due_at,
        enroll_opens_at=course.enroll_opens_at,
        enroll_closes_at=course.enroll_closes_at,
        updated_at=course.updated_at,
    )


def enrollment_out(enrollment: Enrollment, course: Course) -> EnrollmentOut:
    overdue = (
        enrollment.completed_at is None
        and enrollment.due_at is not None
        and enrollment.due_at < utcnow()
    )
    return EnrollmentOut(
        course_id=course.id,
        title=course.title,
        status=EnrollmentStatus(enrollment.status),
        progress_percent=enrollment.progress_percent,
        enrolled_at=enrollment.enrolled_at,
        completed_at=enrollment.completed_at,
        due_at=enrollment.due_at,
        overdue=overdue,
    )


def course_out(session: Session, user: User, course: Course) -> CourseOut:
    """The course with its outline and this user's progress, in a constant number of queries."""
    session.flush()  # the document is read with plain queries: they must see pending changes
    return CourseOut.model_validate(course_view.course_document(session, user, course.id))


# --- Courses -------------------------------------------------------------------------------


@router.post("/courses", response_model=CourseOut, status_code=201)
def create_course(body: CourseIn, session: SessionDep, user: ApiUser) -> CourseOut:
    course = service.create_course(
        session,
        user,
        title=body.title,
        description=body.description,
        levels=[lv.value for lv in body.levels],
        topics=body.topics,
        roles=[r.value for r in body.roles],
        cover_content_id=body.cover_content_id,
        enroll_opens_at=body.enroll_opens_at,
        enroll_closes_at=body.enroll_closes_at,
        due_at=body.due_at,
        review_policy=body.review_policy.value,
    )
    return course_out(session, user, course)


@router.get("/courses", response_model=CoursePage)
def list_courses(
    session: SessionDep,
    user: ApiUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    level: SchoolLevel | None = None,
    topic: Annotated[str | None, Query(max_length=60)] = None,
    status: CourseStatus | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> CoursePage:
    """The catalogue (published courses; authors also see drafts). ``q`` ignores accents."""
    page = service.list_courses(
        session,
        user,
        q=q,
        level=level.value if level else None,
        topic=topic,
        status=status.value if status else None,
        limit=limit,
        offset=offset,
    )
    return CoursePage(items=[summary(c) for c in page.items], total=page.total)


@router.get("/courses/{course_id}", response_model=CourseOut)
def get_course(course_id: int, session: SessionDep, claims: ApiClaims) -> Response:
    # The hot path of every learner: plain rows and a cached outline, serialised by orjson
    # straight to bytes (the document has CourseOut's shape; the OpenAPI schema says so). The
    # token's user is checked (in the document's first statement), the document read and the
    # transaction ended in this one thread (ADR 0013): a hop between threads cost as much as
    # a query.
    begin_autocommit_read(session)  # PostgreSQL: no BEGIN/COMMIT round trips for this read
    document = course_view.course_document_for_token(session, claims, course_id)
    session.commit()
    return Response(orjson.dumps(document, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.patch("/courses/{course_id}", response_model=CourseOut)
def update_course(
    course_id: int, body: CourseUpdate, session: SessionDep, user: ApiUser
) -> CourseOut:
    course = service.update_course(
        session,
        user,
        course_id,
        title=body.title,
        description=body.description,
        levels=[lv.value for lv in body.levels] if body.levels is not None else None,
        topics=body.topics,
        roles=[r.value for r in body.roles] if body.roles is not None else None,
        due_at=body.due_at,
        enroll_opens_at=body.enroll_opens_at,
        enroll_closes_at=body.enroll_closes_at,
        # An explicit null clears a date; an absent field leaves it.
        set_dates=frozenset(
            body.model_fields_set & {"due_at", "enroll_opens_at", "enroll_closes_at"}
        ),
    )
    return course_out(session, user, course)


@router.post("/courses/{course_id}/publish", response_model=CourseOut)
def publish_course(course_id: int, session: SessionDep, user: ApiUser) -> CourseOut:
    """Publish: every content lesson must pin a version that was published in the library."""
    return course_out(session, user, service.publish_course(session, user, course_id))


@router.post("/courses/{course_id}/archive", response_model=CourseOut)
def archive_course(course_id: int, session: SessionDep, user: ApiUser) -> CourseOut:
    return course_out(session, user, service.archive_course(session, user, course_id))


@router.post("/courses/{course_id}/modules", response_model=ModuleOut, status_code=201)
def add_module(course_id: int, body: ModuleIn, session: SessionDep, user: ApiUser) -> ModuleOut:
    module = service.add_module(session, user, course_id, title=body.title)
    return ModuleOut(id=module.id, title=module.title, position=module.position, lessons=[])


@router.put("/courses/{course_id}/modules/order", status_code=204)
def order_modules(course_id: int, body: OrderIn, session: SessionDep, user: ApiUser) -> None:
    service.reorder_modules(session, user, course_id, body.ids)


@router.post("/modules/{module_id}/lessons", response_model=LessonOut, status_code=201)
def add_lesson(module_id: int, body: LessonIn, session: SessionDep, user: ApiUser) -> LessonOut:
    """Add a lesson. ``content_version`` defaults to the item's published version, and is
    pinned: later versions reach the course only when the author applies the update."""
    lesson = service.add_lesson(
        session,
        user,
        module_id,
        title=body.title,
        kind=body.kind.value,
        content_id=body.content_id,
        content_version=body.content_version,
        required=body.required,
        pass_score=body.pass_score,
        completion_threshold=body.completion_threshold,
        max_attempts=body.max_attempts,
        time_limit_seconds=body.time_limit_seconds,
        shuffle=body.shuffle,
    )
    course = service.course_of_lesson(session, lesson)
    out = course_out(session, user, course)
    return next(le for m in out.modules for le in m.lessons if le.id == lesson.id)


@router.put("/modules/{module_id}/lessons/order", status_code=204)
def order_lessons(module_id: int, body: OrderIn, session: SessionDep, user: ApiUser) -> None:
    service.reorder_lessons(session, user, module_id, body.ids)


@router.post("/lessons/{lesson_id}/update-content", response_model=LessonOut)
def apply_update(lesson_id: int, session: SessionDep, user: ApiUser) -> LessonOut:
    """Pin the item's newly published version (learners keep their completions)."""
    lesson = service.apply_content_update(session, user, lesson_id)
    out = course_out(session, user, service.course_of_lesson(session, lesson))
    return next(le for m in out.modules for le in m.lessons if le.id == lesson.id)


@router.get(
    "/lessons/{lesson_id}/file",
    response_class=Response,
    responses=FILE_RESPONSES,
)
def lesson_file(
    lesson_id: int,
    request: Request,
    session: SessionDep,
    user: ApiUser,
    download: bool = False,
) -> Response:
    """The pinned file of a content lesson, for enrolled learners (even if the library item
    was archived or has moved on to a newer version) and for authors."""
    version_id = service.lesson_file_version(session, user, lesson_id)
    return serve_version(request, session, version_id, download=download)


# --- Enrolment -----------------------------------------------------------------------------


@router.post("/courses/{course_id}/enroll", response_model=EnrollOut)
def enroll(course_id: int, session: SessionDep, user: ApiUser) -> EnrollOut:
    """Enrol yourself (409 when the course is not published or enrolment is closed).
    Enrolling again is harmless; after a withdrawal it resumes the earlier progress."""
    enrollment, created = service.enroll_self(session, user, course_id)
    course = service.get_course(session, course_id)
    return EnrollOut(
        enrolled=created, already=not created, enrollment=enrollment_out(enrollment, course)
    )


@router.post("/courses/{course_id}/withdraw", response_model=EnrollmentOut)
def withdraw(course_id: int, session: SessionDep, user: ApiUser) -> EnrollmentOut:
    enrollment = service.withdraw(session, user, course_id)
    return enrollment_out(enrollment, service.get_course(session, course_id))


@router.post("/courses/{course_id}/enrollments", response_model=AssignOut)
def assign(course_id: int, body: EnrollmentsIn, session: SessionDep, user: ApiUser) -> AssignOut:
    """Assign the course to ``user_ids``, or to everyone with ``role`` in ``organization_id``
    and the organisations below it, with an optional due date."""
    result = service.assign(
        session,
        user,
        course_id,
        user_ids=body.user_ids,
        organization_id=body.organization_id,
        role=body.role.value if body.role else None,
        due_at=body.due_at,
    )
    return AssignOut(enrolled=result.enrolled, already=result.already)


@router.post("/courses/{course_id}/enrollments/import", response_model=EnrollImportOut)
async def import_enrollments(
    course_id: int,
    session: SessionDep,
    user: ApiUser,
    file: Annotated[UploadFile, File(description="CSV with a header 'email', one per line")],
    due_at: Annotated[datetime | None, Form()] = None,
) -> EnrollImportOut:
    """Enrol the users listed in a CSV (header ``email``). All or nothing: any unknown,
    deactivated or (for a school manager) foreign email is reported with its line number and
    nobody is enrolled."""
    data = await file.read(enrol_import.MAX_BYTES + 1)
    if len(data) > enrol_import.MAX_BYTES:
        raise PayloadTooLarge(
            _("The file is larger than {n} MB.").format(n=enrol_import.MAX_BYTES // (1024 * 1024))
        )
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidInput(_("due_at needs a time zone (e.g. 2026-12-31T23:59:00+07:00)."))

    def run() -> EnrollImportOut:
        policy.require_assigner(user)
        checked = enrol_import.check_file(session, user, data)
        if checked.errors:
            return EnrollImportOut(
                enrolled=0,
                already=0,
                errors=[LineErrorOut(line=e.line, message=e.message) for e in checked.errors],
            )
        result = service.assign(
            session, user, course_id, user_ids=checked.user_ids, due_at=due_at, source="import"
        )
        return EnrollImportOut(enrolled=result.enrolled, already=result.already, errors=[])

    return await run_in_threadpool(run)


@router.get("/courses/{course_id}/enrollments", response_model=LearnerPage)
def learners(
    course_id: int, session: SessionDep, user: ApiUser, limit: Limit = 50, offset: Offset = 0
) -> LearnerPage:
    rows, total = service.course_learners(session, user, course_id, limit=limit, offset=offset)
    return LearnerPage(
        items=[
            LearnerOut(
                user_id=r.user.id,
                full_name=r.user.full_name,
                email=r.user.email,
                organization_id=r.user.organization_id,
                status=EnrollmentStatus(r.enrollment.status),
                progress_percent=r.enrollment.progress_percent,
                enrolled_at=r.enrollment.enrolled_at,
                last_activity_at=r.enrollment.last_activity_at,
                completed_at=r.enrollment.completed_at,
                due_at=r.enrollment.due_at,
            )
            for r in rows
        ],
        total=total,
    )


@router.get("/me/enrollments", response_model=EnrollmentPage)
def my_enrollments(
    session: SessionDep, user: ApiUser, limit: Limit = 50, offset: Offset = 0
) -> EnrollmentPage:
    rows = service.my_enrollments(session, user, limit=limit, offset=offset)
    return EnrollmentPage(
        items=[enrollment_out(r.enrollment, r.course) for r in rows],
        total=service.count_my_enrollments(session, user),
    )


# --- Progress ------------------------------------------------------------------------------


def _record(
    session: Session, actor: auth.Principal | auth.Claims, lesson_id: int, body: ProgressIn
) -> dict[str, Any]:
    result = progress.record_progress(
        session,
        actor,
        lesson_id,
        event_id=str(body.event_id),
        status=body.status.value if body.status else None,
        percent=body.percent,
        position_seconds=body.position_seconds,
        seconds_spent=body.seconds_spent,
    )
    return {  # ProgressOut's fields
        "lesson_status": result.lesson_status,
        "lesson_percent": result.lesson_percent,
        "position_seconds": float(result.position_seconds),
        "course_progress_percent": result.course_progress_percent,
        "course_completed": result.course_completed,
        "replayed": result.replayed,
    }


# Named post_progress for the schema (operation id, summary); the function of that name below
# serves the lesson page's JSON twin.
@router.post("/lessons/{lesson_id}/progress", response_model=ProgressOut, name="post_progress")
def post_progress_event(
    lesson_id: int, body: ProgressIn, session: SessionDep, claims: ApiClaims
) -> Response:
    """Report progress. ``event_id`` makes it idempotent; ``seconds_spent`` is the time since
    the previous event; percent never goes down; ``status: completed`` is an explicit "done"."""
    # Every few seconds per learner watching: as the course page, one thread checks the token's
    # user (in the event's first statement), applies the event and commits (the answer still
    # follows the commit), and the answer is ProgressOut's shape as orjson bytes rather than a
    # model validated again.
    answer = _record(session, claims, lesson_id, body)
    session.commit()
    return Response(orjson.dumps(answer), media_type="application/json")


def post_progress(lesson_id: int, body: ProgressIn, session: Session, user: User) -> ProgressOut:
    """A progress event of a signed-in user (the lesson page's JSON twin of the endpoint)."""
    return ProgressOut.model_validate(_record(session, user, lesson_id, body))


# --- Quizzes -------------------------------------------------------------------------------


@router.post("/lessons/{lesson_id}/questions", response_model=QuestionCreated, status_code=201)
def add_question(
    lesson_id: int, body: QuestionIn, session: SessionDep, user: ApiUser
) -> QuestionCreated:
    question = quiz.add_question(
        session,
        user,
        lesson_id,
        text=body.text,
        kind=body.kind.value,
        choices=[(c.text, c.correct) for c in body.choices],
        answer=body.answer,
        points=body.points,
        ignore_accents=body.ignore_accents,
    )
    return QuestionCreated(
        id=question.id,
        kind=QuestionKind(question.kind),
        text=question.text,
        points=question.points,
        choices=[ChoiceCreated(id=c.id, text=c.text, correct=c.correct) for c in question.choices],
    )


def attempt_out(view: quiz.AttemptView) -> AttemptOut:
    attempt: Attempt = view.attempt
    return AttemptOut(
        id=attempt.id,
        number=attempt.number,
        lesson_id=attempt.lesson_id,
        started_at=attempt.started_at,
        deadline_at=attempt.deadline_at,
        seconds_left=view.seconds_left,
        submitted_at=attempt.submitted_at,
        answers=attempt.answers,
        questions=[
            QuestionShown(
                id=q.id,
                kind=QuestionKind(q.kind),
                text=q.text,
                points=q.points,
                choices=[ChoiceShown(id=cid, text=t) for cid, t in q.choices],
            )
            for q in view.questions
        ],
    )


@router.post("/lessons/{lesson_id}/attempts", response_model=AttemptOut, status_code=201)
def start_attempt(lesson_id: int, session: SessionDep, user: ApiUser) -> AttemptOut:
    """Start (or resume) an attempt. The questions come without their answers. An attempt
    whose time ran out unsubmitted is scored first, and stays scored when no attempt is left
    (409)."""
    if quiz.close_expired(session, user, lesson_id):
        session.commit()  # the scoring stays, whatever starting the next attempt answers
    return attempt_out(quiz.start_attempt(session, user, lesson_id))


@router.get("/attempts/{attempt_id}", response_model=AttemptOut)
def get_attempt(attempt_id: int, session: SessionDep, user: ApiUser) -> AttemptOut:
    """The attempt. One whose time ran out unsubmitted is scored on the answers saved in time,
    as a late submission would be, and comes back with ``submitted_at`` set."""
    view = quiz.get_attempt(session, user, attempt_id)
    if quiz.expired(view.attempt):
        # Scoring is a write: in a writing transaction (SQLite cannot always turn a reading
        # one into a writer once other writers have committed).
        session.commit()
        begin_write(session)
        view = quiz.get_attempt(session, user, attempt_id, score_expired=True)
    return attempt_out(view)


@router.patch("/attempts/{attempt_id}", response_model=AttemptOut)
def save_answers(
    attempt_id: int, body: AnswersIn, session: SessionDep, user: ApiUser
) -> AttemptOut:
    """Save answers as the learner goes (before the deadline; 409 after it)."""
    return attempt_out(quiz.save_answers(session, user, attempt_id, body.answers))


@router.post("/attempts/{attempt_id}/submit", response_model=SubmitOut)
def submit_attempt(
    attempt_id: int, body: AnswersIn, session: SessionDep, user: ApiUser
) -> SubmitOut:
    """Submit once (409 the second time). After the time limit the answers sent with the
    submission are ignored and the attempt is scored on those saved in time (``late``)."""
    result = quiz.submit_attempt(session, user, attempt_id, body.answers)
    attempt = result.attempt
    score, max_score = attempt.score or 0, attempt.max_score or 0
    return SubmitOut(
        score=score,
        max_score=max_score,
        passed=bool(attempt.passed),
        percent=quiz.percent_of(score, max_score),
        late=result.late,
        review=[
            ReviewOut(
                question_id=r.question_id,
                correct=r.correct,
                points=r.points,
                correct_choice_ids=r.correct_choice_ids,
                accepted_answer=r.accepted_answer,
            )
            for r in result.review
        ]
        if result.review is not None
        else None,
    )


# --- Certificates --------------------------------------------------------------------------


def verify_url(request: Request, code: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/verify/{code}"


@router.get("/me/certificates", response_model=CertificatePage)
def my_certificates(
    request: Request, session: SessionDep, user: ApiUser, limit: Limit = 50, offset: Offset = 0
) -> CertificatePage:
    items = progress.my_certificates(session, user, limit=limit, offset=offset)
    return CertificatePage(
        items=[
            CertificateOut(
                code=c.code,
                course_id=c.course_id,
                course_title=c.course.title,
                issued_at=c.issued_at,
                revoked=c.revoked_at is not None,
                verify_url=verify_url(request, c.code),
            )
            for c in items
        ],
        total=progress.count_my_certificates(session, user),
    )


def public_certificate(session: Session, certificate: Certificate) -> CertificatePublic:
    """The certificate as anyone checking it sees it. The school and the commune are the
    learner's organisation and the commune above it; a learner on the commune's own staff has
    no school (and the commune's parent, the province, is not its commune)."""
    organization = certificate.user.organization
    school: Organization | None = None
    commune: Organization | None = None
    if organization.kind == OrgKind.school:
        school = organization
        parent = organization.parent
        commune = parent if parent is not None and parent.kind == OrgKind.commune else None
    elif organization.kind == OrgKind.commune:
        commune = organization
    return CertificatePublic(
        code=certificate.code,
        valid=certificate.revoked_at is None,
        revoked=certificate.revoked_at is not None,
        revoked_at=certificate.revoked_at,
        learner=certificate.user.full_name,
        course_title=certificate.course.title,
        school=school.name if school is not None else None,
        commune=commune.name if commune is not None else None,
        issued_at=certificate.issued_at,
    )


@router.get("/certificates/{code}", response_model=CertificatePublic, tags=["public"])
def verify_certificate(code: str, session: SessionDep) -> CertificatePublic:
    """Public verification: anyone holding the code may check it (no sign-in)."""
    if len(code) > 40:
        raise NotFound(_("No certificate has this code."))
    return public_certificate(session, progress.certificate_by_code(session, code))


@router.post("/certificates/{code}/revoke", response_model=CertificatePublic)
def revoke_certificate(
    code: str, body: RevokeIn, session: SessionDep, user: ApiUser
) -> CertificatePublic:
    return public_certificate(
        session, progress.revoke_certificate(session, user, code, reason=body.reason)
    )
