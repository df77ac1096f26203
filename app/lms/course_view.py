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
  query per request; the lessons with their pins' fields are rebuilt only when its rows change;
- the learner's enrolment and lesson progress: queries per request.

The per-request statements run on the DBAPI cursor (``app.core.rawsql``, ADR 0013): the
caller's row (a bearer token is checked with it) with the course's row, the caller's enrolment
and lesson progress; then the pins (and, on a cache miss, four more through the ORM to build
the outline) — constant whatever the lesson count.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.accounts import auth
from app.accounts.auth import Principal
from app.core import rawsql
from app.core.db import UTCDateTime, utcnow
from app.core.errors import NotFound
from app.core.i18n import gettext as _
from app.lms import policy, service
from app.lms.models import CourseStatus

CACHE_SIZE = 256  # courses; 100 lessons take ~100 KB of dicts (outline and pinned lessons)


Modules = list[tuple[dict[str, Any], list[dict[str, Any]]]]  # each module with its lessons


@dataclass(frozen=True)
class Outline:
    """The learner-independent part of the course document, as JSON-ready dicts."""

    summary: dict[str, Any]
    modules: Modules
    version_ids: list[int]
    required: frozenset[int]  # ids of the required lessons
    # The lessons with their pins' fields, for the last pins seen (the same for every learner
    # until the library moves on), keyed by those pins' rows.
    pinned: dict[tuple[rawsql.Row, ...], Modules] = field(default_factory=dict, compare=False)


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


def _enrollment_doc(
    course_id: int,
    title: str,
    status: str,
    percent: int,
    enrolled_at: datetime,
    completed_at: datetime | None,
    due_at: datetime | None,
) -> dict[str, Any]:
    return {
        "course_id": course_id,
        "title": title,
        "status": status,
        "progress_percent": percent,
        "enrolled_at": enrolled_at,
        "completed_at": completed_at,
        "due_at": due_at,
        "overdue": completed_at is None and due_at is not None and due_at < utcnow(),
    }


# The per-request statements run on the DBAPI cursor (app/core/rawsql.py): through
# SQLAlchemy's execution path each cost several times the query itself. Two of them. First the
# caller's row (a bearer token is checked with it, auth.check_caller) with the course's and
# the caller's enrolment, then the caller's progress on the course's lessons (only when
# enrolled), in one statement: the first row is the head (its progress columns NULL), each
# other row one lesson's progress (its head columns NULL). Repeating the head beside every
# progress row, as a join would, cost more to read than the progress itself. Then the pins.
_TIME = UTCDateTime()
_NO_HEAD = ", ".join(["NULL"] * 12)
_NO_PROGRESS = ", ".join(["NULL"] * 7)
_HEAD = rawsql.Query(
    f"""SELECT {auth.CALLER_COLUMNS},
        c.uuid, c.status, c.updated_at,
        e.status, e.progress_percent, e.enrolled_at, e.completed_at, e.due_at,
        {_NO_PROGRESS}
    FROM accounts_user u
    LEFT JOIN lms_course c ON c.id = :course_id
    LEFT JOIN lms_enrollment e ON e.course_id = c.id AND e.user_id = u.id
    WHERE u.id = :user_id
    UNION ALL
    SELECT {_NO_HEAD},
        p.lesson_id, p.status, p.percent, p.position_seconds, p.seconds_spent, p.completed_at,
        p.content_version_id
    FROM lms_lesson_progress p
    JOIN lms_enrollment e ON e.user_id = p.user_id AND e.course_id = :course_id
    WHERE p.user_id = :user_id AND p.lesson_id IN (
        SELECT l.id FROM lms_lesson l JOIN lms_module m ON m.id = l.module_id
        WHERE m.course_id = :course_id
    )""",
    results=(
        *auth.CALLER_TYPES,
        *(None, None, _TIME),
        *(None, None, _TIME, _TIME, _TIME),
        *(None, None, None, None, None, _TIME, None),
    ),
)
_USER, _COURSE, _ENROLLMENT, _PROGRESS = slice(0, 4), slice(4, 7), slice(7, 12), slice(12, 19)
# As lcms.pinned_versions, the columns a course page shows. The ids are one parameter (a JSON
# array on SQLite, an array on PostgreSQL), so the text is the same whatever their number.
_PINS_SQL = """SELECT v.id, v.number, i.title, v.media_type, v.size, p.number
    FROM lcms_content_version v
    JOIN lcms_content_item i ON i.id = v.item_id
    LEFT JOIN lcms_content_version p ON p.id = i.published_version_id
    WHERE v.id {ids}
    ORDER BY v.id"""
_PINS = rawsql.Query(
    _PINS_SQL.format(ids="IN (SELECT value FROM json_each(:ids))"),
    variants={"postgresql": _PINS_SQL.format(ids="= ANY(CAST(:ids AS INTEGER[]))")},
)


