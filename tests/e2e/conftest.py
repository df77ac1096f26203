"""Browser journeys: the app served by uvicorn in a thread (its own SQLite database, real
commits) and driven by Playwright in headless Debian Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.accounts.models import Organization
from app.accounts.service import create_user
from app.cli import alembic_config
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from app.main import create_app
from tests.support.live import live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_EMAIL = "admin@e2e.edu.vn"
ADMIN_PASSWORD = "E2e-Admin-2026"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def live_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from alembic import command

    data_dir = tmp_path_factory.mktemp("e2e")
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'e2e.db'}",
        secret_key="e2e-secret-key-0123456789abcdef0123456789",
    )
    command.upgrade(alembic_config(settings), "head")
    engine = make_engine(settings)
    with session_scope(make_sessionmaker(engine)) as session:
        province = Organization(name="Tỉnh Thái Nguyên", kind="province")
        session.add(province)
        session.flush()
        commune = Organization(name="Xã Tân Cương", kind="commune", parent_id=province.id)
        session.add(commune)
        session.flush()
        create_user(
            session,
            settings,
            None,
            email=ADMIN_EMAIL,
            full_name="Quản Trị E2E",
            role="admin",
            organization_id=commune.id,
            password=ADMIN_PASSWORD,
        )
    engine.dispose()
    return settings


@pytest.fixture(scope="session")
def base_url(live_settings: Settings) -> Iterator[str]:
    with live_server(create_app(live_settings)) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 360, "height": 640}, locale="vi-VN"
    )
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
