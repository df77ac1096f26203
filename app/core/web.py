"""Everything pages share: templates with gettext, the locale and CSRF middleware, security
headers, flash messages, pagination, redirects, and the one error handler for the whole app."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.core import context, i18n
from app.core.assets import static_url
from app.core.config import PROJECT_ROOT, Settings
from app.core.db import NulInText
from app.core.errors import AppError, CSRFFailed, InvalidInput, NotAuthenticated, is_disk_full
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.security import csrf_token, csrf_valid, new_secret, sign, unsign
from app.core.storage import disk_full

log = logging.getLogger("hocso")

SESSION_COOKIE = "hocso_session"
CSRF_COOKIE = "hocso_csrf"
LANG_COOKIE = "hocso_lang"
FLASH_COOKIE = "hocso_flash"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Forms and JSON bodies are parsed in memory: a bigger body is refused (413) before it is read.
# The largest ordinary body is a CSV import of at most 10 MB. Uploads stream to disk with their
# own limit (``streams_body``).
MAX_BODY_BYTES = 16 * 1024 * 1024

TEMPLATE_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"


def page_csp(media_origin: str | None = None) -> str:
    """The pages' policy: no inline script or style; media may come from the S3 origin."""
    extra = f" {media_origin}" if media_origin else ""
    return (
        f"default-src 'self'; img-src 'self' data:{extra}; media-src 'self'{extra}; "
        f"frame-src 'self'{extra}; style-src 'self'; script-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


# Swagger UI (vendored under /static, started by static/js/swagger-init.js) sets inline styles.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/api" or path == "/healthz"


# --- Templates -----------------------------------------------------------------------------


def _make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["datetime"] = i18n.format_datetime
    env.filters["date"] = i18n.format_date
    env.filters["number"] = i18n.format_number
    env.globals["version"] = __version__
    env.globals["static_url"] = static_url
    return env


templates = _make_env()


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    flashes = read_flashes(request)
    ctx: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "locale": i18n.get_locale(),
        "csrf_token": csrf_token(settings, request.state.csrf_seed),
        "csrf_field": CSRF_FIELD,
        "flashes": flashes,
        "lang_url": lambda lang: _with_query(request, lang=lang),
    }
    ctx.update(context or {})
    body = templates.get_template(name).render(ctx)
    response = HTMLResponse(body, status_code=status_code)
    if flashes:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _with_query(request: Request, **params: Any) -> str:
    query = dict(request.query_params)
    query.update({k: str(v) for k, v in params.items() if v is not None})
    # One leading slash: a request for "//evil.example/x" must not link to evil.example.
    path = "/" + request.url.path.lstrip("/")
    return f"{path}?{urlencode(query)}"


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int | None = None
) -> None:
    """HttpOnly, SameSite=Lax, and Secure when configured or when the request came over HTTPS
    (behind a proxy, uvicorn's --forwarded-allow-ips makes the scheme trustworthy)."""
    settings: Settings = request.app.state.settings
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies or request.url.scheme == "https",
    )


# --- Flash messages (a signed cookie: no server state, works across processes) ------------


def flash(response: Response, request: Request, message: str, level: str = "success") -> None:
    settings: Settings = request.app.state.settings
    pending = getattr(request.state, "pending_flashes", [])
    pending.append([level, message])
    request.state.pending_flashes = pending
    value = sign(settings, json.dumps(pending, ensure_ascii=True))
    set_cookie(response, request, FLASH_COOKIE, value)


