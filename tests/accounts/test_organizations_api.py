"""The organisation tree through the API."""

from __future__ import annotations

import unicodedata

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user


def admin_headers(client: TestClient, db: Session, settings: Settings) -> dict[str, str]:
    admin = make_user(db, settings, role="admin", organization=make_org(db, kind="province"))
    return token_for(client, admin.email)


def test_admin_builds_a_province_commune_school_tree(
    client: TestClient, db: Session, settings: Settings
) -> None:
    h = admin_headers(client, db, settings)
    province = client.post(
        "/api/v1/organizations", headers=h, json={"name": "Tỉnh Thái Nguyên", "kind": "province"}
    )
    assert province.status_code == 201, province.text
    commune = client.post(
        "/api/v1/organizations",
        headers=h,
        json={"name": "Xã Tân Cương", "kind": "commune", "parent_id": province.json()["id"]},
    )
    assert commune.status_code == 201
    school = client.post(
        "/api/v1/organizations",
        headers=h,
        json={
            "name": "Trường THCS Tân Cương",
            "kind": "school",
            "level": "lower_secondary",
            "parent_id": commune.json()["id"],
        },
    )
    assert school.status_code == 201
    assert school.json()["level"] == "lower_secondary"
    listing = client.get("/api/v1/organizations", headers=h).json()
    names = {o["name"] for o in listing["items"]}
    assert {"Tỉnh Thái Nguyên", "Xã Tân Cương", "Trường THCS Tân Cương"} <= names
    assert listing["total"] == len(listing["items"])
    got = client.get(f"/api/v1/organizations/{school.json()['id']}", headers=h)
    assert got.json()["parent_id"] == commune.json()["id"]


def test_tree_rules_are_enforced(client: TestClient, db: Session, settings: Settings) -> None:
    h = admin_headers(client, db, settings)
    province = make_org(db, kind="province")
    commune = make_org(db, kind="commune", parent=province)
    cases = [
        {"name": "Trường không cấp", "kind": "school", "parent_id": commune.id},
        {"name": "Xã có cấp", "kind": "commune", "level": "primary", "parent_id": province.id},
        {
            "name": "Trường dưới tỉnh",
            "kind": "school",
            "level": "primary",
            "parent_id": province.id,
        },
        {"name": "Xã mồ côi", "kind": "commune"},
        {"name": "Tỉnh có cha", "kind": "province", "parent_id": province.id},
        {"name": "Cha không tồn tại", "kind": "commune", "parent_id": 999999},
    ]
    for body in cases:
        response = client.post("/api/v1/organizations", headers=h, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "invalid_input"
    bad_types = client.post(
        "/api/v1/organizations", headers=h, json={"name": "X", "kind": "galaxy"}
    )
    assert bad_types.status_code == 422
    too_long = client.post(
        "/api/v1/organizations", headers=h, json={"name": "x" * 201, "kind": "province"}
    )
    assert too_long.status_code == 422


def test_duplicate_sibling_name_is_409(client: TestClient, db: Session, settings: Settings) -> None:
    h = admin_headers(client, db, settings)
    commune = make_org(db, kind="commune")
    body = {
        "name": "Trường Tiểu học A",
        "kind": "school",
        "level": "primary",
        "parent_id": commune.id,
    }
    assert client.post("/api/v1/organizations", headers=h, json=body).status_code == 201
    body["name"] = "trường tiểu học a"
    dup = client.post("/api/v1/organizations", headers=h, json=body)
    assert dup.status_code == 409
    assert dup.json()["error"] == "conflict"
    # Capitals outside ASCII (SQLite's lower() leaves them), another Unicode form, more spaces.
    body["name"] = "Trường Mầm non Đồng Tâm"
    assert client.post("/api/v1/organizations", headers=h, json=body).status_code == 201
    for same in [
        "TRƯỜNG MẦM NON ĐỒNG TÂM",
        unicodedata.normalize("NFD", "trường mầm non  đồng tâm"),
    ]:
        body["name"] = same
        assert client.post("/api/v1/organizations", headers=h, json=body).status_code == 409
    # Renaming onto a sibling's name is refused alike; renaming a school to itself is not.
    body["name"] = "Trường THCS B"
    other = client.post("/api/v1/organizations", headers=h, json=body).json()
    taken = client.patch(
        f"/api/v1/organizations/{other['id']}", headers=h, json={"name": "trường mầm non đồng tâm"}
    )
    assert taken.status_code == 409
    itself = client.patch(
        f"/api/v1/organizations/{other['id']}", headers=h, json={"name": "TRƯỜNG THCS B"}
    )
    assert itself.status_code == 200


def test_an_organisation_cannot_become_its_own_ancestor(
    client: TestClient, db: Session, settings: Settings
) -> None:
    h = admin_headers(client, db, settings)
    province = make_org(db, kind="province")
    commune = make_org(db, kind="commune", parent=province)
    school = make_org(db, kind="school", parent=commune)
    for parent in (commune.id, school.id):
        response = client.patch(
            f"/api/v1/organizations/{commune.id}", headers=h, json={"parent_id": parent}
        )
        assert response.status_code == 422, response.text
    db.refresh(commune)
    assert commune.parent_id == province.id
    other = make_org(db, kind="province")
    moved = client.patch(
        f"/api/v1/organizations/{commune.id}",
        headers=h,
        json={"parent_id": other.id, "name": "Xã Mới"},
    )
    assert moved.status_code == 200
    assert moved.json()["parent_id"] == other.id
    assert moved.json()["name"] == "Xã Mới"


def test_only_admins_change_organisations(
    client: TestClient, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    for role in ("school_manager", "author", "teacher", "student"):
        user = make_user(db, settings, role=role, organization=school)
        h = token_for(client, user.email)
        created = client.post(
            "/api/v1/organizations", headers=h, json={"name": f"Tỉnh {role}", "kind": "province"}
        )
        assert created.status_code == 403, role
        patched = client.patch(
            f"/api/v1/organizations/{school.id}", headers=h, json={"name": "Đổi tên"}
        )
        assert patched.status_code == 403
        assert client.get("/api/v1/organizations", headers=h).status_code == 200
    assert client.get("/api/v1/organizations").status_code == 401
    assert (
        client.get(
            "/api/v1/organizations/999999", headers=admin_headers(client, db, settings)
        ).status_code
        == 404
    )
