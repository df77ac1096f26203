"""Idempotency keys for page forms: a form sent again by a retry is not done twice (decision 12).

``static/js/net.js`` sends every POST form with an ``Idempotency-Key`` header (a UUID), the same
on every retry of one submission. When a weak link loses the answer after the server acted, the
retry finds the key done and is answered with the first answer's redirect and the flash "This was
already sent; it was done once." instead of running the handler again.

This module owns the table ``core_idempotency_key`` (one row per browser session and key), the
plain functions that claim, complete and release a key, and ``IdempotencyMiddleware``, which
applies them to unsafe-method page requests carrying the header:

- the key is scoped to the browser's session cookie (only its digest is stored), so one browser
  can never replay another's; signed-out forms (sign-in, activation) are left alone;
- a new key is recorded ``in_progress`` in a short transaction of its own and committed before
  the handler runs, so a concurrent copy sees it (409) instead of running alongside;
- a redirect without an error flash (and a small JSON 201, the studio upload's answer) is stored
  before it is sent; any other answer (a form shown again with its errors, an error page, an
  exception) deletes the row, so a corrected form can be sent with the same key;
- rows expire: done after 24 hours, in progress after 10 minutes (a process that died mid-request);
  old rows are deleted whenever a new key is recorded.

JSON API requests are not covered: they authenticate with tokens, not the session cookie, and the
operations a client may repeat are idempotent by themselves (progress event ids, one enrolment,
one attempt submission). The middleware reads headers only and never the body the handler needs,
except to drain a small body before it answers for the handler (replay, 409, 4xx).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from sqlalchemy import JSON, CheckConstraint, CursorResult, String, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.db import Base, UTCDateTime, insert_ignore, one_of, utcnow
from app.core.errors import AppError, BadRequest, Conflict, InvalidInput, ServiceUnavailable
from app.core.i18n import gettext as _
from app.core.security import unsign
from app.core.web import (
    FLASH_COOKIE,
    MAX_BODY_BYTES,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    error_response,
    flash,
    is_api_path,
)

log = logging.getLogger("hocso")

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
DONE_TTL = timedelta(hours=24)
IN_PROGRESS_TTL = timedelta(minutes=10)
RETRY_AFTER_SECONDS = 2
# The largest JSON answer remembered (the studio upload answers {"number", "url"}).
MAX_JSON_BODY = 4096
# At most this many key reads and writes at once, on threads of their own: like the request
# session's commits, they must not queue behind handlers waiting for a connection. With the
# handlers' 8 sessions this stays inside the pool (8 + 10 overflow).
DB_THREADS = 4

_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class KeyState(enum.StrEnum):
    in_progress = "in_progress"
    done = "done"


class IdempotencyKey(Base):
    """A form submission seen from one browser session: in progress, or done with its answer."""

    __tablename__ = "core_idempotency_key"
    __table_args__ = (CheckConstraint(one_of("state", KeyState), name="state"),)

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # session cookie digest
    key: Mapped[str] = mapped_column(String(36), primary_key=True)  # the UUID, lower case
    request_digest: Mapped[str] = mapped_column(String(64))  # method and URL it was sent to
    state: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # {"status", "location", "flashes": [[level, text]], "body"} once done.
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# --- Keys: claim, complete, release --------------------------------------------------------


def parse_key(raw: str) -> str | None:
    """The key in canonical form (a UUID, lower case), or None when it is not one."""
    value = raw.strip().lower()
    return value if _KEY.fullmatch(value) else None


def scope_of(session_cookie: str) -> str:
    """The stored scope of a browser session: a digest of its cookie (never the cookie), and a
    different one from the session table's, so the two tables cannot be joined."""
    return hashlib.sha256(f"idempotency:{session_cookie}".encode()).hexdigest()


