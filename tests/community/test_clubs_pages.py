"""Club pages: /clubs, /clubs/{id}, /threads/{id} — forms with CSRF, the rendered posts
(sanitised), moderation buttons, unread badges, visibility and pagination."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.community.clubs import service
from app.community.clubs.models import Club, ClubMember, Post, Thread
from app.core.config import Settings
from tests.community.test_clubs import Town, build_town
from tests.conftest import csrf_from
from tests.factories import PASSWORD

Login = Callable[[str, str], TestClient]
EVIL = (
    "Xin chào <script>alert('xss')</script> "
    '<img src=x onerror="alert(2)"> [bấm đây](javascript:alert(3)) '
    "[dữ liệu](data:text/html;base64,PHNjcmlwdD4=) **đậm**"
)


@pytest.fixture
def town(db: Session, settings: Settings) -> Town:
    return build_town(db, settings)


def sign_in(client: TestClient, page_login: Login, user: User) -> TestClient:
    client.cookies.clear()
    page_login(user.email, PASSWORD)
    client.get("/clubs?lang=en")  # English msgids: the tests do not depend on the catalog
    return client


def token(client: TestClient, url: str = "/clubs") -> str:
    return csrf_from(client.get(url).text)


def post(client: TestClient, url: str, data: dict[str, object] | None = None) -> Any:
    return client.post(
        url, data={"csrf_token": token(client), **(data or {})}, follow_redirects=False
    )


def club_with_members(db: Session, town: Town, *members: User) -> Club:
    club = service.create_club(db, town.leader, name="CLB Robot", organization_id=town.school.id)
    for user in members:
        request = service.request_join(db, user, club.id)
        service.decide_request(db, town.leader, club.id, request.id, approve=True)
    db.commit()
    return club


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def test_a_teacher_creates_a_club_through_the_form(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    sign_in(client, page_login, town.leader)
    page = client.get("/clubs")
    assert page.status_code == 200
    assert "You are not a member of any club yet" in page.text
    assert "There are no other clubs open to you yet." in page.text
    assert 'method="post" action="/clubs"' in page.text  # the create form
    # Without the CSRF token: 403, nothing created.
    bare = client.post("/clubs", data={"name": "CLB A", "organization_id": str(town.school.id)})
    assert bare.status_code == 403
    # An error keeps what was typed, with the message.
    bad = post(client, "/clubs", {"name": "", "organization_id": str(town.school.id)})
    assert bad.status_code == 422
    assert "Name is required." in bad.text
    other = post(
        client,
        "/clubs",
        {"name": "CLB Khác", "organization_id": str(town.other_school.id)},
    )
    assert other.status_code == 403
    assert 'value="CLB Khác"' in other.text
    assert db.scalar(select(func.count(Club.id))) == 0
    made = post(
        client,
        "/clubs",
        {
            "name": "CLB Robot",
            "organization_id": str(town.school.id),
            "kind": "academic_team",
            "description": "Lắp **robot** <script>alert(1)</script>",
            "topics": "STEM, CĐS",
            "levels": ["primary"],
        },
    )
    assert made.status_code == 303
    club = db.scalar(select(Club))
    assert club is not None
    assert made.headers["location"] == f"/clubs/{club.id}"
    page = client.get(f"/clubs/{club.id}")
    assert "<strong>robot</strong>" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Academic team" in page.text
    listing = client.get("/clubs").text
    assert "CLB Robot" in listing
    assert "Leader" in listing


def test_students_get_no_create_form(client: TestClient, page_login: Login, town: Town) -> None:
    sign_in(client, page_login, town.student)
    page = client.get("/clubs").text
    assert 'method="post" action="/clubs"' not in page
    assert "create your own" not in page
    assert (
        post(client, "/clubs", {"name": "X", "organization_id": str(town.school.id)}).status_code
        == 403
    )


def test_join_request_and_approval_through_the_pages(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town)
    sign_in(client, page_login, town.teacher)
    page = client.get(f"/clubs/{club.id}").text
    assert "Join the club to read and start discussions." in page
    assert post(client, f"/clubs/{club.id}/join", {"message": "Em muốn học"}).status_code == 303
    assert "Request sent" in client.get(f"/clubs/{club.id}").text
    # Asking again: the error comes back as a flash, still one request.
    again = post(client, f"/clubs/{club.id}/join")
    assert again.status_code == 303
    assert "already asked" in client.get(f"/clubs/{club.id}").text
    sign_in(client, page_login, town.leader)
    page = client.get(f"/clubs/{club.id}").text
    assert "Em muốn học" in page
    request_id = service.list_requests(db, town.leader, club.id)[0].id
    assert f'action="/clubs/{club.id}/requests/{request_id}/approve"' in page
    assert post(client, f"/clubs/{club.id}/requests/{request_id}/approve").status_code == 303
    assert service.get_membership(db, club.id, town.teacher.id) is not None
    # The only leader cannot leave: a clear error, still a member.
    assert post(client, f"/clubs/{club.id}/leave").status_code == 303
    assert "only leader" in client.get(f"/clubs/{club.id}").text
    assert service.get_membership(db, club.id, town.leader.id) is not None
    # Promote the teacher, then leave.
    assert (
        post(
            client, f"/clubs/{club.id}/members/{town.teacher.id}/role", {"role": "leader"}
        ).status_code
        == 303
    )
    left = post(client, f"/clubs/{club.id}/leave")
    assert left.headers["location"] == "/clubs"
    assert (
        db.scalar(select(ClubMember.role).where(ClubMember.user_id == town.teacher.id)) == "leader"
    )


def test_posts_render_harmlessly_on_the_thread_page(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town, town.teacher)
    sign_in(client, page_login, town.teacher)
    made = post(
        client,
        f"/clubs/{club.id}/threads",
        {"title": "<script>alert('t')</script> Ý tưởng", "body": EVIL},
    )
    assert made.status_code == 303
    thread = db.scalar(select(Thread))
    assert thread is not None
    assert db.scalar(select(Post.body)) == EVIL  # the Markdown is stored as written
    for viewer in (town.teacher, town.leader):
        sign_in(client, page_login, viewer)
        html = client.get(f"/threads/{thread.id}").text
        tags = elements(html)
        # The only scripts are the site's own files (net.js); nothing from the posts.
        own = [a for t, a in tags if t == "script" and (a.get("src") or "").startswith("/static/")]
        assert not [t for t, a in tags if t in ("script", "img", "iframe") and a not in own]
        assert not [a for _t, a in tags if any(k.startswith("on") for k in a)]
        hrefs = [a.get("href") or "" for t, a in tags if t == "a"]
        assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
        assert "&lt;script&gt;alert('xss')&lt;/script&gt;" in html  # shown as text
        assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; Ý tưởng" in html
        assert "<strong>đậm</strong>" in html
        assert "bấm đây" in html
        assert "javascript:" not in " ".join(hrefs)


def test_hidden_posts_and_locked_threads_on_the_pages(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town, town.teacher)
    thread = service.create_thread(db, town.teacher, club.id, title="Chủ đề", body="Lời lẽ xấu")
    service.add_post(db, town.leader, thread.id, body="Trả lời tốt")
    db.commit()
    first = db.scalar(select(Post.id).order_by(Post.id))
    # A member sees no moderation buttons and gets 403 posting them.
    sign_in(client, page_login, town.teacher)
    page = client.get(f"/threads/{thread.id}").text
    assert f'action="/posts/{first}/hide"' not in page
    assert post(client, f"/posts/{first}/hide", {"offset": "0"}).status_code == 403
    assert post(client, f"/threads/{thread.id}/lock").status_code == 403
    assert service.get_thread(db, thread.id).locked_at is None
    # The leader hides the first post and locks the thread.
    sign_in(client, page_login, town.leader)
    page = client.get(f"/threads/{thread.id}").text
    assert f'action="/posts/{first}/hide"' in page
    assert post(client, f"/posts/{first}/hide", {"offset": "0"}).status_code == 303
    assert post(client, f"/threads/{thread.id}/lock", {"offset": "0"}).status_code == 303
    page = client.get(f"/threads/{thread.id}").text
    assert "Lời lẽ xấu" in page  # moderators still read it
    assert "Hidden by" in page
    assert f'action="/posts/{first}/unhide"' in page
    assert f'action="/threads/{thread.id}/unlock"' in page
    # The member sees the placeholder, not the text, and no reply form.
    sign_in(client, page_login, town.teacher)
    page = client.get(f"/threads/{thread.id}").text
    assert "Lời lẽ xấu" not in page
    assert "Post hidden by a moderator." in page
    assert "Trả lời tốt" in page
    assert "Replies are closed in this discussion." in page
    assert f'action="/threads/{thread.id}/posts"' not in page
    refused = post(client, f"/threads/{thread.id}/posts", {"body": "Tôi vẫn muốn nói"})
    assert refused.status_code == 409
    assert "locked" in refused.text
    assert db.scalar(select(func.count(Post.id))) == 2


def test_reply_form_errors_keep_the_text(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town)
    thread = service.create_thread(db, town.leader, club.id, title="Chủ đề", body="Mở đầu")
    db.commit()
    sign_in(client, page_login, town.leader)
    long = "a" * 20_001
    too_long = post(client, f"/threads/{thread.id}/posts", {"body": long})
    assert too_long.status_code == 422
    assert "longer than 20,000 characters" in too_long.text
    assert long in too_long.text
    empty = post(client, f"/threads/{thread.id}/posts", {"body": "   "})
    assert empty.status_code == 422
    assert "The message is empty." in empty.text
    ok = post(client, f"/threads/{thread.id}/posts", {"body": "Được rồi"})
    assert ok.status_code == 303
    assert db.scalar(select(func.count(Post.id))) == 2


def test_unread_badges_appear_and_reset_when_the_thread_is_read(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town, town.teacher)
    thread = service.create_thread(db, town.leader, club.id, title="Tin mới", body="Một")
    service.add_post(db, town.leader, thread.id, body="Hai")
    db.commit()
    sign_in(client, page_login, town.teacher)
    clubs = client.get("/clubs").text
    assert "2 unread posts" in clubs
    club_page = client.get(f"/clubs/{club.id}").text
    assert "thread-unread" in club_page
    assert "2 unread posts" in club_page
    page = client.get(f"/threads/{thread.id}").text
    assert page.count('class="post post-new"') == 2  # shown as new this time
    assert "unread post" not in client.get("/clubs").text
    assert "No new posts" in client.get("/clubs").text
    assert "post-new" not in client.get(f"/threads/{thread.id}").text
    service.add_post(db, town.leader, thread.id, body="Ba")
    db.commit()
    assert "1 unread post" in client.get("/clubs").text


def test_thread_pages_are_paginated_and_open_at_the_first_unread(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town, town.teacher)
    thread = service.create_thread(db, town.leader, club.id, title="Dài", body="Bài 0")
    for n in range(1, 25):
        service.add_post(db, town.leader, thread.id, body=f"Bài {n}")
    db.commit()
    sign_in(client, page_login, town.teacher)
    first = client.get(f"/threads/{thread.id}").text
    assert "Page 1 of 2" in first
    assert ">Bài 19<" in first.replace("<p>", ">").replace("</p>", "<")
    assert "Bài 20" not in first
    # Only the first page counts as read.
    assert [s.unread_posts for s in service.unread_summary(db, town.teacher)] == [5]
    # Coming back opens the page of the first unread post.
    again = client.get(f"/threads/{thread.id}").text
    assert "Page 2 of 2" in again
    assert "Bài 24" in again
    assert [s.unread_posts for s in service.unread_summary(db, town.teacher)] == [0]
    assert "Page 1 of 2" in client.get(f"/threads/{thread.id}?offset=0").text


def test_other_schools_get_404_and_non_members_cannot_read_or_post(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town)
    thread = service.create_thread(db, town.leader, club.id, title="Riêng", body="Nội bộ")
    db.commit()
    sign_in(client, page_login, town.outsider)
    assert client.get(f"/clubs/{club.id}").status_code == 404
    assert client.get(f"/threads/{thread.id}").status_code == 404
    assert "CLB Robot" not in client.get("/clubs").text
    sign_in(client, page_login, town.student)  # same school, not a member
    assert client.get(f"/clubs/{club.id}").status_code == 200
    assert client.get(f"/threads/{thread.id}").status_code == 403
    refused = post(client, f"/threads/{thread.id}/posts", {"body": "Cho em hỏi"})
    assert refused.status_code == 403
    new_thread = post(client, f"/clubs/{club.id}/threads", {"title": "A", "body": "B"})
    assert new_thread.status_code == 403
    assert db.scalar(select(func.count(Post.id))) == 1


def test_the_unread_panel_partial_renders_for_the_home_page(
    client: TestClient, db: Session, town: Town
) -> None:
    from app.core.web import templates

    club = club_with_members(db, town, town.teacher)
    service.create_thread(db, town.leader, club.id, title="Tin", body="Mới")
    panel = templates.get_template("community/clubs/_unread_panel.html")
    html = panel.render(**service.home_context(db, town.teacher))
    assert f'href="/clubs/{club.id}"' in html
    assert re.search(r"1\s+unread post", html)
    empty = templates.get_template("community/clubs/_unread_panel.html").render(club_unread=[])
    assert empty.strip() == ""


@pytest.mark.parametrize("path", ["/clubs", "/clubs/1", "/threads/1"])
def test_pages_need_a_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_home_page_shows_unread_club_posts(
    client: TestClient, db: Session, page_login: Login, town: Town
) -> None:
    club = club_with_members(db, town, town.teacher)
    service.create_thread(db, town.leader, club.id, title="Tin", body="Mới")
    db.commit()
    sign_in(client, page_login, town.teacher)
    home = client.get("/").text
    assert f'href="/clubs/{club.id}"' in home
    assert re.search(r"1\s+unread post", home)
