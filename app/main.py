"""The FastAPI application: ``create_app(settings=None)`` wires routers, static files, the
middleware and the error handlers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text

from app import __version__
from app.accounts import api as accounts_api
from app.accounts import pages as accounts_pages
from app.community.clubs import api as clubs_api
from app.community.clubs import pages as clubs_pages
from app.community.clubs import service as clubs_service
from app.community.contests import api as contests_api
from app.community.contests import awards_pages as contests_awards_pages
from app.community.contests import pages as contests_pages
from app.community.events import api as events_api
from app.community.events import pages as events_pages
from app.core.assets import HashedStaticFiles, manifest
from app.core.compression import CompressionMiddleware
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker, session_scope, writer_engine
from app.core.idempotency import IdempotencyMiddleware
from app.core.openapi import document_errors
from app.core.routing import guard_included_routers
from app.core.shedding import LoadSheddingMiddleware
from app.core.storage import make_blob_store
from app.core.web import STATIC_DIR, WebMiddleware, install_error_handlers
from app.lcms import api as lcms_api
from app.lcms import pages as lcms_pages
from app.lcms.service import collect_garbage
from app.lms import api as lms_api
from app.lms import builder_pages as lms_builder_pages
from app.lms import pages as lms_pages
from app.reports import api as reports_api
from app.reports import audit_views
from app.reports import pages as reports_pages
from app.reports import periodic_api as reports_periodic_api
from app.reports import periodic_pages as reports_periodic_pages

log = logging.getLogger("hocso")

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>HọcSố API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script>
</body>
</html>
"""


def _startup_gc(app: FastAPI) -> None:
    try:
        with session_scope(app.state.sessionmaker) as session:
            result = collect_garbage(session, app.state.blob_store)
        if result.temp_files or result.orphan_blobs:
            log.info("start-up gc: %s", result)
    except Exception:
        log.exception("start-up gc failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.gc_on_startup:
            # Leftovers of uploads cut off by a crash; in the background, never delaying start.
            threading.Thread(target=_startup_gc, args=(app,), daemon=True).start()
        yield
        engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="HọcSố API",
        version=__version__,
        description="LMS + LCMS for Vietnamese schools. Sign in at POST /api/v1/auth/token.",
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.write_engine = writer_engine(engine)
    app.state.blob_store = store = make_blob_store(settings)
    # Home-page panels of the packages accounts cannot import: (template, context provider).
    app.state.home_panels = [
        ("community/clubs/_unread_panel.html", clubs_service.home_context),
    ]

    # Innermost: a form sent again with its Idempotency-Key is answered from the stored answer
    # (decision 12); a request refused by load shedding never touches the key table.
    app.add_middleware(IdempotencyMiddleware, settings=settings)
    # Inside WebMiddleware (added before it): a refusal gets the locale and security headers.
    app.add_middleware(LoadSheddingMiddleware, max_inflight=settings.max_inflight)
    app.add_middleware(WebMiddleware, settings=settings, media_origin=store.media_origin())
    # Outside WebMiddleware: error pages and security-headed responses are compressed too.
    app.add_middleware(CompressionMiddleware)
    install_error_handlers(app)
    manifest.warm()  # content hashes of the static files, once, for static_url()
    app.mount("/static", HashedStaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(accounts_api.router)
    app.include_router(accounts_pages.router)
    app.include_router(lcms_api.router)
    app.include_router(lcms_pages.router)
    app.include_router(lms_api.router)
    app.include_router(lms_pages.router)
    app.include_router(lms_builder_pages.router)
    app.include_router(events_api.router)
    app.include_router(events_pages.router)
    app.include_router(audit_views.api_router)
    app.include_router(audit_views.page_router)
    app.include_router(reports_api.router)
    app.include_router(reports_periodic_api.router)
    app.include_router(reports_periodic_pages.router)
    app.include_router(reports_pages.router)
    app.include_router(clubs_api.router)
    app.include_router(clubs_pages.router)
    app.include_router(contests_api.router)
    app.include_router(contests_pages.router)
    app.include_router(contests_awards_pages.router)
    document_errors(app)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # Swagger UI is vendored under /static (no CDN) and started by a script file, not an
        # inline one, so the page's CSP allows scripts from 'self' only.
        return HTMLResponse(DOCS_HTML)

    @app.get(
        "/healthz",
        tags=["health"],
        responses={503: {"description": "The database or the storage is down (see the body)"}},
    )
    def healthz(request: Request) -> JSONResponse:
        """Database and storage status; 503 when either is down."""
        parts: dict[str, Any] = {}
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            parts["database"] = "ok"
        except Exception as exc:
            log.warning("health: database down: %s", exc.__class__.__name__)
            parts["database"] = "down"
        try:
            store.check()
            parts["storage"] = "ok"
        except Exception as exc:
            log.warning("health: storage down: %s", exc.__class__.__name__)
            parts["storage"] = "down"
        ok = all(v == "ok" for v in parts.values())
        return JSONResponse(
            {"status": "ok" if ok else "down", **parts}, status_code=200 if ok else 503
        )

    guard_included_routers(app)  # last: every router is included by now
    return app
