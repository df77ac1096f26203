"""Demo figures for the reports (idempotent), so ``make run`` opens a living dashboard.

On top of the accounts, library and course demos: a dozen more teachers in three schools of
Tân Cương, enrolled in the demo course over the last months. Some learn it through the real
service functions (lessons completed by progress events, the quiz passed, a certificate issued);
their dates are then moved into the past so the monthly trend is believable. Some are half way,
some have not started, and an assignment with a past due date makes a few of them overdue.
Trường Tiểu học Tân Cương also submits its periodic report for the last quarter, on time.

The teachers are the marker: when the first of them exists, the learning part has run already
(everything here is written in one transaction by ``hocso demo``). The periodic report is
created only when the school has none for that period.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.demo import DEMO_PASSWORD, SCHOOLS
from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.db import utcnow
from app.core.security import hash_password
from app.lms import progress, quiz
from app.lms import service as lms
from app.lms.demo import COURSE_TITLE
from app.lms.models import (
    Attempt,
    Certificate,
    Course,
    Enrollment,
    Lesson,
    LessonKind,
    LessonProgress,
    Module,
    QuestionKind,
)
from app.reports import periodic
from app.reports.periodic import PeriodicReport
from app.reports.periods import default_period

ADMIN_EMAIL = "admin@tancuong.edu.vn"
MANAGER_EMAIL = "quanly.th@tancuong.edu.vn"  # submits the periodic report
PRESCHOOL, PRIMARY, LOWER_SECONDARY = (name for name, _level in SCHOOLS)


@dataclass(frozen=True)
class Learner:
    email: str
    full_name: str
    school: str
    enrolled_days_ago: int
    plan: str  # completed | in_progress | not_started
    done_days_ago: int = 0  # completed: when; in_progress: last activity
    perfect: bool = True  # completed: every quiz answer right (else 2 of 3)
    overdue: bool = False  # re-assigned with a due date in the past


LEARNERS = (
    Learner("gv.th2@tancuong.edu.vn", "Phan Thị Hồng", PRIMARY, 160, "completed", 150),
    Learner("gv.th3@tancuong.edu.vn", "Trịnh Văn Khoa", PRIMARY, 130, "completed", 96, False),
    Learner("gv.th4@tancuong.edu.vn", "Lý Thị Mai", PRIMARY, 100, "completed", 41),
    Learner("gv.th5@tancuong.edu.vn", "Cao Văn Nam", PRIMARY, 100, "in_progress", 20),
    Learner("gv.th6@tancuong.edu.vn", "Hà Thị Oanh", PRIMARY, 70, "in_progress", 35, overdue=True),
    Learner("gv.th7@tancuong.edu.vn", "Dương Văn Phúc", PRIMARY, 70, "not_started", overdue=True),
    Learner("gv.thcs2@tancuong.edu.vn", "Mai Thị Quyên", LOWER_SECONDARY, 140, "completed", 122),
    Learner("gv.thcs3@tancuong.edu.vn", "Tạ Văn Sơn", LOWER_SECONDARY, 90, "completed", 66, False),
    Learner("gv.thcs4@tancuong.edu.vn", "Kiều Thị Trang", LOWER_SECONDARY, 45, "completed", 12),
    Learner("gv.thcs5@tancuong.edu.vn", "Lục Văn Uy", LOWER_SECONDARY, 45, "in_progress", 5),
    Learner("gv.thcs6@tancuong.edu.vn", "Quách Thị Vân", LOWER_SECONDARY, 30, "not_started"),
    Learner("gv.mn2@tancuong.edu.vn", "Âu Thị Xuân", PRESCHOOL, 60, "completed", 27, False),
    Learner(
        "gv.mn3@tancuong.edu.vn", "Văn Thị Yến", PRESCHOOL, 60, "in_progress", 30, overdue=True
    ),
    Learner("gv.mn4@tancuong.edu.vn", "Thân Thị Ánh", PRESCHOOL, 50, "not_started"),
)
OVERDUE_BY = timedelta(days=10)
NARRATIVE = (
    "Tổ chức hội thảo chuyên đề “Nghị quyết 57 và chuyển đổi số trong dạy học” cho toàn thể "
    "giáo viên.\n"
    "Thành lập câu lạc bộ STEM khối 4–5; 35 học sinh tham gia sinh hoạt hằng tuần.\n"
    "Tham gia cuộc thi “Ý tưởng sáng tạo” cấp xã: 2 sản phẩm đạt giải.\n"
    "Khen thưởng 3 giáo viên hoàn thành xuất sắc khóa bồi dưỡng trực tuyến."
)


def load_demo(session: Session, settings: Settings) -> int:
    """Create what is missing; return how many records were created."""
    admin = session.scalar(select(User).where(User.email == ADMIN_EMAIL))
    course = session.scalar(select(Course).where(Course.title == COURSE_TITLE))
    if admin is None or course is None:
        return 0
    created = 0
    if session.scalar(select(User.id).where(User.email == LEARNERS[0].email)) is None:
        created += _learning(session, settings, admin, course)
    created += _periodic_report(session, settings)
    return created


# --- Learning ----------------------------------------------------------------------------------


def _learning(session: Session, settings: Settings, admin: User, course: Course) -> int:
    schools = {
        org.name: org
        for org in session.scalars(
            select(Organization).where(Organization.name.in_([name for name, _l in SCHOOLS]))
        )
    }
    password_hash = hash_password(settings, DEMO_PASSWORD)
    users: dict[str, User] = {}
    for learner in LEARNERS:
        if learner.school not in schools:
            continue
        account = User(
            email=learner.email,
            full_name=learner.full_name,
            role="teacher",
            organization_id=schools[learner.school].id,
            password_hash=password_hash,
        )
        session.add(account)
        users[learner.email] = account
    session.flush()
    lms.assign(session, admin, course.id, user_ids=[u.id for u in users.values()])
    lessons = list(
        session.scalars(
            select(Lesson)
            .join(Module, Module.id == Lesson.module_id)
            .where(Module.course_id == course.id)
            .order_by(Module.position, Lesson.position, Lesson.id)
        )
    )
    now = utcnow()
    for learner in LEARNERS:
        user = users.get(learner.email)
        if user is None:
            continue
        if learner.plan == "completed":
            _complete(session, user, lessons, perfect=learner.perfect)
        elif learner.plan == "in_progress":
            content = next(lesson for lesson in lessons if lesson.kind == LessonKind.content)
            progress.record_progress(
                session, user, content.id, event_id=str(uuid.uuid4()), status="completed"
            )
        _backdate(session, user, course, lessons, learner, now)
    overdue = [users[x.email].id for x in LEARNERS if x.overdue and x.email in users]
    if overdue:
        # A second assignment, with a due date that has passed: these learners are overdue.
        lms.assign(session, admin, course.id, user_ids=overdue, due_at=now - OVERDUE_BY)
    session.flush()
    return len(users) * 2  # the accounts and their enrolments


def _answers(session: Session, lesson: Lesson, *, perfect: bool) -> dict[str, Any]:
    """The right answers to a quiz; the last short answer wrong unless ``perfect``."""
    answers: dict[str, Any] = {}
    for question in quiz.questions_of(session, lesson.id):
        if question.kind == QuestionKind.short:
            accepted = (question.answer or "").split("|")[0]
            answers[str(question.id)] = accepted if perfect else "không rõ"
        else:
            answers[str(question.id)] = [c.id for c in question.choices if c.correct]
    return answers


def _complete(session: Session, user: User, lessons: list[Lesson], *, perfect: bool) -> None:
    """Learn the course as a learner would: every content lesson read, every quiz passed."""
    for lesson in lessons:
        if lesson.kind == LessonKind.content:
            progress.record_progress(
                session, user, lesson.id, event_id=str(uuid.uuid4()), status="completed"
            )
        elif lesson.kind == LessonKind.quiz:
            view = quiz.start_attempt(session, user, lesson.id)
            quiz.submit_attempt(
                session, user, view.attempt.id, _answers(session, lesson, perfect=perfect)
            )


def _backdate(
    session: Session,
    user: User,
    course: Course,
    lessons: list[Lesson],
    learner: Learner,
    now: datetime,
) -> None:
    """Move the learner's history into the past (the services stamp everything "now")."""
    enrolled = now - timedelta(days=learner.enrolled_days_ago)
    done = now - timedelta(days=learner.done_days_ago) if learner.plan != "not_started" else None
    values: dict[str, Any] = {"enrolled_at": enrolled}
    if learner.plan == "completed":
        values |= {"completed_at": done, "last_activity_at": done}
    elif learner.plan == "in_progress":
        values |= {"last_activity_at": done}
    session.execute(
        update(Enrollment)
        .where(Enrollment.user_id == user.id, Enrollment.course_id == course.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done is None:
        return
    lesson_ids = [lesson.id for lesson in lessons]
    session.execute(
        update(LessonProgress)
        .where(LessonProgress.user_id == user.id, LessonProgress.lesson_id.in_(lesson_ids))
        .values(completed_at=done, updated_at=done)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Attempt)
        .where(Attempt.user_id == user.id, Attempt.lesson_id.in_(lesson_ids))
        .values(
            started_at=done - timedelta(minutes=6),
            deadline_at=done + timedelta(minutes=4),
            submitted_at=done,
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Certificate)
        .where(Certificate.user_id == user.id, Certificate.course_id == course.id)
        .values(issued_at=done)
        .execution_options(synchronize_session=False)
    )


# --- The periodic report -----------------------------------------------------------------------


def _periodic_report(session: Session, settings: Settings) -> int:
    manager = session.scalar(select(User).where(User.email == MANAGER_EMAIL))
    if manager is None:
        return 0
    zone = ZoneInfo(settings.timezone)
    now = utcnow()
    period = default_period(now.astimezone(zone).date())
    exists = session.scalar(
        select(PeriodicReport.id).where(
            PeriodicReport.organization_id == manager.organization_id,
            PeriodicReport.period == period.label,
        )
    )
    if exists is not None:
        return 0
    # Submitted five days after the quarter ended (on time), or now if that is still ahead.
    submitted = datetime.combine(period.ends_on + timedelta(days=5), time(9), zone)
    when = min(submitted.astimezone(now.tzinfo), now)
    report = periodic.create_draft(
        session,
        manager,
        organization_id=manager.organization_id,
        period=period.label,
        narrative=NARRATIVE,
        number="15/BC-THTC",
        now=when,
        timezone=settings.timezone,
    )
    session.flush()
    periodic.submit(session, manager, report.id, now=when)
    return 1
