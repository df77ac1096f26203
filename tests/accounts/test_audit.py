"""The audit log's writing side: ``record`` inside the action's transaction, where the request
came from (context variable), and one entry for each hooked action."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import service
from app.accounts.audit import AuditAction, AuditEntry, record, user_label
from app.accounts.importer import import_users
from app.accounts.models import User
from app.core import context
from app.core.config import Settings
from app.core.web import WebMiddleware
from tests.accounts.test_auth_api import token_for
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples

Login = Callable[[str, str], TestClient]


def entries(db: Session, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    db.expire_all()
    return list(db.scalars(query))


def count(db: Session) -> int:
    return db.scalar(select(func.count(AuditEntry.id))) or 0


# --- record ----------------------------------------------------------------------------------


def test_record_is_part_of_the_callers_transaction(db: Session, settings: Settings) -> None:
    admin = make_user(db, settings, role="admin")
    before = count(db)
    savepoint = db.begin_nested()
    record(db, actor=admin, action="user.created", target_type="user", target_id=1)
    db.flush()
    assert count(db) == before + 1
    savepoint.rollback()
    assert count(db) == before  # the action rolled back: so did its entry
    with db.begin_nested():
        record(db, actor=admin, action="user.created", target_type="user", target_id=2)
    assert count(db) == before + 1


def test_record_outside_a_request_is_the_command_line(db: Session, settings: Settings) -> None:
    school = make_org(db, name="Trường Tiểu học Đồng Hỷ")
    admin = make_user(db, settings, role="admin", full_name="Lê Văn Quản", organization=school)
    record(
        db,
        actor=admin,
        action=AuditAction.course_published,
        target_type="course",
        target_id=7,
        target_label="Chuyển đổi số",
        organization_id=school.id,
        detail={"due": date(2026, 12, 31), "ids": {3, 1}},
    )
    record(db, actor=None, action="report.submitted", target_type="report", target_id=None)
    db.flush()
    first, second = entries(db)[-2:]
    assert (first.actor_id, first.actor_label) == (admin.id, user_label(admin))
    assert first.actor_label == f"Lê Văn Quản ({admin.email})"
    assert (first.via, first.ip) == ("cli", None)
    assert (first.target_type, first.target_id, first.target_label) == (
        "course",
        "7",
        "Chuyển đổi số",
    )
    assert first.organization_id == school.id
    assert first.detail == {"due": "2026-12-31", "ids": [1, 3]}  # JSON-safe
    assert first.search_text == f"le van quan ({admin.email}) chuyen doi so"
    assert (second.actor_id, second.actor_label, second.via) == (None, "", "cli")
    assert second.target_id is None


def test_record_refuses_an_unknown_action(db: Session) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        record(db, actor=None, action="user.creatd", target_type="user", target_id=1)


def test_the_actor_label_survives_a_rename_and_the_actor_id_a_deletion(
    db: Session, settings: Settings
) -> None:
    admin = make_user(db, settings, role="admin", full_name="Tên Cũ")
    record(db, actor=admin, action="user.created", target_type="user", target_id=1)
    db.flush()
    admin.full_name = "Tên Mới"
    db.flush()
    entry = entries(db)[-1]
    assert entry.actor_label.startswith("Tên Cũ (")
    db.delete(db.get(User, admin.id))
    db.flush()
    db.expire_all()
    kept = db.get(AuditEntry, entry.id)
    assert kept is not None
    assert (kept.actor_id, kept.actor_label[:6]) == (None, "Tên Cũ")


# --- The request context ---------------------------------------------------------------------


def test_the_origin_reaches_sync_endpoints_and_dependencies(settings: Settings) -> None:
    app = FastAPI()
    app.add_middleware(WebMiddleware, settings=settings)

    def origin_dep() -> dict[str, object]:
        return {"ip": context.current_origin().ip, "via": context.current_origin().via}

    @app.get("/api/v1/where")
    def where_api(dep: dict[str, object] = Depends(origin_dep)) -> dict[str, object]:
        # A sync endpoint and a sync dependency: both run in worker threads.
        return {"dep": dep, "here": origin_dep()}

    @app.get("/where")
    def where_page() -> dict[str, object]:
        return origin_dep()

    @app.get("/where-async")
    async def where_async() -> dict[str, object]:
        return await asyncio.to_thread(origin_dep)

    with TestClient(app) as client:
        api = client.get("/api/v1/where").json()
        assert api == {"dep": {"ip": "testclient", "via": "api"}, "here": api["dep"]}
        assert client.get("/where").json() == {"ip": "testclient", "via": "web"}
        assert client.get("/where-async").json() == {"ip": "testclient", "via": "web"}
    # Nothing leaks out of the request.
    assert context.current_origin() == context.CLI_ORIGIN


# --- Hooks: accounts -------------------------------------------------------------------------


def test_creating_changing_and_deactivating_users_through_the_api(
    client: TestClient, db: Session, settings: Settings
) -> None:
    commune = make_org(db, kind="commune")
    school_a = make_org(db, name="Trường A", parent=commune)
    school_b = make_org(db, name="Trường B", parent=commune)
    admin = make_user(db, settings, role="admin", organization=commune)
    h = token_for(client, admin.email)
    start = count(db)

    made = client.post(
        "/api/v1/users",
        headers=h,
        json={
            "email": "gv.moi@truong.edu.vn",
            "full_name": "Đinh Thị Mới",
            "role": "teacher",
            "organization_id": school_a.id,
        },
    )
    assert made.status_code == 201, made.text
    uid = made.json()["id"]
    (created,) = entries(db, "user.created")
    assert (created.actor_id, created.actor_label) == (admin.id, user_label(admin))
    assert (created.ip, created.via) == ("testclient", "api")
    assert (created.target_type, created.target_id) == ("user", str(uid))
    assert created.target_label == "Đinh Thị Mới (gv.moi@truong.edu.vn)"
    assert created.organization_id == school_a.id
    assert created.detail == {"role": "teacher", "with_password": False}

    moved = client.patch(
        f"/api/v1/users/{uid}",
        headers=h,
        json={"role": "school_manager", "organization_id": school_b.id},
    )
    assert moved.status_code == 200, moved.text
    (updated,) = entries(db, "user.updated")
    assert updated.detail == {
        "role": ["teacher", "school_manager"],
        "organization_id": [school_a.id, school_b.id],
    }
    assert updated.organization_id == school_b.id
    # Saving the same values changes nothing, so it is not logged.
    same = client.patch(f"/api/v1/users/{uid}", headers=h, json={"role": "school_manager"})
    assert same.status_code == 200
    assert len(entries(db, "user.updated")) == 1

    assert client.post(f"/api/v1/users/{uid}/deactivate", headers=h).status_code == 200
    assert client.post(f"/api/v1/users/{uid}/deactivate", headers=h).status_code == 200
    (deactivated,) = entries(db, "user.deactivated")  # the second call changed nothing
    assert (deactivated.target_id, deactivated.via) == (str(uid), "api")

    back = client.patch(f"/api/v1/users/{uid}", headers=h, json={"is_active": True})
    assert back.status_code == 200
    assert len(entries(db, "user.reactivated")) == 1
    assert count(db) == start + 4


def test_a_failed_action_leaves_no_entry(
    client: TestClient, db: Session, settings: Settings
) -> None:
    admin = make_user(db, settings, role="admin", full_name="Quản Trị")
    h = token_for(client, admin.email)
    start = count(db)
    # The rename is recorded first, then deactivating oneself fails: the request rolls back.
    response = client.patch(
        f"/api/v1/users/{admin.id}", headers=h, json={"full_name": "Tên Khác", "is_active": False}
    )
    assert response.status_code == 422, response.text
    assert count(db) == start
    db.expire_all()
    assert db.get(User, admin.id).full_name == "Quản Trị"  # type: ignore[union-attr]


def test_organisations_created_and_changed(
    client: TestClient, db: Session, settings: Settings
) -> None:
    commune = make_org(db, kind="commune")
    admin = make_user(db, settings, role="admin", organization=commune)
    h = token_for(client, admin.email)
    made = client.post(
        "/api/v1/organizations",
        headers=h,
        json={
            "name": "Trường Mầm non Sơn Ca",
            "kind": "school",
            "level": "preschool",
            "parent_id": commune.id,
        },
    )
    assert made.status_code == 201, made.text
    oid = made.json()["id"]
    (created,) = entries(db, "organization.created")
    assert (created.target_id, created.target_label, created.organization_id) == (
        str(oid),
        "Trường Mầm non Sơn Ca",
        oid,
    )
    assert created.detail == {"kind": "school", "level": "preschool", "parent_id": commune.id}
    renamed = client.patch(
        f"/api/v1/organizations/{oid}", headers=h, json={"name": "Trường Mầm non Họa Mi"}
    )
    assert renamed.status_code == 200, renamed.text
    (updated,) = entries(db, "organization.updated")
    assert updated.detail == {"name": ["Trường Mầm non Sơn Ca", "Trường Mầm non Họa Mi"]}
    assert updated.target_label == "Trường Mầm non Họa Mi"


def test_a_user_created_on_the_admin_page_is_logged_as_web(
    page_login: Login, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    manager = make_user(db, settings, role="school_manager", organization=school)
    c = page_login(manager.email, PASSWORD)
    token = csrf_from(c.get("/admin/users/new").text)
    response = c.post(
        "/admin/users",
        data={
            "email": "hs.trang@truong.edu.vn",
            "full_name": "Vi Thị Trang",
            "role": "student",
            "organization_id": str(school.id),
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 201, response.text
    (entry,) = entries(db, "user.created")
    assert (entry.actor_id, entry.via, entry.ip) == (manager.id, "web", "testclient")
    assert entry.organization_id == school.id


def test_the_command_line_creates_users_as_cli(db: Session, settings: Settings) -> None:
    school = make_org(db)
    user = service.create_user(
        db,
        settings,
        None,
        email="admin2@truong.edu.vn",
        full_name="Quản Trị Hai",
        role="admin",
        organization_id=school.id,
        password="Mat-khau-2026",
    )
    (entry,) = entries(db, "user.created")
    assert (entry.actor_id, entry.actor_label, entry.via, entry.ip) == (None, "", "cli", None)
    assert entry.target_id == str(user.id)
    assert entry.detail == {"role": "admin", "with_password": True}


# --- Hooks: the CSV import ------------------------------------------------------------------


def test_an_import_writes_one_entry_per_organisation_not_per_user(
    client: TestClient, db: Session, settings: Settings
) -> None:
    commune = make_org(db, kind="commune")
    school_a = make_org(db, name="Trường Tiểu học Tân Cương", parent=commune)
    school_b = make_org(db, name="Trường THCS Tân Cương", parent=commune)
    admin = make_user(db, settings, role="admin", organization=commune)
    make_user(db, settings, email="da.co@truong.edu.vn", organization=school_b)
    h = token_for(client, admin.email)
    lines = [f"hs{i}@truong.edu.vn,Học Sinh {i},student,{school_a.id}" for i in range(25)]
    lines += [
        f"gv1@truong.edu.vn,Giáo Viên Một,teacher,{school_b.id}",
        f"da.co@truong.edu.vn,Đã Có,teacher,{school_b.id}",
    ]
    data = ("email,full_name,role,organization_id\n" + "\n".join(lines) + "\n").encode()

    dry = client.post(
        "/api/v1/users/import?dry_run=true",
        headers=h,
        files={"file": ("ds.csv", data, "text/csv")},
    )
    assert dry.status_code == 200
    assert entries(db, "user.imported") == []  # a dry run changes nothing

    response = client.post(
        "/api/v1/users/import", headers=h, files={"file": ("ds.csv", data, "text/csv")}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["skipped"]) == (26, 1)
    imported = sorted(entries(db, "user.imported"), key=lambda e: e.organization_id or 0)
    assert [e.organization_id for e in imported] == [school_a.id, school_b.id]
    a, b = imported
    assert (a.target_type, a.target_id, a.target_label) == (
        "organization",
        str(school_a.id),
        "Trường Tiểu học Tân Cương",
    )
    assert (a.detail["created"], a.detail["skipped"]) == (25, 0)
    assert a.detail["emails"] == [f"hs{i}@truong.edu.vn" for i in range(20)]
    assert b.detail == {"created": 1, "skipped": 1, "emails": ["gv1@truong.edu.vn"]}
    assert {(e.actor_id, e.via, e.ip) for e in imported} == {(admin.id, "api", "testclient")}
    # No per-user entries.
    assert entries(db, "user.created") == []

    again = client.post(
        "/api/v1/users/import", headers=h, files={"file": ("ds.csv", data, "text/csv")}
    )
    assert again.json()["created"] == 0
    assert len(entries(db, "user.imported")) == 2  # nothing new: nothing logged


def test_an_import_from_the_command_line(db: Session, settings: Settings) -> None:
    school = make_org(db)
    data = f"email,full_name,role,organization_id\nx@truong.edu.vn,X Y,student,{school.id}\n"
    result = import_users(db, settings, None, data.encode())
    assert result.created == 1
    (entry,) = entries(db, "user.imported")
    assert (entry.actor_id, entry.via, entry.organization_id) == (None, "cli", school.id)


def test_an_import_on_the_page_is_logged_as_web(
    page_login: Login, db: Session, settings: Settings
) -> None:
    school = make_org(db)
    manager = make_user(db, settings, role="school_manager", organization=school)
    c = page_login(manager.email, PASSWORD)
    token = csrf_from(c.get("/admin/users/import").text)
    data = f"email,full_name,role,organization_id\nz@truong.edu.vn,Z,student,{school.id}\n"
    response = c.post(
        "/admin/users/import",
        data={"csrf_token": token},
        files={"file": ("ds.csv", data.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    (entry,) = entries(db, "user.imported")
    # The import runs in a worker thread of an async endpoint: the origin followed it.
    assert (entry.actor_id, entry.via, entry.ip) == (manager.id, "web", "testclient")


# --- Hooks: the content library --------------------------------------------------------------


def test_publish_rollback_archive_and_restore_each_write_one_entry(
    client: TestClient, db: Session, settings: Settings
) -> None:
    author = make_user(db, settings, role="author")
    h = token_for(client, author.email)
    item = client.post(
        "/api/v1/content", headers=h, json={"title": "=Sổ tay chuyển đổi số", "kind": "document"}
    ).json()
    iid = item["id"]
    for n in (1, 2):
        assert samples.upload(client, h, iid, samples.pdf(f"v{n}")).status_code == 201
    steps = [
        ("post", f"/api/v1/content/{iid}/publish", {"version": 2}, "content.published"),
        ("post", f"/api/v1/content/{iid}/publish", {"version": 1}, "content.rolled_back"),
        ("delete", f"/api/v1/content/{iid}", None, "content.archived"),
        ("post", f"/api/v1/content/{iid}/restore", None, "content.restored"),
    ]
    start = count(db)
    for method, url, body, action in steps:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(url, headers=h, **kwargs)
        assert response.status_code == 200, response.text
        (entry,) = entries(db, action)
        assert (entry.actor_id, entry.via, entry.ip) == (author.id, "api", "testclient")
        assert (entry.target_type, entry.target_id) == ("content", str(iid))
        assert entry.target_label == "=Sổ tay chuyển đổi số"
    assert count(db) == start + 4
    assert entries(db, "content.published")[0].detail == {"from_version": None, "to_version": 2}
    assert entries(db, "content.rolled_back")[0].detail == {"from_version": 2, "to_version": 1}
    # Publishing what is already published changes nothing, so nothing is logged.
    again = client.post(f"/api/v1/content/{iid}/publish", headers=h, json={"version": 1})
    assert again.status_code == 200
    assert count(db) == start + 4
