"""Benchmark: 50 learners load a course page and post progress against the app under uvicorn.

A published course of 10 modules × 10 content lessons (one small MP4 in the library), 50
teachers enrolled, one bearer token each (signed in before anything is measured). The app runs
under uvicorn (1 worker, served as ``hocso serve`` serves it: uvloop and httptools, access log
off) in a subprocess, with a trivial JSON endpoint (``GET /bench/ping``, added in the
subprocess, not in app code) as the same-run baseline. Added last, it is the app's last route;
since decision 14 that costs it ~0.04 ms of route matching, not the ~1 ms it did before. Each
phase runs 50 virtual users in a closed loop (no think time, keep-alive, each with its own
token and connection):

A. baseline: everyone requests ``GET /bench/ping`` (with the Authorization header too);
B. learners: each loops ``GET /api/v1/courses/{id}`` then ``POST /api/v1/lessons/{id}/progress``
   for a random lesson (new uuid4 ``event_id``, increasing percent), i.e. 1:1.

Goals: learner p95 ≤ 2× ping p95 and learner throughput ≥ 0.25× ping throughput. Also printed:
each request type on its own, the CPU used by the server, by the client and by everything else
on the machine in each phase (the client shares the machine: with httpx it needs about a core
for the ping phase, so the ping figures partly measure the client; ``--client raw`` uses a
minimal HTTP/1.1 client instead; "everything else" is the database server and, on a shared
machine, other people's work, which the recorded row keeps), one user alone (each request
type 400 times in a row: its latency and the server's CPU per request, and the learner / ping
ratio of that CPU, below which the loaded p95 ratio cannot go much: in a closed loop a
request's latency is mostly its wait behind the other users' requests), and SQL statements per
request.

Run: ``.venv/bin/python bench/learner.py [--seconds 15] [--warmup 3] [--client httpx|raw]``
(``--also-me`` adds a phase of ``GET /api/v1/me``, a baseline that reads the database);
``HOCSO_BENCH_DB=postgresql`` uses a throwaway PostgreSQL. Appends a row to docs/benchmarks.md
(above ``<!-- learner-rows -->``; ``--no-record`` only prints it).
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
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_users import machine  # noqa: E402
from bench.upload import percentile  # noqa: E402
from tests.support.live import free_port  # noqa: E402

SERVE = """
import sys
import uvicorn
from app.core.config import Settings
from app.main import create_app
settings = Settings()
app = create_app(settings)

@app.get("/bench/ping")
def ping():
    return {"ok": True}

