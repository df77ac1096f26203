"""Learner progress, lesson and course completion, and certificates.

Progress events are idempotent (the client's ``event_id`` is stored once: a replay changes
nothing). Percent never moves backwards, the media position is kept for resume, seconds
accumulate. Course completion and the certificate happen exactly once, enforced by the
database: a conditional UPDATE sets ``completed_at`` only while it is NULL, and the certificate
is unique per (user, course).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Row, Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts.models import Role, User
from app.core.db import UTCDateTime, insert_ignore, utcnow
from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.core.i18n import gettext as _
from app.lms import service
from app.lms.models import (
    Certificate,
    Enrollment,
    EnrollmentStatus,
    Lesson,
    LessonKind,
    LessonProgress,
    Module,
    ProgressEvent,
    ProgressStatus,
)

MAX_SECONDS_PER_EVENT = 6 * 3600


@dataclass(frozen=True)
class ProgressResult:
    lesson_status: str
    lesson_percent: int
    position_seconds: float
    course_progress_percent: int
    course_completed: bool
    replayed: bool = False


def _get_progress(session: Session, user_id: int, lesson: Lesson) -> LessonProgress:
    progress = session.scalar(
        select(LessonProgress).where(
            LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson.id
        )
    )
    if progress is not None:
        return progress
    try:
        with session.begin_nested():
            progress = LessonProgress(
                user_id=user_id, lesson_id=lesson.id, content_version_id=lesson.content_version_id
            )
            session.add(progress)
    except IntegrityError:  # a concurrent event created it first
        progress = session.scalar(
            select(LessonProgress).where(
                LessonProgress.user_id == user_id, LessonProgress.lesson_id == lesson.id
            )
        )
        assert progress is not None
    return progress


# Statements of the hot path, built once (building them and their cache keys on every event
# cost more than running them).
_LESSON = (
    select(
        Lesson.id,
        Lesson.kind,
        Lesson.completion_threshold,
        Lesson.content_version_id,
        Module.course_id,
    )
    .join(Module, Module.id == Lesson.module_id)
    .where(Lesson.id == bindparam("lesson_id"))
)
_PROGRESS_ROW = select(
    LessonProgress.id,
    LessonProgress.status,
    LessonProgress.percent,
    LessonProgress.position_seconds,
    LessonProgress.seconds_spent,
).where(
    LessonProgress.user_id == bindparam("user_id"),
    LessonProgress.lesson_id == bindparam("lesson_id"),
)
_progress = cast(Table, LessonProgress.__table__)
# Core, not ORM-enabled: nothing in the session needs synchronising. completed_at and the
# version are written only by the event that completes the lesson (NULL means "keep"). The
# parameters are not named after columns: an execute() parameter named after a column would
# replace that column's SET expression.
_UPDATE_PROGRESS = (
    update(_progress)
    .where(_progress.c.id == bindparam("progress_id"))
    .values(
        percent=bindparam("new_percent"),
        status=bindparam("new_status"),
        position_seconds=bindparam("new_position_seconds"),
        seconds_spent=bindparam("new_seconds_spent"),
        updated_at=bindparam("new_updated_at", type_=UTCDateTime()),
        completed_at=func.coalesce(
            bindparam("new_completed_at", type_=UTCDateTime()), _progress.c.completed_at
        ),
        content_version_id=func.coalesce(
            bindparam("new_content_version_id"), _progress.c.content_version_id
        ),
    )
)


def record_progress(
    session: Session,
    actor: User,
    lesson_id: int,
    *,
    event_id: str,
    status: str | None = None,
    percent: int | None = None,
    position_seconds: float | None = None,
    seconds_spent: float | None = None,
) -> ProgressResult:
    """Apply one progress event. The hottest write of the LMS (every few seconds per learner
    watching a video): plain columns and single statements rather than loaded entities."""
    lesson = session.execute(_LESSON, {"lesson_id": lesson_id}).first()
    if lesson is None:
        raise NotFound(_("Lesson {id} does not exist.").format(id=lesson_id))
    enrollment = service.require_active_enrollment(session, actor, lesson.course_id, lock=True)
    if percent is not None and not 0 <= percent <= 100:
        raise InvalidInput(_("percent must be between 0 and 100."))
    if (seconds_spent is not None and not 0 <= seconds_spent <= MAX_SECONDS_PER_EVENT) or (
        position_seconds is not None and position_seconds < 0
    ):
        raise InvalidInput(_("Times cannot be negative or longer than six hours per event."))
    if status not in (None, ProgressStatus.in_progress, ProgressStatus.completed):
        raise InvalidInput(_("status must be 'in_progress' or 'completed'."))
    if status == ProgressStatus.completed and lesson.kind != LessonKind.content:
        raise InvalidInput(_("Quiz and event lessons are completed by passing or attending."))
    now = utcnow()
    fresh = insert_ignore(
        session, ProgressEvent, event_id=event_id, user_id=actor.id, lesson_id=lesson.id
    )
    row = _progress_row(session, actor.id, lesson.id, lesson.content_version_id)
    if not fresh:  # a replay: report, change nothing
        return ProgressResult(
            row.status,
            row.percent,
            row.position_seconds,
            enrollment.progress_percent,
            enrollment.completed_at is not None,
            replayed=True,
        )
    new_percent = row.percent if percent is None else max(row.percent, percent)
    new_position = row.position_seconds if position_seconds is None else position_seconds
    new_status = (
        ProgressStatus.in_progress.value if row.status == ProgressStatus.not_started else row.status
    )
    values: dict[str, object] = {
        "position_seconds": new_position,
        "seconds_spent": row.seconds_spent + (seconds_spent or 0),
        "updated_at": now,
        "completed_at": None,  # unchanged unless this event completes the lesson
        "content_version_id": None,
    }
    done = status == ProgressStatus.completed or (
        lesson.kind == LessonKind.content and new_percent >= lesson.completion_threshold
    )
    if done and row.status != ProgressStatus.completed:
        new_status = ProgressStatus.completed.value
        if lesson.kind == LessonKind.content:
            new_percent = max(new_percent, lesson.completion_threshold)
        # The evidence keeps the version the learner saw when they completed it.
        values |= {"completed_at": now, "content_version_id": lesson.content_version_id}
    values |= {"percent": new_percent, "status": new_status}
    params = {f"new_{name}": value for name, value in values.items()}
    session.execute(_UPDATE_PROGRESS, {"progress_id": row.id, **params})
    course_percent, completed = refresh_course(session, actor, lesson.course_id, enrollment)
    return ProgressResult(new_status, new_percent, new_position, course_percent, completed)


def _progress_row(
    session: Session, user_id: int, lesson_id: int, version_id: int | None
) -> Row[tuple[int, str, int, float, float]]:
    """The learner's progress on a lesson as plain columns, created on first use."""
    params = {"user_id": user_id, "lesson_id": lesson_id}
    row = session.execute(_PROGRESS_ROW, params).first()
    if row is None:
        # A concurrent first event of the same learner may insert it first: either way it exists.
        insert_ignore(
            session,
            LessonProgress,
            user_id=user_id,
            lesson_id=lesson_id,
            content_version_id=version_id,
            status=ProgressStatus.not_started.value,
            percent=0,
            position_seconds=0.0,
            seconds_spent=0.0,
            updated_at=utcnow(),
        )
        row = session.execute(_PROGRESS_ROW, params).one()
    return row


