"""A teacher's course, in a real browser at 360 px: enrol, listen to an audio lesson, come back
to it where they stopped, finish it with the network cut (the event waits in the offline queue),
pass the quiz, open the certificate and check it, signed out, on the verification page."""

from __future__ import annotations

import io
import math
import re
import struct
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from app.core.storage import make_blob_store
from app.lcms import service as lcms
from app.lms import quiz, service
from app.lms.models import Certificate, LessonProgress
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, make_org, make_user
from tests.lms.helpers import store_bytes

pytestmark = pytest.mark.e2e

SECONDS = 6
RIGHT = "Khoa học, công nghệ và đổi mới sáng tạo"


def tone_wav(seconds: int = SECONDS, rate: int = 8000, hz: float = 440.0) -> bytes:
    """A few seconds of a quiet sine tone: 16-bit mono PCM, which Chromium plays."""
    frames = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * hz * i / rate)))
        for i in range(seconds * rate)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


@dataclass
class Journey:
    email: str
    full_name: str
    course_id: int
    audio_id: int
    quiz_id: int
    timed_quiz_id: int
    user_id: int
    title: str


@pytest.fixture
def journey(live_settings: Settings, base_url: str) -> Iterator[Journey]:
    """A published course in the live server's database: an audio lesson and a quiz."""
    engine = make_engine(live_settings)
    store = make_blob_store(live_settings)
    tag = uuid.uuid4().hex[:8]
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            school = make_org(session, name=f"Trường Tiểu học Hòa Bình {tag}")
            author = make_user(session, live_settings, role="author", organization=school)
            teacher = make_user(
                session,
                live_settings,
                role="teacher",
                organization=school,
                email=f"gv.{tag}@e2e.edu.vn",
                full_name="Nguyễn Thị Hoa",
            )
            data = tone_wav()
            item = lcms.create_item(session, author, title="Podcast Nghị quyết 57", kind="audio")
            lcms.add_version(
                session,
                author,
                item.id,
                sha256=store_bytes(store, data),
                size=len(data),
                media_type="audio/wav",
                filename="podcast.wav",
            )
            lcms.publish(session, author, item.id, version=1)
            course = service.create_course(
                session,
                author,
                title=f"Nghị quyết 57 cho giáo viên {tag}",
                description="Nghe podcast, làm bài kiểm tra, nhận giấy chứng nhận.",
                levels=["primary"],
                topics=["NQ57"],
            )
            module = service.add_module(session, author, course.id, title="Học phần 1")
            audio = service.add_lesson(
                session, author, module.id, title="Nghe podcast", kind="content", content_id=item.id
            )
            test = service.add_lesson(
                session, author, module.id, title="Bài kiểm tra", kind="quiz", pass_score=100
            )
            quiz.add_question(
                session,
                author,
                test.id,
                text="Nghị quyết 57 nói về gì?",
                kind="single",
                choices=[(RIGHT, True), ("Nông nghiệp", False), ("Du lịch", False)],
            )
            # Optional, so the course completes without it: ten seconds to answer.
            timed = service.add_lesson(
                session,
                author,
                module.id,
                title="Kiểm tra nhanh",
                kind="quiz",
                required=False,
                pass_score=100,
                time_limit_seconds=10,
            )
            quiz.add_question(
                session,
                author,
                timed.id,
                text="Nghị quyết 57 nói về gì?",
                kind="single",
                choices=[(RIGHT, True), ("Nông nghiệp", False)],
            )
            service.publish_course(session, author, course.id)
            result = Journey(
                email=teacher.email,
                full_name=teacher.full_name,
                course_id=course.id,
                audio_id=audio.id,
                quiz_id=test.id,
                timed_quiz_id=timed.id,
                user_id=teacher.id,
                title=course.title,
            )
        yield result
    finally:
        engine.dispose()