# As `hocso serve` (app/cli.py) serves, with one worker: uvicorn's defaults pick uvloop and
# httptools (uvicorn[standard]). Only the access log is off (hocso serve logs each request).
uvicorn.run(
    app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    proxy_headers=True,
    forwarded_allow_ips=settings.forwarded_allow_ips,
    log_level="warning",
)
"""

MODULES = 10
LESSONS_PER_MODULE = 10
PASSWORD = "Bench-hoc-2026!"
SECRET = "bench-secret-key-0123456789abcdef0123"
MARKER = "<!-- learner-rows -->"
P95_GOAL = 2.0
THROUGHPUT_GOAL = 0.25


# --- Setup ---------------------------------------------------------------------------------


@dataclass
class Course:
    id: int
    lesson_ids: list[int]
    emails: list[str]


def build(env: dict[str, str], learners: int) -> Course:
    """Migrate, then the author, the library item, the course and the enrolled teachers."""
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=env,
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    from app.core.config import Settings
    from app.core.db import make_engine, make_sessionmaker, session_scope
    from app.core.storage import make_blob_store
    from app.lcms import service as lcms
    from app.lms import service
    from tests.factories import make_org, make_user
    from tests.lcms import samples
    from tests.lms.helpers import store_bytes

    settings = Settings(
        database_url=env["HOCSO_DATABASE_URL"],
        data_dir=Path(env["HOCSO_DATA_DIR"]),
        secret_key=SECRET,
        gc_on_startup=False,
    )
    engine = make_engine(settings)
    store = make_blob_store(settings)
    emails = [f"gv{i:03d}@bench.edu.vn" for i in range(learners)]
    with session_scope(make_sessionmaker(engine)) as db:
        commune = make_org(db, kind="commune", name="Xã Bench")
        school = make_org(db, parent=commune, name="Trường Tiểu học Bench")
        author = make_user(db, settings, role="author", organization=commune, password=None)
        data = samples.mp4(8192)
        item = lcms.create_item(db, author, title="Video bài giảng", kind="video")
        lcms.add_version(
            db,
            author,
            item.id,
            sha256=store_bytes(store, data),
            size=len(data),
            media_type="video/mp4",
            filename="bai-giang.mp4",
        )
        lcms.publish(db, author, item.id, version=1)
        course = service.create_course(
            db,
            author,
            title="Chuyển đổi số trong dạy học",
            description="Khoá học đo hiệu năng: 10 học phần × 10 bài.",
            levels=["primary"],
            topics=["CĐS"],
            roles=["teacher"],
        )
        lesson_ids = []
        for m in range(MODULES):
            module = service.add_module(db, author, course.id, title=f"Học phần {m + 1}")
            for n in range(LESSONS_PER_MODULE):
                lesson = service.add_lesson(
                    db,
                    author,
                    module.id,
                    title=f"Bài {m + 1}.{n + 1}: xem video",
                    kind="content",
                    content_id=item.id,
                )
                lesson_ids.append(lesson.id)
        service.publish_course(db, author, course.id)
        for i, email in enumerate(emails):
            teacher = make_user(
                db,
                settings,
                role="teacher",
                organization=school,
                email=email,
                full_name=f"Giáo viên Bench {i:03d}",
                password=PASSWORD,
            )
            service.enroll_self(db, teacher, course.id)
        course_id = course.id
    engine.dispose()
    return Course(course_id, lesson_ids, emails)


# --- Load ----------------------------------------------------------------------------------


class RawClient:
    """A minimal HTTP/1.1 keep-alive client (bodies with Content-Length only). It costs the
    load generator about a tenth of httpx's CPU per request, so that on a small machine the
    server, not the client, is what saturates during the baseline."""

    def __init__(self, base: str, token: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.head = f"Host: {self.host}\r\nAuthorization: Bearer {token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = json.dumps(body).encode() if body is not None else b""
        kind = "Content-Type: application/json\r\n" if body is not None else ""
        head = f"{method} {path} HTTP/1.1\r\n{self.head}{kind}Content-Length: {len(data)}\r\n\r\n"
        try:
            self.writer.write(head.encode() + data)
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
            await self.reader.readexactly(int(fields["content-length"]))
        except BaseException:
            await self.aclose()
            raise
        if fields.get("connection", "").lower() == "close":
            await self.aclose()
        return status

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class HttpxClient:
    """httpx.AsyncClient with one keep-alive connection, as a browser tab would hold."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}"},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=60,
        )

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> int:
        return (await self.client.request(method, path, json=body)).status_code

    async def aclose(self) -> None:
        await self.client.aclose()


CLIENTS: dict[str, type[HttpxClient] | type[RawClient]] = {"httpx": HttpxClient, "raw": RawClient}
KINDS = ("course", "progress")
# The goal's baseline, and (--also-me) one that reads the database: the caller's own row with
# the same bearer-token check, for comparison only.
BASELINES = ("ping", "me")


class Learner:
    """One virtual user: alternately the course page and a progress event for a random lesson
    (a new uuid4 event id each time; percent and position only go up)."""

    def __init__(self, client: HttpxClient | RawClient, course: Course, seed: int) -> None:
        self.client, self.course = client, course
        self.rng = random.Random(seed)
        self.percent: dict[int, int] = {}
        self.position: dict[int, float] = {}

    async def ping(self) -> int:
        return await self.client.request("GET", "/bench/ping")

    async def me(self) -> int:
        return await self.client.request("GET", "/api/v1/me")

    async def course_page(self) -> int:
        return await self.client.request("GET", f"/api/v1/courses/{self.course.id}")

    async def progress(self) -> int:
        lesson = self.rng.choice(self.course.lesson_ids)
        self.percent[lesson] = min(100, self.percent.get(lesson, 0) + self.rng.randint(3, 12))
        self.position[lesson] = self.position.get(lesson, 0.0) + 15.0
        body = {
            "event_id": str(uuid.uuid4()),
            "percent": self.percent[lesson],
            "position_seconds": self.position[lesson],
            "seconds_spent": 15.0,
        }
        return await self.client.request("POST", f"/api/v1/lessons/{lesson}/progress", body)


