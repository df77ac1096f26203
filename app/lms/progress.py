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

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from app.accounts import audit, auth
from app.accounts.auth import Principal
from app.accounts.models import Role, User
from app.core import rawsql
from app.core.db import UTCDateTime, utcnow
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


# The hot path's statements run on the DBAPI cursor (app/core/rawsql.py): through SQLAlchemy's
# execution path each cost several times the query itself.
_TIME = UTCDateTime()
# The caller's row (a bearer token is checked with it, auth.check_caller), the lesson, its
# course and the learner's enrolment in one statement, with the enrolment's row lock on
# PostgreSQL (on SQLite the writer already holds the database's write lock): events of one
# learner in one course are applied one at a time, so the completion count never misses a
# lesson completed concurrently.
_LESSON_SQL = f"""SELECT {auth.CALLER_COLUMNS},
        l.kind, l.completion_threshold, l.content_version_id, l.required, m.course_id,
        e.id, e.status, e.progress_percent, e.completed_at
    FROM accounts_user u
    JOIN lms_lesson l ON l.id = :lesson_id
    JOIN lms_module m ON m.id = l.module_id
    JOIN lms_enrollment e ON e.course_id = m.course_id AND e.user_id = u.id
    WHERE u.id = :user_id"""
_LESSON = rawsql.Query(
    _LESSON_SQL,
    results=(*auth.CALLER_TYPES, None, None, None, None, None, None, None, None, _TIME),
    variants={"postgresql": _LESSON_SQL + " FOR UPDATE OF e"},
)
_LESSON_EXISTS = rawsql.Query("SELECT 1 FROM lms_lesson WHERE id = :lesson_id")
_EVENT_SQL = """INSERT INTO lms_progress_event (event_id, user_id, lesson_id, received_at)
    VALUES (:event_id, :user_id, :lesson_id, :now)
    ON CONFLICT DO NOTHING RETURNING 1"""
_PROGRESS_COLUMNS = "p.id, p.status, p.percent, p.position_seconds, p.seconds_spent"
_PROGRESS_SQL = f"""SELECT {_PROGRESS_COLUMNS}
    FROM lms_lesson_progress p WHERE p.user_id = :user_id AND p.lesson_id = :lesson_id"""
_EVENT = rawsql.Query(_EVENT_SQL, binds={"now": _TIME})
_PROGRESS_ROW = rawsql.Query(_PROGRESS_SQL)
# PostgreSQL: the event and the learner's progress row in one round trip (SQLite, in process,
# has no round trip to save, nor INSERT in WITH). One row always: whether the event is new,
# then the progress row's columns (NULL when there is none yet). It runs after the enrolment's
# row lock, so it reads what the learner's previous event committed.
_EVENT_AND_PROGRESS = rawsql.Query(
    f"""WITH event AS ({_EVENT_SQL})
    SELECT (SELECT count(*) FROM event), {_PROGRESS_COLUMNS}
    FROM (SELECT 1) AS one
    LEFT JOIN lms_lesson_progress p ON p.user_id = :user_id AND p.lesson_id = :lesson_id""",
    binds={"now": _TIME},
)
_NEW_PROGRESS_ROW = rawsql.Query(
    """INSERT INTO lms_lesson_progress (user_id, lesson_id, content_version_id, status,
        percent, position_seconds, seconds_spent, updated_at)
    VALUES (:user_id, :lesson_id, :version_id, 'not_started', 0, 0.0, 0.0, :now)
    ON CONFLICT (user_id, lesson_id) DO NOTHING
    RETURNING id, status, percent, position_seconds, seconds_spent""",
    binds={"now": _TIME},
)
# completed_at and the version are written only by the event that completes the lesson (NULL
# means "keep"): the evidence keeps the version the learner saw when they completed it.
_UPDATE_PROGRESS_SQL = """UPDATE lms_lesson_progress SET percent = :percent, status = :status,
        position_seconds = :position_seconds, seconds_spent = :seconds_spent,
        updated_at = :now, completed_at = COALESCE(:completed_at, completed_at),
        content_version_id = COALESCE(:version_id, content_version_id)
    WHERE id = :progress_id"""
