"""Clubs through the API: creating, visibility across schools, join requests, members and
leaders, threads and posts, attachments, moderation, read markers and unread counts."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Organization, User
from app.community.clubs import service
from app.community.clubs.models import (
    Club,
    ClubMember,
    JoinRequest,
    ModerationEntry,
    Post,
    Thread,
)
from app.core.config import Settings
from app.lcms import service as lcms
from app.lcms.models import ContentItem
from tests.accounts.test_auth_api import token_for
from tests.factories import make_org, make_user


@dataclass
class Town:
    commune: Organization
    school: Organization
    other_school: Organization
    admin: User
    manager: User
    leader: User  # a teacher of the school
    teacher: User  # another teacher of the school
    student: User
    outsider: User  # a teacher of the other school
    author: User


def build_town(db: Session, settings: Settings) -> Town:
    commune = make_org(db, kind="commune", name="Xã Tân Cương")
    school = make_org(db, parent=commune, name="Trường Tiểu học Tân Cương")
    other = make_org(db, parent=commune, name="Trường THCS Tân Cương", level="lower_secondary")
    return Town(
        commune=commune,
        school=school,
        other_school=other,
        admin=make_user(db, settings, role="admin", organization=commune, full_name="Quản Trị"),
        manager=make_user(db, settings, role="school_manager", organization=school),
        leader=make_user(db, settings, organization=school, full_name="Cô Lan"),
        teacher=make_user(db, settings, organization=school, full_name="Thầy Minh"),
        student=make_user(db, settings, role="student", organization=school),
        outsider=make_user(db, settings, organization=other, full_name="Cô Hà"),
        author=make_user(db, settings, role="author", organization=commune),
    )


@pytest.fixture
def town(db: Session, settings: Settings) -> Town:
    return build_town(db, settings)


class Api:
    """A tiny client that signs users in once and keeps their tokens."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.tokens: dict[int, dict[str, str]] = {}

    def h(self, user: User) -> dict[str, str]:
        if user.id not in self.tokens:
            self.tokens[user.id] = token_for(self.client, user.email)
        return self.tokens[user.id]


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def make_club(api: Api, owner: User, organization: Organization, **extra: object) -> int:
    response = api.client.post(
        "/api/v1/clubs",
        json={"name": "CLB Robot", "organization_id": organization.id, "description": "", **extra},
        headers=api.h(owner),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def join_and_approve(api: Api, club_id: int, leader: User, user: User) -> None:
    req = api.client.post(f"/api/v1/clubs/{club_id}/join", headers=api.h(user))
    assert req.status_code == 201, req.text
    ok = api.client.post(
        f"/api/v1/clubs/{club_id}/requests/{req.json()['id']}/approve", headers=api.h(leader)
    )
    assert ok.status_code == 200, ok.text


def start_thread(api: Api, club_id: int, user: User, body: str = "Xin chào") -> dict[str, object]:
    response = api.client.post(
        f"/api/v1/clubs/{club_id}/threads",
        json={"title": "Ý tưởng STEM", "body": body},
        headers=api.h(user),
    )
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def unread_of(api: Api, user: User, club_id: int) -> int:
    response = api.client.get("/api/v1/clubs/unread", headers=api.h(user))
    assert response.status_code == 200
    return next((c["unread_posts"] for c in response.json() if c["club_id"] == club_id), -1)


# --- Creating clubs ------------------------------------------------------------------------


def test_teachers_create_clubs_in_their_school_and_lead_them(
    api: Api, db: Session, town: Town
) -> None:
    response = api.client.post(
        "/api/v1/clubs",
        json={
            "name": "  CLB   Robot  ",
            "organization_id": town.school.id,
            "description": "Lắp ráp **robot**",
            "kind": "academic_team",
            "topics": ["STEM", "stem"],
            "levels": ["primary"],
        },
        headers=api.h(town.leader),
    )
    assert response.status_code == 201, response.text
    club = response.json()
    assert club["name"] == "CLB Robot"
    assert club["kind"] == "academic_team"
    assert club["topics"] == ["STEM"]
    assert club["levels"] == ["primary"]
    assert club["my_role"] == "leader"
    assert club["member_count"] == 1
    assert club["description_html"] == "<p>Lắp ráp <strong>robot</strong></p>\n"
    # The same name again in the same school: 409, nothing added.
    again = api.client.post(
        "/api/v1/clubs",
        json={"name": "clb robot", "organization_id": town.school.id, "description": ""},
        headers=api.h(town.teacher),
    )
    assert again.status_code == 409
    assert db.scalar(select(func.count(Club.id))) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("CLB TIN HỌC", "CLB Tin học"),
        ("ĐỘI TUYỂN ỨNG DỤNG", "đội tuyển ứng dụng"),
        # The same letters, composed and decomposed (what some keyboards send).
        ("CLB Tiếng Việt", unicodedata.normalize("NFD", "clb tiếng việt")),
    ],
)
def test_a_vietnamese_club_name_in_another_case_is_the_same_name(
    api: Api, db: Session, town: Town, first: str, second: str
) -> None:
    made = api.client.post(
        "/api/v1/clubs",
        json={"name": first, "organization_id": town.school.id, "description": ""},
        headers=api.h(town.leader),
    )
    assert made.status_code == 201, made.text
    again = api.client.post(
        "/api/v1/clubs",
        json={"name": second, "organization_id": town.school.id, "description": ""},
        headers=api.h(town.teacher),
    )
    assert again.status_code == 409, again.text
    assert "already exists here" in again.json()["detail"]
    assert db.scalar(select(func.count(Club.id))) == 1
    # Another school may use the name.
    elsewhere = api.client.post(
        "/api/v1/clubs",
        json={"name": second, "organization_id": town.other_school.id, "description": ""},
        headers=api.h(town.outsider),
    )
    assert elsewhere.status_code == 201, elsewhere.text