def read_flashes(request: Request) -> list[tuple[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    value = unsign(request.app.state.settings, raw)
    if value is None:
        return []
    try:
        return [(str(level), str(msg)) for level, msg in json.loads(value)]
    except (ValueError, TypeError):
        return []


def redirect(
    request: Request, url: str, *, message: str | None = None, level: str = "success"
) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if message:
        flash(response, request, message, level)
    return response


def safe_next(value: str | None, default: str = "/") -> str:
    """Only local paths: ``next=`` must never send a user to another site. Control characters
    are refused too: browsers drop tabs and newlines from URLs, so "/\\t/evil.example" would
    become "//evil.example" wherever the value ended up in a link."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        return default
    return value


# --- Pagination ----------------------------------------------------------------------------


# The query parameters of every paginated list (API and pages): at most 100 rows a page, and an
# offset the databases accept (a bigger one is a 422, not a database error).
MAX_OFFSET = 2**31 - 1
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@dataclass(frozen=True)
class Pagination:
    total: int
    limit: int
    offset: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.limit))

    def url(self, request: Request, page: int) -> str:
        return _with_query(request, offset=(page - 1) * self.limit)

    @property
    def has_prev(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


# --- CSRF ---------------------------------------------------------------------------------


async def csrf_protect(request: Request) -> None:
    """Page dependency: an unsafe method must carry the token bound to this browser."""
    if request.method not in UNSAFE_METHODS:
        return
    token = request.headers.get("x-csrf-token")
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    seed = request.cookies.get(CSRF_COOKIE)
    if not csrf_valid(request.app.state.settings, seed, token):
        raise CSRFFailed(
            _("The form has expired or did not come from this site. Please try again.")
        )


def rotate_csrf_seed(response: Response, request: Request) -> None:
    """A new seed at sign-in and sign-out: tokens rendered before stop working."""
    seed = new_secret(24)
    request.state.csrf_seed = seed
    set_cookie(response, request, CSRF_COOKIE, seed)


# --- Request body limit -------------------------------------------------------------------

Endpoint = TypeVar("Endpoint")


def streams_body(endpoint: Endpoint) -> Endpoint:
    """Mark a route handler that streams its request body itself (an upload, which enforces
    ``HOCSO_MAX_UPLOAD_MB``): ``MAX_BODY_BYTES`` does not apply to it."""
    endpoint.streams_body = True  # type: ignore[attr-defined]
    return endpoint


def _limit_body(scope: Scope, receive: Receive) -> Receive:
    """``receive`` that refuses a body beyond MAX_BODY_BYTES with a 413, by its declared length
    at the first read or by the bytes counted, unless the route streams its body. The route is
    known by the time its handler reads the body."""
    declared = next(
        (int(v) for k, v in scope.get("headers", ()) if k == b"content-length" and v.isdigit()),
        None,
    )
    count = 0

    def applies() -> bool:
        endpoint = scope.get("endpoint")
        return not getattr(endpoint, "streams_body", False)

    async def limited() -> Message:
        nonlocal count
        if count == 0 and declared is not None and declared > MAX_BODY_BYTES and applies():
            raise _body_too_large()
        message = await receive()
        if message["type"] == "http.request":
            count += len(message.get("body", b""))
            if count > MAX_BODY_BYTES and applies():
                raise _body_too_large()
        return message

    return limited


def _body_too_large() -> StarletteHTTPException:
    # An HTTPException: the framework re-raises it from its body parsing as it is.
    return StarletteHTTPException(
        413,
        _("The request is too large: at most {n} MB.").format(n=MAX_BODY_BYTES // (1024 * 1024)),
    )


# --- Middleware: locale, CSRF seed, security headers --------------------------------------


class WebMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware) so streaming bodies pass through untouched."""

    def __init__(self, app: ASGIApp, settings: Settings, media_origin: str | None = None) -> None:
        self.app = app
        self.settings = settings
        self.csp = page_csp(media_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        query_lang = request.query_params.get("lang")
        cookie_lang = request.cookies.get(LANG_COOKIE)
        locale = next(
            (x for x in (query_lang, cookie_lang) if x in i18n.LOCALES),
            self.settings.default_locale,
        )
        i18n.set_locale(locale)
        i18n.set_timezone(self.settings.timezone)
        path: str = scope["path"]
        seed = request.cookies.get(CSRF_COOKIE)
        # A browser gets its CSRF seed on its first page. Under /api nothing renders a form
        # (errors are JSON), so a bearer client is not given a cookie it never sends back.
        new_seed = None if seed or is_api_path(path) else new_secret(24)
        scope.setdefault("state", {})
        scope["state"]["csrf_seed"] = seed or new_seed
        https = self.settings.secure_cookies or scope.get("scheme") == "https"
        secure = "; Secure" if https else ""

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault(
                    "Content-Security-Policy",
                    DOCS_CSP if path in ("/docs", "/redoc") else self.csp,
                )
                if https:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if (
                    not is_api_path(path)
                    and not path.startswith("/static/")
                    and "cache-control" not in headers
                ):
                    headers["Cache-Control"] = "no-store"
                if new_seed and not _sets_cookie(headers, CSRF_COOKIE):
                    headers.append(
                        "Set-Cookie",
                        f"{CSRF_COOKIE}={new_seed}; HttpOnly; Path=/; SameSite=Lax{secure}",
                    )
                if query_lang in i18n.LOCALES and query_lang != cookie_lang:
                    headers.append(
                        "Set-Cookie",
                        f"{LANG_COOKIE}={query_lang}; Path=/; Max-Age=31536000; "
                        f"SameSite=Lax{secure}",
                    )
            await send(message)

        # The client address as uvicorn resolved it (X-Forwarded-For only from trusted proxies).
        client = scope.get("client")
        origin = context.set_origin(
            client[0] if client else None,
            context.VIA_API if is_api_path(path) else context.VIA_WEB,
        )
        try:
            await self.app(scope, _limit_body(scope, receive), send_wrapper)
        finally:
            context.reset_origin(origin)


def _sets_cookie(headers: MutableHeaders, name: str) -> bool:
    for value in headers.getlist("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(value)
        if name in cookie:
            return True
    return False


# --- Errors: one handler, JSON under /api, an HTML page elsewhere -------------------------

_ERROR_TITLE = N_("Error")
_TITLES = {
    400: N_("Bad request"),
    401: N_("Please sign in"),
    403: N_("Access denied"),
    404: N_("Page not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("File too large"),
    415: N_("Unsupported file type"),
    422: N_("Invalid data"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong"),
    503: N_("Service unavailable"),
    507: N_("Insufficient storage"),
}


def error_response(request: Request, exc: AppError) -> Response:
    if is_api_path(request.url.path):
        return JSONResponse(exc.payload(), status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, NotAuthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    return _error_page(request, exc.status_code, exc.detail, headers=exc.headers)


def _error_page(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    title = _(_TITLES.get(status, _ERROR_TITLE))
    if not hasattr(request.state, "csrf_seed"):
        request.state.csrf_seed = request.cookies.get(CSRF_COOKIE) or new_secret(24)
    try:
        response: Response = render(
            request,
            "errors/error.html",
            {"status": status, "title": title, "detail": detail},
            status_code=status,
        )
    except Exception:  # the error page itself must never fail
        log.exception("error page failed")
        response = HTMLResponse(f"<h1>{status}</h1>", status_code=status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
        fields.append({"field": ".".join(loc), "message": str(err.get("msg", ""))})
    summary = "; ".join(
        f"{f['field']}: {f['message']}" if f["field"] else f["message"] for f in fields
    )
    return summary or _("Invalid data."), fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        summary, fields = _validation_detail(exc)
        if is_api_path(request.url.path):
            return JSONResponse(
                {"error": "invalid_input", "detail": summary, "fields": fields}, status_code=422
            )
        return _error_page(request, 422, summary)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api_path(request.url.path):
            code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
                exc.status_code, "error"
            )
            detail = (
                _(_TITLES.get(exc.status_code, _ERROR_TITLE))
                if exc.status_code in (404, 405)
                else str(exc.detail)
            )
            return JSONResponse(
                {"error": code, "detail": detail},
                status_code=exc.status_code,
                headers=getattr(exc, "headers", None),
            )
        return _error_page(request, exc.status_code, _(_TITLES.get(exc.status_code, _ERROR_TITLE)))

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> Response:
        return error_response(request, InvalidInput(_("A number is out of range.")))

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> Response:
        # A value a column type cannot convert before it reaches the database, e.g. a time
        # whose UTC equivalent falls outside the years 1-9999 ("9999-12-31T23:59-23:59").
        if isinstance(exc.orig, OverflowError):
            return error_response(request, InvalidInput(_("A date or number is out of range.")))
        return await _unhandled(request, exc)

    @app.exception_handler(NulInText)
    async def _nul(request: Request, exc: NulInText) -> Response:
        return error_response(
            request, InvalidInput(_("Text cannot contain the NUL character (U+0000)."))
        )

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _pool_timeout(request: Request, exc: SQLAlchemyTimeoutError) -> Response:
        return await _database(request, exc)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> Response:
        if is_disk_full(exc):  # a database that cannot grow on a full disk is not "down"
            return await _unhandled(request, exc)
        # A database that is down, restarting or saturated: 503, never a traceback.
        if isinstance(exc, SQLAlchemyTimeoutError) or (
            isinstance(exc, DBAPIError) and (exc.connection_invalidated or _is_operational(exc))
        ):
            log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
            body = {
                "error": "service_unavailable",
                "detail": _("The database is unavailable. Please try again shortly."),
            }
            if is_api_path(request.url.path):
                return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
            return _error_page(request, 503, body["detail"], headers={"Retry-After": "5"})
        if isinstance(exc, DataError):  # e.g. an id beyond the column's integer range
            return error_response(request, InvalidInput(_("A number is out of range.")))
        return await _unhandled(request, exc)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        if is_disk_full(exc):  # wherever the disk filled up (uploads map it themselves)
            log.error("disk full on %s %s: %s", request.method, request.url.path, exc)
            return error_response(request, disk_full())
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = _("An unexpected error occurred. It has been logged.")
        if is_api_path(request.url.path):
            return JSONResponse({"error": "internal_error", "detail": detail}, status_code=500)
        return _error_page(request, 500, detail)


def _is_operational(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)
