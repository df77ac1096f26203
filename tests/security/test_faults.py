"""Fault drills (issue #7, item 4): what a crash, a database restart, a storage outage and a full
disk leave behind, on this run's database (SQLite, or PostgreSQL with HOCSO_TEST_DB=postgresql)
and storage (local disk, or moto's S3 with HOCSO_TEST_STORAGE=s3).

- kill -9: the app runs as a real ``hocso serve`` subprocess (so SIGKILL is real) on this run's
  database and a data directory (and bucket) of its own. Four writes are cut off: the body of a
  declared 500 MB upload while it streams in (after 48 MB), an uploaded version while it is
  recorded (its blob already stored), a quiz submission that completes the course, and the
  submission of a report revision that supersedes the first one. On PostgreSQL one kill cuts
  all four; on SQLite, which has one writer at a time, three kills do. The server is restarted
  on the same data after each kill. To kill *inside* a transaction deterministically, the server
  is started with ``HOCSO_TEST_PAUSE_AT`` (``app/core/faults.py``, only when the environment is
  ``test``): at that named point the request's writes are flushed, the server prints ``paused
  at …`` and sleeps, and the drill kills it then. Killing at random moments in a loop would hit
  the window only sometimes, and slowly; the upload needs no pause point, its body takes long
  enough to arrive. After every restart there are no partial records and the integrity checks
  pass (SQLite: integrity_check, foreign_key_check; PostgreSQL: every constraint validated;
  both: no row points at a missing parent); then the same writes succeed, and ``hocso gc``
  removes exactly the temp file and the unrecorded blob, leaving no orphans. A transfer to S3 cut
  off leaves a multipart upload, which gc aborts.
- PostgreSQL restarted under load (PostgreSQL only): while it is down, requests to the app in
  this process fail with 503, answered while it is still down; once it is back, the same app
  serves again.
- The S3 endpoint down (a moto server of the drill's own, stopped and started on the same port):
  uploads fail fast with a 503 naming the storage, other pages keep working, /healthz says
  "storage": "down"; uploads work again once S3 is back.

No drill times anything: on a loaded machine a stopwatch fails good code. "Fast" is shown by
the mechanism instead (the timeouts and retry counts of the live clients, the attempts really
made, a body refused before a byte of it is read) and by order (an answer that came while the
outage lasted). Waits are for events, with a generous guard that only turns a hang into a
clear failure.
- Disk full: the data directory on a 24 MB tmpfs (mounted; CI runs as root). An upload that
  cannot fit is a 507, whether its declared length says so up front or the disk fills up while
  it streams; nothing is recorded, no temp file is left, the earlier content is intact. With
  SQLite's file on that disk (the default layout), writes are a 507 and reads keep working.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, and_, delete, event, func, or_, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts import auth
from app.accounts.audit import AuditEntry
from app.accounts.models import User
from app.core.config import Settings
from app.core.db import Base, get_session, make_sessionmaker, session_scope
from app.core.errors import ServiceUnavailable
from app.core.storage import BlobStore, S3BlobStore, make_blob_store, new_temp_file, s3_client
from app.core.web import SESSION_COOKIE
from app.lcms import service as lcms
from app.lcms.models import Blob, ContentVersion
from app.lms import quiz
from app.lms import service as lms
from app.lms.models import Attempt, Certificate, Enrollment, LessonProgress
from app.main import create_app
from app.reports import periodic
from app.reports.periodic import PeriodicReport, ReportStatus
from app.reports.periods import PeriodKind, current_period, previous_period
from tests.factories import make_org, make_user
from tests.lcms import samples
from tests.lms.helpers import published_item
from tests.support.live import free_port, live_server
from tests.support.postgres import server_for
from tests.support.s3 import RestartableMotoServer

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


# --- Integrity and partial records ----------------------------------------------------------


def integrity_problems(engine: Engine) -> list[str]:
    """SQLite's own checks, and on both backends: no row points at a missing parent."""
    problems: list[str] = []
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            result = [row[0] for row in conn.exec_driver_sql("PRAGMA integrity_check")]
            if result != ["ok"]:
                problems.append(f"integrity_check: {result}")
            problems += [
                f"foreign_key_check: {tuple(row)}"
                for row in conn.exec_driver_sql("PRAGMA foreign_key_check")
            ]
        else:
            invalid = conn.execute(
                text(
                    "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                    "WHERE NOT convalidated"
                )
            ).all()
            problems += [f"constraint not validated: {row}" for row in invalid]
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_key_constraints:
                parent = fk.referred_table.alias()
                pairs = [(e.parent, parent.c[e.column.name]) for e in fk.elements]
                orphans = conn.scalar(
                    select(func.count())
                    .select_from(table.outerjoin(parent, and_(*(c == p for c, p in pairs))))
                    .where(*(c.is_not(None) for c, _ in pairs), pairs[0][1].is_(None))
                )
                if orphans:
                    problems.append(f"{orphans} row(s) of {table.name} break {fk.name}")
    return problems