async def timed_call(kind: str, call: Any) -> tuple[float, str | None]:
    t0 = time.perf_counter()
    try:
        status = await call()
        error = None if 200 <= status < 300 else f"{kind} {status}"
    except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, KeyError, ValueError) as exc:
        error = f"{kind} {type(exc).__name__}"
    return (time.perf_counter() - t0) * 1000, error


@dataclass
class Phase:
    name: str
    seconds: float
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    machine_busy: float = 0.0

    @property
    def all(self) -> list[float]:
        return [ms for values in self.samples.values() for ms in values]

    @property
    def count(self) -> int:
        return len(self.all)

    @property
    def rps(self) -> float:
        return self.count / self.seconds

    def p(self, pct: float, kind: str | None = None) -> float:
        values = self.samples.get(kind, []) if kind else self.all
        return percentile(values, pct) if values else float("nan")

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def server_ms(self) -> float:
        """Server CPU per measured request (ms)."""
        return self.server_cpu * 1000 / max(1, self.count)

    def others(self, cores: int) -> float:
        """CPU used by everything but the server and the client (the database server, other
        people's processes), as a share of one core."""
        busy = self.machine_busy * cores * self.seconds - self.server_cpu - self.client_cpu
        return max(0.0, busy) / self.seconds


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


async def run_phase(
    name: str,
    base: str,
    tokens: list[str],
    course: Course,
    *,
    client: str,
    warmup: float,
    seconds: float,
    server_pid: int,
) -> Phase:
    """All users in a closed loop for warmup + seconds. Latencies count when a request ends
    inside the measured window; errors count over the whole phase, warm-up included."""
    phase = Phase(name, seconds, {k: [] for k in ((name,) if name in BASELINES else KINDS)})
    measure_from = time.perf_counter() + warmup
    stop = measure_from + seconds
    marks: dict[str, Any] = {}

    async def mark() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        marks["server"], marks["client"] = proc_cpu(server_pid), time.process_time()
        marks["machine"] = machine_times()

    async def user(index: int, token: str) -> None:
        learner = Learner(CLIENTS[client](base, token), course, seed=index)
        steps = (
            [(name, getattr(learner, name))]
            if name in BASELINES
            else [("course", learner.course_page), ("progress", learner.progress)]
        )
        try:
            while time.perf_counter() < stop:
                for kind, call in steps:
                    ms, error = await timed_call(kind, call)
                    if measure_from <= time.perf_counter() <= stop:
                        phase.samples[kind].append(ms)
                    if error:
                        phase.errors[error] += 1
        finally:
            await learner.client.aclose()

    await asyncio.gather(mark(), *(user(i, t) for i, t in enumerate(tokens)))
    # Read after the last in-flight request: a little more than `seconds` of CPU.
    phase.server_cpu = proc_cpu(server_pid) - marks["server"]
    phase.client_cpu = time.process_time() - marks["client"]
    busy, total = machine_times()
    phase.machine_busy = (busy - marks["machine"][0]) / max(1, total - marks["machine"][1])
    return phase


@dataclass
class Alone:
    """One user alone (no contention), one request type at a time."""

    p50_ms: dict[str, float]  # latency, client time included
    server_ms: dict[str, float]  # server CPU per request

    def cpu_ratio(self) -> float:
        """Server CPU of a learner request (course page and progress post, 1:1) over a ping's.
        In a closed loop latency is mostly queueing behind the other users' requests, so the
        loaded p95 ratio cannot be much below this, whatever the tail."""
        return (self.server_ms["course"] + self.server_ms["progress"]) / 2 / self.server_ms["ping"]


