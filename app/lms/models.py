"""Tables of the learning package."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User
from app.core.db import Base, UTCDateTime, one_of, utcnow


class CourseStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class LessonKind(enum.StrEnum):
    content = "content"
    quiz = "quiz"
    event = "event"


class EnrollmentSource(enum.StrEnum):
    self_ = "self"
    assigned = "assigned"
    import_ = "import"


class EnrollmentStatus(enum.StrEnum):
    active = "active"
    completed = "completed"
    withdrawn = "withdrawn"


class ProgressStatus(enum.StrEnum):
    not_started = "not_started"
    in_progress = "in_progress"
    completed = "completed"


class QuestionKind(enum.StrEnum):
    single = "single"
    multiple = "multiple"
    true_false = "true_false"
    short = "short"


class ReviewPolicy(enum.StrEnum):
    """What a learner sees after submitting a quiz."""

    none = "none"  # nothing but the score
    score = "score"  # the score and which questions were right
    answers = "answers"  # also the correct answers


class Course(Base):
    __tablename__ = "lms_course"
    __table_args__ = (
        CheckConstraint(one_of("status", CourseStatus), name="status"),
        CheckConstraint(one_of("review_policy", ReviewPolicy), name="review_policy"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=CourseStatus.draft.value)
    # A library image item used as the cover (by id: lms refers to lcms only by ids).
    cover_content_id: Mapped[int | None] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="SET NULL")
    )
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id"), index=True)
    enroll_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enroll_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_policy: Mapped[str] = mapped_column(String(10), default=ReviewPolicy.answers.value)
    search_title: Mapped[str] = mapped_column(String(300), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")
    labels: Mapped[list[CourseLabel]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="CourseLabel.id"
    )

    def values(self, kind: str) -> list[str]:
        return [label.value for label in self.labels if label.kind == kind]


class CourseLabel(Base):
    """A level, topic or audience role of a course."""

    __tablename__ = "lms_course_label"
    __table_args__ = (
        UniqueConstraint("course_id", "kind", "value"),
        CheckConstraint("kind IN ('level', 'topic', 'role')", name="kind"),
        Index("ix_lms_course_label_lookup", "kind", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(
        ForeignKey("lms_course.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(60))


class Module(Base):
    __tablename__ = "lms_module"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(
        ForeignKey("lms_course.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(default=0)


class Lesson(Base):
    __tablename__ = "lms_lesson"
    __table_args__ = (
        CheckConstraint(one_of("kind", LessonKind), name="kind"),
        CheckConstraint(
            "(kind = 'content') = (content_version_id IS NOT NULL)", name="content_pinned"
        ),
        CheckConstraint("completion_threshold BETWEEN 1 AND 100", name="threshold"),
        CheckConstraint("pass_score BETWEEN 0 AND 100", name="pass_score"),
        CheckConstraint("max_attempts IS NULL OR max_attempts >= 1", name="max_attempts"),
        CheckConstraint(
            "time_limit_seconds IS NULL OR time_limit_seconds >= 10", name="time_limit"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    module_id: Mapped[int] = mapped_column(
        ForeignKey("lms_module.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(default=0)
    required: Mapped[bool] = mapped_column(default=True)
    # The exact content version this lesson shows: pinned, changed only by the author.
    content_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("lcms_content_item.id", ondelete="RESTRICT")
    )
    content_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("lcms_content_version.id", ondelete="RESTRICT")
    )
    completion_threshold: Mapped[int] = mapped_column(default=90)
    pass_score: Mapped[int] = mapped_column(default=70)
    max_attempts: Mapped[int | None]
    time_limit_seconds: Mapped[int | None]
    shuffle: Mapped[bool] = mapped_column(default=True)


class Enrollment(Base):
    __tablename__ = "lms_enrollment"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id"),
        CheckConstraint(one_of("status", EnrollmentStatus), name="status"),
        CheckConstraint("source IN ('self', 'assigned', 'import')", name="source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("lms_course.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=EnrollmentStatus.active.value)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts_user.id"))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress_percent: Mapped[int] = mapped_column(default=0)


class LessonProgress(Base):
    __tablename__ = "lms_lesson_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "lesson_id"),
        CheckConstraint(one_of("status", ProgressStatus), name="status"),
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent"),
        CheckConstraint("seconds_spent >= 0 AND position_seconds >= 0", name="non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lms_lesson.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default=ProgressStatus.not_started.value)
    percent: Mapped[int] = mapped_column(default=0)
    position_seconds: Mapped[float] = mapped_column(default=0.0)
    seconds_spent: Mapped[float] = mapped_column(default=0.0)
    # The content version the learner saw (their evidence keeps it even after updates).
    content_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("lcms_content_version.id", ondelete="RESTRICT")
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProgressEvent(Base):
    """Seen client event ids: a replayed event changes nothing."""

    __tablename__ = "lms_progress_event"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts_user.id", ondelete="CASCADE"))
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lms_lesson.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Question(Base):
    __tablename__ = "lms_question"
    __table_args__ = (
        CheckConstraint(one_of("kind", QuestionKind), name="kind"),
        CheckConstraint("points >= 0", name="points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lms_lesson.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    points: Mapped[int] = mapped_column(default=1)
    position: Mapped[int] = mapped_column(default=0)
    # Short answers: the accepted answers ("|"-separated) and whether accents/case are ignored.
    answer: Mapped[str | None] = mapped_column(String(500))
    ignore_accents: Mapped[bool] = mapped_column(default=True)

    choices: Mapped[list[Choice]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="Choice.position"
    )


class Choice(Base):
    __tablename__ = "lms_choice"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(
        ForeignKey("lms_question.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(String(1000))
    correct: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


class Attempt(Base):
    __tablename__ = "lms_attempt"
    __table_args__ = (UniqueConstraint("user_id", "lesson_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    lesson_id: Mapped[int] = mapped_column(
        ForeignKey("lms_lesson.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    # The question (and choice) order this learner was shown.
    layout: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    score: Mapped[int | None]
    max_score: Mapped[int | None]
    passed: Mapped[bool | None]


class Certificate(Base):
    __tablename__ = "lms_certificate"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts_user.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("lms_course.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(500))

    user: Mapped[User] = relationship(lazy="joined")
    course: Mapped[Course] = relationship(lazy="joined")
