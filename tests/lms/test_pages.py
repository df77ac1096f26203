"""Learning pages: catalogue, course page and enrolment, the lesson player and its JSON twins,
quizzes, my learning, certificates and their public verification."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.config import Settings
from app.core.db import utcnow
from app.lms import progress, quiz, service
from app.lms.models import (
    Attempt,
    Certificate,
    Choice,
    Enrollment,
    LessonProgress,
    ProgressEvent,
    Question,
)
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.lcms import samples
from tests.lms.helpers import World, build_world, lesson_status, publish_newer_version

Login = Callable[[str, str], TestClient]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def sign_in(client: TestClient, page_login: Login, user: User) -> TestClient:
    client.cookies.clear()
    return page_login(user.email, PASSWORD)


def token(client: TestClient) -> str:
    return csrf_from(client.get("/my").text)


def enrol(client: TestClient, course_id: int) -> Any:
    return client.post(
        f"/courses/{course_id}/enroll",
        data={"csrf_token": token(client)},
        follow_redirects=False,
    )


def learner(client: TestClient, page_login: Login, world: World) -> TestClient:
    sign_in(client, page_login, world.teacher)
    assert enrol(client, world.course.id).status_code == 303
    return client


def send_progress(
    client: TestClient, lesson_id: int, body: dict[str, Any], csrf: str | None = None
) -> Any:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    return client.post(f"/lessons/{lesson_id}/progress", json=body, headers=headers)


def section(html: str, name: str) -> str:
    match = re.search(rf'<section class="my-section my-{name}".*?</section>', html, re.S)
    assert match, name
    return match.group(0)


def right_choice(db: Session, lesson_id: int) -> tuple[int, int, int]:
    """(single-choice question id, its right choice id, short-answer question id)."""
    questions = {
        q.kind: q for q in db.scalars(select(Question).where(Question.lesson_id == lesson_id))
    }
    single, short = questions["single"], questions["short"]
    right = db.scalar(select(Choice.id).where(Choice.question_id == single.id, Choice.correct))
    assert right is not None
    return single.id, right, short.id


def open_quiz(client: TestClient, lesson_id: int, **kwargs: Any) -> Any:
    """Start (or resume) an attempt the way the lesson page does: a POST with the form's
    CSRF token, then the quiz page."""
    token = csrf_from(client.get(f"/lessons/{lesson_id}").text)
    return client.post(f"/lessons/{lesson_id}/quiz", data={"csrf_token": token}, **kwargs)


def pass_quiz(client: TestClient, db: Session, world: World) -> Any:
    page = open_quiz(client, world.quiz.id)
    assert page.status_code == 200, page.text
    attempt_id = int(re.search(r'data-attempt="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
    single, right, short = right_choice(db, world.quiz.id)
    return client.post(
        f"/attempts/{attempt_id}/submit-form",
        data={"csrf_token": csrf_from(page.text), f"q{single}": str(right), f"q{short}": "CĐS"},
        follow_redirects=False,
    )


# --- Catalogue and course page -------------------------------------------------------------


def test_catalogue_finds_a_course_typed_without_accents(
    client: TestClient, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.teacher)
    found = client.get("/courses", params={"q": "chuyen doi so giao vien"})
    assert found.status_code == 200
    assert "Chuyển đổi số cho giáo viên" in found.text
    assert f'href="/courses/{world.course.id}"' in found.text
    assert "card-enrolled" not in found.text
    assert "Chuyển đổi số" in client.get("/courses", params={"topic": "cds"}).text
    assert "Chuyển đổi số" in client.get("/courses", params={"level": "primary"}).text
    for params in ({"q": "toan hoc"}, {"level": "lower_secondary"}, {"topic": "STEM"}):
        page = client.get("/courses", params=params)
        assert page.status_code == 200
        assert f'href="/courses/{world.course.id}"' not in page.text
        assert 'class="empty"' in page.text
    # Enrolled: the card says so and shows the progress.
    enrol(client, world.course.id)
    assert "card-enrolled" in client.get("/courses").text


def test_drafts_stay_out_of_the_catalogue(
    client: TestClient, db: Session, settings: Settings, page_login: Login
) -> None:
    draft = build_world(db, settings, client.app.state.blob_store, publish=False)  # type: ignore[attr-defined]
    sign_in(client, page_login, draft.teacher)
    assert f'href="/courses/{draft.course.id}"' not in client.get("/courses").text
    assert client.get(f"/courses/{draft.course.id}").status_code == 404


def test_course_page_shows_the_outline_and_the_form_enrols_once(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.teacher)
    page = client.get(f"/courses/{world.course.id}")
    assert page.status_code == 200
    for title in ("Học phần 1", "Xem video", "Đọc sổ tay", "Kiểm tra"):
        assert title in page.text
    assert f'href="/lessons/{world.video.id}"' not in page.text  # no links before enrolling
    assert f'action="/courses/{world.course.id}/enroll"' in page.text

    first = enrol(client, world.course.id)
    assert first.status_code == 303
    assert first.headers["location"] == f"/courses/{world.course.id}"
    page = client.get(f"/courses/{world.course.id}")
    assert f'href="/lessons/{world.video.id}"' in page.text
    assert '<progress id="course-progress" max="100" value="0">' in page.text
    assert f'action="/courses/{world.course.id}/withdraw"' in page.text
    assert "flash-success" in page.text

    again = enrol(client, world.course.id)  # harmless
    assert again.status_code == 303
    count = db.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.user_id == world.teacher.id, Enrollment.course_id == world.course.id)
    )
    assert count == 1

    # Leaving keeps the record; the outline loses its links; enrolling again resumes.
    left = client.post(
        f"/courses/{world.course.id}/withdraw",
        data={"csrf_token": token(client)},
        follow_redirects=False,
    )
    assert left.status_code == 303
    assert f'href="/lessons/{world.video.id}"' not in client.get(f"/courses/{world.course.id}").text
    assert enrol(client, world.course.id).status_code == 303
    assert f'href="/lessons/{world.video.id}"' in client.get(f"/courses/{world.course.id}").text


def test_enrolment_errors_are_flashed(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    world.course.enroll_closes_at = utcnow() - timedelta(days=1)
    db.flush()
    sign_in(client, page_login, world.teacher)
    response = enrol(client, world.course.id)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert "flash-error" in page.text
    assert service.get_enrollment(db, world.teacher.id, world.course.id) is None
    # Without the CSRF token nothing happens.
    refused = client.post(f"/courses/{world.course.id}/enroll", follow_redirects=False)
    assert refused.status_code == 403


def test_course_page_uses_a_constant_number_of_queries(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)

    def count_queries() -> int:
        statements: list[str] = []

        def on_execute(*args: Any) -> None:
            statements.append(str(args[2]))

        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            assert client.get(f"/courses/{world.course.id}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
        return len([s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))])

    small = count_queries()
    module = service.outline(db, world.course).modules[0]
    for i in range(15):
        service.add_lesson(
            db, world.author, module.id, title=f"Bài {i}", kind="content", content_id=world.item.id
        )
    extra = service.add_module(db, world.author, world.course.id, title="Học phần 2")
    for i in range(10):
        service.add_lesson(db, world.author, extra.id, title=f"Bài thêm {i}", kind="quiz")
    assert count_queries() == small


# --- Lessons and progress ------------------------------------------------------------------


def test_lessons_need_an_enrolment_but_authors_may_preview(
    client: TestClient, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.outsider)
    response = client.get(f"/lessons/{world.video.id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/courses/{world.course.id}"
    assert "flash-error" in client.get(response.headers["location"]).text
    assert client.get(f"/lessons/{world.video.id}/file").status_code == 403
    quiz_page = client.get(f"/lessons/{world.quiz.id}/quiz", follow_redirects=False)
    assert quiz_page.status_code == 303

    sign_in(client, page_login, world.author)
    preview = client.get(f"/lessons/{world.video.id}")
    assert preview.status_code == 200
    assert "<video" in preview.text
    assert "data-track" not in preview.text  # nothing is reported for a preview
    assert samples.fetch(client, f"/lessons/{world.video.id}/file").status_code == 200


def test_the_lesson_plays_its_pinned_file_and_resumes_at_the_saved_position(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    # The library moves on to a new version: the lesson keeps the one it pinned.
    publish_newer_version(db, store, world.author, world.item, size=4096, filename="moi.mp4")
    learner(client, page_login, world)

    page = client.get(f"/lessons/{world.video.id}")
    assert page.status_code == 200
    assert 'preload="metadata"' in page.text
    assert 'data-resume="0"' in page.text
    assert f'src="/lessons/{world.video.id}/file"' in page.text
    assert f'href="/lessons/{world.doc.id}"' in page.text  # the next lesson
    file = samples.fetch(client, f"/lessons/{world.video.id}/file")
    assert file.status_code == 200
    assert file.content == samples.mp4(8192)

    csrf = csrf_from(page.text)
    body = {"event_id": str(uuid.uuid4()), "percent": 30, "position_seconds": 42.5}
    saved = send_progress(client, world.video.id, {**body, "seconds_spent": 40}, csrf)
    assert saved.status_code == 200, saved.text
    assert saved.json()["lesson_status"] == "in_progress"
    assert saved.json()["course_progress_percent"] == 0
    page = client.get(f"/lessons/{world.video.id}")
    assert 'data-resume="42.5"' in page.text
    assert f'data-csrf="{csrf}"' in page.text
    course = client.get(f"/courses/{world.course.id}").text
    assert "state-doing" in course


def test_the_pdf_lesson_shows_a_frame_and_mark_as_done_works_without_javascript(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    page = client.get(f"/lessons/{world.doc.id}")
    assert '<iframe class="pdf-frame"' in page.text
    assert 'id="mark-done"' in page.text
    pdf = samples.fetch(client, f"/lessons/{world.doc.id}/file")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    done = client.post(
        f"/lessons/{world.doc.id}/done",
        data={"csrf_token": csrf_from(page.text), "event_id": str(uuid.uuid4())},
        follow_redirects=False,
    )
    assert done.status_code == 303
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == world.doc.id))
    assert record is not None
    assert record.status == "completed"
    page = client.get(f"/lessons/{world.doc.id}")
    assert 'id="mark-done"' not in page.text
    assert "state-done" in page.text


def test_the_progress_route_needs_the_csrf_header_and_ignores_replays(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    csrf = token(client)
    body = {"event_id": str(uuid.uuid4()), "percent": 20, "seconds_spent": 30}

    refused = send_progress(client, world.video.id, body)
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_failed"
    assert send_progress(client, world.video.id, body, "not-the-token").status_code == 403

    first = send_progress(client, world.video.id, body, csrf)
    assert first.status_code == 200, first.text
    assert first.json()["replayed"] is False
    replay = send_progress(client, world.video.id, body, csrf)
    assert replay.status_code == 200
    assert replay.json()["replayed"] is True
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == world.video.id))
    assert record is not None
    assert record.seconds_spent == 30
    assert db.scalar(select(func.count()).select_from(ProgressEvent)) == 1

    bad = send_progress(client, world.video.id, {"event_id": "nope", "percent": 500}, csrf)
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_input"
    quiz_done = send_progress(
        client, world.quiz.id, {"event_id": str(uuid.uuid4()), "status": "completed"}, csrf
    )
    assert quiz_done.status_code == 422  # a service error, as JSON

    client.cookies.delete("hocso_session")
    signed_out = send_progress(client, world.video.id, body, csrf)
    assert signed_out.status_code == 401
    assert signed_out.json()["error"] == "not_authenticated"


# --- Quizzes -------------------------------------------------------------------------------


def test_the_quiz_page_never_shows_the_answers_and_the_form_scores_it(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    lesson = client.get(f"/lessons/{world.quiz.id}")
    assert f'action="/lessons/{world.quiz.id}/quiz"' in lesson.text
    # Only a POST starts an attempt: a plain link (or a foreign page) cannot spend one.
    assert client.get(f"/lessons/{world.quiz.id}/quiz", follow_redirects=False).status_code == 303
    page = open_quiz(client, world.quiz.id)
    assert page.status_code == 200
    html = page.text
    assert "Nghị quyết 57 nói về gì?" in html
    assert "Khoa học, công nghệ, đổi mới sáng tạo" in html
    assert "chuyen doi so" not in html.lower()
    assert "CĐS" not in html
    assert "correct" not in html.lower()
    assert 'id="quiz-timer"' not in html  # no time limit
    attempt_id = int(re.search(r'data-attempt="(\d+)"', html).group(1))  # type: ignore[union-attr]
    single, right, short = right_choice(db, world.quiz.id)
    wrong = db.scalar(select(Choice.id).where(Choice.question_id == single, ~Choice.correct))

    # Saved as the learner goes (JSON twin), and shown again when the page is reopened.
    saved = client.patch(
        f"/attempts/{attempt_id}/answers",
        json={"answers": {str(single): [wrong]}},
        headers={"X-CSRF-Token": csrf_from(html)},
    )
    assert saved.status_code == 200, saved.text
    assert "correct" not in saved.text
    assert (
        client.patch(
            f"/attempts/{attempt_id}/answers", json={"answers": {str(single): [wrong]}}
        ).status_code
        == 403
    )
    again = client.get(f"/lessons/{world.quiz.id}/quiz").text
    assert f'data-attempt="{attempt_id}"' in again  # resumed, not a new attempt
    assert re.search(rf'value="{wrong}" checked', again)

    submitted = client.post(
        f"/attempts/{attempt_id}/submit-form",
        data={
            "csrf_token": csrf_from(again),
            f"q{single}": str(right),
            f"q{short}": "chuyen doi so",
        },
        follow_redirects=False,
    )
    assert submitted.status_code == 303
    assert submitted.headers["location"] == f"/attempts/{attempt_id}/result"
    result = client.get(submitted.headers["location"])
    assert result.status_code == 200
    assert "result-passed" in result.text
    assert "Điểm: 2/2 (100%)" in result.text
    assert result.text.count("review-right") == 2
    attempt = db.get(Attempt, attempt_id)
    assert attempt is not None
    db.refresh(attempt)
    assert (attempt.score, attempt.max_score, attempt.passed) == (2, 2, True)

    # A second submission changes nothing and lands on the result.
    twice = client.post(
        f"/attempts/{attempt_id}/submit-form",
        data={"csrf_token": csrf_from(again)},
        follow_redirects=False,
    )
    assert twice.status_code == 303
    assert twice.headers["location"] == f"/attempts/{attempt_id}/result"
    # The lesson page lists the attempt and no longer offers to start one.
    lesson = client.get(f"/lessons/{world.quiz.id}").text
    assert f'href="/attempts/{attempt_id}/result"' in lesson
    assert f'action="/lessons/{world.quiz.id}/quiz"' not in lesson


def test_review_policy_and_wrong_answers_on_the_result_page(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    page = open_quiz(client, world.quiz.id).text
    attempt_id = int(re.search(r'data-attempt="(\d+)"', page).group(1))  # type: ignore[union-attr]
    single, _right, short = right_choice(db, world.quiz.id)
    submitted = client.post(
        f"/attempts/{attempt_id}/submit-form",
        data={"csrf_token": csrf_from(page), f"q{short}": "sai"},
        follow_redirects=False,
    )
    assert submitted.status_code == 303
    result = client.get(f"/attempts/{attempt_id}/result").text
    assert "result-failed" in result
    assert result.count("review-wrong") == 2
    assert "Khoa học, công nghệ, đổi mới sáng tạo" in result  # policy "answers"
    assert f'action="/lessons/{world.quiz.id}/quiz"' in result  # one attempt left

    world.course.review_policy = "none"
    db.flush()
    hidden = client.get(f"/attempts/{attempt_id}/result").text
    assert "review-wrong" not in hidden
    assert "Khoa học, công nghệ, đổi mới sáng tạo" not in hidden

    # The second (last) attempt through the JSON twin.
    page = open_quiz(client, world.quiz.id).text
    second = int(re.search(r'data-attempt="(\d+)"', page).group(1))  # type: ignore[union-attr]
    assert second != attempt_id
    sent = client.post(
        f"/attempts/{second}/submit",
        json={"answers": {str(single): []}},
        headers={"X-CSRF-Token": csrf_from(page)},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["passed"] is False
    assert sent.json()["review"] is None
    # No attempt left: the quiz page sends the learner back with a message.
    over = open_quiz(client, world.quiz.id, follow_redirects=False)
    assert over.status_code == 303
    assert over.headers["location"] == f"/lessons/{world.quiz.id}"


def test_an_expired_last_attempt_is_scored_by_the_quiz_button(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    world.quiz.time_limit_seconds = 600
    world.quiz.max_attempts = 1
    db.flush()
    learner(client, page_login, world)
    page = open_quiz(client, world.quiz.id).text
    attempt_id = int(re.search(r'data-attempt="(\d+)"', page).group(1))  # type: ignore[union-attr]
    single, right, short = right_choice(db, world.quiz.id)
    saved = client.patch(
        f"/attempts/{attempt_id}/answers",
        json={"answers": {str(single): [right], str(short): "CĐS"}},
        headers={"X-CSRF-Token": csrf_from(page)},
    )
    assert saved.status_code == 200, saved.text
    attempt = db.get(Attempt, attempt_id)
    assert attempt is not None
    attempt.deadline_at = utcnow() - timedelta(minutes=5)  # the page was closed; time ran out
    db.flush()
    again = open_quiz(client, world.quiz.id, follow_redirects=False)
    assert again.status_code == 303  # no attempt left: back to the lesson, with a message
    assert again.headers["location"] == f"/lessons/{world.quiz.id}"
    db.expire_all()
    attempt = db.get(Attempt, attempt_id)
    assert attempt is not None
    assert (attempt.score, attempt.passed) == (2, True)
    assert lesson_status(db, world.teacher, world.quiz) == "completed"


def test_the_quiz_form_refuses_odd_choice_ids_without_an_error_page(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    page = open_quiz(client, world.quiz.id).text
    attempt_id = int(re.search(r'data-attempt="(\d+)"', page).group(1))  # type: ignore[union-attr]
    single, _right, _short = right_choice(db, world.quiz.id)
    # A superscript digit, another script's digit, more digits than int() reads.
    for value in ("²", "٣", "9" * 5000, "1" * 19):
        sent = client.post(
            f"/attempts/{attempt_id}/submit-form",
            data={"csrf_token": csrf_from(page), f"q{single}": value},
            follow_redirects=False,
        )
        assert sent.status_code == 303, value[:10]
        assert sent.headers["location"] == f"/lessons/{world.quiz.id}/quiz"
    attempt = db.get(Attempt, attempt_id)
    assert attempt is not None
    assert attempt.submitted_at is None


def test_the_result_page_shows_a_percent_that_agrees_with_passed(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    lesson = service.add_lesson(
        db, world.author, world.quiz.module_id, title="Ba câu", kind="quiz", pass_score=67
    )
    questions = [
        quiz.add_question(
            db, world.author, lesson.id, text=f"Câu {i}?", kind="true_false", answer="true"
        )
        for i in range(3)
    ]
    learner(client, page_login, world)
    page = open_quiz(client, lesson.id).text
    attempt_id = int(re.search(r'data-attempt="(\d+)"', page).group(1))  # type: ignore[union-attr]
    answers = {
        f"q{q.id}": str(next(c.id for c in q.choices if c.correct == (i < 2)))
        for i, q in enumerate(questions)
    }
    client.post(
        f"/attempts/{attempt_id}/submit-form",
        data={"csrf_token": csrf_from(page), **answers},
        follow_redirects=False,
    )
    result = client.get(f"/attempts/{attempt_id}/result").text
    assert "result-failed" in result
    assert "(66%)" in result  # 2 of 3 against 67 %: not "67%" and failed


def test_a_timed_quiz_shows_the_countdown(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    world.quiz.time_limit_seconds = 600
    db.flush()
    learner(client, page_login, world)
    page = open_quiz(client, world.quiz.id).text
    left = int(re.search(r'data-seconds-left="(\d+)"', page).group(1))  # type: ignore[union-attr]
    assert 590 <= left <= 600
    assert 'id="quiz-timer"' in page
    assert re.search(r"/static/js/quiz\.[0-9a-f]{10}\.js", page)


# --- Completion, certificates, my learning -------------------------------------------------


def test_completing_the_course_gives_a_certificate_anyone_can_verify(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    csrf = token(client)
    for lesson in (world.video, world.doc):
        done = send_progress(
            client, lesson.id, {"event_id": str(uuid.uuid4()), "status": "completed"}, csrf
        )
        assert done.status_code == 200, done.text
    assert (
        'id="certificate-link" class="alert alert-success" hidden'
        in client.get(f"/lessons/{world.doc.id}").text
    )
    assert pass_quiz(client, db, world).status_code == 303

    lesson = client.get(f"/lessons/{world.quiz.id}").text
    assert 'id="certificate-link" class="alert alert-success">' in lesson
    cert = db.scalar(select(Certificate).where(Certificate.user_id == world.teacher.id))
    assert cert is not None
    go = client.get(f"/courses/{world.course.id}/certificate", follow_redirects=False)
    assert go.status_code == 303
    assert go.headers["location"] == f"/certificates/{cert.code}"
    assert f"/certificates/{cert.code}" in client.get(f"/courses/{world.course.id}").text

    page = client.get(f"/certificates/{cert.code}")
    assert page.status_code == 200
    assert world.teacher.full_name in page.text
    assert "Chuyển đổi số cho giáo viên" in page.text
    assert "Trường Tiểu học Tân Cương" in page.text
    assert world.school.parent_id is not None
    commune = db.get(type(world.school), world.school.parent_id)
    assert commune is not None
    assert commune.name in page.text
    assert "<svg" in page.text
    assert "<title>" in page.text
    assert f"http://testserver/verify/{cert.code}" in page.text
    listing = client.get("/my/certificates").text
    assert f'href="/certificates/{cert.code}"' in listing

    # Not the owner: not found; an administrator: yes.
    sign_in(client, page_login, world.outsider)
    assert client.get(f"/certificates/{cert.code}").status_code == 404
    sign_in(client, page_login, world.admin)
    assert client.get(f"/certificates/{cert.code}").status_code == 200

    # Signed out: the verification page, valid; a made-up code is a plain 404.
    client.cookies.clear()
    verify = client.get(f"/verify/{cert.code.lower()}")
    assert verify.status_code == 200
    assert "verify-valid" in verify.text
    assert world.teacher.full_name in verify.text
    assert "Trường Tiểu học Tân Cương" in verify.text
    missing = client.get("/verify/AAAA-BBBB-CCCC-DDDD-EEEE-FFFF")
    assert missing.status_code == 404
    assert world.teacher.full_name not in missing.text
    assert cert.code not in missing.text
    assert client.get("/verify/" + "A" * 60).status_code == 404

    progress.revoke_certificate(db, world.admin, cert.code, reason="Nhầm")
    db.flush()
    revoked = client.get(f"/verify/{cert.code}")
    assert revoked.status_code == 200
    assert "verify-revoked" in revoked.text
    assert "verify-valid" not in revoked.text
    sign_in(client, page_login, world.teacher)
    assert "revoked-banner" in client.get(f"/certificates/{cert.code}").text


def test_my_learning_sorts_courses_into_sections(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.teacher)
    empty = client.get("/my").text
    assert empty.count('class="empty"') == 4
    enrol(client, world.course.id)
    title = "Chuyển đổi số cho giáo viên"
    enrollment = service.get_enrollment(db, world.teacher.id, world.course.id)
    assert enrollment is not None

    assert title in section(client.get("/my").text, "in_progress")
    enrollment.due_at = utcnow() + timedelta(days=3)
    db.flush()
    page = client.get("/my").text
    assert title in section(page, "due_soon")
    assert title not in section(page, "in_progress")
    enrollment.due_at = utcnow() - timedelta(days=1)
    db.flush()
    assert title in section(client.get("/my").text, "overdue")

    enrollment.due_at = utcnow() + timedelta(days=30)
    db.flush()
    assert title in section(client.get("/my").text, "in_progress")

    csrf = token(client)
    for lesson in (world.video, world.doc):
        send_progress(
            client, lesson.id, {"event_id": str(uuid.uuid4()), "status": "completed"}, csrf
        )
    pass_quiz(client, db, world)
    page = client.get("/my").text
    assert title in section(page, "completed")
    assert title not in section(page, "in_progress")
    assert 'href="/my/certificates"' in page


def test_pages_carry_no_inline_script_or_style(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    learner(client, page_login, world)
    open_quiz(client, world.quiz.id)  # an open attempt, so the quiz page renders
    for url in (
        "/courses",
        f"/courses/{world.course.id}",
        f"/lessons/{world.video.id}",
        f"/lessons/{world.doc.id}",
        f"/lessons/{world.quiz.id}",
        f"/lessons/{world.quiz.id}/quiz",
        "/my",
        "/my/certificates",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert " style=" not in page.text, url
        assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None, url
        assert 'href="/courses"' in page.text  # the navigation
        assert 'href="/my"' in page.text