@pytest.mark.parametrize(
    ("who", "where", "status"),
    [
        ("teacher", "other_school", 403),  # not their school
        ("teacher", "commune", 403),  # commune-wide: admins only
        ("manager", "other_school", 403),
        ("student", "school", 403),
        ("author", "commune", 403),
        ("admin", "province", 422),  # a club belongs to a school or a commune
        ("admin", "commune", 201),
        ("admin", "other_school", 201),
        ("manager", "school", 201),
    ],
)
def test_who_may_create_where(
    api: Api, db: Session, town: Town, who: str, where: str, status: int
) -> None:
    actor = {
        "teacher": town.teacher,
        "manager": town.manager,
        "student": town.student,
        "author": town.author,
        "admin": town.admin,
    }[who]
    org = {
        "school": town.school,
        "other_school": town.other_school,
        "commune": town.commune,
        "province": db.get(Organization, town.commune.parent_id),
    }[where]
    assert org is not None
    response = api.client.post(
        "/api/v1/clubs",
        json={"name": "CLB Sáng tạo", "organization_id": org.id, "description": ""},
        headers=api.h(actor),
    )
    assert response.status_code == status, response.text
    assert db.scalar(select(func.count(Club.id))) == (1 if status == 201 else 0)


def test_bad_club_input_is_422(api: Api, db: Session, town: Town) -> None:
    h = api.h(town.leader)
    for body in (
        {"name": "", "organization_id": town.school.id, "description": ""},
        {"name": "x" * 201, "organization_id": town.school.id, "description": ""},
        {"name": "A", "organization_id": town.school.id, "description": "", "kind": "gang"},
        {"name": "A", "organization_id": town.school.id, "description": "", "levels": ["high"]},
    ):
        assert api.client.post("/api/v1/clubs", json=body, headers=h).status_code == 422
    missing = api.client.post(
        "/api/v1/clubs", json={"name": "A", "organization_id": 999_999}, headers=h
    )
    assert missing.status_code == 404
    assert db.scalar(select(func.count(Club.id))) == 0