async def sequential(
    base: str, token: str, course: Course, *, client: str, n: int, server_pid: int
) -> Alone:
    """Each request type ``n`` times in a row (after 5 to warm up) by one user."""
    learner = Learner(CLIENTS[client](base, token), course, seed=10_000)
    steps = {"ping": learner.ping, "course": learner.course_page, "progress": learner.progress}
    alone = Alone({}, {})
    try:
        for kind, call in steps.items():
            times = []
            for i in range(n + 5):
                if i == 5:
                    cpu = proc_cpu(server_pid)
                ms, error = await timed_call(kind, call)
                if error:
                    raise RuntimeError(error)
                if i >= 5:
                    times.append(ms)
            # /proc counts CPU in clock ticks (10 ms): n requests make it fine enough.
            alone.server_ms[kind] = (proc_cpu(server_pid) - cpu) * 1000 / n
            alone.p50_ms[kind] = percentile(times, 50)
    finally:
        await learner.client.aclose()
    return alone


def sql_counts(env: dict[str, str], token: str, course: Course) -> dict[str, int]:
    """SQL statements per request, counted in-process against the same database."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from app.core.config import Settings
    from app.main import create_app

    settings = Settings(
        database_url=env["HOCSO_DATABASE_URL"],
        data_dir=Path(env["HOCSO_DATA_DIR"]),
        secret_key=SECRET,
        gc_on_startup=False,
    )
    app = create_app(settings)
    statements: list[str] = []

    @event.listens_for(app.state.engine, "before_cursor_execute")
    def _count(*args: Any) -> None:
        statements.append(args[2])

    counts = {}
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        for kind in ("course", "progress"):
            for _ in range(2):  # the second one, with a warm pool and caches
                statements.clear()
                if kind == "course":
                    r = client.get(f"/api/v1/courses/{course.id}")
                else:
                    r = client.post(
                        f"/api/v1/lessons/{course.lesson_ids[0]}/progress",
                        json={"event_id": str(uuid.uuid4()), "percent": 2},
                    )
                r.raise_for_status()
            counts[kind] = len(statements)
    return counts


# --- Main ----------------------------------------------------------------------------------


def wait_up(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="httpx",
        help="load generator: httpx.AsyncClient, or a minimal HTTP/1.1 client (less client CPU)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not touch the docs")
    parser.add_argument(
        "--also-me",
        action="store_true",
        help="also measure GET /api/v1/me (a database-backed baseline) and print ratios to it",
    )
    args = parser.parse_args()
    backend = os.environ.get("HOCSO_BENCH_DB", "sqlite")
    started = time.perf_counter()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if backend == "postgresql":
            from tests.support.postgres import throwaway_postgres

            url = stack.enter_context(throwaway_postgres("hocso_bench"))
        else:
            url = f"sqlite:///{tmp / 'hocso.db'}"
        env = {
            **os.environ,
            "HOCSO_DATA_DIR": str(tmp),
            "HOCSO_DATABASE_URL": url,
            "HOCSO_SECRET_KEY": SECRET,
            "HOCSO_GC_ON_STARTUP": "false",
        }
        t0 = time.perf_counter()
        course = build(env, args.learners)
        print(
            f"setup ({backend}): {MODULES}×{LESSONS_PER_MODULE} lessons, {args.learners} "
            f"enrolled teachers in {time.perf_counter() - t0:.1f} s"
        )
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], env=env, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_up(base, server)
            tokens = []
            with httpx.Client(base_url=base) as client:
                for email in course.emails:
                    r = client.post(
                        "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
                    )
                    r.raise_for_status()
                    tokens.append(r.json()["access_token"])
                page = client.get(
                    f"/api/v1/courses/{course.id}",
                    headers={"Authorization": f"Bearer {tokens[0]}"},
                )
                page.raise_for_status()
                outline = page.json()["modules"]
                assert sum(len(m["lessons"]) for m in outline) == MODULES * LESSONS_PER_MODULE
                page_kib = len(page.content) / 1024
            phases = {
                name: asyncio.run(
                    run_phase(
                        name,
                        base,
                        tokens,
                        course,
                        client=args.client,
                        warmup=args.warmup,
                        seconds=args.seconds,
                        server_pid=server.pid,
                    )
                )
                for name in ("ping", *(("me",) if args.also_me else ()), "learner")
            }
            alone = asyncio.run(
                sequential(
                    base, tokens[-1], course, client=args.client, n=400, server_pid=server.pid
                )
            )
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)
        counts = sql_counts(env, tokens[0], course)

    ping, learner = phases["ping"], phases["learner"]
    p95_ratio = learner.p(95) / ping.p(95)
    rps_ratio = learner.rps / ping.rps
    p95_verdict = "met" if p95_ratio <= P95_GOAL else "MISSED"
    rps_verdict = "met" if rps_ratio >= THROUGHPUT_GOAL else "MISSED"
    cores = os.cpu_count() or 1
    print(
        f"client: {args.client}; course page: {page_kib:.0f} KiB of JSON; SQL statements per "
        f"request: course page {counts['course']}, progress post {counts['progress']}"
    )
    for phase in phases.values():
        kinds = ", ".join(
            f"{k} n={len(v)} p50 {phase.p(50, k):.1f} p95 {phase.p(95, k):.1f} "
            f"p99 {phase.p(99, k):.1f} ms"
            for k, v in phase.samples.items()
        )
        print(
            f"{phase.name}: {args.learners} users, {phase.seconds:g} s: {phase.rps:.0f} req/s, "
            f"p50 {phase.p(50):.1f} / p95 {phase.p(95):.1f} / p99 {phase.p(99):.1f} ms, "
            f"errors {phase.n_errors} {dict(phase.errors) or ''}\n  {kinds}\n"
            f"  CPU (share of one core): server {phase.server_cpu / phase.seconds:.0%} "
            f"({phase.server_ms:.2f} ms per request), client "
            f"{phase.client_cpu / phase.seconds:.0%}, everything else on the machine "
            f"{phase.others(cores):.0%} (database server, other processes); "
            f"machine {phase.machine_busy:.0%} busy of {cores} cores"
        )
    print(
        "one user alone, p50: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in alone.p50_ms.items())
        + "; server CPU per request: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in alone.server_ms.items())
        + f" (learner / ping {alone.cpu_ratio():.2f}); total run "
        + f"{time.perf_counter() - started:.0f} s"
    )
    print(
        f"p95 learner / ping = {p95_ratio:.2f} (goal ≤ {P95_GOAL:g}): {p95_verdict}; "
        f"throughput learner / ping = {rps_ratio:.2f} (goal ≥ {THROUGHPUT_GOAL:g}): "
        f"{rps_verdict}"
    )
    if "me" in phases:
        me = phases["me"]
        print(
            f"for comparison, against GET /api/v1/me: p95 learner / me = "
            f"{learner.p(95) / me.p(95):.2f}, throughput learner / me = "
            f"{learner.rps / me.rps:.2f}, server CPU per request {me.server_ms:.2f} ms"
        )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {backend} | {args.learners} ({args.client}) | "
        f"{ping.p(50):.1f} / {ping.p(95):.1f} ms, {ping.rps:.0f} req/s | "
        f"{learner.p(50):.1f} / {learner.p(95):.1f} ms, {learner.rps:.0f} req/s | "
        f"{learner.p(95, 'course'):.1f} ms | {learner.p(95, 'progress'):.1f} ms | "
        f"{p95_ratio:.2f} ({p95_verdict}) / {rps_ratio:.2f} ({rps_verdict}) | "
        f"{ping.n_errors} / {learner.n_errors} | "
        f"{ping.server_ms:.2f} / {learner.server_ms:.1f} ms | {machine()}; everything else "
        f"{ping.others(cores):.0%} / {learner.others(cores):.0%} of a core |"
    )
    out = ROOT / "docs" / "benchmarks.md"
    if args.no_record or not out.exists():
        print(row)
        return
    text = out.read_text(encoding="utf-8")
    if MARKER in text:
        out.write_text(text.replace(MARKER, row + "\n" + MARKER), encoding="utf-8")
        print(f"recorded in {out}")
    else:
        print(f"{MARKER} not found in {out}: row not recorded\n{row}")


if __name__ == "__main__":
    main()