_UPDATE_PROGRESS = rawsql.Query(_UPDATE_PROGRESS_SQL, binds={"now": _TIME, "completed_at": _TIME})
# The course percent from the required lessons (as service.completion_counts and
# service.percent: 100 when nothing is required, else rounded down), and the course completed
# once (ADR 0006), in the statement that records the activity: completed_at is set only while
# it is NULL, so the event whose statement set it (it returns this event's time) is the one.
# It runs before the lesson's own row is updated (on PostgreSQL in the same statement, whose
# parts all read the rows as they were before it), so the count reads the lesson's previous
# state and ``newly_done`` adds the lesson this event completes (1 for a required one, else 0).
_UPDATE_ENROLLMENT_SQL = """UPDATE lms_enrollment SET
        progress_percent = CASE WHEN c.required = 0 THEN 100
            ELSE (c.done * 100) / c.required END,
        last_activity_at = :now,
        completed_at = CASE
            WHEN c.required > 0 AND c.done >= c.required AND lms_enrollment.completed_at IS NULL
            THEN :now ELSE lms_enrollment.completed_at END,
        status = CASE
            WHEN c.required > 0 AND c.done >= c.required AND lms_enrollment.completed_at IS NULL
            THEN 'completed' ELSE lms_enrollment.status END
    FROM (
        SELECT count(l.id) AS required, count(p.id) + :newly_done AS done
        FROM lms_lesson l
        JOIN lms_module m ON m.id = l.module_id
        LEFT JOIN lms_lesson_progress p
            ON p.lesson_id = l.id AND p.user_id = :user_id AND p.status = 'completed'
        WHERE m.course_id = :course_id AND l.required
    ) AS c
    WHERE lms_enrollment.id = :id
    RETURNING lms_enrollment.progress_percent, lms_enrollment.completed_at"""
# PostgreSQL: the lesson's row and the enrolment's in one round trip; SQLite: the enrolment's
# only (_UPDATE_PROGRESS follows).
_UPDATE_ENROLLMENT = rawsql.Query(
    _UPDATE_ENROLLMENT_SQL,
    binds={"now": _TIME, "completed_at": _TIME},
    results=(None, _TIME),
    variants={"postgresql": f"WITH lesson AS ({_UPDATE_PROGRESS_SQL}) {_UPDATE_ENROLLMENT_SQL}"},
)
_MERGED = "postgresql"  # the dialect whose statements above are merged
# Exactly one certificate per learner and course: the unique key decides between racers.
_CERTIFICATE = rawsql.Query(
    """INSERT INTO lms_certificate (code, user_id, course_id, issued_at)
    VALUES (:code, :user_id, :course_id, :now)
    ON CONFLICT (user_id, course_id) DO NOTHING""",
    binds={"now": _TIME},
)


