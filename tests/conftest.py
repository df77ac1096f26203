"""Test fixtures: one migrated database per run (SQLite by default, PostgreSQL with
HOCSO_TEST_DB=postgresql), each test inside a transaction that is rolled back at the end."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.accounts.models import Organization
from app.cli import alembic_config
from app.core.config import Settings
from app.core.db import Base, get_session, make_engine
from app.core.storage import s3_client
from app.lcms.models import ContentItem
from app.main import create_app
from tests.support.postgres import throwaway_postgres
from tests.support.s3 import moto_server


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = os.environ.get("HOCSO_TEST_DB", "sqlite")
    if backend == "postgresql":
        with throwaway_postgres() as url:
            yield url
    elif backend.startswith("postgresql+"):
        yield backend  # an existing server
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode on a loopback port, for the whole run."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def settings(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Settings:
    """Local storage by default; HOCSO_TEST_STORAGE=s3 runs the suite against moto's S3."""
    storage = os.environ.get("HOCSO_TEST_STORAGE", "local")
    extra: dict[str, object] = {}
    if storage == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        extra = {"storage": "s3", "s3_endpoint_url": endpoint, "s3_bucket": "hocso-test"}
    settings = Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        secret_key="test-secret-key-0123456789abcdef0123456789",
        gc_on_startup=False,
        **extra,  # type: ignore[arg-type]
    )
    if storage == "s3":
        s3_client(settings).create_bucket(Bucket=settings.s3_bucket)
    return settings


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    from alembic import command

    command.upgrade(alembic_config(settings), "head")
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside one transaction rolled back at the end."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="session")
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI, db: Session) -> Iterator[TestClient]:
    """A client whose requests share the test's rolled-back transaction."""

    def _session() -> Iterator[Session]:
        # What the test set up so far counts as committed before the request starts, so a
        # request that fails rolls back only its own work, as it would in production.
        db.commit()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise

    app.dependency_overrides[get_session] = _session
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client
    app.dependency_overrides.clear()


@pytest.fixture
def committed(engine: Engine) -> Iterator[Engine]:
    """For tests that need real commits (concurrency): empties every table afterwards."""
    yield engine
    with engine.begin() as conn:
        conn.execute(Organization.__table__.update().values(parent_id=None))
        conn.execute(ContentItem.__table__.update().values(published_version_id=None))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def live_client(app: FastAPI, committed: Engine) -> Iterator[TestClient]:
    """A client on the app's own sessions (real commits), for concurrency and throttling."""
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def page_login(client: TestClient) -> Callable[[str, str], TestClient]:
    """Sign a TestClient in through the sign-in page."""

    def _login(email: str, password: str) -> TestClient:
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return client

    return _login