# --- Visibility ----------------------------------------------------------------------------


def test_school_clubs_are_hidden_from_other_schools_commune_clubs_are_not(
    api: Api, town: Town
) -> None:
    school_club = make_club(api, town.leader, town.school)
    commune_club = make_club(api, town.admin, town.commune, name="Diễn đàn CĐS")
    # A teacher of another school: the school club does not exist for them.
    assert (
        api.client.get(f"/api/v1/clubs/{school_club}", headers=api.h(town.outsider)).status_code
        == 404
    )
    assert (
        api.client.post(
            f"/api/v1/clubs/{school_club}/join", headers=api.h(town.outsider)
        ).status_code
        == 404
    )
    assert (
        api.client.get(
            f"/api/v1/clubs/{school_club}/members", headers=api.h(town.outsider)
        ).status_code
        == 404
    )
    assert (
        api.client.get(
            f"/api/v1/clubs/{school_club}/threads", headers=api.h(town.outsider)
        ).status_code
        == 404
    )
    listed = api.client.get("/api/v1/clubs", headers=api.h(town.outsider)).json()
    assert [c["id"] for c in listed["items"]] == [commune_club]
    # The school's own student sees both, the admin sees both.
    mine = api.client.get("/api/v1/clubs", headers=api.h(town.student)).json()
    assert {c["id"] for c in mine["items"]} == {school_club, commune_club}
    assert api.client.get("/api/v1/clubs", headers=api.h(town.admin)).json()["total"] == 2
    # Commune-wide clubs accept requests from every school of the commune.
    assert (
        api.client.post(
            f"/api/v1/clubs/{commune_club}/join", headers=api.h(town.outsider)
        ).status_code
        == 201
    )


def test_list_filters_mine_and_search_ignores_accents(api: Api, town: Town) -> None:
    robot = make_club(api, town.leader, town.school, name="CLB Robot Sáng Tạo")
    make_club(api, town.leader, town.school, name="Đội tuyển Toán")
    h = api.h(town.teacher)
    assert api.client.get("/api/v1/clubs?mine=true", headers=h).json()["total"] == 0
    found = api.client.get("/api/v1/clubs", params={"q": "sang tao"}, headers=h).json()
    assert [c["id"] for c in found["items"]] == [robot]
    join_and_approve(api, robot, town.leader, town.teacher)
    mine = api.client.get("/api/v1/clubs?mine=true", headers=h).json()
    assert [c["id"] for c in mine["items"]] == [robot]
    others = api.client.get("/api/v1/clubs?mine=false", headers=h).json()
    assert [c["name"] for c in others["items"]] == ["Đội tuyển Toán"]


# --- Membership ----------------------------------------------------------------------------