def complete_event_lesson(session: Session, user_id: int, lesson_id: int) -> bool:
    """Complete an event lesson for a learner whose attendance was recorded (the events
    package calls this in the attendance's own transaction). Through the usual path: the
    course's percent is refreshed, and its completion and certificate happen once. True when
    the lesson was newly completed; False when it already was, or the user has no live
    enrolment in the course (nothing is recorded then)."""
    lesson = session.get(Lesson, lesson_id)
    if lesson is None or lesson.kind != LessonKind.event:
        return False
    course_id = session.scalar(select(Module.course_id).where(Module.id == lesson.module_id))
    learner = session.get(User, user_id)
    if course_id is None or learner is None:
        return False
    try:
        enrollment = service.require_active_enrollment(session, learner, course_id, lock=True)
    except PermissionDenied:
        return False
    record = _get_progress(session, user_id, lesson)
    if record.status == ProgressStatus.completed:
        return False
    complete_lesson(session, record, lesson)
    record.updated_at = utcnow()
    refresh_course(session, learner, course_id, enrollment)
    return True


def complete_lesson(session: Session, progress: LessonProgress, lesson: Lesson) -> None:
    if progress.status != ProgressStatus.completed:
        progress.status = ProgressStatus.completed.value
        progress.completed_at = utcnow()
        if lesson.kind == LessonKind.content:
            progress.percent = max(progress.percent, lesson.completion_threshold)
        # The evidence keeps the version the learner saw when they completed it.
        progress.content_version_id = lesson.content_version_id