def record_progress(
    session: Session,
    actor: Principal | auth.Claims,
    lesson_id: int,
    *,
    event_id: str,
    status: str | None = None,
    percent: int | None = None,
    position_seconds: float | None = None,
    seconds_spent: float | None = None,
) -> ProgressResult:
    """Apply one progress event of ``actor``: a user, or the verified claims of a bearer token
    (whose user is checked here, 401, before anything else). The hottest write of the LMS
    (every few seconds per learner watching a video): plain statements on the session's
    connection, no entities; five of them on SQLite, three on PostgreSQL where pairs are merged
    to save round trips (one more for a learner's first event on a lesson)."""
    token = actor if isinstance(actor, auth.Claims) else None
    user_id = actor.user_id if isinstance(actor, auth.Claims) else actor.id
    found = rawsql.first(session, _LESSON, lesson_id=lesson_id, user_id=user_id)
    if found is None:
        if token is not None:
            auth.caller_from_claims(session, token)
        if rawsql.first(session, _LESSON_EXISTS, lesson_id=lesson_id) is None:
            raise NotFound(_("Lesson {id} does not exist.").format(id=lesson_id))
        raise PermissionDenied(_("Enrol in this course first."))
    if token is not None:
        auth.check_caller(token, found[:4])
    kind, threshold, version_id, required, course_id, enrollment_id, enrollment_status = found[4:11]
    course_percent, course_completed_at = found[11:]
    if enrollment_status == EnrollmentStatus.withdrawn:
        raise PermissionDenied(_("Enrol in this course first."))
    if percent is not None and not 0 <= percent <= 100:
        raise InvalidInput(_("percent must be between 0 and 100."))
    if (seconds_spent is not None and not 0 <= seconds_spent <= MAX_SECONDS_PER_EVENT) or (
        position_seconds is not None and position_seconds < 0
    ):
        raise InvalidInput(_("Times cannot be negative or longer than six hours per event."))
    if status not in (None, ProgressStatus.in_progress, ProgressStatus.completed):
        raise InvalidInput(_("status must be 'in_progress' or 'completed'."))
    if status == ProgressStatus.completed and kind != LessonKind.content:
        raise InvalidInput(_("Quiz and event lessons are completed by passing or attending."))
    now = utcnow()
    ids = {"user_id": user_id, "lesson_id": lesson_id}
    merged = session.get_bind().dialect.name == _MERGED
    if merged:
        both = rawsql.first(session, _EVENT_AND_PROGRESS, event_id=event_id, now=now, **ids)
        assert both is not None
        fresh, row = both[0] > 0, (both[1:] if both[1] is not None else None)
    else:
        fresh = rawsql.first(session, _EVENT, event_id=event_id, now=now, **ids) is not None
        row = rawsql.first(session, _PROGRESS_ROW, **ids)
    if row is None:
        row = rawsql.first(session, _NEW_PROGRESS_ROW, version_id=version_id, now=now, **ids)
        if row is None:  # inserted by a concurrent event after all
            row = rawsql.first(session, _PROGRESS_ROW, **ids)
    assert row is not None
    progress_id, old_status, old_percent, old_position, old_seconds = row
    if not fresh:  # a replay: report, change nothing
        return ProgressResult(
            old_status,
            old_percent,
            old_position,
            course_percent,
            course_completed_at is not None,
            replayed=True,
        )
    new_percent = old_percent if percent is None else max(old_percent, percent)
    new_position = old_position if position_seconds is None else position_seconds
    new_status = (
        ProgressStatus.in_progress.value if old_status == ProgressStatus.not_started else old_status
    )
    completed_at, completed_version = None, None  # unchanged unless this event completes it
    done = status == ProgressStatus.completed or (
        kind == LessonKind.content and new_percent >= threshold
    )
    newly_done = 0
    if done and old_status != ProgressStatus.completed:
        new_status = ProgressStatus.completed.value
        if kind == LessonKind.content:
            new_percent = max(new_percent, threshold)
        completed_at, completed_version = now, version_id
        newly_done = 1 if required else 0
    lesson_values = {
        "progress_id": progress_id,
        "percent": new_percent,
        "status": new_status,
        "position_seconds": new_position,
        "seconds_spent": old_seconds + (seconds_spent or 0),
        "now": now,
        "completed_at": completed_at,
        "version_id": completed_version,
    }
    updated = rawsql.first(
        session,
        _UPDATE_ENROLLMENT,
        id=enrollment_id,
        user_id=user_id,
        course_id=course_id,
        newly_done=newly_done,
        **lesson_values,
    )
    assert updated is not None
    if not merged:
        rawsql.run(session, _UPDATE_PROGRESS, **lesson_values)
    course_percent, course_completed_at = updated
    if course_completed_at == now:  # completed by this very statement
        rawsql.run(
            session,
            _CERTIFICATE,
            code=new_certificate_code(),
            user_id=user_id,
            course_id=course_id,
            now=now,
        )
    # Objects of these rows the session may hold (a page that loaded them first) are stale.
    if session.identity_map:
        for model, key in ((Enrollment, enrollment_id), (LessonProgress, progress_id)):
            held = session.identity_map.get(identity_key(model, key))
            if held is not None:
                session.expire(held)
    return ProgressResult(
        new_status, new_percent, new_position, course_percent, course_completed_at is not None
    )


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


def my_certificates(
    session: Session, actor: User, *, limit: int | None = None, offset: int = 0
) -> list[Certificate]:
    """The actor's certificates, newest first; a page of them with ``limit`` (all without)."""
    query = (
        select(Certificate)
        .where(Certificate.user_id == actor.id)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return list(session.scalars(query))


def count_my_certificates(session: Session, actor: User) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Certificate).where(Certificate.user_id == actor.id)
        )
        or 0
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