def test_join_request_approve_reject_and_duplicates(api: Api, db: Session, town: Town) -> None:
    club = make_club(api, town.leader, town.school)
    h = api.h(town.teacher)
    req = api.client.post(
        f"/api/v1/clubs/{club}/join", json={"message": "Cho em tham gia"}, headers=h
    )
    assert req.status_code == 201
    assert req.json()["status"] == "pending"
    # A second request while one waits: 409, still one row.
    dup = api.client.post(f"/api/v1/clubs/{club}/join", headers=h)
    assert dup.status_code == 409
    assert db.scalar(select(func.count(JoinRequest.id))) == 1
    # Not yet a member: cannot post, cannot read.
    assert (
        api.client.post(
            f"/api/v1/clubs/{club}/threads", json={"title": "A", "body": "B"}, headers=h
        ).status_code
        == 403
    )
    assert api.client.get(f"/api/v1/clubs/{club}/threads", headers=h).status_code == 403
    # Only leaders see and answer requests.
    assert api.client.get(f"/api/v1/clubs/{club}/requests", headers=h).status_code == 403
    pending = api.client.get(f"/api/v1/clubs/{club}/requests", headers=api.h(town.leader)).json()
    assert [r["user_id"] for r in pending["items"]] == [town.teacher.id]
    rid = pending["items"][0]["id"]
    assert (
        api.client.post(f"/api/v1/clubs/{club}/requests/{rid}/approve", headers=h).status_code
        == 403
    )
    ok = api.client.post(f"/api/v1/clubs/{club}/requests/{rid}/approve", headers=api.h(town.leader))
    assert ok.status_code == 200
    assert ok.json()["status"] == "approved"
    assert ok.json()["decided_by_id"] == town.leader.id
    # Answering twice: 409. Asking again as a member: 409.
    assert (
        api.client.post(
            f"/api/v1/clubs/{club}/requests/{rid}/reject", headers=api.h(town.leader)
        ).status_code
        == 409
    )
    assert api.client.post(f"/api/v1/clubs/{club}/join", headers=h).status_code == 409
    members = api.client.get(f"/api/v1/clubs/{club}/members", headers=h).json()
    assert [(m["user_id"], m["role"]) for m in members["items"]] == [
        (town.leader.id, "leader"),
        (town.teacher.id, "member"),
    ]
    # A rejected request makes no member; the user may ask again later.
    s = api.h(town.student)
    rid2 = api.client.post(f"/api/v1/clubs/{club}/join", headers=s).json()["id"]
    rejected = api.client.post(
        f"/api/v1/clubs/{club}/requests/{rid2}/reject", headers=api.h(town.leader)
    )
    assert rejected.json()["status"] == "rejected"
    assert service.get_membership(db, club, town.student.id) is None
    assert api.client.post(f"/api/v1/clubs/{club}/join", headers=s).status_code == 201
    # A request id of another club: 404.
    other = make_club(api, town.leader, town.school, name="CLB Khác")
    assert (
        api.client.post(
            f"/api/v1/clubs/{other}/requests/{rid2}/approve", headers=api.h(town.leader)
        ).status_code
        == 404
    )


