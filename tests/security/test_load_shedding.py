"""Load shedding (issue #7, item 6): past its cap of requests in progress a process answers 503
with Retry-After at once instead of queueing; /healthz and /static still answer; the process
serves normally afterwards. Password hashing is bounded per process in the same spirit.

The shedding tests run a real uvicorn server (in a thread) with a tiny cap and a test-only route
that holds its request until the test lets it go. "At once" is shown by order, not by a clock
(which a loaded machine makes lie): the refusals come back while the requests that fill the cap
are still held, and those are let go only afterwards, so nothing waited for a place."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import LoginFailure
from app.core import security
from app.core.config import Settings
from app.core.shedding import RETRY_AFTER_SECONDS, LoadSheddingMiddleware
from app.main import create_app
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user
from tests.support.live import live_server

CAP = 2
# Only turns a hang into a clear failure (a held request is let go by the test long before):
# never a claim about speed.
HANG_GUARD_SECONDS = 60


@dataclass
class Held:
    """The test-only routes of a capped app and the switches that hold them."""

    app: FastAPI
    base: str
    gate: threading.Event
    entered: threading.Semaphore
    pool: ThreadPoolExecutor

    def hold(self, path: str = "/api/v1/test/hold") -> Future[httpx.Response]:
        return self.pool.submit(httpx.get, f"{self.base}{path}", timeout=30)

    def wait_entered(self, n: int) -> None:
        for _ in range(n):
            assert self.entered.acquire(timeout=HANG_GUARD_SECONDS), (
                "a held request never reached its handler"
            )

    def assert_still_held(self, holders: list[Future[httpx.Response]]) -> None:
        """The answers so far came while the cap was full: the held requests are still in
        their handler (the test lets them go later), so none of those answers waited for a
        place; and no refused request reached a handler."""
        assert not self.gate.is_set()
        assert not any(holder.done() for holder in holders), "a held request was let go"
        assert self.middleware.inflight == CAP
        assert not self.entered.acquire(blocking=False), "a refused request reached a handler"

    @property
    def middleware(self) -> LoadSheddingMiddleware:
        layer: Any = self.app.middleware_stack
        while not isinstance(layer, LoadSheddingMiddleware):
            layer = layer.app
        return layer


@pytest.fixture
def held(settings: Settings, engine: object) -> Iterator[Held]:
    app = create_app(settings.model_copy(update={"max_inflight": CAP}))
    gate, entered = threading.Event(), threading.Semaphore(0)

    @app.get("/api/v1/test/hold")
    def hold() -> dict[str, bool]:
        entered.release()
        return {"released": gate.wait(HANG_GUARD_SECONDS)}

    @app.get("/api/v1/test/stream")
    def stream() -> StreamingResponse:
        def body() -> Iterator[bytes]:
            yield b"first chunk\n"
            entered.release()
            gate.wait(HANG_GUARD_SECONDS)
            yield b"last chunk\n"

        return StreamingResponse(body(), media_type="text/plain")

    with ThreadPoolExecutor(max_workers=8) as pool, live_server(app) as base:
        try:
            yield Held(app, base, gate, entered, pool)
        finally:
            gate.set()
    app.state.engine.dispose()


def test_beyond_the_cap_answers_503_at_once_and_recovers(held: Held) -> None:
    holders = [held.hold() for _ in range(CAP)]
    held.wait_entered(CAP)
    assert held.middleware.inflight == CAP

    # The API: JSON error, Retry-After, and no waiting for a place.
    api = httpx.get(f"{held.base}/api/v1/me?lang=en", timeout=HANG_GUARD_SECONDS)
    held.assert_still_held(holders)
    assert api.status_code == 503
    assert api.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert api.json()["error"] == "overloaded"
    assert "busy" in api.json()["detail"]

    # A page: the error page in the visitor's language, with the usual security headers.
    page = httpx.get(f"{held.base}/login?lang=en", timeout=HANG_GUARD_SECONDS)
    held.assert_still_held(holders)
    assert page.status_code == 503
    assert page.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert page.headers["content-type"].startswith("text/html")
    assert "Service unavailable" in page.text
    assert "The server is busy" in page.text
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # The page is rendered once per language and holds nothing of any one visitor: neither
    # the path that first needed it nor anyone's cookies.
    other = httpx.get(f"{held.base}/courses?lang=en", timeout=30)
    assert other.status_code == 503
    assert other.text == page.text
    assert "/login" not in page.text
    seeds = {r.cookies.get("hocso_csrf") for r in (page, other)}
    assert len(seeds) == 2
    assert None not in seeds
    vi = httpx.get(f"{held.base}/login?lang=vi", timeout=30)
    assert vi.status_code == 503
    assert "Dịch vụ tạm thời không khả dụng" in vi.text

    # A refused unsafe request is refused before its body is read or anything is stored.
    post = httpx.post(
        f"{held.base}/api/v1/auth/token",
        data={"username": "nobody@truong.edu.vn", "password": "x"},
        timeout=30,
    )
    assert post.status_code == 503

    # The held route itself, beyond the cap: refused, not queued behind the two in it.
    again = httpx.get(f"{held.base}/api/v1/test/hold", timeout=HANG_GUARD_SECONDS)
    assert again.status_code == 503

    # Monitoring and the static files are exempt.
    assert httpx.get(f"{held.base}/healthz", timeout=30).status_code == 200
    assert httpx.get(f"{held.base}/static/favicon.svg", timeout=30).status_code == 200
    assert held.middleware.shed == 6
    # Every refusal above came back while the cap was still full.
    held.assert_still_held(holders)

    # Let the held requests go: they were never affected, and the process serves normally.
    held.gate.set()
    for holder in holders:
        response = holder.result(timeout=30)
        assert response.status_code == 200
        assert response.json() == {"released": True}
    assert held.middleware.inflight == 0
    for _ in range(3 * CAP):
        assert httpx.get(f"{held.base}/api/v1/test/hold", timeout=30).status_code == 200
    assert httpx.get(f"{held.base}/login", timeout=30).status_code == 200
    assert httpx.get(f"{held.base}/api/v1/me", timeout=30).status_code == 401
    assert held.middleware.inflight == 0


def test_a_request_stops_counting_when_its_response_starts(held: Held) -> None:
    """A long download to a slow client must not keep everyone else out."""
    with ThreadPoolExecutor(max_workers=CAP) as readers:

        def read_stream() -> bytes:
            with httpx.stream("GET", f"{held.base}/api/v1/test/stream", timeout=30) as r:
                return b"".join(r.iter_bytes())

        streams = [readers.submit(read_stream) for _ in range(CAP)]
        held.wait_entered(CAP)  # both responses have started and are still streaming
        assert held.middleware.inflight == 0
        held_request = held.hold()
        held.wait_entered(1)
        assert held.middleware.inflight == 1
        held.gate.set()
        assert held_request.result(timeout=30).status_code == 200
        assert all(s.result(timeout=30) == b"first chunk\nlast chunk\n" for s in streams)
    assert held.middleware.shed == 0


def test_the_cap_can_be_turned_off(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_inflight": 0}))
    try:
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            layer: Any = app.middleware_stack
            while not isinstance(layer, LoadSheddingMiddleware):
                layer = layer.app
            assert layer.max_inflight == 0
            assert client.get("/api/v1/me").status_code == 401
            assert layer.inflight == 0
            assert layer.shed == 0
    finally:
        app.state.engine.dispose()


# --- Password hashing --------------------------------------------------------------------


def test_password_hashes_run_at_most_n_at_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve sign-ins at once, from twelve request threads, hash two at a time on two
    threads (glibc keeps a hash's freed memory in the arena of the thread that used it: spread
    over every request thread, a storm left hundreds of MB behind), and all of them succeed."""
    bounded = settings.model_copy(
        update={"password_hash_concurrency": 2, "password_hash_wait_seconds": 30}
    )
    stored = security.hash_password(bounded, PASSWORD)
    running, peak, lock = 0, 0, threading.Lock()
    hashing_threads: set[int] = set()
    verify = PasswordHasher.verify

    def counting_verify(self: Any, hash: str, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            hashing_threads.add(threading.get_ident())
        try:
            time.sleep(0.05)  # long enough for the others to pile up
            return verify(self, hash, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    with ThreadPoolExecutor(max_workers=12) as pool:
        checks = list(
            pool.map(lambda _: security.verify_password(bounded, stored, PASSWORD), range(12))
        )
    assert all(check.ok for check in checks)
    assert peak == 2
    assert len(hashing_threads) <= 2


def test_an_unknown_account_costs_one_hash_like_a_known_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing guard for unknown accounts hashed a new dummy on every call (setdefault
    evaluates its argument), so an unknown email took twice as long as a known one."""
    security.verify_password(settings, None, "warm-up")  # the dummy hash exists now
    calls: list[str] = []
    hash_, verify = PasswordHasher.hash, PasswordHasher.verify

    def counting_hash(self: PasswordHasher, password: str, **kwargs: Any) -> str:
        calls.append("hash")
        return hash_(self, password, **kwargs)

    def counting_verify(self: PasswordHasher, hash: str, password: str) -> bool:
        calls.append("verify")
        return verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "hash", counting_hash)
    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    assert not security.verify_password(settings, None, "guess").ok
    assert calls == ["verify"]


@pytest.fixture
def one_hash_slot(app: FastAPI, settings: Settings) -> Iterator[Settings]:
    """The app hashes one password at a time and waits at most 0.2 s for the slot."""
    bounded = settings.model_copy(
        update={"password_hash_concurrency": 1, "password_hash_wait_seconds": 0.2}
    )
    # Not monkeypatch.setattr: Starlette's State keeps attributes in a dict that getattr_static
    # does not see, so undoing it deleted the shared app's settings for every later test.
    original = app.state.settings
    app.state.settings = bounded
    try:
        yield bounded
    finally:
        app.state.settings = original


def test_sign_in_beyond_the_hashing_bound_is_503_with_retry_after(
    client: TestClient, db: Session, one_hash_slot: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot stays taken for the whole storm below, so a sign-in that waited for it would
    never answer: each one waits at most ``password_hash_wait_seconds`` and is a 503."""
    user = make_user(db, one_hash_slot, role="teacher")
    form = {"username": user.email, "password": PASSWORD}
    with security.hashing_slot(one_hash_slot):  # every slot is taken (a storm in progress)
        slots, _threads = security._slots(one_hash_slot.password_hash_concurrency)
        waits: list[float | None] = []
        acquire = slots.acquire

        def bounded_acquire(blocking: bool = True, timeout: float | None = None) -> bool:
            waits.append(timeout if blocking else 0.0)
            # An unbounded wait would hang here (the slot is taken until the block ends):
            # fail with the reason instead.
            assert not blocking or (timeout is not None and timeout >= 0), "unbounded wait"
            return acquire(blocking, timeout)

        monkeypatch.setattr(slots, "acquire", bounded_acquire)
        response = client.post("/api/v1/auth/token", data=form)
        assert waits == [one_hash_slot.password_hash_wait_seconds]
        assert response.status_code == 503
        assert response.json()["error"] == "overloaded"
        assert response.headers["retry-after"] == str(security.HASH_RETRY_AFTER_SECONDS)

        token = csrf_from(client.get("/login?lang=en").text)
        page = client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert page.status_code == 503
        assert "Too many sign-ins at once" in page.text
        assert page.headers["retry-after"] == str(security.HASH_RETRY_AFTER_SECONDS)
        assert waits == [one_hash_slot.password_hash_wait_seconds] * 2
        monkeypatch.undo()

    # The storm is over: nothing counted as a failed sign-in, and the same one goes through.
    assert db.scalar(select(func.count()).select_from(LoginFailure)) == 0
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    assert response.json()["access_token"]