def partial_records(session: Session, store: BlobStore, item_id: int, course_id: int) -> list[str]:
    """Records a write cut off half-way would leave."""
    problems: list[str] = []
    for version in session.scalars(select(ContentVersion).where(ContentVersion.item_id == item_id)):
        if store.size(version.blob_sha256) != version.size:
            problems.append(f"version {version.number} has no complete blob")
    half_submitted = session.scalar(
        select(func.count())
        .select_from(Attempt)
        .where(
            or_(
                and_(
                    Attempt.submitted_at.is_not(None),
                    or_(
                        Attempt.score.is_(None),
                        Attempt.max_score.is_(None),
                        Attempt.passed.is_(None),
                    ),
                ),
                and_(Attempt.submitted_at.is_(None), Attempt.score.is_not(None)),
            )
        )
    )
    if half_submitted:
        problems.append(f"{half_submitted} attempt(s) half-submitted")
    reports = session.scalar(
        select(func.count())
        .select_from(PeriodicReport)
        .where(
            or_(
                and_(
                    PeriodicReport.status != ReportStatus.draft.value,
                    or_(PeriodicReport.figures.is_(None), PeriodicReport.submitted_at.is_(None)),
                ),
                and_(
                    PeriodicReport.status == ReportStatus.draft.value,
                    PeriodicReport.submitted_at.is_not(None),
                ),
            )
        )
    )
    if reports:
        problems.append(f"{reports} report(s) submitted without their figures")
    completed = session.scalar(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.course_id == course_id, Enrollment.completed_at.is_not(None))
    )
    certificates = session.scalar(
        select(func.count()).select_from(Certificate).where(Certificate.course_id == course_id)
    )
    if completed != certificates:
        problems.append(f"{completed} completion(s) but {certificates} certificate(s)")
    return problems


# --- A real server process -------------------------------------------------------------------