def test_leaders_promote_remove_and_the_last_leader_stays(
    api: Api, db: Session, town: Town
) -> None:
    club = make_club(api, town.leader, town.school)
    join_and_approve(api, club, town.leader, town.teacher)
    join_and_approve(api, club, town.leader, town.student)
    lead, teach = api.h(town.leader), api.h(town.teacher)
    # The only leader cannot leave or step down.
    leave = api.client.delete(f"/api/v1/clubs/{club}/members/{town.leader.id}", headers=lead)
    assert leave.status_code == 409
    assert "leader" in leave.json()["detail"] or "trưởng" in leave.json()["detail"]
    demote = api.client.put(
        f"/api/v1/clubs/{club}/members/{town.leader.id}", json={"role": "member"}, headers=lead
    )
    assert demote.status_code == 409
    # Members cannot promote or remove.
    assert (
        api.client.put(
            f"/api/v1/clubs/{club}/members/{town.teacher.id}",
            json={"role": "leader"},
            headers=teach,
        ).status_code
        == 403
    )
    assert (
        api.client.delete(
            f"/api/v1/clubs/{club}/members/{town.student.id}", headers=teach
        ).status_code
        == 403
    )
    # A leader promotes; then the first leader may leave.
    promoted = api.client.put(
        f"/api/v1/clubs/{club}/members/{town.teacher.id}", json={"role": "leader"}, headers=lead
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "leader"
    assert (
        api.client.delete(
            f"/api/v1/clubs/{club}/members/{town.leader.id}", headers=lead
        ).status_code
        == 204
    )
    # The new leader removes a member; a member leaves on their own.
    assert (
        api.client.delete(
            f"/api/v1/clubs/{club}/members/{town.student.id}", headers=teach
        ).status_code
        == 204
    )
    assert db.scalar(select(func.count(ClubMember.id)).where(ClubMember.club_id == club)) == 1
    # Still a leader at all times.
    assert (
        api.client.delete(
            f"/api/v1/clubs/{club}/members/{town.teacher.id}", headers=teach
        ).status_code
        == 409
    )
    # Someone who is not a member: 404.
    assert (
        api.client.delete(
            f"/api/v1/clubs/{club}/members/{town.student.id}", headers=teach
        ).status_code
        == 404
    )


# --- Threads, posts, moderation ------------------------------------------------------------


def test_threads_and_posts_store_markdown_and_return_sanitised_html(
    api: Api, db: Session, town: Town
) -> None:
    club = make_club(api, town.leader, town.school)
    join_and_approve(api, club, town.leader, town.teacher)
    evil = 'Xem **đây** <script>alert("x")</script> [bấm](javascript:alert(1))'
    thread = start_thread(api, club, town.teacher, body=evil)
    first = thread["posts"]["items"][0]  # type: ignore[index]
    assert first["body"] == evil  # stored and returned raw
    assert "<script" not in first["body_html"]
    assert "&lt;script&gt;" in first["body_html"]
    assert "javascript:" not in first["body_html"].replace("(javascript:alert(1))", "")
    assert 'href="javascript' not in first["body_html"]
    assert "<strong>đây</strong>" in first["body_html"]
    stored = db.scalar(select(Post.body).where(Post.id == first["id"]))
    assert stored == evil
    reply = api.client.post(
        f"/api/v1/threads/{thread['id']}/posts",
        json={"body": "Hay quá! <img src=x onerror=alert(1)>"},
        headers=api.h(town.leader),
    )
    assert reply.status_code == 201
    assert "<img" not in reply.json()["body_html"]
    detail = api.client.get(f"/api/v1/threads/{thread['id']}", headers=api.h(town.teacher)).json()
    assert detail["post_count"] == 2
    assert [p["author_id"] for p in detail["posts"]["items"]] == [town.teacher.id, town.leader.id]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("", 422),
        ("   \n\t ", 422),
        ("x" * 20_001, 422),
        ("x" * 20_000, 201),
    ],
)
def test_post_limits(api: Api, db: Session, town: Town, body: str, status: int) -> None:
    club = make_club(api, town.leader, town.school)
    thread = start_thread(api, club, town.leader)
    before = db.scalar(select(func.count(Post.id))) or 0
    response = api.client.post(
        f"/api/v1/threads/{thread['id']}/posts", json={"body": body}, headers=api.h(town.leader)
    )
    assert response.status_code == status, response.text[:200]
    assert db.scalar(select(func.count(Post.id))) == before + (1 if status == 201 else 0)


def test_thread_title_limits(api: Api, db: Session, town: Town) -> None:
    club = make_club(api, town.leader, town.school)
    h = api.h(town.leader)
    for title in ("", "   ", "t" * 201):
        r = api.client.post(
            f"/api/v1/clubs/{club}/threads", json={"title": title, "body": "Nội dung"}, headers=h
        )
        assert r.status_code == 422
    r = api.client.post(
        f"/api/v1/clubs/{club}/threads", json={"title": "t" * 200, "body": "   "}, headers=h
    )
    assert r.status_code == 422
    assert db.scalar(select(func.count(Thread.id))) == 0
    ok = api.client.post(
        f"/api/v1/clubs/{club}/threads", json={"title": "t" * 200, "body": "x"}, headers=h
    )
    assert ok.status_code == 201


