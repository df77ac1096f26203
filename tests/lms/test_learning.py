"""Progress, completion, quizzes and certificates through the API."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry
from app.core.config import Settings
from app.core.db import utcnow
from app.lms import progress, quiz, service
from app.lms.models import (
    Attempt,
    Certificate,
    Enrollment,
    LessonProgress,
    ProgressEvent,
    Question,
)
from tests.accounts.test_auth_api import token_for
from tests.factories import make_user
from tests.lms.helpers import World, build_world, lesson_status

H = dict[str, str]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


@pytest.fixture
def t(client: TestClient, world: World) -> H:
    headers = token_for(client, world.teacher.email)
    assert (
        client.post(f"/api/v1/courses/{world.course.id}/enroll", headers=headers).status_code == 200
    )
    return headers


def event(**fields: object) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), **fields}


def post(client: TestClient, headers: H, lesson_id: int, body: dict[str, object]) -> dict:  # type: ignore[type-arg]
    response = client.post(f"/api/v1/lessons/{lesson_id}/progress", headers=headers, json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_progress_is_monotonic_resumable_and_accumulates(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    first = post(
        client, t, world.video.id, event(percent=30, position_seconds=42.5, seconds_spent=40)
    )
    assert (first["lesson_status"], first["lesson_percent"]) == ("in_progress", 30)
    back = post(
        client, t, world.video.id, event(percent=10, position_seconds=12.0, seconds_spent=15)
    )
    assert back["lesson_percent"] == 30  # never backwards
    assert back["position_seconds"] == 12.0  # the latest position, for resume
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == world.video.id))
    assert record is not None
    assert record.seconds_spent == 55
    assert record.content_version_id == world.video.content_version_id


def test_a_replayed_event_changes_nothing(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    body = event(percent=20, seconds_spent=30)
    post(client, t, world.video.id, body)
    replay = post(client, t, world.video.id, body)
    assert replay["replayed"] is True
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == world.video.id))
    assert record is not None
    assert record.seconds_spent == 30
    assert db.scalar(select(func.count()).select_from(ProgressEvent)) == 1


def test_bad_progress_is_refused(client: TestClient, world: World, t: H) -> None:
    for bad in (
        event(percent=101),
        event(percent=-1),
        event(seconds_spent=-5),
        event(position_seconds=-1),
        {"event_id": "not-a-uuid", "percent": 5},
        event(status="finished"),
        event(percent="lots"),
    ):
        r = client.post(f"/api/v1/lessons/{world.video.id}/progress", headers=t, json=bad)
        assert r.status_code == 422, (bad, r.text)
    done_quiz = client.post(
        f"/api/v1/lessons/{world.quiz.id}/progress", headers=t, json=event(status="completed")
    )
    assert done_quiz.status_code == 422
    outsider = token_for(client, world.outsider.email)
    r = client.post(
        f"/api/v1/lessons/{world.video.id}/progress", headers=outsider, json=event(percent=50)
    )
    assert r.status_code == 403
    assert (
        client.post("/api/v1/lessons/999999/progress", headers=t, json=event(percent=5)).status_code
        == 404
    )


def answers_for(view: dict, *, right: bool) -> dict[str, object]:  # type: ignore[type-arg]
    result: dict[str, object] = {}
    for q in view["questions"]:
        if q["kind"] == "short":
            result[str(q["id"])] = "chuyen doi so" if right else "không biết"
        else:
            choice = next(c for c in q["choices"] if (c["text"].startswith("Khoa học")) == right)
            result[str(q["id"])] = [choice["id"]]
    return result


def test_completing_the_course_issues_one_certificate(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    assert post(client, t, world.video.id, event(percent=95))["lesson_status"] == "completed"
    doc = post(client, t, world.doc.id, event(status="completed"))
    assert doc["course_progress_percent"] == 66
    assert doc["course_completed"] is False
    attempt = client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=t).json()
    # No answer ever reaches the browser before submission.
    assert "correct" not in str(attempt)
    assert "chuyen doi so" not in str(attempt).lower()
    result = client.post(
        f"/api/v1/attempts/{attempt['id']}/submit",
        headers=t,
        json={"answers": answers_for(attempt, right=True)},
    ).json()
    assert (result["score"], result["max_score"], result["passed"]) == (2, 2, True)
    mine = client.get("/api/v1/me/enrollments", headers=t).json()["items"][0]
    assert (mine["status"], mine["progress_percent"]) == ("completed", 100)
    assert mine["completed_at"] is not None
    certificates = client.get("/api/v1/me/certificates", headers=t).json()
    assert certificates["total"] == 1
    code = certificates["items"][0]["code"]
    public = client.get(f"/api/v1/certificates/{code}").json()  # no sign-in needed
    assert public["valid"] is True
    assert public["learner"] == world.teacher.full_name
    assert public["school"] == "Trường Tiểu học Tân Cương"
    # More progress after completion changes nothing about the certificate.
    post(client, t, world.video.id, event(status="completed"))
    assert db.scalar(select(func.count()).select_from(Certificate)) == 1
    assert client.get("/api/v1/certificates/AAAA-BBBB-CCCC-DDDD-EEEE-FFFF").status_code == 404
    revoked = client.post(
        f"/api/v1/certificates/{code}/revoke",
        headers=token_for(client, world.admin.email),
        json={"reason": "Nhầm lẫn"},
    ).json()
    assert (revoked["valid"], revoked["revoked"]) == (False, True)
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "certificate.revoked"))
    assert entry is not None
    assert (entry.target_id, entry.actor_id) == (code, world.admin.id)
    assert entry.organization_id == world.teacher.organization_id
    assert (
        client.post(
            f"/api/v1/certificates/{code}/revoke", headers=t, json={"reason": "x"}
        ).status_code
        == 403
    )


def test_quiz_attempts_submissions_and_limits(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    url = f"/api/v1/lessons/{world.quiz.id}/attempts"
    first = client.post(url, headers=t).json()
    resumed = client.post(url, headers=t).json()
    assert resumed["id"] == first["id"]  # an open attempt is resumed, not duplicated
    saved = client.patch(
        f"/api/v1/attempts/{first['id']}",
        headers=t,
        json={"answers": answers_for(first, right=False)},
    )
    assert saved.status_code == 200
    wrong = client.post(
        f"/api/v1/attempts/{first['id']}/submit", headers=t, json={"answers": {}}
    ).json()
    assert (wrong["score"], wrong["passed"]) == (0, False)
    assert wrong["review"] is not None  # this course shows the answers after submission
    assert any(r["correct_choice_ids"] for r in wrong["review"])
    again = client.post(
        f"/api/v1/attempts/{first['id']}/submit",
        headers=t,
        json={"answers": answers_for(first, right=True)},
    )
    assert again.status_code == 409
    second = client.post(url, headers=t).json()
    assert second["number"] == 2
    client.post(f"/api/v1/attempts/{second['id']}/submit", headers=t, json={"answers": {}})
    assert client.post(url, headers=t).status_code == 409  # max_attempts = 2
    # Someone else's attempt is not found.
    other = token_for(client, world.student.email)
    assert client.get(f"/api/v1/attempts/{first['id']}", headers=other).status_code == 404


def test_answers_must_belong_to_the_quiz(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    other_quiz = service.add_lesson(
        db, world.author, world.quiz.module_id, title="Khác", kind="quiz"
    )
    foreign = quiz.add_question(
        db, world.author, other_quiz.id, text="?", kind="true_false", answer="true"
    )
    attempt = client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=t).json()
    for answers in (
        {str(foreign.id): [foreign.choices[0].id]},
        {"abc": [1]},
        {str(attempt["questions"][0]["id"]): [foreign.choices[0].id]},
    ):
        r = client.patch(f"/api/v1/attempts/{attempt['id']}", headers=t, json={"answers": answers})
        assert r.status_code == 422, answers
    assert db.get(Attempt, attempt["id"]).answers == {}  # type: ignore[union-attr]


def test_the_time_limit_is_enforced_by_the_server(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    world.quiz.time_limit_seconds = 60
    db.flush()
    attempt = client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=t).json()
    assert 0 < attempt["seconds_left"] <= 60
    client.patch(
        f"/api/v1/attempts/{attempt['id']}",
        headers=t,
        json={
            "answers": {
                k: v
                for k, v in answers_for(attempt, right=True).items()
                if k == str(attempt["questions"][0]["id"])
            }
        },
    )
    row = db.get(Attempt, attempt["id"])
    assert row is not None
    row.deadline_at = utcnow() - timedelta(minutes=5)  # time is up
    db.flush()
    late_save = client.patch(
        f"/api/v1/attempts/{attempt['id']}",
        headers=t,
        json={"answers": answers_for(attempt, right=True)},
    )
    assert late_save.status_code == 409
    late = client.post(
        f"/api/v1/attempts/{attempt['id']}/submit",
        headers=t,
        json={"answers": answers_for(attempt, right=True)},
    ).json()
    # Scored on what was saved in time: one of the two questions.
    assert (late["late"], late["score"], late["max_score"]) == (True, 1, 2)


def test_question_validation(client: TestClient, world: World) -> None:
    a = token_for(client, world.author.email)
    url = f"/api/v1/lessons/{world.quiz.id}/questions"
    bad = [
        {"text": "Một đáp án?", "kind": "single", "choices": [{"text": "A", "correct": True}]},
        {
            "text": "Hai đúng?",
            "kind": "single",
            "choices": [{"text": "A", "correct": True}, {"text": "B", "correct": True}],
        },
        {"text": "Không đúng?", "kind": "multiple", "choices": [{"text": "A"}, {"text": "B"}]},
        {"text": "Ngắn?", "kind": "short"},
        {"text": "Đúng sai?", "kind": "true_false", "answer": "maybe"},
        {"text": "", "kind": "single"},
        {"text": "x", "kind": "essay"},
    ]
    for body in bad:
        assert client.post(url, headers=a, json=body).status_code == 422, body
    ok = client.post(
        url,
        headers=a,
        json={
            "text": "Đúng hay sai: STEM là một môn học?",
            "kind": "true_false",
            "answer": "false",
        },
    )
    assert ok.status_code == 201
    assert (
        client.post(
            f"/api/v1/lessons/{world.video.id}/questions",
            headers=a,
            json={"text": "?", "kind": "short", "answer": "x"},
        ).status_code
        == 422
    )
    assert (
        client.post(
            url,
            headers=token_for(client, world.teacher.email),
            json={"text": "?", "kind": "short", "answer": "x"},
        ).status_code
        == 403
    )


def test_short_answers_respect_the_accent_setting(db: Session, world: World) -> None:
    strict = quiz.add_question(
        db,
        world.author,
        world.quiz.id,
        text="Thủ đô?",
        kind="short",
        answer="Hà Nội",
        ignore_accents=False,
    )
    loose = quiz.add_question(
        db, world.author, world.quiz.id, text="Thủ đô?", kind="short", answer="Hà Nội"
    )
    assert quiz._is_correct(loose, "ha noi")
    assert quiz._is_correct(loose, "  HÀ  NỘI ")
    assert not quiz._is_correct(strict, "ha noi")
    assert quiz._is_correct(strict, "Hà Nội")


def test_an_expired_last_attempt_is_scored_even_when_no_attempt_is_left(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    world.quiz.time_limit_seconds = 60
    world.quiz.max_attempts = 1
    db.flush()
    url = f"/api/v1/lessons/{world.quiz.id}/attempts"
    attempt = client.post(url, headers=t).json()
    saved = client.patch(
        f"/api/v1/attempts/{attempt['id']}",
        headers=t,
        json={"answers": answers_for(attempt, right=True)},
    )
    assert saved.status_code == 200
    row = db.get(Attempt, attempt["id"])
    assert row is not None
    row.deadline_at = utcnow() - timedelta(minutes=5)  # the connection dropped; time ran out
    db.flush()
    # Reopening the quiz scores the expired attempt; no attempt is left to start (409), and
    # the scoring is not rolled back with the refusal.
    assert client.post(url, headers=t).status_code == 409
    db.expire_all()
    row = db.get(Attempt, attempt["id"])
    assert row is not None
    assert row.submitted_at is not None
    assert (row.score, row.max_score, row.passed) == (2, 2, True)
    assert lesson_status(db, world.teacher, world.quiz) == "completed"


def test_an_expired_attempt_is_scored_when_it_is_read(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    world.quiz.time_limit_seconds = 60
    db.flush()
    attempt = client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=t).json()
    client.patch(
        f"/api/v1/attempts/{attempt['id']}",
        headers=t,
        json={"answers": answers_for(attempt, right=True)},
    )
    fresh = client.get(f"/api/v1/attempts/{attempt['id']}", headers=t).json()
    assert fresh["submitted_at"] is None  # still in time: left open
    row = db.get(Attempt, attempt["id"])
    assert row is not None
    row.deadline_at = utcnow() - timedelta(minutes=5)
    db.flush()
    read = client.get(f"/api/v1/attempts/{attempt['id']}", headers=t)
    assert read.status_code == 200
    assert read.json()["submitted_at"] is not None
    db.expire_all()
    row = db.get(Attempt, attempt["id"])
    assert row is not None
    assert (row.score, row.passed) == (2, True)


def test_a_required_quiz_that_cannot_be_passed_is_not_published(
    client: TestClient, db: Session, world: World
) -> None:
    a = token_for(client, world.author.email)
    course = service.create_course(db, world.author, title="Khoá có bài kiểm tra rỗng")
    module = service.add_module(db, world.author, course.id, title="Học phần 1")
    lesson = service.add_lesson(db, world.author, module.id, title="Kiểm tra cuối", kind="quiz")
    publish = f"/api/v1/courses/{course.id}/publish"
    empty = client.post(publish, headers=a)
    assert empty.status_code == 409
    assert "Kiểm tra cuối" in empty.json()["detail"]
    quiz.add_question(
        db, world.author, lesson.id, text="Đã xem?", kind="true_false", answer="true", points=0
    )
    assert client.post(publish, headers=a).status_code == 409  # 0 points in all
    quiz.add_question(db, world.author, lesson.id, text="Đúng?", kind="true_false", answer="true")
    assert client.post(publish, headers=a).status_code == 200
    # An optional quiz does not hold the course back.
    other = service.create_course(db, world.author, title="Khoá có khảo sát")
    module = service.add_module(db, world.author, other.id, title="Học phần 1")
    service.add_lesson(db, world.author, module.id, title="Khảo sát", kind="quiz", required=False)
    assert client.post(f"/api/v1/courses/{other.id}/publish", headers=a).status_code == 200


def test_a_quiz_worth_no_points_is_passed_by_submitting_it(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    lesson = service.add_lesson(
        db, world.author, world.quiz.module_id, title="Khảo sát", kind="quiz", required=False
    )
    q = quiz.add_question(
        db,
        world.author,
        lesson.id,
        text="Bạn đã xem video?",
        kind="true_false",
        answer="true",
        points=0,
    )
    attempt = client.post(f"/api/v1/lessons/{lesson.id}/attempts", headers=t).json()
    wrong = [c.id for c in q.choices if not c.correct]
    result = client.post(
        f"/api/v1/attempts/{attempt['id']}/submit",
        headers=t,
        json={"answers": {str(q.id): wrong}},
    ).json()
    assert (result["score"], result["max_score"]) == (0, 0)
    assert (result["passed"], result["percent"]) == (True, 100)


def test_strict_short_answers_ignore_the_unicode_form_and_the_spacing(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    decomposed = unicodedata.normalize("NFD", "Hà Nội")
    assert decomposed != "Hà Nội"  # the same text in other code points (Unikey "tổ hợp")
    q = quiz.add_question(
        db,
        world.author,
        world.quiz.id,
        text="Thủ đô của Việt Nam?",
        kind="short",
        answer=f" {decomposed}  | Thăng   Long ",
        ignore_accents=False,
    )
    assert q.answer == "Hà Nội|Thăng Long"  # stored composed, one space
    for typed in (decomposed, "Hà Nội", "  Hà \t Nội ", unicodedata.normalize("NFD", "Thăng Long")):
        assert quiz._is_correct(q, typed), typed
    assert not quiz._is_correct(q, "Ha Noi")  # still accent-sensitive
    attempt = client.post(f"/api/v1/lessons/{world.quiz.id}/attempts", headers=t).json()
    result = client.post(
        f"/api/v1/attempts/{attempt['id']}/submit",
        headers=t,
        json={"answers": {str(q.id): decomposed}},
    ).json()
    assert next(r for r in result["review"] if r["question_id"] == q.id)["correct"] is True


def test_the_shown_percent_never_contradicts_passed(
    client: TestClient, db: Session, world: World, t: H
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
    attempt = client.post(f"/api/v1/lessons/{lesson.id}/attempts", headers=t).json()
    answers = {
        str(q.id): [next(c.id for c in q.choices if c.correct == (i < 2))]
        for i, q in enumerate(questions)
    }
    result = client.post(
        f"/api/v1/attempts/{attempt['id']}/submit", headers=t, json={"answers": answers}
    ).json()
    # 2 of 3 is 66.7 %: below a pass score of 67, and shown as 66 %, not "67 %".
    assert (result["score"], result["max_score"], result["passed"]) == (2, 3, False)
    assert result["percent"] == 66
    assert quiz.percent_of(2, 3) == 66
    assert quiz.percent_of(1, 2) == 50
    assert quiz.percent_of(3, 3) == 100
    assert quiz.percent_of(0, 0) == 100


def test_my_enrollments_and_certificates_are_paged(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    other = service.create_course(db, world.author, title="Khoá 2")
    module = service.add_module(db, world.author, other.id, title="Học phần 1")
    service.add_lesson(
        db, world.author, module.id, title="Video", kind="content", content_id=world.item.id
    )
    service.publish_course(db, world.author, other.id)
    assert client.post(f"/api/v1/courses/{other.id}/enroll", headers=t).status_code == 200
    first = client.get("/api/v1/me/enrollments?limit=1", headers=t).json()
    second = client.get("/api/v1/me/enrollments?limit=1&offset=1", headers=t).json()
    assert (first["total"], second["total"]) == (2, 2)
    assert len(first["items"]) == len(second["items"]) == 1
    assert {first["items"][0]["course_id"], second["items"][0]["course_id"]} == {
        world.course.id,
        other.id,
    }
    assert len(client.get("/api/v1/me/enrollments", headers=t).json()["items"]) == 2
    assert client.get("/api/v1/me/enrollments?limit=0", headers=t).status_code == 422
    for course in (world.course, other):
        db.add(
            Certificate(
                code=progress.new_certificate_code(), user_id=world.teacher.id, course_id=course.id
            )
        )
    db.flush()
    page = client.get("/api/v1/me/certificates?limit=1&offset=1", headers=t).json()
    assert page["total"] == 2
    assert len(page["items"]) == 1
    assert client.get("/api/v1/me/certificates?offset=-1", headers=t).status_code == 422


def test_my_learning_lists_dated_courses_before_undated_ones_on_every_database(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    courses = {}
    for title in ("A không hạn", "B có hạn", "C không hạn"):
        course = service.create_course(db, world.author, title=title)
        module = service.add_module(db, world.author, course.id, title="Học phần 1")
        service.add_lesson(
            db, world.author, module.id, title="Video", kind="content", content_id=world.item.id
        )
        service.publish_course(db, world.author, course.id)
        assert client.post(f"/api/v1/courses/{course.id}/enroll", headers=t).status_code == 200
        courses[title] = course
    for enrollment in db.scalars(select(Enrollment).where(Enrollment.user_id == world.teacher.id)):
        enrollment.due_at = None
        if enrollment.course_id == courses["B có hạn"].id:
            enrollment.due_at = utcnow() + timedelta(days=3)
    db.flush()
    items = client.get("/api/v1/me/enrollments", headers=t).json()["items"]
    assert [i["title"] for i in items][:1] == ["B có hạn"]  # the one with a deadline first
    assert [i["title"] for i in items].index("C không hạn") > [i["title"] for i in items].index(
        "A không hạn"
    )


@pytest.mark.parametrize(
    ("where", "school", "commune"),
    [
        ("school", "Trường Tiểu học Tân Cương", "commune"),
        ("commune", None, "commune"),  # commune staff: no school, and the commune is its own
    ],
)
def test_a_certificate_names_the_school_and_the_commune_it_belongs_to(
    client: TestClient,
    db: Session,
    settings: Settings,
    world: World,
    where: str,
    school: str | None,
    commune: str,
) -> None:
    organization = world.school if where == "school" else world.admin.organization
    learner = make_user(db, settings, role="teacher", organization=organization)
    code = progress.new_certificate_code()
    db.add(Certificate(code=code, user_id=learner.id, course_id=world.course.id))
    db.flush()
    commune_name = world.admin.organization.name  # the admin works at the commune
    public = client.get(f"/api/v1/certificates/{code}").json()
    assert (public["school"], public["commune"]) == (school, commune_name)
    page = client.get(f"/verify/{code}")
    assert page.status_code == 200
    assert commune_name in page.text
    assert ("Trường Tiểu học Tân Cương" in page.text) is (school is not None)


def test_a_double_tap_on_start_resumes_the_attempt_it_started(
    db: Session, world: World, t: H, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two starts at the same moment: both see no attempt, the other tap's insert lands
    first, ours meets the unique (user, lesson, number) — as on PostgreSQL — and resumes the
    other's attempt instead of answering 409."""
    real = quiz.questions_of

    def other_tap_first(session: Session, lesson_id: int) -> list[Question]:
        monkeypatch.setattr(quiz, "questions_of", real)  # once
        session.add(
            Attempt(
                user_id=world.teacher.id,
                lesson_id=lesson_id,
                number=1,
                started_at=utcnow(),
                layout={"questions": [], "choices": {}},
                answers={},
            )
        )
        session.flush()
        return real(session, lesson_id)

    monkeypatch.setattr(quiz, "questions_of", other_tap_first)
    view = quiz.start_attempt(db, world.teacher, world.quiz.id)
    attempts = db.scalars(select(Attempt).where(Attempt.user_id == world.teacher.id)).all()
    assert len(attempts) == 1
    assert view.attempt.id == attempts[0].id