class Server:
    """``hocso serve`` in a subprocess, its output in ``log``."""

    def __init__(self, env: dict[str, str], log: Path, pause: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                env={**env, "HOCSO_TEST_PAUSE_AT": ",".join(pause)},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"the server exited: {self.output()}"
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not start: {self.output()}"
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Scene:
    """What the kill drills work on, committed before the server starts."""

    item_id: int
    course_id: int
    lesson_id: int
    attempt_id: int
    answers: dict[str, Any]
    first_report_id: int
    revision_id: int
    author: dict[str, str]
    teacher: dict[str, str]
    manager: dict[str, str]


def bearer(settings: Settings, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.issue_token(settings, user)}"}


def build_scene(factory: sessionmaker[Session], settings: Settings) -> Scene:
    with session_scope(factory) as s:
        commune = make_org(s, kind="commune", level=None)
        school = make_org(s, parent=commune, name="Trường Tiểu học Tân Cương")
        author = make_user(s, settings, role="author", organization=commune, password=None)
        teacher = make_user(s, settings, role="teacher", organization=school, password=None)
        manager = make_user(s, settings, role="school_manager", organization=school, password=None)
        item = lcms.create_item(s, author, title="Video tập huấn 500 MB", kind="document")
        course = lms.create_course(s, author, title="Kiểm tra cuối khoá")
        module = lms.add_module(s, author, course.id, title="Học phần 1")
        lesson = lms.add_lesson(s, author, module.id, title="Kiểm tra", kind="quiz", pass_score=50)
        quiz.add_question(
            s,
            author,
            lesson.id,
            text="Nghị quyết 57 nói về gì?",
            kind="single",
            choices=[("Khoa học, công nghệ, đổi mới sáng tạo", True), ("Nông nghiệp", False)],
        )
        lms.publish_course(s, author, course.id)
        lms.enroll_self(s, teacher, course.id)
        view = quiz.start_attempt(s, teacher, lesson.id)
        question = quiz.questions_of(s, lesson.id)[0]
        right = [c.id for c in question.choices if c.correct]
        period = previous_period(current_period(PeriodKind.quarter, date.today()))
        first = periodic.create_draft(
            s,
            manager,
            organization_id=school.id,
            period=period.label,
            narrative="Tập huấn chuyển đổi số cho 20 giáo viên.",
        )
        periodic.submit(s, manager, first.id)
        revision = periodic.revise(s, manager, first.id)
        return Scene(
            item_id=item.id,
            course_id=course.id,
            lesson_id=lesson.id,
            attempt_id=view.attempt.id,
            answers={str(question.id): right},
            first_report_id=first.id,
            revision_id=revision.id,
            author=bearer(settings, author),
            teacher=bearer(settings, teacher),
            manager=bearer(settings, manager),
        )


@dataclass
class Drill:
    settings: Settings
    env: dict[str, str]
    store: BlobStore
    factory: sessionmaker[Session]
    engine: Engine
    tmp: Path
    servers: list[Server] = field(default_factory=list)

    def start(self, *pause: str) -> Server:
        server = Server(self.env, self.tmp / f"server-{len(self.servers)}.log", pause)
        self.servers.append(server)
        return server


def drill_settings(settings: Settings, data_dir: Path) -> Settings:
    """The run's database and storage kind, with a data directory (and bucket) of its own."""
    update: dict[str, Any] = {"data_dir": data_dir, "default_locale": "en"}
    if settings.storage == "s3":
        update["s3_bucket"] = f"hocso-drill-{uuid.uuid4().hex[:12]}"
        s3_client(settings).create_bucket(Bucket=update["s3_bucket"])
    return settings.model_copy(update=update)


@pytest.fixture
def drill(committed: Engine, settings: Settings, tmp_path: Path) -> Iterator[Drill]:
    own = drill_settings(settings, tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOCSO_")}
    env.update(
        {
            "HOCSO_ENV": "test",
            "HOCSO_DATABASE_URL": own.database_url,
            "HOCSO_DATA_DIR": str(own.data_dir),
            "HOCSO_SECRET_KEY": own.secret_key,
            "HOCSO_STORAGE": own.storage,
            "HOCSO_S3_BUCKET": own.s3_bucket,
            "HOCSO_DEFAULT_LOCALE": "en",
        }
    )
    if own.s3_endpoint_url:
        env["HOCSO_S3_ENDPOINT_URL"] = own.s3_endpoint_url
    found = Drill(own, env, make_blob_store(own), make_sessionmaker(committed), committed, tmp_path)
    try:
        yield found
    finally:
        for server in found.servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=10)
        # A revision refers to the one before it: delete the latest first (then `committed`
        # empties the rest).
        with committed.begin() as conn:
            for revision in conn.scalars(
                select(PeriodicReport.revision).distinct().order_by(PeriodicReport.revision.desc())
            ).all():
                conn.execute(delete(PeriodicReport).where(PeriodicReport.revision == revision))


def in_thread(target: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def quietly(send: Callable[[], Any]) -> Callable[[], None]:
    """A request whose server is about to be killed: its failure is the point."""

    def run() -> None:
        with contextlib.suppress(httpx.HTTPError, OSError):
            send()

    return run


def stream_declared_upload(
    base: str, item_id: int, headers: dict[str, str], declared: int, limit: int
) -> None:
    """POST a multipart body declared as ``declared`` bytes, send ``limit`` of them, and keep the
    connection open (the rest is "still on its way") until the server goes away."""
    boundary = "drill500mb"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="video.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    url = urlsplit(base)
    chunk = b"\0" * MB
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(
            (
                f"POST /api/v1/content/{item_id}/versions HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: {headers['Authorization']}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + declared + len(tail)}\r\n\r\n"
            ).encode()
            + head
            + b"%PDF-1.7\n"
        )
        sent = 0
        while sent < limit:
            sock.sendall(chunk)
            sent += len(chunk)
        sock.settimeout(120)
        sock.recv(1)


def temp_files(store: BlobStore) -> list[Path]:
    return sorted(store.temp_dir().glob("upload-*"))


def check_after_restart(drill: Drill, scene: Scene) -> None:
    with session_scope(drill.factory) as s:
        assert partial_records(s, drill.store, scene.item_id, scene.course_id) == []
    assert integrity_problems(drill.engine) == []


# --- kill -9 --------------------------------------------------------------------------------


@dataclass
class Cut:
    """A write the server is killed in the middle of."""

    name: str
    send: Callable[[Server], Any]  # in a thread: it fails when the server dies
    reached: Callable[[Server], bool]  # the write is where the drill wants to cut it


def paused(name: str) -> Callable[[Server], bool]:
    return lambda server: f"hocso: paused at {name}" in server.output()


def upload(base: str, scene: Scene, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/content/{scene.item_id}/versions",
        headers=scene.author,
        files={"file": ("tai-lieu.pdf", data, "application/pdf")},
        timeout=60,
    )


def cuts(scene: Scene, store: BlobStore, orphan: bytes) -> list[Cut]:
    return [
        # The body of a declared 500 MB upload, once 48 MB of it are in the temp file.
        Cut(
            "upload streaming",
            lambda server: stream_declared_upload(
                server.base, scene.item_id, scene.author, declared=500 * MB, limit=56 * MB
            ),
            lambda _server: any(p.stat().st_size >= 48 * MB for p in temp_files(store)),
        ),
        # A small upload whose blob is stored, while its version is being recorded.
        Cut(
            "version recording", lambda s: upload(s.base, scene, orphan), paused("lcms.add_version")
        ),
        # A quiz submission that passes, and so completes the course and issues a certificate.
        Cut(
            "quiz submission",
            lambda server: httpx.post(
                f"{server.base}/api/v1/attempts/{scene.attempt_id}/submit",
                headers=scene.teacher,
                json={"answers": scene.answers},
                timeout=60,
            ),
            paused("quiz.submit"),
        ),
        # The submission of a report's second revision, which supersedes the first.
        Cut(
            "report submission",
            lambda server: httpx.post(
                f"{server.base}/api/v1/reports/periodic/{scene.revision_id}/submit",
                headers=scene.manager,
                timeout=60,
            ),
            paused("report.submit"),
        ),
    ]


def test_kill_9_during_writes_leaves_no_partial_records(drill: Drill) -> None:
    """On PostgreSQL the four writes are cut by one kill; SQLite has one writer at a time (a
    transaction paused inside its write holds the database's write lock), so there the server is
    killed three times: the two uploads (the large one streams without a lock), the quiz
    submission, the report submission."""
    store = drill.store
    scene = build_scene(drill.factory, drill.settings)
    orphan = samples.pdf("bản bị cắt ngang")
    upload_cut, version_cut, quiz_cut, report_cut = cuts(scene, store, orphan)
    if drill.engine.dialect.name == "sqlite":
        rounds = [[upload_cut, version_cut], [quiz_cut], [report_cut]]
    else:
        rounds = [[upload_cut, version_cut, quiz_cut, report_cut]]

    for round_ in rounds:
        server = drill.start("lcms.add_version", "quiz.submit", "report.submit")
        check_after_restart(drill, scene)
        for cut in round_:
            in_thread(quietly(partial(cut.send, server)))
            deadline = time.monotonic() + 30
            while not cut.reached(server):
                assert server.process.poll() is None, server.output()
                assert time.monotonic() < deadline, f"{cut.name}: not reached\n{server.output()}"
                time.sleep(0.01)
        server.kill()

    # Restarted without pause points: nothing of the cut-off writes was recorded...
    server = drill.start()
    check_after_restart(drill, scene)
    leftovers = temp_files(store)
    assert len(leftovers) == 1
    assert leftovers[0].stat().st_size >= 48 * MB
    assert store.exists(samples.sha(orphan))  # stored before the cut: an orphan for gc
    with session_scope(drill.factory) as s:
        assert s.get(Blob, samples.sha(orphan)) is None
        assert count(s, ContentVersion, ContentVersion.item_id == scene.item_id) == 0
        attempt = s.get(Attempt, scene.attempt_id)
        assert attempt is not None
        assert attempt.submitted_at is None
        assert attempt.score is None
        progress = (LessonProgress.lesson_id == scene.lesson_id,)
        assert count(s, LessonProgress, *progress, LessonProgress.completed_at.is_not(None)) == 0
        assert count(s, Certificate, Certificate.course_id == scene.course_id) == 0
        first = s.get(PeriodicReport, scene.first_report_id)
        revision = s.get(PeriodicReport, scene.revision_id)
        assert first is not None
        assert revision is not None
        assert (first.status, revision.status, revision.figures) == ("submitted", "draft", None)
        assert (
            count(
                s,
                AuditEntry,
                AuditEntry.action == "report.submitted",
                AuditEntry.target_id == str(scene.revision_id),
            )
            == 0
        )

    # ...and the same writes now succeed: no lock, number or row was left taken.
    kept = samples.pdf("bản hoàn chỉnh")
    response = upload(server.base, scene, kept)
    assert response.status_code == 201, response.text
    assert response.json()["number"] == 1
    response = httpx.post(
        f"{server.base}/api/v1/attempts/{scene.attempt_id}/submit",
        headers=scene.teacher,
        json={"answers": scene.answers},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["passed"] is True
    response = httpx.post(
        f"{server.base}/api/v1/reports/periodic/{scene.revision_id}/submit",
        headers=scene.manager,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    server.stop()
    with session_scope(drill.factory) as s:
        first = s.get(PeriodicReport, scene.first_report_id)
        revision = s.get(PeriodicReport, scene.revision_id)
        assert first is not None
        assert revision is not None
        assert (first.status, revision.status) == ("superseded", "submitted")
        assert count(s, Certificate, Certificate.course_id == scene.course_id) == 1
    check_after_restart(drill, scene)

    # gc removes exactly what the crashes left: the temp file and the unrecorded blob.
    gc = subprocess.run(
        [sys.executable, "-m", "app.cli", "gc", "--grace", "0"],
        env=drill.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gc.returncode == 0, gc.stderr
    assert "Removed 1 temp file(s) and 1 orphaned blob(s)." in gc.stdout
    assert temp_files(store) == []
    stored = {blob.sha256 for blob in store.iter_blobs()}
    with session_scope(drill.factory) as s:
        recorded = set(s.scalars(select(Blob.sha256).where(Blob.sha256.in_(stored))))
    assert stored == recorded == {samples.sha(kept)}
    check_after_restart(drill, scene)


def count(session: Session, model: type[Base], *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- PostgreSQL restarted under load -----------------------------------------------------------


# Only turns a hang into a clear failure (the drills wait for events, not for time): never a
# claim about speed, which a loaded machine would make a lie.
HANG_GUARD_SECONDS = 60
# A database host that does not answer (not merely refusing) costs a connection this long.
DB_MAX_CONNECT_SECONDS = 5
# Waiting for a pooled connection is bounded too (all of them busy: a 503, not a queue forever).
DB_MAX_POOL_WAIT_SECONDS = 30


@dataclass(frozen=True)
class Outcome:
    kind: str
    phase: str  # the drill's phase when the request was sent
    answered_in: str  # ... and when its answer (or its failure) came back
    sent_at: int  # positions in the drill's order of events (sends and answers), not times
    answered_at: int
    status: int | str
    detail: str


class Timeline:
    """The drill's phases in order, and every request's outcome with the phase it was sent and
    answered in: whether a request fell wholly inside the outage is a matter of order, not of a
    clock."""

    def __init__(self) -> None:
        self.phase = "before"
        self.outcomes: list[Outcome] = []
        self._events = itertools.count()
        self._changed = threading.Condition()

    def enter(self, phase: str) -> None:
        with self._changed:
            self.phase = phase

    def sent(self) -> tuple[str, int]:
        with self._changed:
            return self.phase, next(self._events)

    def answered(self, kind: str, sent: tuple[str, int], status: int | str, detail: str) -> None:
        with self._changed:
            self.outcomes.append(
                Outcome(kind, sent[0], self.phase, sent[1], next(self._events), status, detail)
            )
            self._changed.notify_all()

    def within(self, phase: str) -> list[Outcome]:
        """The requests sent and answered in ``phase``."""
        return [o for o in self.outcomes if o.phase == o.answered_in == phase]

    def served_after_recovery(self) -> list[Outcome]:
        """The requests of phase "back" sent after the first success there was answered."""
        back = self.within("back")
        successes = [o.answered_at for o in back if o.status == 200]
        return [o for o in back if successes and o.sent_at > min(successes)]

    def wait_until(self, what: str, enough: Callable[[], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(enough, timeout=HANG_GUARD_SECONDS), (
                f"still waiting after {HANG_GUARD_SECONDS} s for {what}: a request hung? "
                f"{self.outcomes[-5:]}"
            )


def hammer(
    base: str,
    requests: list[tuple[str, Callable[[httpx.Client], httpx.Response]]],
    stop: threading.Event,
    timeline: Timeline,
) -> None:
    # The client's timeout is a hang guard too: a request that hangs is an outcome of its own.
    with httpx.Client(base_url=base, timeout=HANG_GUARD_SECONDS) as client:
        n = 0
        while not stop.is_set():
            kind, send = requests[n % len(requests)]
            n += 1
            sent = timeline.sent()
            try:
                response = send(client)
                status: int | str = response.status_code
                detail = f"{response.headers.get('retry-after')} {response.text[:300]}"
            except httpx.HTTPError as exc:
                status, detail = exc.__class__.__name__, str(exc)
            timeline.answered(kind, sent, status, detail)


def get_or_hang(url: str, what: str) -> httpx.Response:
    try:
        return httpx.get(url, timeout=HANG_GUARD_SECONDS)
    except httpx.TimeoutException as exc:
        raise AssertionError(f"no answer in {HANG_GUARD_SECONDS} s from {what}: a hang") from exc


@pytest.mark.skipif(
    os.environ.get("HOCSO_TEST_DB") != "postgresql",
    reason="restarts the throwaway PostgreSQL of HOCSO_TEST_DB=postgresql",
)
def test_postgresql_restart_under_load_fails_fast_and_recovers(
    app: FastAPI, committed: Engine, settings: Settings
) -> None:
    """Four clients read a course, post progress and open the courses page without pause while
    PostgreSQL is stopped (fast shutdown: every session is ended) and started again. While it is
    down every request is a 503 with Retry-After, answered while it is still down (nothing waits
    for it to come back), each connection attempt bounded by the connect timeout; once it is
    back the same app process serves again (the pool replaces the dead connections: the first
    disconnect invalidates it, and idle connections are pinged)."""
    postgres = server_for(settings.database_url)
    assert postgres is not None, "not the throwaway PostgreSQL of this run"
    engine: Engine = app.state.engine
    assert engine.pool.timeout() <= DB_MAX_POOL_WAIT_SECONDS  # type: ignore[attr-defined]
    with session_scope(make_sessionmaker(committed)) as s:
        school = make_org(s)
        author = make_user(s, settings, role="author", organization=school, password=None)
        teacher = make_user(s, settings, role="teacher", organization=school, password=None)
        item = published_item(s, app.state.blob_store, author)
        course = lms.create_course(s, author, title="Khoá học khi máy chủ khởi động lại")
        module = lms.add_module(s, author, course.id, title="Học phần 1")
        lesson = lms.add_lesson(
            s, author, module.id, title="Video", kind="content", content_id=item.id
        )
        lms.publish_course(s, author, course.id)
        lms.enroll_self(s, teacher, course.id)
        headers = bearer(settings, teacher)
        cookie = {"Cookie": f"{SESSION_COOKIE}={auth.start_web_session(s, settings, teacher)}"}
        course_id, lesson_id = course.id, lesson.id
    requests: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
        ("course", lambda c: c.get(f"/api/v1/courses/{course_id}", headers=headers)),
        (
            "progress",
            lambda c: c.post(
                f"/api/v1/lessons/{lesson_id}/progress",
                headers=headers,
                json={"event_id": str(uuid.uuid4()), "percent": 10},
            ),
        ),
        ("page", lambda c: c.get("/courses", headers=cookie)),
    ]
    timeline = Timeline()
    connects: list[tuple[str, Any]] = []  # (phase, connect_timeout) of each connection attempt

    def on_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        connects.append((timeline.phase, cparams.get("connect_timeout")))

    stop = threading.Event()
    event.listen(engine, "do_connect", on_connect)
    try:
        with live_server(app) as base:
            clients = [in_thread(partial(hammer, base, requests, stop, timeline)) for _ in range(4)]
            try:
                timeline.wait_until(
                    "6 requests served", lambda: len(timeline.within("before")) >= 6
                )
                timeline.enter("stopping")
                postgres.stop("fast")
                timeline.enter("down")
                try:
                    health = get_or_hang(f"{base}/healthz", "/healthz while PostgreSQL is down")
                    timeline.wait_until(
                        "10 requests answered while PostgreSQL is down",
                        lambda: len(timeline.within("down")) >= 10,
                    )
                finally:
                    timeline.enter("restarting")
                    postgres.start()
                    # The test's own engine set the scene a moment ago and has seen no error
                    # since: its pooled connection died with the restart, and one given back
                    # less than a second ago is not pinged (core.db._ping_when_idle). The app
                    # learns it from its first failed statement; the fixture's cleanup would
                    # not retry, so the dead connections go now.
                    committed.dispose()
                timeline.enter("back")
                timeline.wait_until(
                    "10 requests served since PostgreSQL is back",
                    lambda: len(timeline.served_after_recovery()) >= 10,
                )
            finally:
                stop.set()
                for thread in clients:
                    thread.join(timeout=HANG_GUARD_SECONDS)
    finally:
        event.remove(engine, "do_connect", on_connect)

    # /healthz answered while PostgreSQL was down (it is started again only afterwards).
    assert health.status_code == 503
    assert health.json()["database"] == "down"
    unexpected = [o for o in timeline.outcomes if o.status not in (200, 503)]
    assert unexpected == []
    before = timeline.within("before")
    assert {o.status for o in before} == {200}
    during = timeline.within("down")
    assert {o.status for o in during} == {503}, during
    assert all(o.detail.startswith("5 ") for o in during)  # Retry-After: 5
    # Those 503s came from connection attempts that failed, each one bounded.
    tried = [timeout for phase, timeout in connects if phase == "down"]
    assert tried
    assert all(0 < float(t) <= DB_MAX_CONNECT_SECONDS for t in tried), tried
    after = timeline.served_after_recovery()
    assert {o.status for o in after} == {200}, [o for o in after if o.status != 200][:5]


# --- The S3 endpoint down -----------------------------------------------------------------------


@contextlib.contextmanager
def client_for(app: FastAPI, db: Session) -> Iterator[TestClient]:
    """A TestClient of ``app`` on the test's rolled-back transaction (as the ``client``
    fixture, for an app made with settings of the drill's own)."""

    def _session() -> Iterator[Session]:
        db.commit()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    app.dependency_overrides[get_session] = _session
    try:
        with TestClient(app, base_url="http://testserver") as client:
            yield client
    finally:
        app.dependency_overrides.clear()


class BodyMeter:
    """ASGI middleware (outermost of the app's own): how many bytes of request bodies anything
    in the app has read. A request refused before its body is read leaves it at 0."""

    def __init__(self, app: ASGIApp, read: list[int]) -> None:
        self.app = app
        self.read = read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self.read[0] += len(message.get("body", b""))
            return message

        await self.app(scope, counting_receive, send)


def metered(app: FastAPI) -> list[int]:
    """``app`` (not started yet) with a BodyMeter; the one-item list it counts in."""
    read = [0]
    app.add_middleware(BodyMeter, read=read)
    return read


# An unreachable S3 must cost a request seconds, not minutes: the client gives up connecting
# after CONNECT seconds and tries at most ATTEMPTS times in all; a hung S3 (connected, silent)
# is cut off after READ seconds per attempt. (botocore's defaults: 60 s, 60 s, 5 attempts.)
S3_MAX_CONNECT_SECONDS = 5
S3_MAX_ATTEMPTS = 3
S3_MAX_READ_SECONDS = 30


def s3_sends(store: S3BlobStore) -> list[str]:
    """The operations the store's S3 client really sends from now on, one entry per attempt
    (retries included): botocore emits ``before-send`` before each."""
    sent: list[str] = []

    def before_send(event_name: str, **_: Any) -> None:
        sent.append(event_name.rsplit(".", 1)[-1])  # None: the request is still sent

    store.client.meta.events.register("before-send.s3", before_send)
    return sent


@pytest.fixture
def own_s3() -> Iterator[RestartableMotoServer]:
    server = RestartableMotoServer()
    try:
        yield server
    finally:
        server.stop()


def test_s3_down_uploads_fail_fast_and_other_pages_keep_working(
    db: Session, settings: Settings, tmp_path: Path, own_s3: RestartableMotoServer
) -> None:
    bucket = f"hocso-drill-{uuid.uuid4().hex[:12]}"
    own = settings.model_copy(
        update={
            "storage": "s3",
            "s3_endpoint_url": own_s3.endpoint,
            "s3_bucket": bucket,
            "data_dir": tmp_path / "data",
            "default_locale": "en",
        }
    )
    s3_client(own).create_bucket(Bucket=bucket)
    app = create_app(own)
    body_read = metered(app)
    store = app.state.blob_store
    assert isinstance(store, S3BlobStore)
    # "Fast" is the client's bound, read from the client the app really uses.
    config = store.client.meta.config
    attempts = (config.retries or {}).get("total_max_attempts")
    assert attempts is not None, f"no bound on S3 attempts: {config.retries}"
    assert 1 <= attempts <= S3_MAX_ATTEMPTS
    assert 0 < config.connect_timeout <= S3_MAX_CONNECT_SECONDS
    assert 0 < config.read_timeout <= S3_MAX_READ_SECONDS
    school = make_org(db)
    author = make_user(db, settings, role="author", organization=school, password=None)
    teacher = make_user(db, settings, role="teacher", organization=school, password=None)
    manager = make_user(db, settings, role="school_manager", organization=school, password=None)
    item = lcms.create_item(db, author, title="Sổ tay chuyển đổi số", kind="document")
    writer = bearer(settings, author)
    pages = {
        "/courses": {"Cookie": f"{SESSION_COOKIE}={auth.start_web_session(db, settings, teacher)}"},
        "/reports": {"Cookie": f"{SESSION_COOKIE}={auth.start_web_session(db, settings, manager)}"},
        "/api/v1/courses": bearer(settings, teacher),
        f"/api/v1/content/{item.id}": writer,
    }
    with client_for(app, db) as client:
        first = samples.pdf("bản 1")
        assert samples.upload(client, writer, item.id, first).status_code == 201
        assert body_read[0] > len(first)  # the meter sees what an upload reads

        own_s3.stop()
        sent = s3_sends(store)
        body_read[0] = 0
        response = samples.upload(client, writer, item.id, samples.pdf("bản 2" * 100_000))
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "service_unavailable"
        assert "file storage is unavailable" in response.json()["detail"]
        assert response.headers["retry-after"]
        # Failing fast: one storage check, tried as often as configured and no more, before a
        # byte of the 600 KB body was read; nothing was sent to S3 but that check.
        assert sent == ["HeadBucket"] * attempts
        assert body_read == [0]
        assert temp_files(store) == []
        assert count(db, ContentVersion, ContentVersion.item_id == item.id) == 1
        sent.clear()
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (
            503,
            {"status": "down", "database": "ok", "storage": "down"},
        )
        assert sent == ["HeadBucket"] * attempts
        for path, headers in pages.items():
            assert client.get(path, headers=headers).status_code == 200, path
        # A store call that fails after the checks (S3 gone mid-request) is the same 503, after
        # the same bounded attempts.
        fh, temp = new_temp_file(store)
        with fh:
            fh.write(b"%PDF-1.4 mid-request")
        sent.clear()
        with pytest.raises(ServiceUnavailable):
            store.put(samples.sha(b"%PDF-1.4 mid-request"), temp)
        assert sent == ["PutObject"] * attempts
        assert not temp.exists()
        with pytest.raises(ServiceUnavailable):  # hocso gc says so in one line
            list(store.iter_blobs())

        own_s3.start()
        second = samples.pdf("bản 2 sau khi S3 trở lại")
        response = samples.upload(client, writer, item.id, second)
        assert response.status_code == 201, response.text
        assert response.json()["number"] == 2
        assert client.get("/healthz").status_code == 200
        assert store.open(samples.sha(second)).read() == second


def test_gc_aborts_the_multipart_upload_of_a_transfer_to_s3_cut_off(
    db: Session, settings: Settings, tmp_path: Path, own_s3: RestartableMotoServer
) -> None:
    """A server killed while it sends a large blob to S3 leaves a multipart upload that is never
    completed: its parts stay in the bucket (and are billed) until someone aborts it. This is
    that leftover, made as boto3's transfer manager makes it; ``hocso gc`` aborts it."""
    own = settings.model_copy(
        update={
            "storage": "s3",
            "s3_endpoint_url": own_s3.endpoint,
            "s3_bucket": f"hocso-drill-{uuid.uuid4().hex[:12]}",
            "data_dir": tmp_path / "data",
        }
    )
    store = make_blob_store(own)
    client = s3_client(own)
    client.create_bucket(Bucket=own.s3_bucket)
    key = f"blobs/ab/{'ab' * 32}"
    upload = client.create_multipart_upload(Bucket=own.s3_bucket, Key=key)
    client.upload_part(
        Bucket=own.s3_bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * MB
    )
    assert lcms.collect_garbage(db, store, grace_seconds=0) == lcms.GcResult(1, 0)
    assert client.list_multipart_uploads(Bucket=own.s3_bucket).get("Uploads", []) == []


# --- Disk full ----------------------------------------------------------------------------------

DISK_MB = 24


class _FullDisk:
    """Fallback when no filesystem can be mounted: writes past the quota fail with ENOSPC."""

    def __init__(self, fh: Any, budget: list[int]) -> None:
        self._fh, self._budget = fh, budget

    def write(self, data: bytes) -> int:
        if len(data) > self._budget[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget[0] -= len(data)
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 24 MB tmpfs as the data directory (CI runs as root); without the right to mount, the
    same limit is simulated in the upload's writes and its free-space check."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        budget = [DISK_MB * MB]
        real = new_temp_file

        def new_temp_file_on_full_disk(store: BlobStore) -> tuple[Any, Path]:
            fh, path = real(store)
            return _FullDisk(fh, budget), path

        def disk_usage(_path: Any) -> Any:
            return shutil._ntuple_diskusage(DISK_MB * MB, DISK_MB * MB - budget[0], budget[0])

        monkeypatch.setattr("app.lcms.upload.new_temp_file", new_temp_file_on_full_disk)
        monkeypatch.setattr("app.lcms.upload.shutil.disk_usage", disk_usage)
        yield disk
        return
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def chunked_upload(client: TestClient, headers: dict[str, str], item_id: int, size: int) -> Any:
    """A multipart upload without Content-Length (chunked): only the disk can stop it."""
    boundary = "diskfull"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="lon.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n'
        ).encode()
        for _ in range(size // MB):
            yield b"\0" * MB
        yield f"\r\n--{boundary}--\r\n".encode()

    return client.post(
        f"/api/v1/content/{item_id}/versions",
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )


def test_disk_full_upload_is_507_and_nothing_is_corrupted(
    db: Session, settings: Settings, small_disk: Path
) -> None:
    own = drill_settings(settings, small_disk)
    app = create_app(own)
    body_read = metered(app)
    store: BlobStore = app.state.blob_store
    author = make_user(db, settings, role="author", organization=make_org(db), password=None)
    item = lcms.create_item(db, author, title="Video quá lớn", kind="document")
    writer = bearer(settings, author)
    with client_for(app, db) as client:
        earlier = samples.pdf("nội dung trước " * 20_000)
        assert samples.upload(client, writer, item.id, earlier).status_code == 201
        assert body_read[0] > len(earlier)  # the meter sees what an upload reads

        # Declared larger than the free space: refused before a byte of the body is read.
        body_read[0] = 0
        declared = samples.upload(client, writer, item.id, samples.pdf("x" * (DISK_MB + 6) * MB))
        assert body_read == [0]
        # No declared length: the disk fills up while the body streams.
        streamed = chunked_upload(client, writer, item.id, (DISK_MB + 6) * MB)
        for response in (declared, streamed):
            assert response.status_code == 507, response.text
            assert response.json()["error"] == "insufficient_storage"
            assert "disk is full" in response.json()["detail"]
            assert temp_files(store) == []
        assert count(db, ContentVersion, ContentVersion.item_id == item.id) == 1
        assert store.open(samples.sha(earlier)).read() == earlier
        assert (
            samples.fetch(client, f"/api/v1/content/{item.id}/versions/1/file", writer).content
            == earlier
        )
        # The space is free again: the next upload goes through.
        response = samples.upload(client, writer, item.id, samples.pdf("bản nhỏ"))
        assert response.status_code == 201, response.text
        assert response.json()["number"] == 2


def fill(disk: Path) -> Path:
    """Another process fills the disk: write until ENOSPC."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        written = 0
        while written <= DISK_MB * MB:
            try:
                fh.write(b"\0" * MB)
                fh.flush()
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    return filler
                raise
            written += MB
    raise AssertionError("the disk never filled up")


@pytest.mark.skipif(
    os.environ.get("HOCSO_TEST_DB", "sqlite") != "sqlite", reason="the SQLite file on a full disk"
)
def test_disk_full_under_the_sqlite_database_is_507_and_reads_keep_working(
    engine: Engine, settings: Settings, small_disk: Path
) -> None:
    """The default layout keeps hocso.db in the data directory: when that disk fills up, writes
    are a 507 (not "database unavailable"), reads keep working, /healthz names the storage, and
    once there is room again writes succeed on an intact database."""
    if not os.path.ismount(small_disk):
        pytest.skip("no filesystem could be mounted for the database (needs root)")
    source = sqlite3.connect(settings.database_url.split("///", 1)[1])  # migrated by `engine`
    target = sqlite3.connect(small_disk / "hocso.db")
    with source, target:
        source.backup(target)  # the migrated schema, in one consistent copy
    source.close()
    target.close()
    own = settings.model_copy(
        update={
            "data_dir": small_disk,
            "database_url": f"sqlite:///{small_disk / 'hocso.db'}",
            "default_locale": "en",
        }
    )
    app = create_app(own)
    with session_scope(app.state.sessionmaker) as s:
        author = make_user(s, own, role="author", organization=make_org(s), password=None)
        writer = bearer(own, author)
    new_item = {"title": "Sổ tay", "kind": "document"}
    with TestClient(app, base_url="http://testserver") as client:
        filler = fill(small_disk)
        response = client.post("/api/v1/content", headers=writer, json=new_item)
        assert response.status_code == 507, response.text
        assert response.json()["error"] == "insufficient_storage"
        assert client.get("/api/v1/content", headers=writer).status_code == 200
        health = client.get("/healthz")
        assert (health.status_code, health.json()["storage"]) == (503, "down")
        filler.unlink()
        response = client.post("/api/v1/content", headers=writer, json=new_item)
        assert response.status_code == 201, response.text
        assert client.get("/healthz").status_code == 200
    assert integrity_problems(app.state.engine) == []
    app.state.engine.dispose()