def test_attachments_must_be_published_library_items(api: Api, db: Session, town: Town) -> None:
    link = lcms.create_item(
        db, town.author, title="Sổ tay CĐS", kind="link", url="https://moet.gov.vn/so-tay"
    )
    lcms.publish(db, town.author, link.id, version=0)
    draft = lcms.create_item(
        db, town.author, title="Bản nháp", kind="link", url="https://example.com"
    )
    club = make_club(api, town.leader, town.school)
    h = api.h(town.leader)
    for ids in ([draft.id], [999_999], [link.id, draft.id]):
        bad = api.client.post(
            f"/api/v1/clubs/{club}/threads",
            json={"title": "Tài liệu", "body": "Xem", "attachments": ids},
            headers=h,
        )
        assert bad.status_code == 422, bad.text
    assert db.scalar(select(func.count(Thread.id))) == 0
    ok = api.client.post(
        f"/api/v1/clubs/{club}/threads",
        json={"title": "Tài liệu", "body": "Xem", "attachments": [link.id]},
        headers=h,
    )
    assert ok.status_code == 201
    attachment = ok.json()["posts"]["items"][0]["attachments"]
    assert attachment == [
        {
            "content_id": link.id,
            "title": "Sổ tay CĐS",
            "url": f"/library/{link.id}",
            "available": True,
        }
    ]
    # Archived later: still listed, marked unavailable.
    lcms.archive(db, town.author, link.id)
    db.commit()
    later = api.client.get(f"/api/v1/threads/{ok.json()['id']}", headers=h).json()
    assert later["posts"]["items"][0]["attachments"][0]["available"] is False
    assert db.get(ContentItem, link.id) is not None


def test_moderation_hide_and_lock_by_leaders_only(api: Api, db: Session, town: Town) -> None:
    club = make_club(api, town.leader, town.school)
    join_and_approve(api, club, town.leader, town.teacher)
    thread = start_thread(api, club, town.teacher, body="Nội dung không phù hợp")
    post_id = thread["posts"]["items"][0]["id"]  # type: ignore[index]
    teach, lead = api.h(town.teacher), api.h(town.leader)
    # A member cannot moderate.
    assert api.client.post(f"/api/v1/posts/{post_id}/hide", headers=teach).status_code == 403
    assert api.client.post(f"/api/v1/threads/{thread['id']}/lock", headers=teach).status_code == 403
    assert (
        api.client.get(f"/api/v1/threads/{thread['id']}/moderation", headers=teach).status_code
        == 403
    )
    # The leader hides: members see no text, the leader sees it all.
    hidden = api.client.post(f"/api/v1/posts/{post_id}/hide", headers=lead)
    assert hidden.status_code == 200
    assert hidden.json()["hidden"] is True
    assert hidden.json()["hidden_by_id"] == town.leader.id
    as_member = api.client.get(f"/api/v1/threads/{thread['id']}/posts", headers=teach).json()
    post = as_member["items"][0]
    assert post["hidden"] is True
    assert post["body"] is None
    assert post["body_html"] is None
    as_leader = api.client.get(f"/api/v1/threads/{thread['id']}/posts", headers=lead).json()
    assert as_leader["items"][0]["body"] == "Nội dung không phù hợp"
    # The admin (not a member) moderates too.
    shown = api.client.post(f"/api/v1/posts/{post_id}/unhide", headers=api.h(town.admin))
    assert shown.status_code == 200
    assert shown.json()["hidden"] is False
    # Lock: nobody posts (409, a clear message), nothing is stored.
    locked = api.client.post(f"/api/v1/threads/{thread['id']}/lock", headers=lead)
    assert locked.status_code == 200
    assert locked.json()["locked"] is True
    before = db.scalar(select(func.count(Post.id)))
    for h in (teach, lead):
        r = api.client.post(
            f"/api/v1/threads/{thread['id']}/posts", json={"body": "Còn ai?"}, headers=h
        )
        assert r.status_code == 409
        assert r.json()["detail"]
    assert db.scalar(select(func.count(Post.id))) == before
    assert (
        api.client.post(f"/api/v1/threads/{thread['id']}/unlock", headers=lead).json()["locked"]
        is False
    )
    assert (
        api.client.post(
            f"/api/v1/threads/{thread['id']}/posts", json={"body": "Mở lại rồi"}, headers=teach
        ).status_code
        == 201
    )
    # Who and when: every change is in the history, repeats are not.
    api.client.post(f"/api/v1/posts/{post_id}/unhide", headers=lead)
    history = api.client.get(f"/api/v1/threads/{thread['id']}/moderation", headers=lead).json()
    assert [(e["action"], e["actor_id"]) for e in history] == [
        ("hide_post", town.leader.id),
        ("unhide_post", town.admin.id),
        ("lock_thread", town.leader.id),
        ("unlock_thread", town.leader.id),
    ]
    assert db.scalar(select(func.count(ModerationEntry.id))) == 4
    # Admins read but post only as members.
    assert (
        api.client.post(
            f"/api/v1/threads/{thread['id']}/posts",
            json={"body": "Admin"},
            headers=api.h(town.admin),
        ).status_code
        == 403
    )


