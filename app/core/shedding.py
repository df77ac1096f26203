"""Load shedding: a cap on the HTTP requests one process works on at once.

Without it every request that needs the database queues on the session limiter
(``core.db.DB_CONCURRENCY``) for as long as it takes: past the server's capacity the queue, and
with it every answer's latency, grows until clients time out, retry and make it worse. With it a
request beyond the cap is answered at once with 503 and ``Retry-After`` (JSON
``{"error": "overloaded"}`` under /api, the translated error page elsewhere), and the requests
already admitted finish in their usual time.

A request holds its place from arrival until its response starts, so a long download to a slow
phone does not keep others out. /healthz (monitoring must see an overloaded process as alive) and
/static (cheap files, needed to draw the error page) are exempt. The count is per process and
lives in memory: it describes this process's load, not shared state.

Refusing must cost far less than serving, or an overloaded process spends its time refusing: the
error page is rendered once per language (for an anonymous visitor of the home page, so it holds
nothing of the request that first needed it) and its bytes are reused.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import i18n
from app.core.errors import Overloaded
from app.core.i18n import gettext as _
from app.core.web import error_response, is_api_path

log = logging.getLogger("hocso")

RETRY_AFTER_SECONDS = 2
EXEMPT_PATHS = frozenset({"/healthz"})
EXEMPT_PREFIXES = ("/static/",)
LOG_EVERY_SECONDS = 10.0


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class LoadSheddingMiddleware:
    """Pure ASGI. ``max_inflight`` 0 turns the cap off. ``inflight`` and ``shed`` (requests
    refused since start) are read by tests and benchmarks."""

    def __init__(self, app: ASGIApp, max_inflight: int) -> None:
        self.app = app
        self.max_inflight = max_inflight
        self.inflight = 0
        self.shed = 0
        self._logged_at = 0.0
        self._logged_shed = 0
        self._pages: dict[str, bytes] = {}  # the refusal page per language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.max_inflight or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        # One event loop per process: nothing runs between this check and the increment.
        if self.inflight >= self.max_inflight:
            await self._refuse(scope, receive, send)
            return
        self.inflight += 1
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.inflight -= 1

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            release()

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.shed += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            log.warning(
                "overloaded: %d requests in progress (the cap); %d refused since the last notice",
                self.inflight,
                self.shed - self._logged_shed,
            )
            self._logged_at, self._logged_shed = now, self.shed
        # The body is not read: the server closes the connection if the client sends one.
        if is_api_path(scope["path"]):
            response = error_response(Request(scope, receive), _overloaded())
        else:
            response = self._page(scope, receive)
        await response(scope, receive, send)

    def _page(self, scope: Scope, receive: Receive) -> Response:
        locale = i18n.get_locale()
        body = self._pages.get(locale)
        if body is None:
            anonymous = {
                **scope,
                "path": "/",
                "raw_path": b"/",
                "query_string": b"",
                "headers": [(k, v) for k, v in scope["headers"] if k != b"cookie"],
                "state": {"csrf_seed": ""},
            }
            body = self._pages[locale] = bytes(
                error_response(Request(anonymous, receive), _overloaded()).body
            )
        # A new response each time: the middleware outside adds headers (cookies) to it.
        return HTMLResponse(
            body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )


def _overloaded() -> Overloaded:
    return Overloaded(
        _("The server is busy. Please try again in a few seconds."),
        retry_after=RETRY_AFTER_SECONDS,
    )
