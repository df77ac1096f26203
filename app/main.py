"""The FastAPI application: ``create_app(settings=None)`` wires routers, static files, the
middleware and the error handlers."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from app import __version__
from app.accounts import api as accounts_api
from app.accounts import pages as accounts_pages
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.storage import check_storage
from app.core.web import STATIC_DIR, WebMiddleware, install_error_handlers

log = logging.getLogger("hocso")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
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

    app.add_middleware(WebMiddleware, settings=settings)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(accounts_api.router)
    app.include_router(accounts_pages.router)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # Swagger UI is vendored under /static: no CDN.
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="HọcSố API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/healthz", tags=["health"])
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
            check_storage(settings)
            parts["storage"] = "ok"
        except Exception as exc:
            log.warning("health: storage down: %s", exc.__class__.__name__)
            parts["storage"] = "down"
        ok = all(v == "ok" for v in parts.values())
        return JSONResponse(
            {"status": "ok" if ok else "down", **parts}, status_code=200 if ok else 503
        )

    return app