def test_posts_are_paginated_oldest_first(api: Api, town: Town) -> None:
    club = make_club(api, town.leader, town.school)
    h = api.h(town.leader)
    thread = start_thread(api, club, town.leader, body="Bài 0")
    for n in range(1, 25):
        assert (
            api.client.post(
                f"/api/v1/threads/{thread['id']}/posts", json={"body": f"Bài {n}"}, headers=h
            ).status_code
            == 201
        )
    first = api.client.get(f"/api/v1/threads/{thread['id']}?limit=10", headers=h).json()
    assert first["posts"]["total"] == 25
    assert [p["body"] for p in first["posts"]["items"]] == [f"Bài {n}" for n in range(10)]
    last = api.client.get(
        f"/api/v1/threads/{thread['id']}/posts?limit=10&offset=20", headers=h
    ).json()
    assert [p["body"] for p in last["items"]] == [f"Bài {n}" for n in range(20, 25)]
    assert (
        api.client.get(f"/api/v1/threads/{thread['id']}/posts?limit=101", headers=h).status_code
        == 422
    )
    # Threads too: newest activity first.
    second = start_thread(api, club, town.leader)
    threads = api.client.get(f"/api/v1/clubs/{club}/threads?limit=1", headers=h).json()
    assert threads["total"] == 2
    assert [t["id"] for t in threads["items"]] == [second["id"]]


# --- Unread markers ------------------------------------------------------------------------


def test_unread_counts_follow_new_posts_and_reset_after_reading(
    api: Api, db: Session, town: Town
) -> None:
    club = make_club(api, town.leader, town.school)
    join_and_approve(api, club, town.leader, town.teacher)
    thread = start_thread(api, club, town.leader, body="Mở đầu")
    # The writer has nothing unread; the other member has one post.
    assert unread_of(api, town.leader, club) == 0
    assert unread_of(api, town.teacher, club) == 1
    for body in ("Một", "Hai"):
        api.client.post(
            f"/api/v1/threads/{thread['id']}/posts", json={"body": body}, headers=api.h(town.leader)
        )
    assert unread_of(api, town.teacher, club) == 3
    listing = api.client.get(f"/api/v1/clubs/{club}/threads", headers=api.h(town.teacher)).json()
    assert listing["items"][0]["unread"] == 3
    assert (
        api.client.get(f"/api/v1/clubs/{club}", headers=api.h(town.teacher)).json()["unread_posts"]
        == 3
    )
    # Reading up to the second post leaves one; reading all leaves none; markers never go back.
    posts = api.client.get(
        f"/api/v1/threads/{thread['id']}/posts", headers=api.h(town.teacher)
    ).json()
    ids = [p["id"] for p in posts["items"]]
    api.client.post(
        f"/api/v1/threads/{thread['id']}/read",
        json={"post_id": ids[1]},
        headers=api.h(town.teacher),
    )
    assert unread_of(api, town.teacher, club) == 1
    read = api.client.post(f"/api/v1/threads/{thread['id']}/read", headers=api.h(town.teacher))
    assert read.json()["last_read_post_id"] == ids[-1]
    assert unread_of(api, town.teacher, club) == 0
    back = api.client.post(
        f"/api/v1/threads/{thread['id']}/read",
        json={"post_id": ids[0]},
        headers=api.h(town.teacher),
    )
    assert back.json()["last_read_post_id"] == ids[-1]
    # A hidden post is not counted as news; the teacher's own reply is not unread for them.
    api.client.post(
        f"/api/v1/threads/{thread['id']}/posts", json={"body": "Ba"}, headers=api.h(town.leader)
    )
    new_id = api.client.post(
        f"/api/v1/threads/{thread['id']}/posts", json={"body": "Bốn"}, headers=api.h(town.leader)
    ).json()["id"]
    assert unread_of(api, town.teacher, club) == 2
    api.client.post(f"/api/v1/posts/{new_id}/hide", headers=api.h(town.leader))
    assert unread_of(api, town.teacher, club) == 1
    api.client.post(
        f"/api/v1/threads/{thread['id']}/posts",
        json={"body": "Của tôi"},
        headers=api.h(town.teacher),
    )
    # Posting moves the writer's marker past everything before it.
    assert unread_of(api, town.teacher, club) == 0
    summary = service.unread_summary(db, town.teacher)
    assert [(s.club_id, s.unread_threads, s.unread_posts) for s in summary] == [(club, 0, 0)]


