"""Benchmark: a mixed LMS workload at rising load, the throughput knee and load shedding, a
synchronised quiz rush and a sign-in storm, against ``hocso serve`` in a subprocess.

Two set-ups, each from an empty database: SQLite + local files with one process
(``hocso serve``), and PostgreSQL + S3 (a moto server) with two (``hocso serve --workers 2``).
The data: one published course of 4 modules (4 content lessons pinning a 2 MiB MP4, then a
quiz of 5 questions each), a module with the 10-question "rush" quiz (one attempt allowed),
120 published library items, and 1,500 enrolled teachers, each with a page session (cookie +
CSRF seed) and a bearer token made before anything is measured.

1. Mixed workload: each simulated user is a closed loop with think time (exponential, mean 2 s,
   at most 10 s) over one keep-alive connection, and does, by weight: progress 25 % (the
   player's ``POST /lessons/{id}/progress`` with the page session and ``X-CSRF-Token``), quiz
   20 % (``POST /api/v1/lessons/{id}/attempts``, two ``PATCH /api/v1/attempts/{id}`` saves,
   ``POST /api/v1/attempts/{id}/submit``, in that order, bearer token), course page 12 %, lesson
   page 13 %, library search 10 % (``/library?q=``), a 256 KiB Range request of the lesson's
   file 15 % (206 from local storage; with S3 the app's answer is its 307 to a presigned URL,
   which is not followed) and "my learning" 5 %. A user answered 503/429 waits Retry-After
   (× 1–1.5, jitter), as the player does, then goes on. Steps of 50, 100, 200, 400 and 1,000
   users (``--quick``: 50, 200, 1,000), then 1.5× the knee. The knee is estimated with Little's
   law from the peak goodput X and the light-load response time R0: N* = X × (think + R0).
2. Quiz rush: 300 learners start the rush quiz at the same instant, each saves 5 answers, then
   all submit the other 5 at the same instant; 503/429 and connection errors are retried
   (start and save are idempotent; a repeated submit is a 409). Afterwards the database is
   counted: one attempt per learner, submitted, holding exactly the 10 answers sent.
3. Sign-in storm: 200 different teachers ``POST /api/v1/auth/token`` at once (argon2id at the
   default cost), twice; server RSS before, peak (VmHWM after resetting it) and after. In a
   full run on PostgreSQL it is repeated with the hashing bound lifted
   (``HOCSO_PASSWORD_HASH_CONCURRENCY=20``; the database slots then bind first).

The load generator's event loop runs on a thread at nice -10 (when run as root): at the same
priority as the server's 10-20 threads its single thread was starved on 2 cores and its own
delays were counted as the server's.

Printed per phase: throughput (all answers and good ones), p50/p95/p99 of the answered
requests, the shed answers (503/429) and their p95, other errors by status, timeouts (30 s),
the server's RSS (all its processes) and CPU, and the machine's CPU split (the machine is
shared: other processes' CPU is shown). Run: ``.venv/bin/python bench/load.py [--quick]
[--db sqlite|postgresql|both] [--record]`` (``--db`` defaults to ``HOCSO_BENCH_DB``, else both;
a full run takes about 10 minutes, ``--quick`` 5); ``--record`` appends rows to
docs/benchmarks.md. The run fails if the quiz rush lost or duplicated an answer or if the
server did not survive the overload.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_users import machine  # noqa: E402
from bench.learner import machine_times, proc_cpu  # noqa: E402
from bench.upload import percentile  # noqa: E402
from tests.support.live import free_port  # noqa: E402

PASSWORD = "Bench-hoc-2026!"
SECRET = "bench-secret-key-0123456789abcdef0123"
USERS = 1500
MODULES = 4
CONTENT_PER_MODULE = 4
QUIZ_QUESTIONS = 5
RUSH_QUESTIONS = 10
LIBRARY_ITEMS = 120
FILE_BYTES = 2 * 1024 * 1024
RANGE_BYTES = 256 * 1024
THINK_MEAN = 2.0
THINK_MAX = 10.0
TIMEOUT = 30.0
IDLE_SECONDS = 4.0
GENERATOR_NICE = -10
T = TypeVar("T")
RUSH_LEARNERS = 300
STORM = 200
OK = frozenset({200, 201, 204, 206, 303, 307})
SHED = frozenset({429, 503})
WEIGHTS = {
    "progress": 25,
    "quiz": 20,
    "course": 12,
    "lesson": 13,
    "search": 10,
    "download": 15,
    "my": 5,
}
WORDS = (
    "Chuyển đổi số",
    "Nghị quyết 57",
    "Toán",
    "Tiếng Việt",
    "Khoa học",
    "Lịch sử",
    "Địa lý",
    "STEM",
    "An toàn thông tin",
    "Kỹ năng số",
    "Giáo dục thể chất",
    "Âm nhạc",
)
QUERIES = ("chuyen doi so", "toan", "stem", "lich su", "khoa hoc", "ky nang", "nghi quyet", "xyz")
MARKERS = {
    "mixed": "<!-- load-rows -->",
    "rush": "<!-- load-rush-rows -->",
    "storm": "<!-- load-storm-rows -->",
}


# --- Setup ---------------------------------------------------------------------------------


@dataclass
class Learner:
    id: int
    email: str
    token: str  # bearer
    session: str  # page session cookie
    seed: str  # CSRF seed cookie
    csrf: str  # the matching token


@dataclass
class World:
    course: int
    content_lessons: list[int]
    quizzes: list[int]
    rush: int
    learners: list[Learner]


def bench_settings(env: dict[str, str]) -> Any:
    from app.core.config import Settings

    return Settings(
        database_url=env["HOCSO_DATABASE_URL"],
        data_dir=Path(env["HOCSO_DATA_DIR"]),
        secret_key=SECRET,
        gc_on_startup=False,
        storage=env.get("HOCSO_STORAGE", "local"),  # type: ignore[arg-type]
        s3_endpoint_url=env.get("HOCSO_S3_ENDPOINT_URL"),
        s3_bucket=env.get("HOCSO_S3_BUCKET", "hocso"),
    )


def build(env: dict[str, str]) -> World:
    """Migrate, then the course, the library and the learners (one password hash for all)."""
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    from app.accounts.models import User, WebSession
    from app.core.db import make_engine, make_sessionmaker, session_scope, utcnow
    from app.core.security import create_access_token, csrf_token, digest, hash_password
    from app.core.storage import make_blob_store
    from app.lcms import service as lcms
    from app.lms import quiz, service
    from tests.factories import make_org, make_user
    from tests.lcms import samples
    from tests.lms.helpers import store_bytes

    settings = bench_settings(env)
    engine = make_engine(settings)
    store = make_blob_store(settings)
    rng = random.Random(57)
    with session_scope(make_sessionmaker(engine)) as db:
        commune = make_org(db, kind="commune", name="Xã Bench")
        school = make_org(db, parent=commune, name="Trường THCS Bench")
        author = make_user(db, settings, role="author", organization=commune, password=None)
        admin = make_user(db, settings, role="admin", organization=commune, password=None)
        data = samples.mp4(FILE_BYTES)
        video = lcms.create_item(db, author, title="Video bài giảng", kind="video")
        lcms.add_version(
            db,
            author,
            video.id,
            sha256=store_bytes(store, data),
            size=len(data),
            media_type="video/mp4",
            filename="bai-giang.mp4",
        )
        lcms.publish(db, author, video.id, version=1)
        for i in range(LIBRARY_ITEMS):
            words = rng.sample(WORDS, 3)
            item = lcms.create_item(
                db,
                author,
                title=f"{words[0]}: {words[1].lower()} và {words[2].lower()} ({i + 1})",
                kind="link",
                description=f"Tài liệu tham khảo về {words[1].lower()} cho giáo viên.",
                topics=[words[0][:60]],
                url=f"https://example.edu.vn/tai-lieu/{i + 1}",
            )
            lcms.publish(db, author, item.id, version=0)
        course = service.create_course(
            db,
            author,
            title="Chuyển đổi số trong dạy học",
            description="Khoá học đo tải: 4 học phần, mỗi học phần có bài kiểm tra.",
            levels=["lower_secondary"],
            topics=["CĐS"],
            roles=["teacher"],
        )
        content_lessons, quizzes = [], []

        def questions(lesson_id: int, n: int) -> None:
            for q in range(n):
                quiz.add_question(
                    db,
                    author,
                    lesson_id,
                    text=f"Câu hỏi {q + 1}: chọn đáp án đúng",
                    kind="single",
                    choices=[(f"Phương án {c}", c == "A") for c in "ABCD"],
                )

        for m in range(MODULES):
            module = service.add_module(db, author, course.id, title=f"Học phần {m + 1}")
            for n in range(CONTENT_PER_MODULE):
                lesson = service.add_lesson(
                    db,
                    author,
                    module.id,
                    title=f"Bài {m + 1}.{n + 1}: xem video",
                    kind="content",
                    content_id=video.id,
                )
                content_lessons.append(lesson.id)
            test = service.add_lesson(
                db, author, module.id, title=f"Kiểm tra {m + 1}", kind="quiz", pass_score=60
            )
            questions(test.id, QUIZ_QUESTIONS)
            quizzes.append(test.id)
        module = service.add_module(db, author, course.id, title="Kiểm tra cuối khoá")
        rush = service.add_lesson(
            db,
            author,
            module.id,
            title="Kiểm tra cuối khoá (một lần làm)",
            kind="quiz",
            pass_score=50,
            max_attempts=1,
            required=False,
        )
        questions(rush.id, RUSH_QUESTIONS)
        service.publish_course(db, author, course.id)
        password_hash = hash_password(settings, PASSWORD)
        users = [
            User(
                email=f"gv{i:04d}@bench.edu.vn",
                full_name=f"Giáo viên Bench {i:04d}",
                role="teacher",
                organization_id=school.id,
                password_hash=password_hash,
                is_active=True,
            )
            for i in range(USERS)
        ]
        db.add_all(users)
        db.flush()
        service.assign(db, admin, course.id, organization_id=school.id, role="teacher")
        learners = []
        expires = utcnow() + timedelta(days=1)
        for user in users:
            raw, seed = uuid.uuid4().hex + uuid.uuid4().hex, uuid.uuid4().hex
            db.add(WebSession(id_digest=digest(raw), user_id=user.id, expires_at=expires))
            learners.append(
                Learner(
                    id=user.id,
                    email=user.email,
                    token=create_access_token(settings, user_id=user.id, token_version=0),
                    session=raw,
                    seed=seed,
                    csrf=csrf_token(settings, seed),
                )
            )
        world = World(course.id, content_lessons, quizzes, rush.id, learners)
    engine.dispose()
    return world


# --- HTTP client ---------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """A minimal HTTP/1.1 keep-alive client (Content-Length, chunked, or until close): a
    thousand of them in one event loop cost the load generator little CPU."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.head = f"Host: {host}:{port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in (headers or {}).items()
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0
        self.used_at = 0.0

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
    ) -> Reply:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        body = b""
        if json_body is not None:
            body = json.dumps(json_body).encode()
            extra += "Content-Type: application/json\r\n"
        elif form is not None:
            body = urlencode(form).encode()
            extra += "Content-Type: application/x-www-form-urlencoded\r\n"
        head = f"{method} {path} HTTP/1.1\r\n{self.head}{extra}Content-Length: {len(body)}\r\n\r\n"
        message = head.encode() + body
        # Like a browser: a connection idle for longer than the server keeps it (uvicorn: 5 s)
        # is not reused, and a request that finds its reused connection closed before any byte
        # of an answer is sent again once on a new one.
        if self.writer is not None and time.monotonic() - self.used_at > IDLE_SECONDS:
            self.close()
        reused = self.writer is not None
        try:
            return await self._exchange(message)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            nothing = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if not (reused and nothing):
                raise
        return await self._exchange(message)

    async def _exchange(self, message: bytes) -> Reply:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.connects += 1
        reader, writer = self.reader, self.writer
        try:
            writer.write(message)
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            pairs = (x.partition(":") for x in lines[1:] if x)
            fields = {k.strip().lower(): v.strip() for k, _, v in pairs}
            if "content-length" in fields:
                data = await reader.readexactly(int(fields["content-length"]))
            elif fields.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":
                            pass
                        break
                    chunks.append((await reader.readexactly(size + 2))[:-2])
                data = b"".join(chunks)
            else:
                data = await reader.read()
                fields["connection"] = "close"
        except BaseException:
            self.close()
            raise
        self.used_at = time.monotonic()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return Reply(status, fields, data)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# --- Server processes ----------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's supervisor and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """RSS (or VmHWM, the peak) of the server's processes, summed, in MB."""
    return sum(status_kib(p, key) for p in tree(pid)) / 1024


