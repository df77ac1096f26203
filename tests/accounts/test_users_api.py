"""Users through the API: create, list, get, update, deactivate, activation, permissions."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.accounts import service
from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.errors import Conflict
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user


def setup_schools(db: Session, settings: Settings) -> dict[str, object]:
    commune = make_org(db, kind="commune")
    school_a = make_org(db, name="Trường A", parent=commune)
    school_b = make_org(db, name="Trường B", parent=commune)
    return {
        "commune": commune,
        "a": school_a,
        "b": school_b,
        "admin": make_user(db, settings, role="admin", organization=commune),
        "manager_a": make_user(db, settings, role="school_manager", organization=school_a),
        "teacher_a": make_user(db, settings, role="teacher", organization=school_a),
        "student_a": make_user(db, settings, role="student", organization=school_a),
        "teacher_b": make_user(db, settings, role="teacher", organization=school_b),
    }


def new_user(org: Organization, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "nguyen.van.a@truong.edu.vn",
        "full_name": "Nguyễn Văn Ánh",
        "role": "teacher",
        "organization_id": org.id,
    }
    body.update(extra)
    return body


def test_admin_creates_a_user_with_a_password(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    response = client.post(
        "/api/v1/users", headers=h, json=new_user(s["a"], password="Mat-khau-moi-1")
    )  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["full_name"] == "Nguyễn Văn Ánh"
    assert body["activated"] is True
    assert body["activation_url"] is None
    assert "password" not in body
    assert "password_hash" not in body
    token_for(client, "nguyen.van.a@truong.edu.vn", "Mat-khau-moi-1")


def test_a_user_without_password_gets_a_one_time_activation_link(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    body = client.post("/api/v1/users", headers=h, json=new_user(s["a"])).json()  # type: ignore[arg-type]
    assert body["activated"] is False
    code = body["activation_url"].rsplit("/", 1)[1]
    # A user without a password cannot sign in.
    assert client.post(
        "/api/v1/auth/token", data={"username": body["email"], "password": ""}
    ).status_code in (401, 422)
    done = client.post("/api/v1/auth/activate", json={"code": code, "password": "Rieng-tu-2026"})
    assert done.status_code == 200
    assert done.json()["activated"] is True
    replay = client.post("/api/v1/auth/activate", json={"code": code, "password": "Khac-2026-x"})
    assert replay.status_code == 422
    token_for(client, body["email"], "Rieng-tu-2026")
    forged = client.post("/api/v1/auth/activate", json={"code": "made-up", "password": "abcdefgh1"})
    assert forged.status_code == 422


def test_duplicate_email_is_409_whatever_the_case(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    assert client.post("/api/v1/users", headers=h, json=new_user(s["a"])).status_code == 201  # type: ignore[arg-type]
    dup = client.post(
        "/api/v1/users", headers=h, json=new_user(s["b"], email="NGUYEN.VAN.A@truong.edu.vn")
    )  # type: ignore[arg-type]
    assert dup.status_code == 409
    assert dup.json()["error"] == "conflict"
    assert (
        db.scalar(select(func.count(User.id)).where(User.email == "nguyen.van.a@truong.edu.vn"))
        == 1
    )


def test_bad_input_is_422_and_creates_nothing(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    before = db.scalar(select(func.count(User.id)))
    cases = [
        new_user(s["a"], email="not-an-email"),  # type: ignore[arg-type]
        new_user(s["a"], full_name="x" * 201),  # type: ignore[arg-type]
        new_user(s["a"], full_name="   "),  # type: ignore[arg-type]
        new_user(s["a"], role="wizard"),  # type: ignore[arg-type]
        new_user(s["a"], organization_id="abc"),  # type: ignore[arg-type]
        new_user(s["a"], password="short"),  # type: ignore[arg-type]
        new_user(s["a"], email="a" * 250 + "@b.vn"),  # type: ignore[arg-type]
        new_user(s["a"], unexpected="field"),  # type: ignore[arg-type]
        {"email": "x@truong.edu.vn"},
    ]
    for body in cases:
        response = client.post("/api/v1/users", headers=h, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "invalid_input"
    missing_org = client.post(
        "/api/v1/users", headers=h, json=new_user(s["a"], organization_id=999999)
    )  # type: ignore[arg-type]
    assert missing_org.status_code == 404
    not_json = client.post(
        "/api/v1/users", headers={**h, "Content-Type": "application/json"}, content=b"{not json"
    )
    assert not_json.status_code == 422
    assert db.scalar(select(func.count(User.id))) == before


def test_students_and_teachers_cannot_manage_users(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    for who in ("student_a", "teacher_a"):
        h = token_for(client, s[who].email)  # type: ignore[attr-defined]
        assert client.post("/api/v1/users", headers=h, json=new_user(s["a"])).status_code == 403  # type: ignore[arg-type]
        other = s["teacher_b"].id  # type: ignore[attr-defined]
        assert client.get(f"/api/v1/users/{other}", headers=h).status_code == 403
        assert (
            client.patch(f"/api/v1/users/{other}", headers=h, json={"full_name": "X"}).status_code
            == 403
        )
        assert client.post(f"/api/v1/users/{other}/deactivate", headers=h).status_code == 403
        listing = client.get("/api/v1/users", headers=h).json()
        assert [u["id"] for u in listing["items"]] == [s[who].id]  # type: ignore[attr-defined]
        assert (
            client.post(
                "/api/v1/users/import",
                headers=h,
                files={"file": ("u.csv", b"email,full_name,role,organization_id\n")},
            ).status_code
            == 403
        )
        # Everyone may read themselves.
        me = s[who].id  # type: ignore[attr-defined]
        assert client.get(f"/api/v1/users/{me}", headers=h).status_code == 200


def test_school_manager_manages_only_their_own_school(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["manager_a"].email)  # type: ignore[attr-defined]
    teacher_b = s["teacher_b"].id  # type: ignore[attr-defined]
    assert client.post("/api/v1/users", headers=h, json=new_user(s["b"])).status_code == 403  # type: ignore[arg-type]
    assert client.get(f"/api/v1/users/{teacher_b}", headers=h).status_code == 403
    assert (
        client.patch(f"/api/v1/users/{teacher_b}", headers=h, json={"full_name": "Đổi"}).status_code
        == 403
    )
    assert client.post(f"/api/v1/users/{teacher_b}/deactivate", headers=h).status_code == 403
    assert client.post(f"/api/v1/users/{teacher_b}/activation", headers=h).status_code == 403
    assert (
        client.get(
            f"/api/v1/users?organization_id={s['b'].id}",  # type: ignore[attr-defined]
            headers=h,
        ).status_code
        == 403
    )
    # Own school: create a teacher, but never an admin; cannot move a user to school B.
    ok = client.post("/api/v1/users", headers=h, json=new_user(s["a"]))  # type: ignore[arg-type]
    assert ok.status_code == 201
    assert (
        client.post(
            "/api/v1/users",
            headers=h,
            json=new_user(s["a"], email="sep@truong.edu.vn", role="admin"),
        ).status_code
        == 403
    )  # type: ignore[arg-type]
    teacher_a = s["teacher_a"].id  # type: ignore[attr-defined]
    assert (
        client.patch(
            f"/api/v1/users/{teacher_a}", headers=h, json={"organization_id": s["b"].id}
        ).status_code
        == 403
    )  # type: ignore[attr-defined]
    assert (
        client.patch(
            f"/api/v1/users/{teacher_a}", headers=h, json={"role": "school_manager"}
        ).status_code
        == 403
    )
    listing = client.get("/api/v1/users", headers=h).json()
    assert {u["organization_id"] for u in listing["items"]} == {s["a"].id}  # type: ignore[attr-defined]
    db.refresh(s["teacher_b"])
    assert s["teacher_b"].full_name != "Đổi"  # type: ignore[attr-defined]


def test_list_searches_filters_and_paginates(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    for i in range(12):
        make_user(
            db,
            settings,
            organization=s["b"],
            full_name=f"Trần Văn Học {i:02d}",  # type: ignore[arg-type]
            role="student",
            password=None,
        )
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    page1 = client.get("/api/v1/users?q=học&limit=5&offset=0", headers=h).json()
    page3 = client.get("/api/v1/users?q=học&limit=5&offset=10", headers=h).json()
    assert page1["total"] == page3["total"] == 12
    assert len(page1["items"]) == 5
    assert len(page3["items"]) == 2
    by_org = client.get(
        f"/api/v1/users?organization_id={s['commune'].id}&role=student",  # type: ignore[attr-defined]
        headers=h,
    ).json()
    assert by_org["total"] == 13  # the tree below the commune: 12 in B + 1 in A
    assert client.get("/api/v1/users?limit=0", headers=h).status_code == 422
    assert client.get("/api/v1/users?limit=abc", headers=h).status_code == 422
    assert client.get("/api/v1/users?role=wizard", headers=h).status_code == 422
    # LIKE wildcards in the search are literal text, never patterns.
    assert client.get("/api/v1/users?q=%25", headers=h).json()["total"] == 0


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("Đỗ Thị Ánh", ["Đỗ Thị Ánh"]),  # as stored: capitals outside ASCII
        ("đỗ thị ánh", ["Đỗ Thị Ánh"]),
        ("do thi anh", ["Đỗ Thị Ánh"]),  # typed without accents, as on many phones
        ("ÁNH", ["Đỗ Thị Ánh"]),
        ("nguyen an", ["Nguyễn Văn An"]),  # every word, in any order of the name
        ("an nguyen", ["Nguyễn Văn An"]),
        ("thi", ["Đỗ Thị Ánh"]),
        ("dang", ["Đặng Minh Đăng"]),
        ("anh@truong", ["Đỗ Thị Ánh"]),  # the e-mail address too
        ("xyz", []),
    ],
)
def test_search_ignores_accents_and_case(
    client: TestClient, db: Session, settings: Settings, query: str, found: list[str]
) -> None:
    s = setup_schools(db, settings)
    for name, email in [
        ("Đỗ Thị Ánh", "anh@truong.edu.vn"),
        ("Nguyễn Văn An", "an.nv@example.vn"),
        ("Đặng Minh Đăng", "dang@example.vn"),
    ]:
        make_user(db, settings, organization=s["b"], full_name=name, email=email, password=None)  # type: ignore[arg-type]
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    page = client.get("/api/v1/users", params={"q": query, "limit": 200}, headers=h).json()
    assert [u["full_name"] for u in page["items"]] == found
    assert page["total"] == len(found)


def test_renaming_a_user_keeps_the_search_right(
    client: TestClient, db: Session, settings: Settings
) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    teacher = s["teacher_a"]
    renamed = client.patch(
        f"/api/v1/users/{teacher.id}",
        headers=h,
        json={"full_name": "Hoàng Thị Ngọc Lụa"},  # type: ignore[attr-defined]
    )
    assert renamed.status_code == 200
    assert client.get("/api/v1/users?q=ngoc lua", headers=h).json()["total"] == 1


def test_update_and_deactivate(client: TestClient, db: Session, settings: Settings) -> None:
    s = setup_schools(db, settings)
    h = token_for(client, s["admin"].email)  # type: ignore[attr-defined]
    teacher = s["teacher_a"]
    teacher_headers = token_for(client, teacher.email)  # type: ignore[attr-defined]
    changed = client.patch(
        f"/api/v1/users/{teacher.id}",
        headers=h,  # type: ignore[attr-defined]
        json={"full_name": "Lê Thị Mai", "role": "author"},
    )
    assert changed.status_code == 200
    assert changed.json()["full_name"] == "Lê Thị Mai"
    assert changed.json()["role"] == "author"
    gone = client.delete(f"/api/v1/users/{teacher.id}", headers=h)  # type: ignore[attr-defined]
    assert gone.status_code == 200
    assert gone.json()["is_active"] is False
    # Their token stops working and they cannot sign in; the record stays.
    assert client.get("/api/v1/me", headers=teacher_headers).status_code == 401
    assert db.get(User, teacher.id) is not None  # type: ignore[attr-defined]
    self_off = client.post(f"/api/v1/users/{s['admin'].id}/deactivate", headers=h)  # type: ignore[attr-defined]
    assert self_off.status_code == 422
    assert client.patch("/api/v1/users/999999", headers=h, json={}).status_code == 404


def test_concurrent_creates_of_one_email_make_one_user(
    committed: Engine, settings: Settings
) -> None:
    from app.core.db import make_sessionmaker, session_scope

    factory = make_sessionmaker(committed)
    with session_scope(factory) as session:
        org = make_org(session)
        org_id = org.id
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        barrier.wait()
        try:
            with session_scope(factory) as session:
                service.create_user(
                    session,
                    settings,
                    None,
                    email="dua@truong.edu.vn",
                    full_name="Đua",
                    role="teacher",
                    organization_id=org_id,
                )
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # SQLite may refuse a writer outright: it must not corrupt
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("created") == 1, outcomes
    with session_scope(factory) as session:
        assert (
            session.scalar(select(func.count(User.id)).where(User.email == "dua@truong.edu.vn"))
            == 1
        )
