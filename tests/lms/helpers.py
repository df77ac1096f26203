"""Building blocks for learning tests: published library items and ready-made courses."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.storage import BlobStore, new_temp_file
from app.lcms import service as lcms
from app.lcms.models import ContentItem, ContentVersion
from app.lms import service
from app.lms.models import Course, Lesson, LessonProgress
from tests.factories import make_org, make_user
from tests.lcms import samples


def store_bytes(store: BlobStore, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    fh, path = new_temp_file(store)
    with fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    store.put(sha, path)
    return sha


def published_item(
    db: Session,
    store: BlobStore,
    author: User,
    *,
    title: str = "Video Nghị quyết 57",
    data: bytes | None = None,
    kind: str = "video",
    media_type: str = "video/mp4",
    publish: bool = True,
) -> ContentItem:
    data = data or samples.mp4(8192)
    item = lcms.create_item(db, author, title=title, kind=kind)
    sha = store_bytes(store, data)
    lcms.add_version(
        db,
        author,
        item.id,
        sha256=sha,
        size=len(data),
        media_type=media_type,
        filename="bai-giang.mp4",
    )
    if publish:
        lcms.publish(db, author, item.id, version=1)
    return item


def publish_newer_version(
    db: Session,
    store: BlobStore,
    author: User,
    item: ContentItem,
    *,
    size: int = 9000,
    filename: str = "v2.mp4",
) -> ContentVersion:
    """The library moves on: a new MP4 version of ``item`` (of ``size`` bytes, so its content
    differs from the first), published."""
    data = samples.mp4(size)
    version = lcms.add_version(
        db,
        author,
        item.id,
        sha256=store_bytes(store, data),
        size=len(data),
        media_type="video/mp4",
        filename=filename,
    )
    lcms.publish(db, author, item.id, version=version.number)
    return version


@dataclass
class World:
    school: Organization
    other_school: Organization
    admin: User
    author: User
    manager: User
    teacher: User
    student: User
    outsider: User  # a teacher of the other school
    course: Course
    video: Lesson
    doc: Lesson
    quiz: Lesson
    item: ContentItem


def build_world(
    db: Session, settings: Settings, store: BlobStore, *, publish: bool = True
) -> World:
    commune = make_org(db, kind="commune")
    school = make_org(db, parent=commune, name="Trường Tiểu học Tân Cương")
    other = make_org(db, parent=commune, name="Trường THCS Tân Cương")
    admin = make_user(db, settings, role="admin", organization=commune)
    author = make_user(db, settings, role="author", organization=commune)
    item = published_item(db, store, author)
    pdf = published_item(
        db,
        store,
        author,
        title="Sổ tay",
        data=samples.pdf(),
        kind="document",
        media_type="application/pdf",
    )
    course = service.create_course(
        db,
        author,
        title="Chuyển đổi số cho giáo viên",
        levels=["primary"],
        topics=["CĐS"],
        roles=["teacher"],
    )
    module = service.add_module(db, author, course.id, title="Học phần 1")
    video = service.add_lesson(
        db, author, module.id, title="Xem video", kind="content", content_id=item.id
    )
    doc = service.add_lesson(
        db,
        author,
        module.id,
        title="Đọc sổ tay",
        kind="content",
        content_id=pdf.id,
        completion_threshold=50,
    )
    quiz_lesson = service.add_lesson(
        db, author, module.id, title="Kiểm tra", kind="quiz", pass_score=50, max_attempts=2
    )
    from app.lms import quiz

    quiz.add_question(
        db,
        author,
        quiz_lesson.id,
        text="Nghị quyết 57 nói về gì?",
        kind="single",
        choices=[("Khoa học, công nghệ, đổi mới sáng tạo", True), ("Nông nghiệp", False)],
    )
    quiz.add_question(
        db,
        author,
        quiz_lesson.id,
        text="Viết tắt của chuyển đổi số?",
        kind="short",
        answer="CĐS|chuyen doi so",
    )
    if publish:
        service.publish_course(db, author, course.id)
    return World(
        school=school,
        other_school=other,
        admin=admin,
        author=author,
        manager=make_user(db, settings, role="school_manager", organization=school),
        teacher=make_user(db, settings, role="teacher", organization=school),
        student=make_user(db, settings, role="student", organization=school),
        outsider=make_user(db, settings, role="teacher", organization=other),
        course=course,
        video=video,
        doc=doc,
        quiz=quiz_lesson,
        item=item,
    )


def lesson_status(db: Session, user: User, lesson: Lesson) -> str | None:
    """The learner's status on the lesson as stored (None: no progress row)."""
    return db.scalar(
        select(LessonProgress.status).where(
            LessonProgress.user_id == user.id, LessonProgress.lesson_id == lesson.id
        )
    )
