"""Fifty requests finishing the last lesson at the same moment: one completion, one
certificate — enforced by the database, on a live server with real commits."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from app.core.config import Settings
from app.core.db import make_sessionmaker, session_scope
from app.lms import service
from app.lms.models import Certificate, Enrollment, LessonProgress
from tests.factories import PASSWORD, make_org, make_user
from tests.lms.helpers import published_item
from tests.support.live import live_server


def test_fifty_simultaneous_completions_make_one_certificate(
    app: FastAPI, committed: Engine, settings: Settings
) -> None:
    factory = make_sessionmaker(committed)
    with session_scope(factory) as session:
        school = make_org(session)
        author = make_user(session, settings, role="author", organization=school)
        teacher = make_user(session, settings, role="teacher", organization=school)
        item = published_item(session, app.state.blob_store, author)
        course = service.create_course(session, author, title="Một bài")
        module = service.add_module(session, author, course.id, title="Duy nhất")
        lesson = service.add_lesson(
            session, author, module.id, title="Video", kind="content", content_id=item.id
        )
        service.publish_course(session, author, course.id)
        service.enroll_self(session, teacher, course.id)
        course_id, lesson_id, email = course.id, lesson.id, teacher.email

    with live_server(app) as base:
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        barrier = threading.Barrier(50)
        statuses: Counter[int] = Counter()
        completed: list[bool] = []

        def finish() -> None:
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                r = client.post(
                    f"{base}/api/v1/lessons/{lesson_id}/progress",
                    headers=headers,
                    json={"event_id": str(uuid.uuid4()), "status": "completed", "percent": 100},
                )
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    completed.append(r.json()["course_completed"])

        threads = [threading.Thread(target=finish) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert statuses == Counter({200: 50}), statuses
    assert all(completed)
    with session_scope(factory) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(Certificate.course_id == course_id)
            )
            == 1
        )
        enrollment = session.scalar(select(Enrollment).where(Enrollment.course_id == course_id))
        assert enrollment is not None
        assert enrollment.status == "completed"
        assert enrollment.completed_at is not None
        assert (
            session.scalar(
                select(func.count())
                .select_from(LessonProgress)
                .where(LessonProgress.lesson_id == lesson_id)
            )
            == 1
        )


def test_two_lessons_finished_at_once_complete_the_course(
    app: FastAPI, committed: Engine, settings: Settings
) -> None:
    """Each request sees the other's completion (the enrolment row serialises them)."""
    factory = make_sessionmaker(committed)
    with session_scope(factory) as session:
        school = make_org(session)
        author = make_user(session, settings, role="author", organization=school)
        item = published_item(session, app.state.blob_store, author)
        course = service.create_course(session, author, title="Hai bài")
        module = service.add_module(session, author, course.id, title="Một")
        lesson_ids = [
            service.add_lesson(
                session, author, module.id, title=f"Bài {i}", kind="content", content_id=item.id
            ).id
            for i in range(2)
        ]
        service.publish_course(session, author, course.id)
        learners = []
        for _ in range(5):
            learner = make_user(session, settings, role="teacher", organization=school)
            service.enroll_self(session, learner, course.id)
            learners.append(learner.email)
        course_id = course.id

    with live_server(app) as base:
        for email in learners:
            token = httpx.post(
                f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD}
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            barrier = threading.Barrier(2)

            def finish(
                lesson_id: int,
                headers: dict[str, str] = headers,
                barrier: threading.Barrier = barrier,
            ) -> None:
                barrier.wait()
                httpx.post(
                    f"{base}/api/v1/lessons/{lesson_id}/progress",
                    headers=headers,
                    json={"event_id": str(uuid.uuid4()), "status": "completed"},
                    timeout=30,
                )

            threads = [threading.Thread(target=finish, args=(lid,)) for lid in lesson_ids]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    with session_scope(factory) as session:
        rows = session.scalars(select(Enrollment).where(Enrollment.course_id == course_id)).all()
        assert [(r.status, r.progress_percent) for r in rows] == [("completed", 100)] * 5
        assert (
            session.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(Certificate.course_id == course_id)
            )
            == 5
        )