def _pins(session: Session, version_ids: list[int]) -> list[rawsql.Row]:
    """(version id, number, item title, media type, size, published number) by version id."""
    if not version_ids:
        return []
    ids = sorted(set(version_ids))
    param: Any = ids if session.get_bind().dialect.name == "postgresql" else json.dumps(ids)
    return rawsql.rows(session, _PINS, ids=param)


def _pinned_modules(outline: Outline, pins: list[rawsql.Row]) -> Modules:
    """The outline's lessons with their pins' fields and no progress, built once per pins."""
    key = tuple(pins)
    found = outline.pinned.get(key)
    if found is not None:
        return found
    by_version = {row[0]: row for row in pins}
    modules: Modules = []
    for module, lessons in outline.modules:
        out = []
        for static in lessons:
            lesson = dict(static)
            pin = by_version.get(lesson.pop("content_version_id") or 0)
            if pin is None:
                lesson |= _NO_PIN
            else:
                _vid, number, title, media_type, size, published = pin
                lesson |= {
                    "content_version": number,
                    "content_title": title,
                    "media_type": media_type,
                    "size": size,
                    "update_available": published is not None and published != number,
                    "progress": None,
                }
            out.append(lesson)
        modules.append((module, out))
    outline.pinned.clear()  # the previous pins are gone for good
    outline.pinned[key] = modules
    return modules


def course_document(session: Session, viewer: Principal, course_id: int) -> dict[str, Any]:
    """The ``CourseOut`` document for ``viewer``, as plain data ready for JSON. Parts of it are
    shared with other requests' documents (cached): read it, never change it."""
    rows = rawsql.rows(session, _HEAD, course_id=course_id, user_id=viewer.id)
    return _document(session, viewer.role, course_id, _head(rows), rows)


def course_document_for_token(
    session: Session, claims: auth.Claims, course_id: int
) -> dict[str, Any]:
    """The same for the user of a verified bearer token, who is checked (401) before anything
    else, with the row read in the document's first statement."""
    rows = rawsql.rows(session, _HEAD, course_id=course_id, user_id=claims.user_id)
    head = _head(rows)
    caller = auth.check_caller(claims, head[_USER] if head is not None else None)
    return _document(session, caller.role, course_id, head, rows)


def _head(rows: list[rawsql.Row]) -> rawsql.Row | None:
    """The head row of _HEAD's rows (None when the user does not exist): the one without a
    lesson id (UNION ALL does not promise it comes first)."""
    first = _PROGRESS.start
    return next((row for row in rows if row[first] is None), None)


def _document(
    session: Session,
    role: str,
    course_id: int,
    head: rawsql.Row | None,
    rows: list[rawsql.Row],
) -> dict[str, Any]:
    if head is None or head[_COURSE][0] is None:
        raise NotFound(_("Course {id} does not exist.").format(id=course_id))
    uuid, status, updated_at = head[_COURSE]
    enrollment_status, *enrollment = head[_ENROLLMENT]
    enrolled = enrollment_status is not None
    # As policy.check_visible: authors, anyone for a published course, and its learners
    # (even withdrawn ones) once it is archived.
    if not (role in policy.AUTHOR_ROLES or enrolled or status == CourseStatus.published):
        raise NotFound(_("Course {id} does not exist.").format(id=course_id))
    outline = cached_outline(session, course_id, uuid, updated_at)
    pins = _pins(session, outline.version_ids)
    first = _PROGRESS.start  # the lesson id: None in the head row
    progress = {row[first]: row[_PROGRESS] for row in rows if row[first] is not None}
    numbers = {row[0]: row[1] for row in pins}
    # Versions learners completed before the author applied an update: one more query at most.
    unseen = {record[6] for record in progress.values()} - set(numbers) - {None}
    if unseen:
        numbers |= {row[0]: row[1] for row in _pins(session, list(unseen))}
    modules = []
    for module, lessons in _pinned_modules(outline, pins):
        out = []
        for lesson in lessons:
            record = progress.get(lesson["id"])
            if record is None:
                out.append(lesson)
                continue
            _lid, state, percent, position, spent, completed_at, version_id = record
            progress_doc = {
                "status": state,
                "percent": percent,
                "position_seconds": position,
                "seconds_spent": spent,
                "completed_at": completed_at,
                "content_version": numbers.get(version_id or 0),
            }
            out.append({**lesson, "progress": progress_doc})
        modules.append({**module, "lessons": out})
    summary = outline.summary
    return {
        **summary,
        "modules": modules,
        "enrollment": _enrollment_doc(course_id, summary["title"], enrollment_status, *enrollment)
        if enrolled
        else None,
    }


_NO_PIN = {
    "content_version": None,
    "content_title": None,
    "media_type": None,
    "size": None,
    "update_available": False,
    "progress": None,
}
