"""HTML pages of the learning package: the course catalogue, the course page, the lesson player,
quizzes and their results, "my learning", certificates and their public verification.

Pages use the cookie session; forms post and redirect (303) with a flash message. The player
and the quiz save as the learner goes through small JSON routes under page paths (twins of the
API's bearer-token routes): they check the CSRF token from the ``X-CSRF-Token`` header and
always answer JSON, errors included (``{"error", "detail"}`` with the error's status)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from markupsafe import Markup, escape
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from app.accounts.deps import CSRFChecked, OptionalPageUser, PageUser
from app.accounts.models import Role, SchoolLevel, User
from app.core.config import Settings
from app.core.db import SessionDep, SettingsDep, begin_write, utcnow
from app.core.errors import AppError, CSRFFailed, InvalidInput, NotAuthenticated, NotFound
from app.core.i18n import gettext as _
from app.core.security import csrf_valid
from app.core.web import CSRF_COOKIE, Pagination, redirect, render
from app.lcms import service as lcms
from app.lcms.files import serve_track, serve_version, version_tracks
from app.lcms.images import image_size
from app.lms import api as lms_api
from app.lms import policy, progress, quiz, service
from app.lms.models import (
    Attempt,
    Certificate,
    Course,
    Enrollment,
    EnrollmentStatus,
    Lesson,
    LessonKind,
    ProgressStatus,
    QuestionKind,
    ReviewPolicy,
)
from app.lms.schemas import AnswersIn, ProgressIn

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
DUE_SOON = timedelta(days=14)
LEVELS = [lv.value for lv in SchoolLevel]
MAX_CODE = 40


# --- Helpers -------------------------------------------------------------------------------


async def _form(request: Request) -> FormData:
    """The parsed form (Starlette caches it, so CSRFChecked and the handler share one parse)."""
    return await request.form()


async def _json(request: Request) -> Any:
    """The JSON body, or None when it is missing or not JSON (the model then refuses it)."""
    try:
        return await request.json()
    except ValueError:
        return None


FormBody = Annotated[FormData, Depends(_form)]
JsonBody = Annotated[Any, Depends(_json)]


def _json_user(request: Request, settings: Settings, user: User | None) -> User:
    """The signed-in user of a JSON twin, with the CSRF token of the X-CSRF-Token header."""
    if user is None:
        raise NotAuthenticated(_("Please sign in."))
    token = request.headers.get("x-csrf-token")
    if not csrf_valid(settings, request.cookies.get(CSRF_COOKIE), token):
        raise CSRFFailed(_("The page has expired. Reload it and try again."))
    return user


def _json_error(session: Session, exc: AppError) -> JSONResponse:
    session.rollback()
    headers = {k: v for k, v in exc.headers.items() if k.lower() != "www-authenticate"}
    return JSONResponse(exc.payload(), status_code=exc.status_code, headers=headers)


def _invalid(session: Session, exc: ValidationError) -> JSONResponse:
    session.rollback()
    fields = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": str(err.get("msg"))}
        for err in exc.errors()
    ]
    detail = "; ".join(
        f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields
    )
    return JSONResponse(
        {"error": "invalid_input", "detail": detail or _("Invalid data."), "fields": fields},
        status_code=422,
    )


def _ok(body: BaseModel) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json"))


def _visible_course_of(session: Session, user: User, lesson: Lesson) -> Course:
    course = service.course_of_lesson(session, lesson)
    return service.get_course_for(session, user, course.id)


def _is_learner(enrollment: Enrollment | None) -> bool:
    return enrollment is not None and enrollment.status != EnrollmentStatus.withdrawn


def _certificate_code(session: Session, user: User, course_id: int) -> str | None:
    code = session.scalar(
        select(Certificate.code).where(
            Certificate.user_id == user.id, Certificate.course_id == course_id
        )
    )
    return code


def _media(media_type: str) -> str:
    """How the player shows a file: video, audio, image, pdf or download."""
    if media_type.startswith("video/"):
        return "video"
    if media_type.startswith("audio/"):
        return "audio"
    if media_type.startswith("image/") and media_type != "image/svg+xml":
        return "image"
    if media_type == "application/pdf":
        return "pdf"
    return "download"


def _pinned_image_size(
    request: Request, session: Session, pin: lcms.PinnedVersion | None
) -> tuple[int, int] | None:
    """Width and height for the player's <img>, so the page does not jump when it loads."""
    if pin is None or _media(pin.media_type) != "image":
        return None
    version = lcms.get_version(session, pin.version_id)
    return image_size(request.app.state.blob_store, version.blob_sha256)