def request_digest(method: str, path: str, query: str = "") -> str:
    return hashlib.sha256(f"{method} {path}?{query}".encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """What to do with a request: run it (``new``, holding the row created at ``stamp``), answer
    with the stored ``outcome`` (``replay``), or refuse it (``busy``, ``mismatch``)."""

    kind: Literal["new", "replay", "busy", "mismatch"]
    stamp: datetime | None = None
    outcome: dict[str, Any] | None = None


def claim(
    session: Session, *, scope: str, key: str, digest: str, now: datetime | None = None
) -> Claim:
    """Record ``key`` as in progress, or say why the request must not run. Call it in a
    transaction of its own, committed before the handler runs: a concurrent request with the
    same key then finds the row (PostgreSQL: waits for it at the INSERT)."""
    now = now or utcnow()
    if insert_ignore(
        session,
        IdempotencyKey,
        scope=scope,
        key=key,
        request_digest=digest,
        state=KeyState.in_progress.value,
        created_at=now,
    ):
        # Old rows are pruned as new ones come (as sign-in failures are): no job to schedule.
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - DONE_TTL))
        return Claim("new", stamp=now)
    row = session.execute(
        select(
            IdempotencyKey.request_digest,
            IdempotencyKey.state,
            IdempotencyKey.created_at,
            IdempotencyKey.outcome,
        ).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    ).one_or_none()
    if row is None:  # pruned between the two statements: a new key after all
        return claim(session, scope=scope, key=key, digest=digest, now=now)
    ttl = DONE_TTL if row.state == KeyState.done else IN_PROGRESS_TTL
    if row.created_at < now - ttl:
        # Expired, or left in progress by a process that died: the request runs again. Only
        # one request can take the row over (the update's condition includes the old stamp).
        taken = session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
                IdempotencyKey.created_at == row.created_at,
            )
            .values(
                request_digest=digest,
                state=KeyState.in_progress.value,
                created_at=now,
                outcome=None,
            )
            .execution_options(synchronize_session=False)
        )
        return (
            Claim("new", stamp=now)
            if cast(CursorResult[Any], taken).rowcount == 1
            else Claim("busy")
        )
    if row.request_digest != digest:
        return Claim("mismatch")
    if row.state == KeyState.done:
        return Claim("replay", outcome=row.outcome)
    return Claim("busy")


def complete(
    session: Session, *, scope: str, key: str, stamp: datetime, outcome: dict[str, Any]
) -> None:
    """Store the answer of the request that claimed the key at ``stamp``."""
    session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at == stamp,
            IdempotencyKey.state == KeyState.in_progress.value,
        )
        .values(state=KeyState.done.value, outcome=outcome)
        .execution_options(synchronize_session=False)
    )


def release(session: Session, *, scope: str, key: str, stamp: datetime) -> None:
    """Forget a key whose request did nothing worth remembering: a retry runs again."""
    session.execute(
        delete(IdempotencyKey)
        .where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at == stamp,
            IdempotencyKey.state == KeyState.in_progress.value,
        )
        .execution_options(synchronize_session=False)
    )


# --- Which answers are remembered ----------------------------------------------------------


