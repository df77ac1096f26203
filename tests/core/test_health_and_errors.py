"""/healthz, the error format under /api, HTML error pages and security headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.config import DEV_SECRET_KEY, Settings
from app.core.storage import s3_client
from app.main import create_app
from tests.support.s3 import moto_server


def test_healthz_reports_database_and_storage(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


def test_healthz_says_which_part_is_down(settings: Settings, tmp_path: Path) -> None:
    broken_db = settings.model_copy(
        update={
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:9/none",
            "storage": "local",
        }
    )
    with TestClient(create_app(broken_db)) as c:
        response = c.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"
    assert response.json()["storage"] == "ok"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    broken_storage = settings.model_copy(update={"data_dir": blocker, "storage": "local"})
    with TestClient(create_app(broken_storage)) as c:
        response = c.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "storage": "down"}


def test_healthz_on_s3_storage(settings: Settings) -> None:
    with moto_server() as endpoint:
        s3 = settings.model_copy(
            update={"storage": "s3", "s3_endpoint_url": endpoint, "s3_bucket": "hocso-health"}
        )
        with TestClient(create_app(s3)) as c:
            assert c.get("/healthz").json()["storage"] == "down"  # no bucket yet
            s3_client(s3).create_bucket(Bucket="hocso-health")
            # Pages may show media from the bucket's origin (presigned links), nothing else.
            csp = c.get("/login").headers["Content-Security-Policy"]
            assert f"media-src 'self' {endpoint};" in csp
            assert f"img-src 'self' data: {endpoint};" in csp
            assert c.get("/healthz").json() == {"status": "ok", "database": "ok", "storage": "ok"}
    with TestClient(create_app(s3)) as c:  # the endpoint is gone
        assert c.get("/healthz").status_code == 503


def test_api_errors_are_json_with_error_and_detail(client: TestClient) -> None:
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "detail"}
    wrong_method = client.put("/api/v1/me")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"


def test_pages_get_vietnamese_html_errors_and_english_on_request(client: TestClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="vi"' in response.text
    assert "Không tìm thấy" in response.text
    english = client.get("/no-such-page?lang=en")
    assert '<html lang="en"' in english.text
    assert "Page not found" in english.text
    assert "hocso_lang=en" in english.headers.get("set-cookie", "")


def test_security_headers_on_pages_and_api(client: TestClient) -> None:
    for path in ("/login", "/api/v1/me", "/healthz"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "same-origin"
    csp = client.get("/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp


def test_the_csrf_seed_cookie_goes_to_browsers_not_to_api_clients(client: TestClient) -> None:
    # A page's first visit gets the seed its forms are bound to.
    client.cookies.clear()
    page = client.get("/login")
    assert "hocso_csrf" in page.cookies
    # An API client (a bearer token, no cookies) is not handed a cookie it never sends back:
    # nothing under /api renders a form, errors included.
    client.cookies.clear()
    for path in ("/api/v1/me", "/api/v1/nope", "/api/v1/courses/0"):
        response = client.get(path)
        assert response.status_code in (401, 404)
        assert "set-cookie" not in response.headers, path


def test_docs_and_openapi_are_served_without_a_cdn(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "cdn." not in docs.text
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    for path in (
        "/api/v1/auth/token",
        "/api/v1/me",
        "/api/v1/organizations",
        "/api/v1/users",
        "/api/v1/users/import",
        "/healthz",
    ):
        assert path in schema["paths"], path


def test_production_refuses_the_known_secret_key() -> None:
    with pytest.raises(ValidationError):
        Settings(env="production", secret_key=DEV_SECRET_KEY)
    with pytest.raises(ValidationError):
        Settings(env="production", secret_key="short")
    assert Settings(env="production", secret_key="k" * 40).secret_key == "k" * 40


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path}/hocso.db"
    assert settings.is_sqlite