def _lesson_url(lesson_id: int) -> str:
    return f"/lessons/{lesson_id}"


# --- Catalogue and course page -------------------------------------------------------------


@router.get("/courses")
def catalogue(
    request: Request,
    session: SessionDep,
    user: PageUser,
    q: Annotated[str | None, Query(max_length=200)] = None,
    level: Annotated[str | None, Query(max_length=50)] = None,
    topic: Annotated[str | None, Query(max_length=60)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    level_filter = level if level in LEVELS else None
    topic_filter = (topic or "").strip() or None
    page = service.list_courses(
        session,
        user,
        q=q,
        level=level_filter,
        topic=topic_filter,
        catalogue=True,
        limit=PAGE_SIZE,
        offset=offset,
    )
    ids = [c.id for c in page.items]
    # The user's enrolments for the whole page, in one query.
    enrollments = (
        {
            e.course_id: e
            for e in session.scalars(
                select(Enrollment).where(
                    Enrollment.user_id == user.id, Enrollment.course_id.in_(ids)
                )
            )
        }
        if ids
        else {}
    )
    return render(
        request,
        "lms/catalogue.html",
        {
            "page": page,
            "enrollments": enrollments,
            "pagination": Pagination(total=page.total, limit=PAGE_SIZE, offset=offset),
            "q": q or "",
            "level": level_filter or "",
            "topic": topic_filter or "",
            "filtered": bool((q or "").strip() or level_filter or topic_filter),
            "levels": LEVELS,
            "suggested_topics": lcms.SUGGESTED_TOPICS,
        },
    )


@router.get("/courses/{course_id}")
def course_page(request: Request, course_id: int, session: SessionDep, user: PageUser) -> Response:
    course = service.get_course_for(session, user, course_id)
    out = lms_api.course_out(session, user, course)  # outline + enrolment + progress
    enrollment = out.enrollment
    learner = enrollment is not None and enrollment.status != EnrollmentStatus.withdrawn
    completed = learner and enrollment is not None and enrollment.completed_at is not None
    return render(
        request,
        "lms/course.html",
        {
            "course": course,
            "out": out,
            "learner": learner,
            "can_open": learner or policy.is_author(user),
            "certificate_code": _certificate_code(session, user, course.id) if completed else None,
            "lesson_count": sum(len(m.lessons) for m in out.modules),
        },
    )


@router.post("/courses/{course_id}/enroll", dependencies=[CSRFChecked])
def enroll(request: Request, course_id: int, session: SessionDep, user: PageUser) -> Response:
    url = f"/courses/{course_id}"
    try:
        _enrollment, created = service.enroll_self(session, user, course_id)
    except NotFound:
        raise
    except AppError as exc:
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    if created:
        return redirect(request, url, message=_("You are enrolled. Enjoy the course!"))
    return redirect(request, url, message=_("You are already enrolled in this course."))


@router.post("/courses/{course_id}/withdraw", dependencies=[CSRFChecked])
def withdraw(request: Request, course_id: int, session: SessionDep, user: PageUser) -> Response:
    url = f"/courses/{course_id}"
    try:
        service.withdraw(session, user, course_id)
    except AppError as exc:
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    return redirect(
        request,
        url,
        message=_("You have left the course. Your progress is kept if you enrol again."),
    )


@router.get("/courses/{course_id}/certificate")
def course_certificate(
    request: Request, course_id: int, session: SessionDep, user: PageUser
) -> Response:
    """The signed-in learner's certificate of this course (the player links here)."""
    code = _certificate_code(session, user, course_id)
    if code is None:
        raise NotFound(_("You have no certificate for this course yet."))
    return redirect(request, f"/certificates/{code}")


# --- Lessons -------------------------------------------------------------------------------


@router.get("/lessons/{lesson_id}")
def lesson_page(request: Request, lesson_id: int, session: SessionDep, user: PageUser) -> Response:
    lesson = service.get_lesson(session, lesson_id)
    course = _visible_course_of(session, user, lesson)
    enrollment = service.get_enrollment(session, user.id, course.id)
    learner = _is_learner(enrollment)
    if not learner and not policy.is_author(user):
        return redirect(
            request,
            f"/courses/{course.id}",
            message=_("Enrol in this course to open its lessons."),
            level="error",
        )
    plan = service.outline(session, course)
    ordered = [(m, le) for m in plan.modules for le in plan.lessons[m.id]]
    index = next(i for i, (_m, le) in enumerate(ordered) if le.id == lesson.id)
    module = ordered[index][0]
    next_lesson = ordered[index + 1][1] if index + 1 < len(ordered) else None
    record = service.progress_map(session, user.id, course.id).get(lesson.id) if learner else None
    pin = plan.pinned.get(lesson.content_version_id or 0)
    attempts = quiz.attempts_of(session, user, lesson.id) if lesson.kind == LessonKind.quiz else []
    open_attempt = next((a for a in attempts if a.submitted_at is None), None)
    used = len(attempts)
    completed = bool(learner and enrollment and enrollment.completed_at)
    return render(
        request,
        "lms/lesson.html",
        {
            "course": course,
            "module": module,
            "lesson": lesson,
            "position": index + 1,
            "lesson_total": len(ordered),
            "next_lesson": next_lesson,
            "learner": learner,
            "preview": not learner,
            "enrollment": enrollment if learner else None,
            "record": record,
            "status": record.status if record else ProgressStatus.not_started.value,
            "pin": pin,
            "media": _media(pin.media_type) if pin else None,
            "image_size": _pinned_image_size(request, session, pin),
            # Captions and transcripts of the pinned version (None when it has none).
            "tracks": version_tracks(request, session, pin.version_id)
            if pin and _media(pin.media_type) in ("video", "audio")
            else None,
            "file_url": f"/lessons/{lesson.id}/file",
            "resume": round(record.position_seconds, 2) if record else 0,
            "attempts": attempts,
            "open_attempt": open_attempt,
            "attempts_left": None if lesson.max_attempts is None else lesson.max_attempts - used,
            "passed": any(a.passed for a in attempts),
            "certificate_code": _certificate_code(session, user, course.id) if completed else None,
            "mark_done_event": str(uuid.uuid4()),
        },
    )


@router.get("/lessons/{lesson_id}/file")
def lesson_file(
    request: Request,
    lesson_id: int,
    session: SessionDep,
    user: PageUser,
    download: bool = False,
) -> Response:
    """The lesson's pinned file (not the library's current one): authors and enrolled
    learners only. With S3 storage this redirects (307) to a short-lived presigned URL."""
    version_id = service.lesson_file_version(session, user, lesson_id)
    return serve_version(request, session, version_id, download=download)


@router.get("/lessons/{lesson_id}/tracks/{track_id}")
def lesson_track(
    request: Request,
    lesson_id: int,
    track_id: int,
    session: SessionDep,
    user: PageUser,
    download: bool = False,
) -> Response:
    """Captions or a transcript of the lesson's pinned version, on the same terms as its file."""
    version_id = service.lesson_file_version(session, user, lesson_id)
    return serve_track(request, session, version_id, track_id, download=download)


@router.post("/lessons/{lesson_id}/progress")
def lesson_progress(
    request: Request,
    lesson_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: OptionalPageUser,
    body: JsonBody,
) -> Response:
    """The player's progress events (JSON, like POST /api/v1/lessons/{id}/progress)."""
    try:
        learner = _json_user(request, settings, user)
        data = ProgressIn.model_validate(body)
        return _ok(lms_api.post_progress(lesson_id, data, session, learner))
    except AppError as exc:
        return _json_error(session, exc)
    except ValidationError as exc:
        return _invalid(session, exc)


@router.post("/lessons/{lesson_id}/done", dependencies=[CSRFChecked])
def lesson_done(
    request: Request, lesson_id: int, session: SessionDep, user: PageUser, form: FormBody
) -> Response:
    """ "Mark as done" without JavaScript (the player sends a progress event instead)."""
    url = _lesson_url(lesson_id)
    event_id = form.get("event_id")
    try:
        event = uuid.UUID(event_id if isinstance(event_id, str) else "")
    except ValueError:
        event = uuid.uuid4()
    try:
        result = progress.record_progress(
            session, user, lesson_id, event_id=str(event), status=ProgressStatus.completed.value
        )
    except AppError as exc:
        session.rollback()
        return redirect(request, url, message=exc.detail, level="error")
    message = (
        _("Course completed! Your certificate is ready.")
        if result.course_completed
        else _("Lesson completed.")
    )
    return redirect(request, url, message=message)


# --- Quizzes -------------------------------------------------------------------------------


@router.post("/lessons/{lesson_id}/quiz", dependencies=[CSRFChecked])
def quiz_start(request: Request, lesson_id: int, session: SessionDep, user: PageUser) -> Response:
    """Start the next attempt (or resume the open one): a POST, so no link can spend one."""
    lesson = service.get_lesson(session, lesson_id)
    course = _visible_course_of(session, user, lesson)
    try:
        if quiz.close_expired(session, user, lesson.id):
            session.commit()  # an expired attempt scored on the way stays scored
        quiz.start_attempt(session, user, lesson.id)
    except AppError as exc:
        session.rollback()
        if exc.status_code == 403:
            return redirect(request, f"/courses/{course.id}", message=exc.detail, level="error")
        if exc.status_code in (409, 422):
            return redirect(request, _lesson_url(lesson.id), message=exc.detail, level="error")
        raise
    return redirect(request, f"/lessons/{lesson.id}/quiz")


@router.get("/lessons/{lesson_id}/quiz")
def quiz_page(request: Request, lesson_id: int, session: SessionDep, user: PageUser) -> Response:
    """The open attempt (resume). Correct answers never reach this page."""
    # Scoring an expired attempt on the way is a write: start a writing transaction, or
    # SQLite could refuse the write mid-request.
    session.commit()
    begin_write(session)
    lesson = service.get_lesson(session, lesson_id)
    course = _visible_course_of(session, user, lesson)
    try:
        view = quiz.open_attempt(session, user, lesson.id)
    except AppError as exc:
        if exc.status_code == 403:
            session.rollback()
            return redirect(request, f"/courses/{course.id}", message=exc.detail, level="error")
        if exc.status_code == 422:
            session.rollback()
            return redirect(request, _lesson_url(lesson.id), message=exc.detail, level="error")
        raise
    if view is None:
        return redirect(request, _lesson_url(lesson.id))
    return render(
        request,
        "lms/quiz.html",
        {
            "course": course,
            "lesson": lesson,
            "view": view,
            "attempt": view.attempt,
            "answers": view.attempt.answers,
        },
    )


MAX_ID_DIGITS = 18  # within a 64-bit id; int() of a long digit string is slow or refused


def _is_id(value: str) -> bool:
    """Plain ASCII digits of a possible id (isdecimal alone also takes other scripts' digits,
    which int() reads, and any length)."""
    return 0 < len(value) <= MAX_ID_DIGITS and value.isascii() and value.isdecimal()


def _form_answers(view: quiz.AttemptView, form: FormData) -> dict[str, Any]:
    """The answers of the quiz form: field ``q<id>`` holds choice ids or the text."""
    answers: dict[str, Any] = {}
    for question in view.questions:
        name = f"q{question.id}"
        if question.kind == QuestionKind.short:
            text = form.get(name)
            if isinstance(text, str):
                answers[str(question.id)] = text.strip()
            continue
        ids: list[int] = []
        for value in form.getlist(name):
            if not isinstance(value, str) or not _is_id(value.strip()):
                raise InvalidInput(
                    _("Question {id} needs a list of choice ids.").format(id=question.id)
                )
            ids.append(int(value))
        if ids or question.kind == QuestionKind.multiple:
            answers[str(question.id)] = ids
    return answers


@router.post("/attempts/{attempt_id}/submit-form", dependencies=[CSRFChecked])
def submit_form(
    request: Request, attempt_id: int, session: SessionDep, user: PageUser, form: FormBody
) -> Response:
    view = quiz.get_attempt(session, user, attempt_id)
    result_url = f"/attempts/{attempt_id}/result"
    if view.attempt.submitted_at is not None:
        return redirect(request, result_url, message=_("This attempt has already been submitted."))
    try:
        quiz.submit_attempt(session, user, attempt_id, _form_answers(view, form))
    except AppError as exc:
        session.rollback()
        if exc.status_code == 409:
            return redirect(request, result_url, message=exc.detail, level="error")
        return redirect(
            request, f"/lessons/{view.attempt.lesson_id}/quiz", message=exc.detail, level="error"
        )
    return redirect(request, result_url)


@router.patch("/attempts/{attempt_id}/answers")
def save_answers(
    request: Request,
    attempt_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: OptionalPageUser,
    body: JsonBody,
) -> Response:
    """Save answers as the learner goes (JSON, like PATCH /api/v1/attempts/{id})."""
    try:
        learner = _json_user(request, settings, user)
        data = AnswersIn.model_validate(body)
        return _ok(lms_api.save_answers(attempt_id, data, session, learner))
    except AppError as exc:
        return _json_error(session, exc)
    except ValidationError as exc:
        return _invalid(session, exc)


@router.post("/attempts/{attempt_id}/submit")
def submit_json(
    request: Request,
    attempt_id: int,
    session: SessionDep,
    settings: SettingsDep,
    user: OptionalPageUser,
    body: JsonBody,
) -> Response:
    """Submit (JSON, like POST /api/v1/attempts/{id}/submit)."""
    try:
        learner = _json_user(request, settings, user)
        data = AnswersIn.model_validate(body if body is not None else {})
        return _ok(lms_api.submit_attempt(attempt_id, data, session, learner))
    except AppError as exc:
        return _json_error(session, exc)
    except ValidationError as exc:
        return _invalid(session, exc)


@router.get("/attempts/{attempt_id}/result")
def result_page(request: Request, attempt_id: int, session: SessionDep, user: PageUser) -> Response:
    view = quiz.get_attempt(session, user, attempt_id)
    attempt: Attempt = view.attempt
    if attempt.submitted_at is None:
        return redirect(request, f"/lessons/{attempt.lesson_id}/quiz")
    lesson = service.get_lesson(session, attempt.lesson_id)
    course = service.course_of_lesson(session, lesson)
    # The same review submit_attempt returned to the API.
    shown = quiz.review_of(session, attempt)
    review = {r.question_id: r for r in shown} if shown is not None else None
    score, max_score = attempt.score or 0, attempt.max_score or 0
    late = bool(attempt.deadline_at and attempt.submitted_at > attempt.deadline_at + quiz.GRACE)
    attempts = quiz.attempts_of(session, user, lesson.id)
    can_retry = (
        not attempt.passed
        and not any(a.passed for a in attempts)
        and (lesson.max_attempts is None or len(attempts) < lesson.max_attempts)
    )
    enrollment = service.get_enrollment(session, user.id, course.id)
    completed = bool(_is_learner(enrollment) and enrollment and enrollment.completed_at)
    return render(
        request,
        "lms/result.html",
        {
            "course": course,
            "lesson": lesson,
            "attempt": attempt,
            "questions": view.questions,
            "answers": attempt.answers,
            "score": score,
            "max_score": max_score,
            "percent": quiz.percent_of(score, max_score),
            "late": late,
            "review": review,
            "show_answers": course.review_policy == ReviewPolicy.answers,
            "can_retry": can_retry,
            "certificate_code": _certificate_code(session, user, course.id) if completed else None,
        },
    )


# --- My learning and certificates ----------------------------------------------------------


@router.get("/my")
def my_learning(request: Request, session: SessionDep, user: PageUser) -> Response:
    now = utcnow()
    sections: dict[str, list[service.MyEnrollment]] = {
        "in_progress": [],
        "due_soon": [],
        "overdue": [],
        "completed": [],
    }
    for row in service.my_enrollments(session, user):
        due = row.enrollment.due_at
        if row.enrollment.completed_at is not None:
            sections["completed"].append(row)
        elif due is not None and due < now:
            sections["overdue"].append(row)
        elif due is not None and due <= now + DUE_SOON:
            sections["due_soon"].append(row)
        else:
            sections["in_progress"].append(row)
    return render(request, "lms/my.html", {"sections": sections})


@router.get("/my/certificates")
def my_certificates(request: Request, session: SessionDep, user: PageUser) -> Response:
    return render(
        request,
        "lms/certificates.html",
        {"certificates": progress.my_certificates(session, user)},
    )


def _qr_svg(url: str, label: str) -> Markup:
    """The QR code of ``url`` as inline SVG markup (not a script: fine under the CSP)."""
    svg = segno.make(url, error="m").svg_inline(
        scale=4, omitsize=True, title=label, svgclass="qr-code"
    )
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))