def remembered_outcome(status: int, headers: Headers, settings: Settings) -> dict[str, Any] | None:
    """The outcome to store for an answer, or None when a retry should run the request again.

    Remembered: a redirect (302/303; the post-redirect-get of every form that did its work)
    and a 201 JSON answer (the studio upload), unless the answer carries an error flash, leads
    to the sign-in page or sets a cookie other than the flash (a session cannot be replayed).
    Everything else is forgotten: forms shown again with their errors did nothing, and the few
    forms that answer with a page (a new user's one-time activation link) must not have it
    stored; the database already refuses their duplicates (one account per email)."""
    flashes: list[list[str]] = []
    for value in headers.getlist("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(value)
        except CookieError:
            return None
        for name, morsel in cookie.items():
            if name != FLASH_COOKIE:
                return None
            flashes = _flashes(settings, morsel.value)
    if any(level == "error" for level, _text in flashes):
        return None
    if status in (302, 303):
        location = headers.get("location")
        if not location or urlsplit(location).path == "/login":
            return None
        return {"status": 303, "location": location, "flashes": flashes}
    if status == 201 and headers.get("content-type", "").startswith("application/json"):
        return {"status": 201, "flashes": flashes, "body": None}  # the body is added when read
    return None


def _flashes(settings: Settings, raw: str) -> list[list[str]]:
    value = unsign(settings, raw) if raw else None
    if value is None:
        return []
    try:
        return [[str(level), str(text)] for level, text in json.loads(value)]
    except (ValueError, TypeError):
        return []


def replay_response(request: Request, outcome: dict[str, Any]) -> Response:
    """The stored answer again, with its flash messages and "This was already sent"."""
    response: Response
    if outcome.get("status") == 201:
        response = Response(
            str(outcome.get("body") or "{}"), status_code=201, media_type="application/json"
        )
    else:
        response = RedirectResponse(str(outcome.get("location") or "/"), status_code=303)
    request.state.pending_flashes = []
    for level, text in outcome.get("flashes") or []:
        flash(response, request, str(text), str(level))
    flash(response, request, _("This was already sent; it was done once."))
    response.headers[REPLAYED_HEADER] = "true"
    return response


# --- Middleware ----------------------------------------------------------------------------

T = TypeVar("T")


class IdempotencyMiddleware:
    """Pure ASGI, inside ``LoadSheddingMiddleware`` (a refused request costs no database work)
    and ``WebMiddleware`` (locale, CSRF seed and security headers for its own answers)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in UNSAFE_METHODS
            or is_api_path(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        raw_key = headers.get(HEADER)
        request = Request(scope, receive)
        cookie = request.cookies.get(SESSION_COOKIE)
        if raw_key is None or not cookie:
            await self.app(scope, receive, send)
            return
        key = parse_key(raw_key)
        if key is None:
            await self._refuse(
                request,
                BadRequest(
                    _("The Idempotency-Key header must be a UUID, such as the page's form sends.")
                ),
                send,
            )
            return
        owner = scope_of(cookie)
        digest = request_digest(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")
        )
        try:
            got = await self._db(scope, lambda s: claim(s, scope=owner, key=key, digest=digest))
        except (DBAPIError, SQLAlchemyTimeoutError) as exc:
            log.warning("idempotency key unavailable: %s", str(exc).splitlines()[0][:200])
            unavailable = ServiceUnavailable(
                _("The database is unavailable. Please try again shortly."),
                headers={"Retry-After": "5"},
            )
            await self._refuse(request, unavailable, send)
            return
        if got.kind == "replay":
            await _drain(scope, receive)
            await replay_response(request, got.outcome or {})(scope, receive, send)
            return
        if got.kind == "busy":
            busy = Conflict(
                _(
                    "This form was sent a moment ago and is still being processed. "
                    "Please wait a few seconds, then send it again."
                ),
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            await self._refuse(request, busy, send)
            return
        if got.kind == "mismatch":
            await self._refuse(
                request,
                InvalidInput(
                    _("This Idempotency-Key was already used for another form. Reload the page.")
                ),
                send,
            )
            return
        assert got.stamp is not None
        await self._run(scope, receive, send, owner, key, got.stamp)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, owner: str, key: str, stamp: datetime
    ) -> None:
        settled = False
        held: Message | None = None  # a JSON answer's start, kept until its body is read
        body = b""
        outcome: dict[str, Any] | None = None

        async def settle(result: dict[str, Any] | None) -> None:
            nonlocal settled
            settled = True
            try:
                if result is None:
                    await self._db(scope, lambda s: release(s, scope=owner, key=key, stamp=stamp))
                else:
                    await self._db(
                        scope,
                        lambda s: complete(s, scope=owner, key=key, stamp=stamp, outcome=result),
                    )
            except Exception:
                # The answer still goes out; the key stays in progress until it expires.
                log.exception("idempotency key not settled")

        async def send_wrapper(message: Message) -> None:
            nonlocal held, body, outcome
            if message["type"] == "http.response.start" and not settled and held is None:
                outcome = remembered_outcome(
                    message["status"], Headers(raw=message["headers"]), self.settings
                )
                if outcome is not None and outcome["status"] == 201:
                    held = message
                    return
                # Stored before the client can see the answer: a retry that follows it replays.
                await settle(outcome)
            elif message["type"] == "http.response.body" and held is not None:
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if more and len(body) <= MAX_JSON_BODY:
                    return
                if len(body) <= MAX_JSON_BODY:
                    assert outcome is not None
                    await settle({**outcome, "body": body.decode("utf-8", "replace")})
                else:
                    await settle(None)
                start, held = held, None
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": more})
                return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not settled:
                # An exception, a cancelled request, or no answer at all: a retry runs again.
                with anyio.CancelScope(shield=True):
                    await settle(None)

    async def _refuse(self, request: Request, exc: AppError, send: Send) -> None:
        await _drain(request.scope, request.receive)
        await error_response(request, exc)(request.scope, request.receive, send)

    async def _db(self, scope: Scope, work: Callable[[Session], T]) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(DB_THREADS)
        state = scope["app"].state

        def run() -> T:
            # Bound like a writing request's session (SQLite: BEGIN IMMEDIATE, no stale read).
            session: Session = state.sessionmaker(bind=state.write_engine)
            try:
                result = work(session)
                session.commit()
                return result
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

        return await anyio.to_thread.run_sync(run, limiter=self._limiter)


async def _drain(scope: Scope, receive: Receive) -> None:
    """Read and drop a small request body the handler will not read, so the answer is not lost
    to a connection reset by a client still sending. A large one (an upload) is left: the
    server closes the connection after the answer, as load shedding does."""
    headers = Headers(scope=scope)
    length = headers.get("content-length", "")
    if not length.isdecimal() or int(length) > MAX_BODY_BYTES:
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