def fits(page: Page, name: str) -> None:
    """No sideways scrolling at 360 px (and a screenshot of the page for review)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"learner-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def wait_saved(page: Page) -> None:
    expect(page.locator("#sync-status")).to_have_attribute("data-state", "saved", timeout=20_000)


def lesson_record(live_settings: Settings, journey: Journey) -> LessonProgress | None:
    engine = make_engine(live_settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return session.scalar(
                select(LessonProgress).where(
                    LessonProgress.user_id == journey.user_id,
                    LessonProgress.lesson_id == journey.audio_id,
                )
            )
    finally:
        engine.dispose()


def sign_in(page: Page, journey: Journey) -> None:
    page.goto("/login")
    page.fill("input[name=email]", journey.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page.locator("main h1")).to_contain_text(journey.full_name)


def test_teacher_learns_offline_passes_the_quiz_and_verifies_the_certificate(
    page: Page, browser: Browser, base_url: str, live_settings: Settings, journey: Journey
) -> None:
    # Sign in, find the course in the catalogue (typed without accents), enrol.
    sign_in(page, journey)
    page.click("header nav a[href='/courses']")
    page.fill("input[name=q]", "nghi quyet 57 cho giao vien")
    page.click("form.course-search button[type=submit]")
    link = page.locator(f"main a[href='/courses/{journey.course_id}']")
    expect(link).to_be_visible()
    fits(page, "catalogue")
    link.click()
    expect(page.locator(f"a[href='/lessons/{journey.audio_id}']")).to_have_count(0)
    fits(page, "course")
    page.click(f"form[action='/courses/{journey.course_id}/enroll'] button")
    expect(page.locator(".flash-success")).to_be_visible()
    fits(page, "enrolled")

    # Listen to part of the audio lesson; the pause reports the position.
    page.click(f"a[href='/lessons/{journey.audio_id}']")
    audio = page.locator("audio#player-media")
    expect(audio).to_have_attribute("data-resume", "0")
    # A function, not an expression: Playwright evaluates bare expressions with eval(),
    # which the page's CSP refuses.
    page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    fits(page, "lesson")
    box = audio.bounding_box()
    assert box is not None
    assert box["height"] >= 40  # the controls are there to tap
    page.evaluate(
        """async () => {
            const a = document.querySelector('audio');
            a.currentTime = 2.5;
            try { await a.play(); } catch (e) { /* autoplay refused: the pause still reports */ }
            await new Promise((resolve) => setTimeout(resolve, 700));
            if (a.paused) { a.dispatchEvent(new Event('pause')); } else { a.pause(); }
        }"""
    )
    wait_saved(page)
    record = lesson_record(live_settings, journey)
    assert record is not None
    saved = record.position_seconds
    assert 2.0 <= saved < SECONDS - 1, saved
    assert record.status == "in_progress"

    # Leave, come back: the player resumes at the saved position.
    page.goto(f"/courses/{journey.course_id}")
    expect(page.locator(".state-doing")).to_be_visible()
    page.goto(f"/lessons/{journey.audio_id}")
    resume = float(audio.get_attribute("data-resume") or "0")
    assert abs(resume - saved) < 0.01
    page.wait_for_function(
        "(saved) => { const a = document.querySelector('audio');"
        " return a.readyState >= 1 && Math.abs(a.currentTime - saved) < 2; }",
        arg=saved,
    )

    # Finish it with the network cut: the event waits in the queue, then arrives.
    page.context.set_offline(True)
    page.evaluate(
        """() => {
            const a = document.querySelector('audio');
            a.currentTime = a.duration;
            a.dispatchEvent(new Event('ended'));
        }"""
    )
    status = page.locator("#sync-status")
    expect(status).to_have_attribute("data-state", "offline", timeout=10_000)
    expect(status).to_have_text(status.get_attribute("data-msg-offline") or "offline")
    queued = page.evaluate(
        "Object.keys(localStorage).filter((k) => k.startsWith('hocso-progress-queue:'))"
        ".map((k) => JSON.parse(localStorage.getItem(k)).length).reduce((a, b) => a + b, 0)"
    )
    assert queued >= 1
    record = lesson_record(live_settings, journey)
    assert record is not None
    assert record.status == "in_progress"
    page.context.set_offline(False)
    wait_saved(page)
    expect(page.locator("#lesson-status")).to_contain_text("✓")
    record = lesson_record(live_settings, journey)
    assert record is not None
    assert record.status == "completed"
    assert (
        page.evaluate(
            "Object.keys(localStorage).filter((k) => k.startsWith('hocso-progress-queue:')).length"
        )
        == 0
    )
    page.goto(f"/courses/{journey.course_id}")
    expect(page.locator(".state-done")).to_have_count(1)

    # The quiz: choose, the answer is saved as we go, submit, passed.
    page.goto(f"/lessons/{journey.quiz_id}")
    fits(page, "quiz-lesson")
    page.click(f"main form[action='/lessons/{journey.quiz_id}/quiz'] button")
    expect(page.locator("#quiz-form")).to_be_visible()
    fits(page, "quiz")
    page.get_by_label(RIGHT).check()
    expect(page.locator("#quiz-save-status")).to_have_attribute("data-state", "saved")
    page.click("#quiz-submit")
    expect(page.locator(".result-passed")).to_be_visible()
    fits(page, "result")
    page.click("main a[href^='/certificates/']")

    # The certificate, then its public verification in a fresh (signed-out) browser.
    expect(page.locator(".certificate")).to_contain_text(journey.full_name)
    expect(page.locator(".certificate svg")).to_be_visible()
    fits(page, "certificate")
    code = page.url.rsplit("/", 1)[1]
    # Printed: no navigation or footer, one landscape A4 page.
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator(".site-footer")).to_be_hidden()
    expect(page.locator(".certificate")).to_be_visible()
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    (ARTIFACTS / "learner-certificate.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf)
    assert box is not None
    assert float(box.group(1)) > float(box.group(2))  # landscape
    page.set_viewport_size({"width": 1123, "height": 794})  # A4 landscape at 96 dpi
    page.screenshot(path=str(ARTIFACTS / "learner-certificate-print.png"))
    page.set_viewport_size({"width": 360, "height": 640})
    page.emulate_media(media="screen")
    engine = make_engine(live_settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            cert = session.scalar(select(Certificate).where(Certificate.code == code))
            assert cert is not None
            assert cert.user_id == journey.user_id
    finally:
        engine.dispose()

    page.goto("/my")
    expect(page.locator("section.my-completed")).to_contain_text(journey.title)
    fits(page, "my")

    context = browser.new_context(
        base_url=base_url, viewport={"width": 360, "height": 640}, locale="vi-VN"
    )
    try:
        visitor = context.new_page()
        visitor.goto(f"/verify/{code}")
        expect(visitor.locator(".verify-valid")).to_be_visible()
        expect(visitor.locator("main")).to_contain_text(journey.full_name)
        fits(visitor, "verify")
        missing = visitor.goto("/verify/AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
        assert missing is not None
        assert missing.status == 404
    finally:
        context.close()


def test_the_quiz_timer_warns_and_sends_the_answers_when_time_is_up(
    page: Page, journey: Journey
) -> None:
    sign_in(page, journey)
    page.goto(f"/courses/{journey.course_id}")
    page.click(f"form[action='/courses/{journey.course_id}/enroll'] button")
    expect(page.locator(".flash-success")).to_be_visible()
    page.goto(f"/lessons/{journey.timed_quiz_id}")
    page.click(f"main form[action='/lessons/{journey.timed_quiz_id}/quiz'] button")
    timer = page.locator("#quiz-timer")
    expect(timer).to_be_visible()
    # Ten seconds: less than a minute, so the warning comes at once.
    expect(timer).to_have_class(re.compile(r"quiz-timer-warning"))
    form = page.locator("#quiz-form")
    expect(page.locator("#quiz-timer-alert")).to_have_text(
        form.get_attribute("data-msg-warning") or "warning"
    )
    fits(page, "timed-quiz")
    page.get_by_label(RIGHT).check()
    expect(page.locator("#quiz-save-status")).to_have_attribute("data-state", "saved")
    # Nobody presses "Submit": at zero the script sends the form.
    page.wait_for_url(re.compile(r"/attempts/\d+/result$"), timeout=20_000)
    expect(page.locator(".result-passed")).to_be_visible()
