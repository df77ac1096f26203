"""Pages: sign-in with CSRF and session rotation, sign-out, activation, admin pages."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User, WebSession
from app.core.config import Settings
from app.core.security import digest
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_org, make_user

Login = Callable[[str, str], TestClient]


def post_form(
    client: TestClient, path: str, data: dict[str, str], page: str | None = None, **kwargs: object
) -> object:
    token = csrf_from(client.get(page or path).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False, **kwargs)  # type: ignore[arg-type]


def test_sign_in_page_is_vietnamese_and_small(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="vi"' in page.text
    assert "Đăng nhập" in page.text
    css = re.findall(r'href="(/static/[^"]+\.css)"', page.text)
    total = len(page.content) + sum(len(client.get(href).content) for href in css)
    assert total < 50 * 1024
    assert "http://" not in page.text.replace("http://testserver", "")
    assert "https://" not in page.text


def test_sign_in_sets_a_fresh_http_only_session(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    # A session id planted before sign-in (fixation) is never reused.
    client.cookies.set("hocso_session", "planted-by-attacker")
    response = post_form(
        client,
        "/login",
        {"email": user.email, "password": PASSWORD, "next": "/admin/users"},
        page="/login",
    )
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/admin/users"  # type: ignore[attr-defined]
    cookie = next(
        c
        for c in response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
        if c.startswith("hocso_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    raw = cookie.split(";")[0].split("=", 1)[1]
    assert raw != "planted-by-attacker"
    assert db.get(WebSession, digest(raw)) is not None
    assert db.get(WebSession, digest("planted-by-attacker")) is None
    home = client.get("/")
    assert home.status_code == 200
    assert user.full_name in home.text


def test_sign_in_without_or_with_a_foreign_csrf_token_is_403(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    client.get("/login")
    missing = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=False
    )
    assert missing.status_code == 403
    # A token rendered for another browser does not fit this browser's cookie.
    with TestClient(client.app) as other:
        foreign = csrf_from(other.get("/login").text)
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": foreign},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "hocso_session" not in response.headers.get("set-cookie", "")


def test_wrong_password_rerenders_the_form_with_401(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings)
    response = post_form(client, "/login", {"email": user.email, "password": "sai"}, page="/login")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert user.email in response.text  # type: ignore[attr-defined]


def test_next_never_leaves_the_site(client: TestClient, db: Session, settings: Settings) -> None:
    user = make_user(db, settings)
    for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
        client.cookies.clear()
        response = post_form(
            client,
            "/login",
            {"email": user.email, "password": PASSWORD, "next": target},
            page="/login",
        )
        assert response.headers["location"] == "/", target  # type: ignore[attr-defined]


def test_pages_need_sign_in_and_sign_out_ends_the_session(
    page_login: Login, db: Session, settings: Settings
) -> None:
    user = make_user(db, settings, role="admin")
    c = page_login(user.email, PASSWORD)
    raw = c.cookies.get("hocso_session")
    out = post_form(c, "/logout", {})
    assert out.status_code == 303  # type: ignore[attr-defined]
    assert db.get(WebSession, digest(raw or "")) is None
    anonymous = c.get("/admin/users", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=%2Fadmin%2Fusers")


def test_students_get_a_403_page_on_admin_pages(
    page_login: Login, db: Session, settings: Settings
) -> None:
    student = make_user(db, settings, role="student")
    c = page_login(student.email, PASSWORD)
    for path in ("/admin/users", "/admin/organizations", "/admin/users/import"):
        response = c.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        # The full page frame, signed-in menu included, even after the rollback.
        assert student.full_name in response.text
        assert "Không có quyền truy cập" in response.text


def test_admin_creates_an_organisation_and_a_user_through_pages(
    page_login: Login, db: Session, settings: Settings
) -> None:
    commune = make_org(db, kind="commune")
    admin = make_user(db, settings, role="admin", organization=commune)
    c = page_login(admin.email, PASSWORD)
    made = post_form(
        c,
        "/admin/organizations",
        {
            "name": "Trường Tiểu học Hòa Bình",
            "kind": "school",
            "level": "primary",
            "parent_id": str(commune.id),
        },
    )
    assert made.status_code == 303, made.text  # type: ignore[attr-defined]
    tree = c.get("/admin/organizations")
    assert "Trường Tiểu học Hòa Bình" in tree.text
    bad = post_form(
        c,
        "/admin/organizations",
        {"name": "Trường thiếu cấp", "kind": "school", "level": "", "parent_id": str(commune.id)},
    )
    assert bad.status_code == 422  # type: ignore[attr-defined]
    created = post_form(
        c,
        "/admin/users",
        {
            "email": "moi@truong.edu.vn",
            "full_name": "Phùng Thị Mới",
            "role": "teacher",
            "organization_id": str(commune.id),
        },
        page="/admin/users/new",
    )
    assert created.status_code == 201  # type: ignore[attr-defined]
    assert "/activate/" in created.text  # type: ignore[attr-defined]
    listing = c.get("/admin/users?q=Phùng")
    assert "Phùng Thị Mới" in listing.text
    dup = post_form(
        c,
        "/admin/users",
        {
            "email": "MOI@truong.edu.vn",
            "full_name": "Trùng",
            "role": "teacher",
            "organization_id": str(commune.id),
        },
        page="/admin/users/new",
    )
    assert dup.status_code == 409  # type: ignore[attr-defined]


def test_admin_edits_and_deactivates_a_user(
    page_login: Login, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    admin = make_user(db, settings, role="admin", organization=school)
    teacher = make_user(db, settings, organization=school, full_name="Cũ Tên")
    c = page_login(admin.email, PASSWORD)
    edit = f"/admin/users/{teacher.id}"
    saved = post_form(
        c, edit, {"full_name": "Mới Tên", "role": "author", "organization_id": str(school.id)}
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    off = post_form(c, f"{edit}/deactivate", {}, page=edit)
    assert off.status_code == 303  # type: ignore[attr-defined]
    db.refresh(teacher)
    assert (teacher.full_name, teacher.role, teacher.is_active) == ("Mới Tên", "author", False)


def test_school_manager_cannot_open_another_schools_user(
    page_login: Login, db: Session, settings: Settings
) -> None:
    commune = make_org(db, kind="commune")
    a, b = make_org(db, parent=commune), make_org(db, parent=commune)
    manager = make_user(db, settings, role="school_manager", organization=a)
    other = make_user(db, settings, organization=b)
    c = page_login(manager.email, PASSWORD)
    assert c.get(f"/admin/users/{other.id}").status_code == 403
    token = csrf_from(c.get("/admin/users").text)
    response = c.post(
        f"/admin/users/{other.id}/deactivate", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 403
    db.refresh(other)
    assert other.is_active
    assert other.email not in c.get("/admin/users").text


def test_import_page_shows_each_bad_line(
    page_login: Login, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    admin = make_user(db, settings, role="admin", organization=school)
    c = page_login(admin.email, PASSWORD)
    token = csrf_from(c.get("/admin/users/import").text)
    data = (
        f"email,full_name,role,organization_id\nok@truong.edu.vn,Được,student,{school.id}\n"
        "sai-email,Sai,student,1\n"
    ).encode()
    response = c.post(
        "/admin/users/import",
        data={"csrf_token": token},
        files={"file": ("ds.csv", data, "text/csv")},
    )
    assert response.status_code == 422
    assert "sai-email" in response.text
    assert db.scalar(select(User).where(User.email == "ok@truong.edu.vn")) is None
    good = (
        f"email,full_name,role,organization_id\nok@truong.edu.vn,Được,student,{school.id}\n"
    ).encode()
    token = csrf_from(c.get("/admin/users/import").text)
    done = c.post(
        "/admin/users/import",
        data={"csrf_token": token},
        files={"file": ("ds.csv", good, "text/csv")},
    )
    assert done.status_code == 200
    assert "/activate/" in done.text
    assert db.scalar(select(User).where(User.email == "ok@truong.edu.vn")) is not None


def test_activation_page_sets_the_password(
    client: TestClient, db: Session, settings: Settings
) -> None:
    from app.accounts.auth import issue_activation_code

    user = make_user(db, settings, password=None, full_name="Chưa Kích Hoạt")
    code = issue_activation_code(db, settings, user)
    page = client.get(f"/activate/{code}")
    assert "Chưa Kích Hoạt" in page.text
    mismatch = post_form(
        client, f"/activate/{code}", {"password": "Mot-hai-ba-4", "password_confirm": "khac-nhau-5"}
    )
    assert mismatch.status_code == 422  # type: ignore[attr-defined]
    done = post_form(
        client,
        f"/activate/{code}",
        {"password": "Mot-hai-ba-4", "password_confirm": "Mot-hai-ba-4"},
    )
    assert done.status_code == 303  # type: ignore[attr-defined]
    assert client.get(f"/activate/{code}").status_code == 404  # used once
    assert (
        client.post(
            "/api/v1/auth/token", data={"username": user.email, "password": "Mot-hai-ba-4"}
        ).status_code
        == 200
    )


def test_change_password_page(page_login: Login, db: Session, settings: Settings) -> None:
    user = make_user(db, settings)
    c = page_login(user.email, PASSWORD)
    wrong = post_form(
        c,
        "/account/password",
        {
            "current_password": "sai",
            "new_password": "Moi-moi-2026",
            "new_password_confirm": "Moi-moi-2026",
        },
    )
    assert wrong.status_code == 422  # type: ignore[attr-defined]
    ok = post_form(
        c,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "Moi-moi-2026",
            "new_password_confirm": "Moi-moi-2026",
        },
    )
    assert ok.status_code == 303  # type: ignore[attr-defined]
    assert c.get("/").status_code == 200  # still signed in with a fresh session


def test_language_switch_is_remembered(client: TestClient) -> None:
    english = client.get("/login?lang=en")
    assert '<html lang="en"' in english.text
    assert "Sign in" in english.text
    assert '<html lang="en"' in client.get("/login").text
    assert '<html lang="vi"' in client.get("/login?lang=vi").text
    assert '<html lang="vi"' in client.get("/login?lang=xx").text


def test_cookies_are_secure_over_https(
    app: object, db: Session, settings: Settings, client: TestClient
) -> None:
    user = make_user(db, settings)
    with TestClient(client.app, base_url="https://testserver") as https:
        token = csrf_from(https.get("/login").text)
        response = https.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("hocso_session="))
    assert "Secure" in session_cookie
    assert "Strict-Transport-Security" in response.headers
