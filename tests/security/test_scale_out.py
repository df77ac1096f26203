"""Scale-out (issue #7, item 7): two app processes on one PostgreSQL database and one S3 bucket,
each with its own data directory, serve one learner's journey with its requests split between
them. Anything kept in one process's memory or on its disk (sessions, CSRF, throttling, the
course-outline cache, uploaded files) would break a step.

The processes are real ``hocso serve`` subprocesses (uvicorn), started for this module only.
SQLite is one box by design (one writer, a file on local disk), so this runs in the PostgreSQL
pass of ``make test`` and is skipped on SQLite.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.core.config import PROJECT_ROOT, Settings
from app.core.storage import make_blob_store, s3_client
from app.lms.models import Attempt, Certificate, ProgressEvent
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.lcms import samples
from tests.lms.helpers import build_world
from tests.support.live import free_port

pytestmark = pytest.mark.skipif(
    not os.environ.get("HOCSO_TEST_DB", "sqlite").startswith("postgresql"),
    reason="SQLite is single-box by design (one writer, files on local disk); the scale-out "
    "check needs PostgreSQL (HOCSO_TEST_DB=postgresql, as in make test's second pass)",
)

BUCKET = "hocso-scale-out"


@dataclass
class Ids:
    course: int
    video: int
    doc: int
    quiz: int
    item: int
    teacher: str
    teacher_name: str
    author: str
    video_bytes: bytes


@dataclass
class Pair:
    a: str
    b: str
    ids: Ids


def shared_settings(settings: Settings, s3_endpoint: str) -> Settings:
    """The run's database; the run's bucket if it already uses S3, else one of our own."""
    if settings.storage == "s3":
        return settings
    shared = settings.model_copy(
        update={"storage": "s3", "s3_endpoint_url": s3_endpoint, "s3_bucket": BUCKET}
    )
    client = s3_client(shared)
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    return shared


def serve(shared: Settings, data_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "HOCSO_ENV": "test",
        "HOCSO_DATABASE_URL": shared.database_url,
        "HOCSO_DATA_DIR": str(data_dir),
        "HOCSO_SECRET_KEY": shared.secret_key,
        "HOCSO_STORAGE": "s3",
        "HOCSO_S3_ENDPOINT_URL": shared.s3_endpoint_url or "",
        "HOCSO_S3_BUCKET": shared.s3_bucket,
        "HOCSO_GC_ON_STARTUP": "false",
    }
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return f"http://127.0.0.1:{port}", process


def wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{base} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base} did not start:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Servers:
    a: str
    b: str
    shared: Settings


@pytest.fixture(scope="module")
def servers(
    settings: Settings, engine: Engine, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    """Two processes for the whole module (starting one costs seconds of imports)."""
    shared = shared_settings(settings, s3_endpoint)
    processes = []
    try:
        for name in ("a", "b"):
            data_dir = tmp_path_factory.mktemp(f"process-{name}")
            processes.append((*serve(shared, data_dir), data_dir / "server.log"))
        for base, process, log in processes:
            wait_healthy(base, process, log)
        yield Servers(processes[0][0], processes[1][0], shared)
    finally:
        for _base, process, _log in processes:
            process.send_signal(signal.SIGINT)
        for _base, process, _log in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def pair(servers: Servers, committed: Engine) -> Pair:
    """A course with a video, a document and a quiz, stored in the database and the bucket
    the two processes share (committed: they are other processes)."""
    with Session(committed, expire_on_commit=False) as db:
        world = build_world(db, servers.shared, make_blob_store(servers.shared))
        ids = Ids(
            course=world.course.id,
            video=world.video.id,
            doc=world.doc.id,
            quiz=world.quiz.id,
            item=world.item.id,
            teacher=world.teacher.email,
            teacher_name=world.teacher.full_name,
            author=world.author.email,
            video_bytes=samples.mp4(8192),  # what build_world stored for the video item
        )
        db.commit()
    return Pair(servers.a, servers.b, ids)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text[:500]}"
    return response.json() if "json" in response.headers.get("content-type", "") else None


def bearer(base: str, email: str) -> dict[str, str]:
    form = {"username": email, "password": PASSWORD}
    token = ok(httpx.post(f"{base}/api/v1/auth/token", data=form))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def fetch_file(base: str, path: str, headers: dict[str, str]) -> bytes:
    """The app answers 307 to a presigned URL on the S3 endpoint; follow it as a browser."""
    response = httpx.get(f"{base}{path}", headers=headers)
    assert response.status_code == 307, response.text[:300]
    return httpx.get(response.headers["location"]).content


def test_the_learner_journey_alternating_between_two_processes(
    pair: Pair, committed: Engine
) -> None:
    a, b, ids = pair.a, pair.b, pair.ids
    assert a != b

    # A token issued by A works on B (HMAC-signed with the shared key, user read from the DB).
    learner = bearer(a, ids.teacher)
    assert ok(httpx.get(f"{b}/api/v1/me", headers=learner))["email"] == ids.teacher
    ok(httpx.post(f"{b}/api/v1/courses/{ids.course}/enroll", headers=learner))
    mine = ok(httpx.get(f"{a}/api/v1/me/enrollments", headers=learner))
    assert [e["course_id"] for e in mine["items"]] == [ids.course]

    # B caches the course outline; the author renames the course on A: B must not serve the
    # old outline (the cache key is checked against the database on every request).
    course = ok(httpx.get(f"{b}/api/v1/courses/{ids.course}", headers=learner))
    assert [le["id"] for le in course["modules"][0]["lessons"]] == [ids.video, ids.doc, ids.quiz]
    author = bearer(b, ids.author)
    renamed = course["title"] + " (2026)"
    ok(httpx.patch(f"{a}/api/v1/courses/{ids.course}", json={"title": renamed}, headers=author))
    assert ok(httpx.get(f"{b}/api/v1/courses/{ids.course}", headers=learner))["title"] == renamed
    added = httpx.post(
        f"{a}/api/v1/courses/{ids.course}/modules", json={"title": "HP 2"}, headers=author
    )
    ok(added, 201)
    modules = ok(httpx.get(f"{b}/api/v1/courses/{ids.course}", headers=learner))["modules"]
    assert [m["title"] for m in modules][-1] == "HP 2"

    # Files: each process has its own data directory, so only the bucket is shared.
    assert fetch_file(b, f"/api/v1/lessons/{ids.video}/file", learner) == ids.video_bytes
    new_video = samples.mp4(16384)
    uploaded = httpx.post(
        f"{a}/api/v1/content/{ids.item}/versions",
        headers=author,
        files={"file": ("bai-giang-2.mp4", new_video, "application/octet-stream")},
    )
    number = ok(uploaded, 201)["number"]
    assert fetch_file(b, f"/api/v1/content/{ids.item}/versions/{number}/file", author) == new_video

    # Progress, alternating; an event replayed on the other process counts once.
    event = str(uuid.uuid4())
    body = {"event_id": event, "percent": 100, "seconds_spent": 30}
    first = ok(httpx.post(f"{a}/api/v1/lessons/{ids.video}/progress", json=body, headers=learner))
    again = ok(httpx.post(f"{b}/api/v1/lessons/{ids.video}/progress", json=body, headers=learner))
    assert first["lesson_status"] == again["lesson_status"] == "completed"
    assert (first["replayed"], again["replayed"]) == (False, True)
    doc = {"event_id": str(uuid.uuid4()), "percent": 100}
    ok(httpx.post(f"{b}/api/v1/lessons/{ids.doc}/progress", json=doc, headers=learner))

    # The quiz: started on A, answered on B, submitted on A with nothing more in the body.
    attempt = ok(httpx.post(f"{a}/api/v1/lessons/{ids.quiz}/attempts", headers=learner), 201)
    answers: dict[str, Any] = {}
    for question in attempt["questions"]:
        if question["kind"] == "short":
            answers[str(question["id"])] = "CĐS"
        else:
            right = next(c for c in question["choices"] if c["text"].startswith("Khoa học"))
            answers[str(question["id"])] = [right["id"]]
    saved = httpx.patch(
        f"{b}/api/v1/attempts/{attempt['id']}", json={"answers": answers}, headers=learner
    )
    assert ok(saved)["answers"] == answers
    assert ok(httpx.get(f"{a}/api/v1/attempts/{attempt['id']}", headers=learner))["answers"] == (
        answers
    )
    result = ok(
        httpx.post(
            f"{a}/api/v1/attempts/{attempt['id']}/submit", json={"answers": {}}, headers=learner
        )
    )
    assert result["passed"]
    assert result["score"] == result["max_score"] > 0
    again_submit = httpx.post(
        f"{b}/api/v1/attempts/{attempt['id']}/submit", json={"answers": {}}, headers=learner
    )
    assert again_submit.status_code == 409

    # The certificate, listed by B, verified publicly on A (API) and on B (page).
    certificates = ok(httpx.get(f"{b}/api/v1/me/certificates", headers=learner))["items"]
    assert [c["course_id"] for c in certificates] == [ids.course]
    code = certificates[0]["code"]
    public = ok(httpx.get(f"{a}/api/v1/certificates/{code}"))
    assert public["valid"]
    assert public["learner"] == ids.teacher_name
    page = httpx.get(f"{b}/verify/{code}?lang=en")
    assert page.status_code == 200
    assert ids.teacher_name in page.text

    # Nothing was written twice.
    with Session(committed) as db:
        assert db.scalar(select(func.count()).select_from(Attempt)) == 1
        assert db.scalar(select(func.count()).select_from(Certificate)) == 1
        assert db.scalar(select(func.count()).where(ProgressEvent.event_id == event)) == 1


SESSION_COOKIE = "hocso_session"
CSRF_COOKIE = "hocso_csrf"


def test_a_page_session_from_one_process_works_on_the_other(pair: Pair) -> None:
    a, b, ids = pair.a, pair.b, pair.ids
    # One browser: cookies are per host, not per port, so both processes see the same jar.
    with httpx.Client() as browser:
        token = csrf_from(browser.get(f"{a}/login?lang=en").text)
        signed_in = browser.post(
            f"{a}/login",
            data={"email": ids.teacher, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        assert SESSION_COOKIE in browser.cookies
        assert CSRF_COOKIE in browser.cookies

        my = browser.get(f"{b}/my?lang=en", follow_redirects=False)
        assert my.status_code == 200
        assert ids.teacher_name in my.text

        # The CSRF token rendered by A is accepted by B; a forged one is not.
        token = csrf_from(browser.get(f"{a}/logout?lang=en").text)
        forged = browser.post(f"{b}/logout", data={"csrf_token": "0" * 64}, follow_redirects=False)
        assert forged.status_code == 403
        signed_out = browser.post(f"{b}/logout", data={"csrf_token": token}, follow_redirects=False)
        assert signed_out.status_code == 303
        assert re.search(r"/login$", signed_out.headers["location"])

        # The session ended in the database: A no longer knows the browser either.
        browser.cookies.set(SESSION_COOKIE, signed_in.cookies[SESSION_COOKIE])
        again = browser.get(f"{a}/my", follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"].startswith("/login")