def _certificate_context(request: Request, session: Session, cert: Certificate) -> dict[str, Any]:
    url = lms_api.verify_url(request, cert.code)
    return {
        "cert": cert,
        "public": lms_api.public_certificate(session, cert),
        "verify_url": url,
        "qr": _qr_svg(url, _("QR code to verify this certificate: %(url)s") % {"url": url}),
    }


@router.get("/certificates/{code}")
def certificate_page(request: Request, code: str, session: SessionDep, user: PageUser) -> Response:
    """The printable certificate: its owner, or an administrator."""
    if len(code) > MAX_CODE:
        raise NotFound(_("No certificate has this code."))
    cert = progress.certificate_by_code(session, code)
    if cert.user_id != user.id and user.role != Role.admin:
        raise NotFound(_("No certificate has this code."))
    return render(request, "lms/certificate.html", _certificate_context(request, session, cert))


@router.get("/verify/{code}")
def verify_page(
    request: Request, code: str, session: SessionDep, user: OptionalPageUser
) -> Response:
    """Public: anyone holding the code (or scanning the QR) can check a certificate."""
    try:
        if len(code) > MAX_CODE:
            raise NotFound(_("No certificate has this code."))
        cert = progress.certificate_by_code(session, code)
    except NotFound:
        return render(request, "lms/verify.html", {"found": False}, status_code=404)
    return render(
        request,
        "lms/verify.html",
        {"found": True, "public": lms_api.public_certificate(session, cert)},
    )
