"""The course as one learner sees it (``GET /api/v1/courses/{id}``), built for the hot path.

Every learner opens the course page often and on slow phones, so this is the most requested
document of the LMS. It has three parts with different lifetimes:

- the *outline* — the course's fields, labels, modules and lessons — changes only when an
  author edits the course, and every such edit moves ``Course.updated_at``. It is built once
  per course revision from ORM entities, serialised to plain dicts and kept in a small
  process-wide cache keyed by ``(course id, uuid, updated_at)``; each request checks the key
  against the database, so a cached outline is never stale, whichever worker edited it;
- the *pins* — which content version each lesson shows, its item's title and whether a newer
  version was published — change when the library moves on, without touching the course: one
  plain-column query per request;
- the learner's enrolment and lesson progress: plain-column queries per request.

Statements per request: the course row with the caller's enrolment, the pins, the progress
(and, on a cache miss, four more to build the outline) — constant whatever the lesson count.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.db import utcnow
from app.core.errors import NotFound
from app.core.i18n import gettext as _
from app.lcms import service as lcms
from app.lms import policy, service
from app.lms.models import Course, CourseStatus, Enrollment, Lesson, Module
from app.lms.models import LessonProgress as Progress

CACHE_SIZE = 256  # courses; an outline of 100 lessons is ~60 KB of dicts


@dataclass(frozen=True)
class Outline:
    """The learner-independent part of the course document, as JSON-ready dicts."""

    summary: dict[str, Any]
    modules: list[tuple[dict[str, Any], list[dict[str, Any]]]]  # module, its lessons
    version_ids: list[int]
    required: frozenset[int]  # ids of the required lessons


_cache: OrderedDict[tuple[int, str, datetime], Outline] = OrderedDict()
_lock = threading.Lock()


def _build_outline(session: Session, course_id: int) -> Outline:
    course = service.get_course(session, course_id)
    plan = service.outline(session, course)
    summary = {
        "id": course.id,
        "uuid": course.uuid,
        "title": course.title,
        "description": course.description,
        "status": course.status,
        "levels": course.values("level"),
        "topics": course.values("topic"),
        "roles": course.values("role"),
        "owner_id": course.owner_id,
        "due_at": course.due_at,
        "enroll_opens_at": course.enroll_opens_at,
        "enroll_closes_at": course.enroll_closes_at,
        "updated_at": course.updated_at,
    }
    modules = []
    version_ids: list[int] = []
    required: set[int] = set()
    for module in plan.modules:
        for lesson in plan.lessons[module.id]:
            if lesson.content_version_id is not None:
                version_ids.append(lesson.content_version_id)
            if lesson.required:
                required.add(lesson.id)
        lessons = [
            {
                "id": lesson.id,
                "title": lesson.title,
                "kind": lesson.kind,
                "content_id": lesson.content_item_id,
                "content_version_id": lesson.content_version_id,
                "required": lesson.required,
                "pass_score": lesson.pass_score,
                "completion_threshold": lesson.completion_threshold,
                "max_attempts": lesson.max_attempts,
                "time_limit_seconds": lesson.time_limit_seconds,
            }
            for lesson in plan.lessons[module.id]
        ]
        modules.append(
            ({"id": module.id, "title": module.title, "position": module.position}, lessons)
        )
    return Outline(
        summary=summary,
        modules=modules,
        version_ids=version_ids,
        required=frozenset(required),
    )


def cached_outline(session: Session, course_id: int, uuid: str, updated_at: datetime) -> Outline:
    key = (course_id, uuid, updated_at)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    outline = _build_outline(session, course_id)
    if outline.summary["updated_at"] != updated_at:
        return outline  # edited in between: correct for this request, not worth keeping
    with _lock:
        _cache[key] = outline
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return outline


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _enrollment_doc(row: Any, course_id: int, title: str) -> dict[str, Any]:
    overdue = row.completed_at is None and row.due_at is not None and row.due_at < utcnow()
    return {
        "course_id": course_id,
        "title": title,
        "status": row.enrollment_status,
        "progress_percent": row.progress_percent,
        "enrolled_at": row.enrolled_at,
        "completed_at": row.completed_at,
        "due_at": row.due_at,
        "overdue": overdue,
    }


# The per-request statements are built once (building a statement and its cache key costs
# more than running it on this path).
_HEAD = (
    select(
        Course.uuid,
        Course.status,
        Course.updated_at,
        Enrollment.status.label("enrollment_status"),
        Enrollment.progress_percent,
        Enrollment.enrolled_at,
        Enrollment.completed_at,
        Enrollment.due_at,
    )
    .outerjoin(
        Enrollment,
        and_(Enrollment.course_id == Course.id, Enrollment.user_id == bindparam("user_id")),
    )
    .where(Course.id == bindparam("course_id"))
)
_PROGRESS = (
    select(
        Progress.lesson_id,
        Progress.status,
        Progress.percent,
        Progress.position_seconds,
        Progress.seconds_spent,
        Progress.completed_at,
        Progress.content_version_id,
    )
    .join(Lesson, Lesson.id == Progress.lesson_id)
    .join(Module, Module.id == Lesson.module_id)
    .where(Progress.user_id == bindparam("user_id"), Module.course_id == bindparam("course_id"))
)


def course_document(session: Session, viewer: User, course_id: int) -> dict[str, Any]:
    """The ``CourseOut`` document for ``viewer``, as plain data ready for JSON."""
    head = session.execute(_HEAD, {"course_id": course_id, "user_id": viewer.id}).first()
    if head is None:
        raise NotFound(_("Course {id} does not exist.").format(id=course_id))
    enrolled = head.enrollment_status is not None
    # As policy.check_visible: authors, anyone for a published course, and its learners
    # (even withdrawn ones) once it is archived.
    if not (policy.is_author(viewer) or enrolled or head.status == CourseStatus.published):
        raise NotFound(_("Course {id} does not exist.").format(id=course_id))
    outline = cached_outline(session, course_id, head.uuid, head.updated_at)
    pins = lcms.pinned_versions(session, outline.version_ids)
    progress: dict[int, Any] = {}
    if enrolled:
        params = {"course_id": course_id, "user_id": viewer.id}
        progress = {row.lesson_id: row for row in session.execute(_PROGRESS, params)}
    numbers = {vid: pin.number for vid, pin in pins.items()}
    # Versions learners completed before the author applied an update: one more query at most.
    unseen = {r.content_version_id for r in progress.values()} - set(numbers) - {None}
    if unseen:
        numbers |= {vid: p.number for vid, p in lcms.pinned_versions(session, list(unseen)).items()}
    modules = []
    for module, lessons in outline.modules:
        out = []
        for static in lessons:
            lesson = dict(static)
            pin = pins.get(lesson.pop("content_version_id") or 0)
            lesson["content_version"] = pin.number if pin else None
            lesson["content_title"] = pin.item_title if pin else None
            lesson["media_type"] = pin.media_type if pin else None
            lesson["size"] = pin.size if pin else None
            lesson["update_available"] = bool(
                pin and pin.published_number is not None and pin.published_number != pin.number
            )
            record = progress.get(lesson["id"])
            lesson["progress"] = (
                {
                    "status": record.status,
                    "percent": record.percent,
                    "position_seconds": record.position_seconds,
                    "seconds_spent": record.seconds_spent,
                    "completed_at": record.completed_at,
                    "content_version": numbers.get(record.content_version_id or 0),
                }
                if record
                else None
            )
            out.append(lesson)
        modules.append({**module, "lessons": out})
    summary = outline.summary
    return {
        **summary,
        "modules": modules,
        "enrollment": _enrollment_doc(head, course_id, summary["title"]) if enrolled else None,
    }
