"""Pydantic shapes of the learning API (field names fixed by DESIGN.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import UUID4, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.accounts.models import Role, SchoolLevel
from app.accounts.schemas import LineErrorOut
from app.lms.models import (
    CourseStatus,
    EnrollmentStatus,
    LessonKind,
    ProgressStatus,
    QuestionKind,
    ReviewPolicy,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CourseIn(Strict):
    title: Title
    description: Annotated[str, Field(max_length=10_000)] = ""
    levels: Annotated[list[SchoolLevel], Field(max_length=3)] = []
    topics: Annotated[list[Label], Field(max_length=20)] = []
    roles: Annotated[list[Role], Field(max_length=5)] = []
    cover_content_id: int | None = None
    enroll_opens_at: AwareDatetime | None = None
    enroll_closes_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    review_policy: ReviewPolicy = ReviewPolicy.answers


class CourseUpdate(Strict):
    title: Title | None = None
    description: Annotated[str | None, Field(max_length=10_000)] = None
    levels: Annotated[list[SchoolLevel] | None, Field(max_length=3)] = None
    topics: Annotated[list[Label] | None, Field(max_length=20)] = None
    roles: Annotated[list[Role] | None, Field(max_length=5)] = None
    enroll_opens_at: AwareDatetime | None = None
    enroll_closes_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None


class CourseSummary(BaseModel):
    id: int
    uuid: str
    title: str
    description: str
    status: CourseStatus
    levels: list[str]
    topics: list[str]
    roles: list[str]
    owner_id: int
    due_at: datetime | None
    enroll_opens_at: datetime | None
    enroll_closes_at: datetime | None
    updated_at: datetime


class CoursePage(BaseModel):
    items: list[CourseSummary]
    total: int


class LessonProgressOut(BaseModel):
    status: ProgressStatus
    percent: int
    position_seconds: float
    seconds_spent: float
    completed_at: datetime | None
    content_version: int | None


class LessonOut(BaseModel):
    id: int
    title: str
    kind: LessonKind
    content_id: int | None
    content_version: int | None
    content_title: str | None
    media_type: str | None
    size: int | None
    required: bool
    pass_score: int
    completion_threshold: int
    max_attempts: int | None
    time_limit_seconds: int | None
    update_available: bool
    progress: LessonProgressOut | None


class ModuleOut(BaseModel):
    id: int
    title: str
    position: int
    lessons: list[LessonOut]


class EnrollmentOut(BaseModel):
    course_id: int
    title: str
    status: EnrollmentStatus
    progress_percent: int
    enrolled_at: datetime
    completed_at: datetime | None
    due_at: datetime | None
    overdue: bool


class CourseOut(CourseSummary):
    modules: list[ModuleOut]
    enrollment: EnrollmentOut | None


class ModuleIn(Strict):
    title: Title


class LessonIn(Strict):
    title: Title
    kind: LessonKind
    content_id: int | None = None
    content_version: Annotated[int | None, Field(ge=1)] = None
    required: bool = True
    pass_score: Annotated[int, Field(ge=0, le=100)] = 70
    completion_threshold: Annotated[int, Field(ge=1, le=100)] = 90
    max_attempts: Annotated[int | None, Field(ge=1, le=100)] = None
    time_limit_seconds: Annotated[int | None, Field(ge=10, le=24 * 3600)] = None
    shuffle: bool = True


class OrderIn(Strict):
    ids: Annotated[list[int], Field(min_length=1, max_length=1000)]


class EnrollmentsIn(Strict):
    user_ids: Annotated[list[int] | None, Field(max_length=5000)] = None
    organization_id: int | None = None
    role: Role | None = None
    due_at: AwareDatetime | None = None


class AssignOut(BaseModel):
    enrolled: int
    already: int


class EnrollImportOut(BaseModel):
    enrolled: int
    already: int
    errors: list[LineErrorOut]


class EnrollOut(BaseModel):
    enrolled: bool
    already: bool
    enrollment: EnrollmentOut


class EnrollmentPage(BaseModel):
    items: list[EnrollmentOut]
    total: int


class LearnerOut(BaseModel):
    user_id: int
    full_name: str
    email: str
    organization_id: int
    status: EnrollmentStatus
    progress_percent: int
    enrolled_at: datetime
    last_activity_at: datetime | None
    completed_at: datetime | None
    due_at: datetime | None


class LearnerPage(BaseModel):
    items: list[LearnerOut]
    total: int


class ProgressIn(Strict):
    event_id: UUID4
    status: ProgressStatus | None = None
    percent: Annotated[int | None, Field(ge=0, le=100)] = None
    position_seconds: Annotated[float | None, Field(ge=0, le=24 * 3600)] = None
    seconds_spent: Annotated[float | None, Field(ge=0, le=6 * 3600)] = None


class ProgressOut(BaseModel):
    lesson_status: ProgressStatus
    lesson_percent: int
    position_seconds: float
    course_progress_percent: int
    course_completed: bool
    replayed: bool


class ChoiceIn(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    correct: bool = False


class QuestionIn(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    kind: QuestionKind
    choices: Annotated[list[ChoiceIn], Field(max_length=12)] = []
    answer: Annotated[str | None, Field(max_length=500)] = None
    points: Annotated[int, Field(ge=0, le=100)] = 1
    ignore_accents: bool = True


class QuestionCreated(BaseModel):
    id: int
    kind: QuestionKind
    text: str
    points: int
    choices: list[ChoiceCreated]


class ChoiceCreated(BaseModel):
    id: int
    text: str
    correct: bool


class ChoiceShown(BaseModel):
    id: int
    text: str


class QuestionShown(BaseModel):
    id: int
    kind: QuestionKind
    text: str
    points: int
    choices: list[ChoiceShown]


class AttemptOut(BaseModel):
    id: int
    number: int
    lesson_id: int
    started_at: datetime
    deadline_at: datetime | None
    seconds_left: int | None
    submitted_at: datetime | None
    answers: dict[str, list[int] | str]
    questions: list[QuestionShown]


Answer = list[int] | str


class AnswersIn(Strict):
    answers: Annotated[dict[str, Answer], Field(max_length=500)] = {}


class ReviewOut(BaseModel):
    question_id: int
    correct: bool
    points: int
    correct_choice_ids: list[int] | None
    accepted_answer: str | None


class SubmitOut(BaseModel):
    score: int
    max_score: int
    passed: bool
    percent: int
    late: bool
    review: list[ReviewOut] | None


class CertificateOut(BaseModel):
    code: str
    course_id: int
    course_title: str
    issued_at: datetime
    revoked: bool
    verify_url: str


class CertificatePage(BaseModel):
    items: list[CertificateOut]
    total: int


class CertificatePublic(BaseModel):
    code: str
    valid: bool
    revoked: bool
    revoked_at: datetime | None
    learner: str
    course_title: str
    school: str | None  # None for a learner on a commune's (or the province's) own staff
    commune: str | None
    issued_at: datetime


class RevokeIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


QuestionCreated.model_rebuild()