def reset_peak(pid: int) -> None:
    for p in tree(pid):
        with suppress(OSError):
            Path(f"/proc/{p}/clear_refs").write_text("5")  # VmHWM := VmRSS


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        with suppress(OSError, IndexError, ValueError):
            total += proc_cpu(p)
    return total


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    workers: int
    log: Path
    settings: Any  # the app's Settings, for counting in the database afterwards


@contextmanager
def serve(env: dict[str, str], workers: int, tmp: Path, **overrides: str) -> Iterator[Server]:
    port = free_port()
    log = tmp / f"server-{port}.log"
    server_env = {**env, **{f"HOCSO_{k.upper()}": v for k, v in overrides.items()}}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
            + (["--workers", str(workers)] if workers > 1 else []),
            env=server_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()[-2000:]}")
            try:
                # With workers, also wait until each of them has been started.
                up = httpx.get(f"{base}/healthz", timeout=5).status_code == 200
                if up and len(tree(process.pid)) >= (workers + 1 if workers > 1 else 1):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        time.sleep(1.0 if workers > 1 else 0.2)
        yield Server(base, process, workers, log, bench_settings(server_env))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's S3 in its own process (in the load generator's it would share its GIL)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(endpoint, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def drive(work: Coroutine[Any, Any, T]) -> T:
    """Run the load generator's event loop on a thread of higher scheduling priority.

    The server runs 20+ threads per process on a shared 2-core machine; at the same priority the
    generator's single thread got a small share of the CPU, answers waited in its socket buffers
    and their latency was counted against the server (refusals "took" seconds). On Linux the nice
    value is per thread, so only this thread is raised (root only; otherwise it runs as is)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GENERATOR_NICE)
        try:
            result.append(asyncio.run(work))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="load-generator")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


# --- The mixed workload --------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    users: int
    seconds: float
    served: dict[str, list[float]] = field(default_factory=dict)  # kind -> ms, answered
    shed_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_busy: float = 0.0
    rss: float = 0.0
    peak_rss: float = 0.0
    alive_after: bool = True

    @property
    def all_served(self) -> list[float]:
        return [ms for values in self.served.values() for ms in values]

    @property
    def good(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.isdigit() and int(s) in OK)

    @property
    def shed(self) -> int:
        return sum(n for s, n in self.statuses.items() if s.isdigit() and int(s) in SHED)

    @property
    def errors(self) -> dict[str, int]:
        return {
            s: n
            for s, n in sorted(self.statuses.items())
            if not (s.isdigit() and int(s) in OK | SHED)
        }

    @property
    def timeouts(self) -> int:
        return self.statuses.get("timeout", 0)

    @property
    def rps(self) -> float:
        return sum(self.statuses.values()) / self.seconds

    @property
    def goodput(self) -> float:
        return self.good / self.seconds

    def p(self, pct: float, kind: str | None = None) -> float:
        values = self.served.get(kind, []) if kind else self.all_served
        return percentile(values, pct) if values else float("nan")

    @property
    def mean_ms(self) -> float:
        values = self.all_served
        return sum(values) / len(values) if values else float("nan")


class User:
    """One simulated learner: a browser (page session, CSRF token) that also takes quizzes
    through the API."""

    def __init__(self, base: str, world: World, learner: Learner, seed: int) -> None:
        self.world, self.learner = world, learner
        self.rng = random.Random(seed)
        self.http = Http(
            base, {"Cookie": f"hocso_session={learner.session}; hocso_csrf={learner.seed}"}
        )
        self.api = {"Authorization": f"Bearer {learner.token}"}
        self.percent: dict[int, int] = {}
        self.attempt: dict[str, Any] | None = None
        self.saves = 0

    def lesson(self) -> int:
        return self.rng.choice(self.world.content_lessons)

    async def progress(self) -> Reply:
        lesson = self.lesson()
        self.percent[lesson] = min(100, self.percent.get(lesson, 0) + self.rng.randint(5, 20))
        body = {
            "event_id": str(uuid.uuid4()),
            "percent": self.percent[lesson],
            "position_seconds": self.percent[lesson] * 6.0,
            "seconds_spent": 15.0,
        }
        return await self.http.request(
            "POST",
            f"/lessons/{lesson}/progress",
            headers={"X-CSRF-Token": self.learner.csrf},
            json_body=body,
        )

    def answers(self, questions: list[dict[str, Any]]) -> dict[str, list[int]]:
        return {str(q["id"]): [self.rng.choice(q["choices"])["id"]] for q in questions}

    async def quiz(self) -> Reply:
        if self.attempt is None:
            lesson = self.rng.choice(self.world.quizzes)
            reply = await self.http.request(
                "POST", f"/api/v1/lessons/{lesson}/attempts", headers=self.api
            )
            if reply.status in (200, 201):
                self.attempt, self.saves = reply.json(), 0
            return reply
        attempt = self.attempt
        questions = attempt["questions"]
        if self.saves < 2:
            part = questions[self.saves :: 2]
            reply = await self.http.request(
                "PATCH",
                f"/api/v1/attempts/{attempt['id']}",
                headers=self.api,
                json_body={"answers": self.answers(part)},
            )
            if reply.status == 200:
                self.saves += 1
            return reply
        reply = await self.http.request(
            "POST",
            f"/api/v1/attempts/{attempt['id']}/submit",
            headers=self.api,
            json_body={"answers": self.answers(questions[:1])},
        )
        if reply.status in (200, 409):
            self.attempt = None
        return reply

    async def course(self) -> Reply:
        return await self.http.request("GET", f"/courses/{self.world.course}")

    async def lesson_page(self) -> Reply:
        return await self.http.request("GET", f"/lessons/{self.lesson()}")

    async def search(self) -> Reply:
        q = quote(self.rng.choice(QUERIES))
        return await self.http.request("GET", f"/library?q={q}")

    async def download(self) -> Reply:
        start = self.rng.randrange(0, FILE_BYTES - RANGE_BYTES)
        return await self.http.request(
            "GET",
            f"/lessons/{self.lesson()}/file",
            headers={"Range": f"bytes={start}-{start + RANGE_BYTES - 1}"},
        )

    async def my(self) -> Reply:
        return await self.http.request("GET", "/my")

    def action(self, kind: str) -> Callable[[], Awaitable[Reply]]:
        return {
            "progress": self.progress,
            "quiz": self.quiz,
            "course": self.course,
            "lesson": self.lesson_page,
            "search": self.search,
            "download": self.download,
            "my": self.my,
        }[kind]


async def call(http: Http, action: Callable[[], Awaitable[Reply]]) -> tuple[str, Reply | None]:
    try:
        reply = await asyncio.wait_for(action(), TIMEOUT)
        return str(reply.status), reply
    except TimeoutError:
        http.close()
        return "timeout", None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        http.close()
        return type(exc).__name__, None


def retry_after(reply: Reply | None, rng: random.Random) -> float:
    seconds = 1.0
    if reply is not None:
        with suppress(ValueError):
            seconds = float(reply.headers.get("retry-after", "1"))
    return seconds * rng.uniform(1.0, 1.5)


async def run_phase(
    server: Server, world: World, users: int, *, warmup: float, seconds: float, name: str
) -> Phase:
    phase = Phase(name, users, seconds, {k: [] for k in WEIGHTS})
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    started = time.perf_counter()
    measure_from = started + warmup
    stop = measure_from + seconds
    marks: dict[str, Any] = {}

    async def mark() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        reset_peak(server.process.pid)
        marks["server"], marks["client"] = tree_cpu(server.process.pid), time.process_time()
        marks["machine"] = machine_times()

    async def user(index: int) -> None:
        me = User(server.base, world, world.learners[index], seed=index * 7919 + users)
        rng = me.rng
        await asyncio.sleep(rng.uniform(0, THINK_MEAN))  # arrivals spread, not a stampede
        try:
            while time.perf_counter() < stop:
                kind = rng.choices(kinds, weights)[0]
                t0 = time.perf_counter()
                status, reply = await call(me.http, me.action(kind))
                now = time.perf_counter()
                if measure_from <= now <= stop:
                    phase.statuses[status] += 1
                    ms = (now - t0) * 1000
                    if status.isdigit() and int(status) in SHED:
                        phase.shed_ms.append(ms)
                    elif status.isdigit():
                        phase.served[kind].append(ms)
                if status.isdigit() and int(status) in SHED:
                    pause = retry_after(reply, rng)
                elif not status.isdigit():
                    pause = 1.0
                else:
                    pause = min(rng.expovariate(1 / THINK_MEAN), THINK_MAX)
                await asyncio.sleep(max(0.0, min(pause, stop - time.perf_counter())))
        finally:
            me.http.close()

    await asyncio.gather(mark(), *(user(i) for i in range(users)))
    phase.server_cpu = tree_cpu(server.process.pid) - marks["server"]
    phase.client_cpu = time.process_time() - marks["client"]
    busy, total = machine_times()
    phase.machine_busy = (busy - marks["machine"][0]) / max(1, total - marks["machine"][1])
    phase.rss = rss_mb(server.process.pid)
    phase.peak_rss = rss_mb(server.process.pid, "VmHWM")
    try:
        phase.alive_after = httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200
    except httpx.TransportError:
        phase.alive_after = False
    return phase


def show_phase(phase: Phase) -> None:
    cores = os.cpu_count() or 1
    window = phase.seconds
    others = phase.machine_busy * cores * window - phase.server_cpu - phase.client_cpu
    kinds = ", ".join(
        f"{k} {phase.p(50, k):.0f}/{phase.p(95, k):.0f}" for k in WEIGHTS if phase.served.get(k)
    )
    shed_p95 = percentile(phase.shed_ms, 95) if phase.shed_ms else float("nan")
    print(
        f"  {phase.name}: {phase.users} users: {phase.rps:.0f} req/s answered, "
        f"{phase.goodput:.0f} req/s good; p50 {phase.p(50):.0f} / p95 {phase.p(95):.0f} / "
        f"p99 {phase.p(99):.0f} ms; shed {phase.shed} (p95 {shed_p95:.0f} ms); "
        f"errors {phase.errors or 0}; server RSS {phase.rss:.0f} MB (peak {phase.peak_rss:.0f}); "
        f"healthz after: {'ok' if phase.alive_after else 'DOWN'}\n"
        f"    p50/p95 ms by kind: {kinds}\n"
        f"    CPU (share of one core): server {phase.server_cpu / window:.0%} "
        f"({phase.server_cpu * 1000 / max(1, phase.good + phase.shed):.1f} ms per answer), "
        f"load generator {phase.client_cpu / window:.0%}, everything else "
        f"{max(0.0, others) / window:.0%} (database, other people's processes); machine "
        f"{phase.machine_busy:.0%} busy of {cores} cores",
        flush=True,
    )


def knee(phases: list[Phase]) -> tuple[int, float, float]:
    """(N*, peak goodput, light-load mean response s): Little's law for a closed loop."""
    peak = max(p.goodput for p in phases)
    light = min(phases, key=lambda p: p.users)
    r0 = light.mean_ms / 1000
    return round(peak * (THINK_MEAN + r0)), peak, r0


# --- Quiz rush -----------------------------------------------------------------------------


@dataclass
class Rush:
    learners: int
    steps: dict[str, list[float]] = field(default_factory=dict)  # step -> ms of final tries
    statuses: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    seconds: float = 0.0
    attempts: int = 0
    submitted: int = 0
    duplicated: int = 0
    lost: int = 0
    answers_stored: int = 0
    answers_sent: int = 0


async def quiz_rush(server: Server, world: World, learners: int) -> Rush:
    rush = Rush(learners, {"start": [], "save": [], "submit": []})
    go_start, go_submit = asyncio.Event(), asyncio.Event()
    saved = 0
    all_saved = asyncio.Event()
    expected: dict[int, dict[str, list[int]]] = {}

    async def persist(http: Http, rng: random.Random, step: str, action: Any) -> Reply | None:
        for _ in range(30):
            t0 = time.perf_counter()
            status, reply = await call(http, action)
            rush.statuses[f"{step} {status}"] += 1
            if status.isdigit() and int(status) in SHED:
                rush.retries += 1
                await asyncio.sleep(retry_after(reply, rng))
                continue
            if not status.isdigit():
                rush.retries += 1
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                continue
            rush.steps[step].append((time.perf_counter() - t0) * 1000)
            return reply
        return None

    async def learner(index: int) -> None:
        nonlocal saved
        me = world.learners[index]
        rng = random.Random(index)
        http = Http(server.base, {"Authorization": f"Bearer {me.token}"})
        try:
            await go_start.wait()
            reply = await persist(
                http,
                rng,
                "start",
                lambda: http.request("POST", f"/api/v1/lessons/{world.rush}/attempts"),
            )
            if reply is None or reply.status not in (200, 201):
                return
            attempt = reply.json()
            answers = {str(q["id"]): [rng.choice(q["choices"])["id"]] for q in attempt["questions"]}
            expected[me.id] = answers
            keys = sorted(answers)
            first = {k: answers[k] for k in keys[: len(keys) // 2]}
            rest = {k: answers[k] for k in keys[len(keys) // 2 :]}
            await persist(
                http,
                rng,
                "save",
                lambda: http.request(
                    "PATCH", f"/api/v1/attempts/{attempt['id']}", json_body={"answers": first}
                ),
            )
            saved += 1
            if saved == learners:
                all_saved.set()
            await go_submit.wait()
            await persist(
                http,
                rng,
                "submit",
                lambda: http.request(
                    "POST", f"/api/v1/attempts/{attempt['id']}/submit", json_body={"answers": rest}
                ),
            )
        finally:
            http.close()

    tasks = [asyncio.create_task(learner(i)) for i in range(learners)]
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    go_start.set()
    with suppress(TimeoutError):
        await asyncio.wait_for(all_saved.wait(), 300)
    go_submit.set()
    await asyncio.gather(*tasks)
    rush.seconds = time.perf_counter() - t0
    rush.answers_sent = sum(len(a) for a in expected.values())
    count_rush(server, world, rush, expected)
    return rush


def count_rush(
    server: Server, world: World, rush: Rush, expected: dict[int, dict[str, list[int]]]
) -> None:
    """What the database holds for the rush quiz, against what the learners sent."""
    from sqlalchemy import select

    from app.core.db import make_engine
    from app.lms.models import Attempt

    engine = make_engine(server.settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Attempt.user_id, Attempt.submitted_at, Attempt.answers).where(
                    Attempt.lesson_id == world.rush
                )
            ).all()
    finally:
        engine.dispose()
    per_user = Counter(r.user_id for r in rows)
    rush.attempts = len(rows)
    rush.duplicated = sum(n - 1 for n in per_user.values())
    rush.submitted = sum(1 for r in rows if r.submitted_at is not None)
    rush.answers_stored = sum(len(r.answers or {}) for r in rows)
    stored = {r.user_id: (r.answers or {}) for r in rows if r.submitted_at is not None}
    lost = 0
    for user_id, answers in expected.items():
        have = stored.get(user_id, {})
        lost += sum(1 for k, v in answers.items() if have.get(k) != v)
    lost += sum(1 for i in range(rush.learners) if world.learners[i].id not in expected) * (
        RUSH_QUESTIONS
    )
    rush.lost = lost


def show_rush(rush: Rush) -> None:
    steps = ", ".join(
        f"{k} p50 {percentile(v, 50):.0f} / p95 {percentile(v, 95):.0f} ms"
        for k, v in rush.steps.items()
        if v
    )
    print(
        f"  quiz rush: {rush.learners} learners, all submitted in {rush.seconds:.1f} s; {steps}; "
        f"retries after 503/429 or errors: {rush.retries}; answers by step and status: "
        f"{dict(sorted(rush.statuses.items()))}\n"
        f"    database: {rush.attempts} attempts ({rush.duplicated} duplicated), "
        f"{rush.submitted} submitted, {rush.answers_stored} answers stored of "
        f"{rush.answers_sent} sent: {rush.lost} lost",
        flush=True,
    )


# --- Sign-in storm -------------------------------------------------------------------------


@dataclass
class Storm:
    users: int
    slots: str
    tries_ms: list[float] = field(default_factory=list)
    whole_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    signed_in: int = 0
    rss_before: float = 0.0
    rss_peak: float = 0.0
    rss_after: float = 0.0


async def sign_in_storm(server: Server, world: World, users: int, offset: int, slots: str) -> Storm:
    storm = Storm(users, slots)
    go = asyncio.Event()
    pid = server.process.pid
    storm.rss_before = rss_mb(pid)
    reset_peak(pid)

    async def one(learner: Learner, seed: int) -> None:
        rng = random.Random(seed)
        http = Http(server.base)
        await go.wait()
        t_start = time.perf_counter()
        try:
            for _ in range(30):
                t0 = time.perf_counter()
                status, reply = await call(
                    http,
                    lambda: http.request(
                        "POST",
                        "/api/v1/auth/token",
                        form={"username": learner.email, "password": PASSWORD},
                    ),
                )
                storm.statuses[status] += 1
                if status == "200":
                    storm.tries_ms.append((time.perf_counter() - t0) * 1000)
                    storm.whole_ms.append((time.perf_counter() - t_start) * 1000)
                    storm.signed_in += 1
                    return
                await asyncio.sleep(retry_after(reply, rng) if status != "401" else 0.5)
        finally:
            http.close()

    tasks = [asyncio.create_task(one(world.learners[offset + i], i)) for i in range(users)]
    await asyncio.sleep(0.3)
    t0 = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    storm.seconds = time.perf_counter() - t0
    storm.rss_peak = rss_mb(pid, "VmHWM")
    await asyncio.sleep(2)
    storm.rss_after = rss_mb(pid)
    return storm


def show_storm(storm: Storm, label: str) -> None:
    print(
        f"  sign-in storm ({label}, {storm.slots} hashes at once per process): "
        f"{storm.signed_in}/{storm.users} signed in in {storm.seconds:.1f} s = "
        f"{storm.signed_in / storm.seconds:.1f}/s; successful try p50 "
        f"{percentile(storm.tries_ms, 50):.0f} / p95 {percentile(storm.tries_ms, 95):.0f} ms; "
        f"until signed in p50 {percentile(storm.whole_ms, 50):.0f} / p95 "
        f"{percentile(storm.whole_ms, 95):.0f} ms; answers {dict(storm.statuses)}; server RSS "
        f"{storm.rss_before:.0f} MB before, {storm.rss_peak:.0f} peak, {storm.rss_after:.0f} after",
        flush=True,
    )


# --- Main ----------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    workers: int
    phases: list[Phase]
    knee: tuple[int, float, float]
    overload: Phase
    contrast: Phase | None  # the last step again with HOCSO_MAX_INFLIGHT=0
    rush: Rush
    storms: list[tuple[str, Storm]]


def run_backend(backend: str, args: argparse.Namespace) -> Result:
    workers = 2 if backend == "postgresql" else 1
    steps = [50, 200, 1000] if args.quick else [50, 100, 200, 400, 1000]
    warmup, seconds = (3.0, 8.0) if args.quick else (5.0, 15.0)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {
            **os.environ,
            "HOCSO_DATA_DIR": str(tmp),
            "HOCSO_SECRET_KEY": SECRET,
            "HOCSO_GC_ON_STARTUP": "false",
        }
        if backend == "postgresql":
            from tests.support.postgres import throwaway_postgres

            env["HOCSO_DATABASE_URL"] = stack.enter_context(throwaway_postgres("hocso_load"))
            endpoint = stack.enter_context(moto_process())
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(key, "testing")  # moto's; this process stores the file
            os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
            env.update(
                {
                    "HOCSO_STORAGE": "s3",
                    "HOCSO_S3_ENDPOINT_URL": endpoint,
                    "HOCSO_S3_BUCKET": "hocso-load",
                    **{k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
                    "AWS_EC2_METADATA_DISABLED": "true",
                }
            )
            from app.core.storage import s3_client

            s3_client(bench_settings(env)).create_bucket(Bucket="hocso-load")
        else:
            env["HOCSO_DATABASE_URL"] = f"sqlite:///{tmp / 'hocso.db'}"
        t0 = time.perf_counter()
        world = build(env)
        print(
            f"{backend}, {workers} process(es): setup {time.perf_counter() - t0:.0f} s "
            f"({USERS} learners, {len(world.content_lessons)} content lessons, "
            f"{len(world.quizzes)} quizzes + the rush quiz, {LIBRARY_ITEMS} library items)",
            flush=True,
        )
        with serve(env, workers, tmp) as server:
            phases = []
            for users in steps:
                phase = drive(
                    run_phase(
                        server, world, users, warmup=warmup, seconds=seconds, name=f"{users} users"
                    )
                )
                show_phase(phase)
                phases.append(phase)
            n_star, peak, r0 = knee(phases)
            over = min(USERS, round(1.5 * n_star))
            print(
                f"  knee: peak goodput {peak:.0f} req/s, light-load mean response {r0 * 1000:.0f} "
                f"ms, think {THINK_MEAN:g} s => N* = {n_star} users; 1.5x = {over} users",
                flush=True,
            )
            overload = drive(
                run_phase(server, world, over, warmup=warmup, seconds=seconds, name="1.5x knee")
            )
            show_phase(overload)
            rush = drive(quiz_rush(server, world, RUSH_LEARNERS))
            show_rush(rush)
            storms = []
            for n in range(2):
                storm = drive(sign_in_storm(server, world, STORM, RUSH_LEARNERS + n * STORM, "2"))
                show_storm(storm, f"#{n + 1}")
                storms.append((f"#{n + 1}", storm))
        contrast = None
        if not args.quick:
            # The same overload without the cap: what load shedding spares the users.
            with serve(env, workers, tmp, max_inflight="0") as server:
                contrast = drive(
                    run_phase(
                        server,
                        world,
                        steps[-1],
                        warmup=warmup,
                        seconds=seconds,
                        name=f"{steps[-1]} users, no cap",
                    )
                )
                show_phase(contrast)
        if backend == "postgresql" and not args.quick:
            with serve(env, workers, tmp, password_hash_concurrency="20") as server:
                storm = drive(sign_in_storm(server, world, STORM, RUSH_LEARNERS + 2 * STORM, "20"))
                show_storm(storm, "hash bound lifted")
                storms.append(("hash bound lifted", storm))
    return Result(backend, workers, phases, (n_star, peak, r0), overload, contrast, rush, storms)


def rows(result: Result) -> dict[str, list[str]]:
    day = f"{datetime.now(UTC):%Y-%m-%d}"
    where = f"{result.backend}, {result.workers} process{'es' if result.workers > 1 else ''}"
    mixed = []
    contrast = [result.contrast] if result.contrast else []
    for phase in [*result.phases, result.overload, *contrast]:
        shed_p95 = percentile(phase.shed_ms, 95) if phase.shed_ms else float("nan")
        label = f"{phase.users}" + (
            " (1.5× knee)"
            if phase is result.overload
            else " (no cap)"
            if phase is result.contrast
            else ""
        )
        errors = ", ".join(f"{k}: {v}" for k, v in phase.errors.items()) or "0"
        cores = os.cpu_count() or 1
        others = phase.machine_busy * cores * phase.seconds - phase.server_cpu - phase.client_cpu
        mixed.append(
            f"| {day} | {where} | {label} | {phase.goodput:.0f} | "
            f"{phase.p(50):.0f} / {phase.p(95):.0f} / {phase.p(99):.0f} ms | "
            f"{phase.shed}" + (f" (p95 {shed_p95:.0f} ms)" if phase.shed else "") + " | "
            f"{errors} | {phase.rss:.0f} MB | {phase.server_cpu / phase.seconds:.0%} / "
            f"{phase.client_cpu / phase.seconds:.0%} / {max(0.0, others) / phase.seconds:.0%} | "
            f"{machine()} |"
        )
    rush = result.rush
    steps = " / ".join(
        f"{percentile(rush.steps[k], 95):.0f}" if rush.steps[k] else "–"
        for k in ("start", "save", "submit")
    )
    rush_row = [
        f"| {day} | {where} | {rush.learners} | {rush.seconds:.1f} s | {steps} ms | "
        f"{rush.retries} | {rush.attempts} / {rush.submitted} | {rush.answers_stored} of "
        f"{rush.answers_sent} | {rush.lost} / {rush.duplicated} | {machine()} |"
    ]
    storm_rows = [
        f"| {day} | {where} | {label} | {s.slots} | {s.signed_in}/{s.users} in {s.seconds:.1f} s "
        f"({s.signed_in / s.seconds:.1f}/s) | {percentile(s.whole_ms, 50):.0f} / "
        f"{percentile(s.whole_ms, 95):.0f} ms | "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(s.statuses.items()))} | "
        f"{s.rss_before:.0f} / {s.rss_peak:.0f} / {s.rss_after:.0f} MB | {machine()} |"
        for label, s in result.storms
    ]
    return {"mixed": mixed, "rush": rush_row, "storm": storm_rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 steps of 8 s, no comparison")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        default=os.environ.get("HOCSO_BENCH_DB", "both"),
        help="default: HOCSO_BENCH_DB if set, else both",
    )
    parser.add_argument("--record", action="store_true", help="append rows to the docs")
    args = parser.parse_args()
    started = time.perf_counter()
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"machine: {machine()}; load average now {os.getloadavg()[0]:.1f}", flush=True)
    results = [run_backend(backend, args) for backend in backends]
    print(f"total {time.perf_counter() - started:.0f} s")
    out = ROOT / "docs" / "benchmarks.md"
    text = out.read_text(encoding="utf-8")
    for result in results:
        for key, lines in rows(result).items():
            block = "\n".join(lines)
            print(block)
            if args.record and MARKERS[key] in text:
                text = text.replace(MARKERS[key], block + "\n" + MARKERS[key])
    if args.record:
        out.write_text(text, encoding="utf-8")
        print(f"recorded in {out}")
    # Some checks fail the run loudly (the figures are for people; these are promises).
    for result in results:
        bad = result.rush.lost or result.rush.duplicated
        if bad:
            raise SystemExit(f"{result.backend}: quiz rush lost or duplicated answers")
        if not result.overload.alive_after:
            raise SystemExit(f"{result.backend}: the server did not survive the overload")


if __name__ == "__main__":
    main()
