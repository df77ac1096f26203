"""An organiser's seminar, in a real browser at 360 px: the author creates a seminar on the
event form (local times) as the last lesson of their course, shows its check-in code and QR
code; a teacher opens the QR code's address on their phone, signs in, checks in, and the
course lesson completes — and with it the course, with one certificate."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from app.community.events.models import Attendance, Event
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope, utcnow
from app.lms import service
from app.lms.models import Certificate, Enrollment, LessonProgress
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, make_org, make_user

pytestmark = pytest.mark.e2e


@dataclass
class Seminar:
    tag: str
    author_email: str
    author_name: str
    teacher_email: str
    teacher_name: str
    teacher_id: int
    school_id: int
    course_id: int
    lesson_id: int


@pytest.fixture
def seminar(live_settings: Settings, base_url: str) -> Iterator[Seminar]:
    """A published course whose one required lesson is an event; a teacher enrolled in it."""
    engine = make_engine(live_settings)
    tag = uuid.uuid4().hex[:8]
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            school = make_org(session, name=f"Trường THCS Tân Cương {tag}", level="lower_secondary")
            author = make_user(
                session,
                live_settings,
                role="author",
                organization=school,
                email=f"tacgia.{tag}@e2e.edu.vn",
                full_name="Trần Văn Tác",
            )
            teacher = make_user(
                session,
                live_settings,
                role="teacher",
                organization=school,
                email=f"gv.{tag}@e2e.edu.vn",
                full_name="Lê Thị Giáo",
            )
            course = service.create_course(
                session, author, title=f"Tập huấn chuyển đổi số {tag}", levels=["lower_secondary"]
            )
            module = service.add_module(session, author, course.id, title="Học phần 1")
            lesson = service.add_lesson(
                session, author, module.id, title="Hội thảo trực tiếp", kind="event"
            )
            service.publish_course(session, author, course.id)
            service.enroll_self(session, teacher, course.id)
            result = Seminar(
                tag=tag,
                author_email=author.email,
                author_name=author.full_name,
                teacher_email=teacher.email,
                teacher_name=teacher.full_name,
                teacher_id=teacher.id,
                school_id=school.id,
                course_id=course.id,
                lesson_id=lesson.id,
            )
        yield result
    finally:
        engine.dispose()


def fits(page: Page, name: str) -> None:
    """No sideways scrolling at 360 px (and a screenshot of the page for review)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"events-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def sign_in(page: Page, email: str, name: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page.locator("header .account-name")).to_contain_text(name)


def test_organiser_shows_the_code_and_a_teacher_checks_in(
    page: Page, browser: Browser, base_url: str, live_settings: Settings, seminar: Seminar
) -> None:
    # The author creates the seminar on the form, in Vietnam time, starting a few minutes ago.
    page.goto("/login")
    sign_in(page, seminar.author_email, seminar.author_name)
    page.goto("/events")
    fits(page, "calendar-empty")
    page.click("a[href='/events/new']")
    local = utcnow().astimezone(ZoneInfo(live_settings.timezone))
    start, end = local - timedelta(minutes=10), local + timedelta(hours=2)
    title = f"Hội thảo “Chuyển đổi số”, {seminar.tag}"
    page.fill("#f-title", title)
    page.select_option("#f-kind", "seminar")
    page.select_option("#f-organization_id", str(seminar.school_id))
    page.fill("#f-start-date", start.strftime("%Y-%m-%d"))
    page.fill("#f-start-time", start.strftime("%H:%M"))
    page.fill("#f-end-date", end.strftime("%Y-%m-%d"))
    page.fill("#f-end-time", end.strftime("%H:%M"))
    page.fill("#f-location", "Phòng họp tầng 2")
    page.fill("#f-online_url", "https://meet.example.vn/cds")
    page.select_option("#f-lesson_id", str(seminar.lesson_id))
    fits(page, "form")
    page.click("form.event-form button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("main h1")).to_have_text(title)
    match = re.search(r"/events/(\d+)$", page.url)
    assert match, page.url
    event_id = int(match.group(1))

    # It shows the check-in code, big, with its QR code.
    page.click("#show-code")
    code = page.locator("#code").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{6}", code), code
    expect(page.locator(".checkin-qr svg")).to_be_visible()
    fits(page, "organiser-code")

    # A teacher scans the QR code on their phone: sign in, then the code is filled in.
    phone = browser.new_context(
        base_url=base_url, viewport={"width": 360, "height": 640}, locale="vi-VN"
    )
    try:
        teacher = phone.new_page()
        teacher.goto(f"/events/{event_id}/checkin?code={code}")
        expect(teacher).to_have_url(re.compile(r"/login\?next="))
        sign_in(teacher, seminar.teacher_email, seminar.teacher_name)
        expect(teacher.locator("#f-code")).to_have_value(code)
        fits(teacher, "checkin")
        teacher.click("#checkin-submit")
        expect(teacher.locator(".flash-success")).to_be_visible()
        expect(teacher.locator("#my-attendance")).to_be_visible()
        fits(teacher, "checked-in")

        # The course lesson is completed, and the course with it: one certificate.
        teacher.goto(f"/lessons/{seminar.lesson_id}")
        expect(teacher.locator("#lesson-attendance")).to_have_class(re.compile("alert-success"))
        expect(teacher.locator("#certificate-link")).to_be_visible()
        fits(teacher, "lesson-done")
        teacher.click("#lesson-event-link")
        expect(teacher).to_have_url(re.compile(rf"/events/{event_id}$"))
    finally:
        phone.close()

    # The organiser sees the teacher present.
    page.reload()
    expect(page.locator(".attendance-table")).to_contain_text(seminar.teacher_name)
    fits(page, "organiser-attendance")

    engine = make_engine(live_settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            event = session.get(Event, event_id)
            assert event is not None
            assert event.lesson_id == seminar.lesson_id
            attendance = session.scalar(
                select(func.count()).select_from(Attendance).where(Attendance.event_id == event_id)
            )
            assert attendance == 1
            record = session.scalar(
                select(LessonProgress).where(
                    LessonProgress.user_id == seminar.teacher_id,
                    LessonProgress.lesson_id == seminar.lesson_id,
                )
            )
            assert record is not None
            assert record.status == "completed"
            enrollment = session.scalar(
                select(Enrollment).where(
                    Enrollment.user_id == seminar.teacher_id,
                    Enrollment.course_id == seminar.course_id,
                )
            )
            assert enrollment is not None
            assert enrollment.completed_at is not None
            certificates = session.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(
                    Certificate.user_id == seminar.teacher_id,
                    Certificate.course_id == seminar.course_id,
                )
            )
            assert certificates == 1
    finally:
        engine.dispose()