def refresh_course(
    session: Session, actor: User, course_id: int, enrollment: Enrollment
) -> tuple[int, bool]:
    """Recompute the course percent from the required lessons; complete the course once."""
    session.flush()
    required, done = service.completion_counts(session, actor.id, course_id)
    course_percent = service.percent(done, required)
    enrollment.progress_percent = course_percent
    enrollment.last_activity_at = utcnow()
    if required and done >= required and enrollment.completed_at is None:
        complete_course(session, enrollment)
    return course_percent, enrollment.completed_at is not None


def complete_course(session: Session, enrollment: Enrollment) -> None:
    now = utcnow()
    session.flush()
    result = session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id, Enrollment.completed_at.is_(None))
        .values(completed_at=now, status=EnrollmentStatus.completed.value)
        .execution_options(synchronize_session=False)
    )
    session.refresh(enrollment)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return  # another request completed it first
    try:
        with session.begin_nested():
            session.add(
                Certificate(
                    code=new_certificate_code(),
                    user_id=enrollment.user_id,
                    course_id=enrollment.course_id,
                    issued_at=now,
                )
            )
    except IntegrityError:
        pass  # already issued: exactly one certificate per learner and course


def new_certificate_code() -> str:
    # 120 random bits in a form that survives being read aloud or typed from paper.
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = "".join(secrets.choice(alphabet) for _ in range(24))
    return "-".join(raw[i : i + 4] for i in range(0, 24, 4))


def my_certificates(session: Session, actor: User) -> list[Certificate]:
    return list(
        session.scalars(
            select(Certificate)
            .where(Certificate.user_id == actor.id)
            .order_by(Certificate.issued_at.desc())
        )
    )


def certificate_by_code(session: Session, code: str) -> Certificate:
    certificate = session.scalar(
        select(Certificate).where(Certificate.code == code.strip().upper())
    )
    if certificate is None:
        raise NotFound(_("No certificate has this code."))
    return certificate


def revoke_certificate(session: Session, actor: User, code: str, *, reason: str) -> Certificate:
    if actor.role != Role.admin:
        raise PermissionDenied(_("Only an administrator can do this."))
    certificate = certificate_by_code(session, code)
    if certificate.revoked_at is None:
        certificate.revoked_at = utcnow()
        certificate.revoked_reason = reason.strip()[:500] or None
        learner = session.get(User, certificate.user_id)
        audit.record(
            session,
            actor=actor,
            action=audit.AuditAction.certificate_revoked,
            target_type="certificate",
            target_id=certificate.code,
            target_label=audit.user_label(learner) if learner else "",
            organization_id=learner.organization_id if learner else None,
            detail={"course_id": certificate.course_id, "reason": certificate.revoked_reason},
        )
    return certificate
