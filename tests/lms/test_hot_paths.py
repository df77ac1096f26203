"""The learner's hot endpoints (course page, progress events) on their plain-SQL path: the same
answers as the entities give, the bearer checks of every other endpoint, the same schema."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from app.accounts import auth
from app.core.config import Settings
from app.core.db import get_session, utcnow
from app.lcms import service as lcms
from app.lms import api, service
from app.lms.models import Enrollment, LessonProgress
from app.lms.schemas import CourseOut, LessonOut, LessonProgressOut, ModuleOut
from tests.accounts.test_auth_api import token_for
from tests.lms.helpers import World, build_world, publish_newer_version

H = dict[str, str]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


@pytest.fixture
def t(client: TestClient, world: World) -> H:
    headers = token_for(client, world.teacher.email)
    url = f"/api/v1/courses/{world.course.id}/enroll"
    assert client.post(url, headers=headers).status_code == 200
    return headers


def progress(client: TestClient, headers: H, lesson_id: int, **fields: Any) -> Any:
    body = {"event_id": str(uuid.uuid4()), **fields}
    return client.post(f"/api/v1/lessons/{lesson_id}/progress", headers=headers, json=body)


def from_entities(db: Session, user_id: int, course_id: int) -> dict[str, Any]:
    """The course document built independently, from ORM entities and pydantic models."""
    db.expire_all()
    course = service.get_course(db, course_id)
    plan = service.outline(db, course)
    records = service.progress_map(db, user_id, course_id)
    versions = [
        lesson.content_version_id
        for module in plan.modules
        for lesson in plan.lessons[module.id]
        if lesson.content_version_id
    ] + [r.content_version_id for r in records.values() if r.content_version_id]
    pins = lcms.pinned_versions(db, versions)
    modules = []
    for module in plan.modules:
        lessons = []
        for lesson in plan.lessons[module.id]:
            pin = pins.get(lesson.content_version_id or 0)
            record = records.get(lesson.id)
            seen = pins.get(record.content_version_id or 0) if record else None
            lessons.append(
                LessonOut(
                    id=lesson.id,
                    title=lesson.title,
                    kind=lesson.kind,  # type: ignore[arg-type]
                    content_id=lesson.content_item_id,
                    content_version=pin.number if pin else None,
                    content_title=pin.item_title if pin else None,
                    media_type=pin.media_type if pin else None,
                    size=pin.size if pin else None,
                    required=lesson.required,
                    pass_score=lesson.pass_score,
                    completion_threshold=lesson.completion_threshold,
                    max_attempts=lesson.max_attempts,
                    time_limit_seconds=lesson.time_limit_seconds,
                    update_available=bool(
                        pin and pin.published_number and pin.published_number != pin.number
                    ),
                    progress=LessonProgressOut(
                        status=record.status,  # type: ignore[arg-type]
                        percent=record.percent,
                        position_seconds=record.position_seconds,
                        seconds_spent=record.seconds_spent,
                        completed_at=record.completed_at,
                        content_version=seen.number if seen else None,
                    )
                    if record
                    else None,
                )
            )
        modules.append(
            ModuleOut(id=module.id, title=module.title, position=module.position, lessons=lessons)
        )
    enrollment = db.scalar(
        select(Enrollment).where(Enrollment.user_id == user_id, Enrollment.course_id == course_id)
    )
    document = CourseOut(
        **api.summary(course).model_dump(),
        modules=modules,
        enrollment=api.enrollment_out(enrollment, course) if enrollment else None,
    )
    return document.model_dump(mode="json")


def test_the_course_page_is_the_document_the_entities_give(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    url = f"/api/v1/courses/{world.course.id}"
    assert client.get(url, headers=t).json() == from_entities(db, world.teacher.id, world.course.id)
    # Progress of every kind: completed, half way, with a resume position and time spent.
    assert progress(client, t, world.video.id, status="completed").status_code == 200
    done = progress(client, t, world.doc.id, percent=30, position_seconds=12.5, seconds_spent=7)
    assert done.json()["lesson_percent"] == 30
    # A newer version published in the library (update available), then applied to the lesson:
    # the learner's completion keeps the version they saw, which the outline no longer pins.
    store = client.app.state.blob_store  # type: ignore[attr-defined]
    publish_newer_version(db, store, world.author, world.item, size=9100)
    page = client.get(url, headers=t).json()
    assert page == from_entities(db, world.teacher.id, world.course.id)
    assert page["modules"][0]["lessons"][0]["update_available"] is True
    author = token_for(client, world.author.email)
    r = client.post(f"/api/v1/lessons/{world.video.id}/update-content", headers=author)
    assert r.status_code == 200, r.text
    enrollment = db.scalar(select(Enrollment).where(Enrollment.user_id == world.teacher.id))
    assert enrollment is not None
    enrollment.due_at = utcnow() - timedelta(days=1)  # overdue
    page = client.get(url, headers=t).json()
    assert page == from_entities(db, world.teacher.id, world.course.id)
    video = page["modules"][0]["lessons"][0]
    assert (video["content_version"], video["progress"]["content_version"]) == (2, 1)
    assert page["enrollment"]["overdue"] is True
    # The author, not enrolled, sees the same outline without progress.
    assert client.get(url, headers=author).json() == from_entities(
        db, world.author.id, world.course.id
    )


def test_progress_answers_and_stores_what_the_rules_say(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    enrollment = db.scalar(select(Enrollment).where(Enrollment.user_id == world.teacher.id))
    assert enrollment is not None
    assert enrollment.progress_percent == 0  # loaded in this session before the events
    body = {"event_id": str(uuid.uuid4()), "percent": 95, "seconds_spent": 30}
    url = f"/api/v1/lessons/{world.video.id}/progress"
    first = client.post(url, headers=t, json=body)
    assert first.json() == {
        "lesson_status": "completed",
        "lesson_percent": 95,
        "position_seconds": 0.0,
        "course_progress_percent": 33,  # 1 of 3 required lessons
        "course_completed": False,
        "replayed": False,
    }
    # Objects the session held are refreshed, not stale.
    assert enrollment.progress_percent == 33
    assert enrollment.last_activity_at is not None
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == world.video.id))
    assert record is not None
    assert (record.status, record.percent, record.seconds_spent) == ("completed", 95, 30.0)
    assert record.completed_at is not None
    assert record.content_version_id == world.video.content_version_id
    # A replay changes nothing and says so.
    replay = client.post(url, headers=t, json=body).json()
    assert replay == {**first.json(), "replayed": True}
    db.refresh(record)
    assert record.seconds_spent == 30.0
    # Lowering the percent does not move it back, nor the completion.
    lower = progress(client, t, world.video.id, percent=10, position_seconds=3).json()
    assert (lower["lesson_status"], lower["lesson_percent"]) == ("completed", 95)
    # The refusals: quiz completed by hand, a stranger, an unknown lesson, a withdrawn learner.
    assert progress(client, t, world.quiz.id, status="completed").status_code == 422
    outsider = token_for(client, world.outsider.email)
    assert progress(client, outsider, world.video.id, percent=5).status_code == 403
    assert progress(client, t, 10**9, percent=5).status_code == 404
    withdraw = client.post(f"/api/v1/courses/{world.course.id}/withdraw", headers=t)
    assert withdraw.status_code == 200
    assert progress(client, t, world.doc.id, percent=5).status_code == 403


def test_completion_through_progress_events_issues_one_certificate(
    client: TestClient, db: Session, settings: Settings, world: World, t: H
) -> None:
    # Only content lessons count once the quiz is optional.
    world.quiz.required = False
    first = progress(client, t, world.video.id, status="completed").json()
    assert (first["course_progress_percent"], first["course_completed"]) == (50, False)
    last = progress(client, t, world.doc.id, percent=60).json()
    assert (last["course_progress_percent"], last["course_completed"]) == (100, True)
    again = progress(client, t, world.doc.id, percent=80).json()
    assert again["course_completed"] is True
    certificates = client.get("/api/v1/me/certificates", headers=t).json()
    assert certificates["total"] == 1
    enrollment = db.scalar(select(Enrollment).where(Enrollment.user_id == world.teacher.id))
    assert enrollment is not None
    assert (enrollment.status, enrollment.progress_percent) == ("completed", 100)
    assert enrollment.completed_at is not None


def test_revoked_tokens_and_deactivated_users_are_refused_at_once(
    client: TestClient, db: Session, world: World, t: H, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"/api/v1/courses/{world.course.id}"
    assert client.get(url, headers=t).status_code == 200  # the token is verified and known
    world.teacher.token_version += 1  # as a password change does
    assert client.get(url, headers=t).status_code == 401
    assert progress(client, t, world.video.id, percent=5).status_code == 401
    fresh = token_for(client, world.teacher.email)
    assert client.get(url, headers=fresh).status_code == 200
    world.teacher.is_active = False
    assert client.get(url, headers=fresh).status_code == 401
    assert progress(client, fresh, world.video.id, percent=5).status_code == 401
    world.teacher.is_active = True
    assert client.get(url, headers=fresh).status_code == 200
    # Not enrolled either: still 401 first, not 403.
    outsider = token_for(client, world.outsider.email)
    world.outsider.token_version += 1
    assert progress(client, outsider, world.video.id, percent=5).status_code == 401
    # A known token still expires on time.
    claims = auth.token_claims(client.app.state.settings, fresh["Authorization"][7:])  # type: ignore[attr-defined]
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: claims.expires_at + 1))
    assert client.get(url, headers=fresh).status_code == 401
    monkeypatch.undo()
    # No token, or a forged one: 401 before the body is even looked at.
    assert client.get(url).status_code == 401
    forged = {"Authorization": "Bearer " + fresh["Authorization"][7:-2] + "xx"}
    assert client.get(url, headers=forged).status_code == 401
    bad_body = client.post(f"/api/v1/lessons/{world.video.id}/progress", json={"percent": 500})
    assert bad_body.status_code == 401
    assert progress(client, fresh, world.video.id, percent=500).status_code == 422


def test_statements_do_not_grow_with_the_course(
    client: TestClient, db: Session, world: World, t: H
) -> None:
    """The progress post, like the course page, takes a constant number of statements."""
    assert progress(client, t, world.video.id, percent=5).status_code == 200

    def count() -> int:
        statements: list[str] = []

        def on_execute(*args: object) -> None:
            statements.append(str(args[2]))

        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            assert progress(client, t, world.video.id, percent=6).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
        return len([s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))])

    small = count()
    module = service.outline(db, world.course).modules[0]
    for i in range(30):
        service.add_lesson(
            db, world.author, module.id, title=f"Bài {i}", kind="content", content_id=world.item.id
        )
    assert count() == small
    # The lesson with the caller and the enrolment (locked), the event with the progress row,
    # and the progress and enrolment updates: merged pairwise on PostgreSQL, where each
    # statement is a round trip.
    merged = db.get_bind().dialect.name == "postgresql"
    assert small == (3 if merged else 5), small


def test_the_schema_of_the_hot_endpoints_is_unchanged(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    page = paths["/api/v1/courses/{course_id}"]["get"]
    post = paths["/api/v1/lessons/{lesson_id}/progress"]["post"]
    assert page["operationId"] == "get_course_api_v1_courses__course_id__get"
    assert post["operationId"] == "post_progress_api_v1_lessons__lesson_id__progress_post"
    assert post["summary"] == "Post Progress"
    for operation, model in ((page, "CourseOut"), (post, "ProgressOut")):
        assert operation["security"] == [{"OAuth2PasswordBearer": []}]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ProgressIn"}


def test_a_session_its_handler_ended_is_closed_without_a_thread_hop(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[object] = []
    real = anyio.to_thread.run_sync

    async def counting(*args: Any, **kwargs: Any) -> Any:
        hops.append(args[0])
        return await real(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    request = SimpleNamespace(method="GET", app=app)

    async def serve(end_in_handler: bool) -> Session:
        sessions = get_session(request)  # type: ignore[arg-type]
        session = await sessions.__anext__()
        session.connection()  # some database work: a transaction begins
        if end_in_handler:
            session.commit()
        with pytest.raises(StopAsyncIteration):
            await sessions.__anext__()
        return session

    # anyio.run in a thread of its own: the browser tests' Playwright keeps an event loop
    # running in the main thread for the rest of the run.
    with ThreadPoolExecutor(1) as pool:
        ended = pool.submit(anyio.run, serve, True).result()
    assert hops == []
    assert not ended.in_transaction()
    with ThreadPoolExecutor(1) as pool:
        left = pool.submit(anyio.run, serve, False).result()
    assert len(hops) == 1  # commit and close on a thread of their own
    assert not left.in_transaction()


def test_the_course_page_reads_without_a_transaction_on_postgresql(
    live_client: TestClient, committed: Engine, settings: Settings
) -> None:
    """PostgreSQL: the page's reads run in autocommit (no BEGIN/COMMIT round trips), and the
    connection goes back to the pool as an ordinary transactional one. SQLite: untouched."""
    store = live_client.app.state.blob_store  # type: ignore[attr-defined]
    with Session(committed, expire_on_commit=False) as setup:
        world = build_world(setup, settings, store)
        service.enroll_self(setup, world.teacher, world.course.id)
        setup.commit()
        teacher_email, course_id = world.teacher.email, world.course.id
    headers = token_for(live_client, teacher_email)
    seen: list[tuple[str, bool]] = []

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        raw = conn.connection.driver_connection
        in_transaction = (
            raw.info.transaction_status != 0  # psycopg: 0 = IDLE, no transaction open
            if committed.dialect.name == "postgresql"
            else raw.in_transaction
        )
        seen.append((statement.split()[0].upper(), in_transaction))

    engine: Engine = live_client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "after_cursor_execute", after_execute)
    try:
        response = live_client.get(f"/api/v1/courses/{course_id}", headers=headers)
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
    assert response.status_code == 200, response.text
    assert response.json()["enrollment"]["status"] == "active"
    reads = [in_tx for verb, in_tx in seen if verb in ("SELECT", "WITH")]
    assert reads, seen
    if committed.dialect.name == "postgresql":
        assert not any(reads), seen  # each read its own snapshot: no transaction was begun
        with engine.connect() as conn:  # the pool hands out transactional connections again
            assert conn.connection.driver_connection.autocommit is False
    else:
        assert all(reads), seen  # SQLite's BEGIN is free: the page reads in one snapshot