def test_unread_summary_orders_clubs_with_news_first(api: Api, db: Session, town: Town) -> None:
    quiet = make_club(api, town.leader, town.school, name="A Quiet")
    busy = make_club(api, town.leader, town.school, name="Z Busy")
    for club in (quiet, busy):
        join_and_approve(api, club, town.leader, town.teacher)
    thread = start_thread(api, busy, town.leader)
    start_thread(api, busy, town.leader)
    api.client.post(
        f"/api/v1/threads/{thread['id']}/posts", json={"body": "x"}, headers=api.h(town.leader)
    )
    summary = service.unread_summary(db, town.teacher)
    assert [(s.name, s.unread_threads, s.unread_posts) for s in summary] == [
        ("Z Busy", 2, 3),
        ("A Quiet", 0, 0),
    ]
    assert summary[0].url == f"/clubs/{busy}"
    # Non-members have no summary; leaving a club removes it.
    assert service.unread_summary(db, town.outsider) == []
    api.client.delete(
        f"/api/v1/clubs/{busy}/members/{town.teacher.id}", headers=api.h(town.teacher)
    )
    assert [s.name for s in service.unread_summary(db, town.teacher)] == ["A Quiet"]


def test_out_of_range_ids_are_422_and_unknown_ones_404(api: Api, town: Town) -> None:
    h = api.h(town.leader)
    assert api.client.get("/api/v1/clubs/99999999999", headers=h).status_code == 422
    assert api.client.get("/api/v1/clubs/123456", headers=h).status_code == 404
    assert api.client.get("/api/v1/threads/123456", headers=h).status_code == 404
    assert api.client.post("/api/v1/posts/123456/hide", headers=h).status_code == 404
    assert api.client.get("/api/v1/clubs").status_code == 401


def test_demo_clubs_load_once_and_show_unread_news(db: Session, settings: Settings) -> None:
    from app.accounts.demo import load_demo as load_accounts
    from app.community.clubs.demo import COMMUNE_CLUB, SCHOOL_CLUB, load_demo

    load_accounts(db, settings)
    assert load_demo(db) > 0
    assert load_demo(db) == 0  # idempotent
    names = set(db.scalars(select(Club.name)))
    assert names == {SCHOOL_CLUB, COMMUNE_CLUB}
    teacher = db.scalar(select(User).where(User.email == "gv.mn@tancuong.edu.vn"))
    assert teacher is not None
    summary = service.unread_summary(db, teacher)
    assert [(s.name, s.unread_posts) for s in summary] == [(COMMUNE_CLUB, 2)]
    leader = db.scalar(select(User).where(User.email == "gv.thcs@tancuong.edu.vn"))
    assert leader is not None
    robot = db.scalar(select(Club).where(Club.name == SCHOOL_CLUB))
    assert robot is not None
    assert [r.user.email for r in service.list_requests(db, leader, robot.id)] == [
        "hs.thcs2@tancuong.edu.vn"
    ]
