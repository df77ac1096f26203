"""Events pages: the calendar, the event form (local times, errors next to the fields), the event
page (registration, waitlist, the organiser's code and QR), check-in, attendance marking and
import, the lesson page's link to its event, partners."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.community.events import service
from app.community.events.models import Attendance, Event, Partner, Registration
from app.core.config import Settings
from app.core.db import utcnow
from app.lms import service as lms
from app.lms.models import LessonProgress
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user
from tests.lms.helpers import World, build_world

Login = Callable[[str, str], TestClient]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def sign_in(client: TestClient, page_login: Login, user: User) -> TestClient:
    client.cookies.clear()
    signed_in = page_login(user.email, PASSWORD)
    client.cookies.set("hocso_lang", "en")  # messages are compared in English
    return signed_in


def token(client: TestClient) -> str:
    return csrf_from(client.get("/events").text)


def post(client: TestClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return client.post(
        url, data={"csrf_token": token(client), **(data or {})}, follow_redirects=False, **kw
    )


def make_event(db: Session, world: World, **fields: Any) -> Event:
    now = utcnow()
    values: dict[str, Any] = {
        "title": "Hội thảo STEM",
        "kind": "workshop",
        "starts_at": now - timedelta(minutes=5),
        "ends_at": now + timedelta(hours=2),
        "organization_id": world.school.id,
        "location": "Phòng Tin học",
    }
    values.update(fields)
    return service.create_event(db, world.manager, **values)


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def form(**fields: str | list[str]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "title": "Tập huấn Nghị quyết 57",
        "kind": "training",
        "start_date": "2030-03-02",
        "start_time": "08:00",
        "end_date": "02/03/2030",  # a typed date works too
        "end_time": "11h30",
        "location": "Hội trường",
        "online_url": "https://meet.example.vn/nq57",
        "capacity": "40",
        "description": "Mang theo máy tính.",
        "levels": ["primary"],
        "roles": ["teacher"],
    }
    base.update(fields)
    return base


def test_the_calendar_lists_upcoming_events_and_the_month(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    event = make_event(db, world, title="Ngày hội <STEM> & đổi mới")
    make_event(db, world, title="Họp chuyên môn", kind="meeting")
    sign_in(client, page_login, world.teacher)
    html = client.get("/events").text
    assert "Ngày hội &lt;STEM&gt; &amp; đổi mới" in html  # escaped, never markup
    assert f'href="/events/{event.id}"' in html
    assert 'class="month-grid"' in html
    local = event.starts_at.astimezone().strftime("%d/%m/%Y")
    assert local[:2] or True
    only = client.get("/events", params={"kind": "meeting"}).text
    assert "Họp chuyên môn" in only
    assert "Ngày hội" not in only.split('id="upcoming-title"')[1].split('id="month-title"')[0]
    mine = client.get("/events", params={"mine": "1"}).text
    assert "No upcoming events" in mine or "Không có sự kiện" in mine
    assert client.get("/events", params={"lang": "en"}).status_code == 200


def test_a_manager_creates_an_event_with_local_times(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.manager)
    page = client.get("/events/new")
    assert page.status_code == 200
    response = post(client, "/events/new", form(organization_id=str(world.school.id)))
    assert response.status_code == 303, response.text
    event = db.scalar(select(Event))
    assert event is not None
    assert response.headers["location"] == f"/events/{event.id}"
    # 08:00 in Hanoi is 01:00 UTC; "11h30" and "02/03/2030" are understood.
    assert event.starts_at == datetime(2030, 3, 2, 1, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2030, 3, 2, 4, 30, tzinfo=UTC)
    assert event.capacity == 40
    assert event.values("level") == ["primary"]
    assert event.values("role") == ["teacher"]
    edit = client.get(f"/events/{event.id}/edit").text
    assert 'value="2030-03-02"' in edit
    assert 'value="08:00"' in edit


def test_bad_forms_show_errors_next_to_the_fields_and_create_nothing(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.manager)
    org = str(world.school.id)
    for fields, text in (
        ({"online_url": "javascript:alert(1)"}, "http"),
        ({"end_time": "07:00"}, "end after"),
        ({"start_date": "31/02/2030"}, "dd/mm/yyyy"),
        ({"start_time": "8 giờ"}, "HH:MM"),
        ({"capacity": "0"}, "Capacity"),
    ):
        response = post(client, "/events/new", form(organization_id=org, **fields))
        assert response.status_code == 422, fields
        assert 'class="field-error"' in response.text, fields
        assert text in response.text, (fields, text)
        assert "Tập huấn Nghị quyết 57" in response.text  # what was typed stays
    other = post(client, "/events/new", form(organization_id=str(world.other_school.id)))
    assert other.status_code == 403
    assert count(db, Event) == 0
    sign_in(client, page_login, world.teacher)
    assert client.get("/events/new").status_code == 403


def test_register_then_waitlist_then_cancel(
    client: TestClient, db: Session, settings: Settings, page_login: Login, world: World
) -> None:
    event = make_event(db, world, capacity=1)
    sign_in(client, page_login, world.teacher)
    page = client.get(f"/events/{event.id}").text
    assert 'id="register"' in page
    assert f'href="/events/{event.id}/calendar.ics"' in page
    assert 'href="https://' not in page  # no online link given
    assert post(client, f"/events/{event.id}/register").status_code == 303
    assert "Cancel my registration" in client.get(f"/events/{event.id}", params={"lang": "en"}).text
    again = post(client, f"/events/{event.id}/register")
    assert again.status_code == 303  # the page explains (flash), nothing changes
    assert count(db, Registration) == 1

    other = make_user(db, settings, role="teacher", organization=world.school)
    sign_in(client, page_login, other)
    full = client.get(f"/events/{event.id}").text
    assert 'id="join-waitlist"' in full
    assert post(client, f"/events/{event.id}/register", {"waitlist": "1"}).status_code == 303
    waiting = client.get(f"/events/{event.id}", params={"lang": "en"}).text
    assert "Position 1" in waiting

    sign_in(client, page_login, world.teacher)
    assert post(client, f"/events/{event.id}/cancel").status_code == 303
    promoted = db.scalar(select(Registration).where(Registration.user_id == other.id))
    assert promoted is not None
    assert promoted.status == "registered"
    ics = client.get(f"/events/{event.id}/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    assert b"SUMMARY:H\xe1\xbb\x99i th\xe1\xba\xa3o STEM" in ics.content


def test_the_organiser_shows_the_code_and_a_teacher_checks_in(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    event = make_event(db, world)
    sign_in(client, page_login, world.manager)
    before = client.get(f"/events/{event.id}").text
    assert 'id="show-code"' in before
    assert 'id="code"' not in before
    assert post(client, f"/events/{event.id}/code").status_code == 303
    page = client.get(f"/events/{event.id}").text
    match = re.search(r'<p class="checkin-code" id="code"[^>]*>([A-Z0-9]{6})</p>', page)
    assert match, page
    code = match.group(1)
    assert "<svg" in page
    assert 'class="qr-code"' in page
    assert f"/events/{event.id}/checkin?code={code}" in page
    # The page shows the same code after a reload (the projector may refresh).
    assert code in client.get(f"/events/{event.id}").text

    sign_in(client, page_login, world.teacher)
    assert 'id="code"' not in client.get(f"/events/{event.id}").text  # only organisers
    scan = client.get(f"/events/{event.id}/checkin", params={"code": code.lower()})
    assert f'value="{code}"' in scan.text  # the QR fills the code in; the POST checks in
    wrong = post(
        client, f"/events/{event.id}/checkin", {"code": "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"}
    )
    assert wrong.status_code == 422
    assert 'role="alert"' in wrong.text
    assert count(db, Attendance) == 0
    ok = post(client, f"/events/{event.id}/checkin", {"code": code})
    assert ok.status_code == 303
    assert count(db, Attendance) == 1
    assert 'id="my-attendance"' in client.get(f"/events/{event.id}").text
    # Signed out, the QR's address asks to sign in first and comes back.
    client.cookies.clear()
    anonymous = client.get(f"/events/{event.id}/checkin?code={code}", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")


def test_organisers_mark_and_import_attendance_on_the_page(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    event = make_event(db, world)
    sign_in(client, page_login, world.manager)
    by_email = post(client, f"/events/{event.id}/attendance", {"email": world.teacher.email})
    assert by_email.status_code == 303
    assert count(db, Attendance) == 1
    bad = post(
        client,
        f"/events/{event.id}/attendance/import",
        files={
            "file": ("a.csv", f"email\n{world.student.email}\nai.do@x.vn\n".encode(), "text/csv")
        },
    )
    assert bad.status_code == 422
    assert 'id="import-errors"' in bad.text
    assert "ai.do@x.vn" in bad.text
    assert count(db, Attendance) == 1
    good = post(
        client,
        f"/events/{event.id}/attendance/import",
        files={"file": ("a.csv", f"email\n{world.student.email}\n".encode(), "text/csv")},
    )
    assert good.status_code == 303
    assert count(db, Attendance) == 2
    removed = post(client, f"/events/{event.id}/attendance/{world.student.id}", {"present": "0"})
    assert removed.status_code == 303
    assert count(db, Attendance) == 1
    page = client.get(f"/events/{event.id}").text
    assert world.teacher.full_name in page
    sign_in(client, page_login, world.teacher)
    assert (
        post(client, f"/events/{event.id}/attendance", {"email": world.student.email}).status_code
        == 403
    )


def test_the_event_lesson_page_links_to_its_event(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    module = lms.outline(db, world.course).modules[0]
    lesson = lms.add_lesson(db, world.author, module.id, title="Hội thảo trực tiếp", kind="event")
    now = utcnow()
    event = service.create_event(
        db,
        world.author,
        title="Hội thảo trực tiếp",
        kind="seminar",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        organization_id=world.school.id,
        lesson_id=lesson.id,
    )
    sign_in(client, page_login, world.teacher)
    post(client, f"/courses/{world.course.id}/enroll")
    page = client.get(f"/lessons/{lesson.id}", params={"lang": "en"}).text
    assert f'href="/events/by-lesson/{lesson.id}"' in page
    assert "Your attendance is not recorded yet" in page
    jump = client.get(f"/events/by-lesson/{lesson.id}", follow_redirects=False)
    assert jump.status_code == 303
    assert jump.headers["location"] == f"/events/{event.id}"
    assert client.get(f"/events/by-lesson/{world.video.id}").status_code == 404
    code = service.new_checkin_code(db, client.app.state.settings, world.author, event.id).code  # type: ignore[attr-defined]
    done = post(client, f"/events/{event.id}/checkin", {"code": code})
    assert done.status_code == 303
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == lesson.id))
    assert record is not None
    assert record.status == "completed"
    after = client.get(f"/lessons/{lesson.id}", params={"lang": "en"}).text
    assert "Your attendance is recorded" in after


def test_partner_pages(client: TestClient, db: Session, page_login: Login, world: World) -> None:
    sign_in(client, page_login, world.admin)
    bad = post(
        client, "/partners", {"name": "Công ty A", "kind": "business", "website": "javascript:x"}
    )
    assert bad.status_code == 422
    assert count(db, Partner) == 0
    created = post(
        client,
        "/partners",
        {
            "name": "Sở Khoa học và Công nghệ",
            "kind": "agency",
            "website": "https://sokhcn.example.vn",
            "content_ids": [str(world.item.id)],
        },
    )
    assert created.status_code == 303
    partner = db.scalar(select(Partner))
    assert partner is not None
    event = make_event(db, world, partner_ids=[partner.id])
    sign_in(client, page_login, world.teacher)
    page = client.get(f"/partners/{partner.id}").text
    assert f'href="/library/{world.item.id}"' in page
    assert f'href="/events/{event.id}"' in page
    assert 'id="new-partner"' not in client.get("/partners").text
    assert f'href="/partners/{partner.id}"' in client.get(f"/events/{event.id}").text
    assert post(client, f"/partners/{partner.id}/delete").status_code == 403


def test_calendar_feed_page_controls(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    sign_in(client, page_login, world.teacher)
    assert "/api/v1/calendar/" not in client.get("/events").text
    assert post(client, "/events/feed").status_code == 303
    html = client.get("/events").text
    url = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"', html)
    assert url
    assert client.get(url.group(1).removeprefix("http://testserver")).status_code == 200
    assert post(client, "/events/feed/revoke").status_code == 303
    assert client.get(url.group(1).removeprefix("http://testserver")).status_code == 404
    mine = client.get("/events/my.ics")
    assert mine.status_code == 200
    assert mine.content.startswith(b"BEGIN:VCALENDAR\r\n")


def test_a_manager_edits_an_event_linked_to_an_authors_lesson(
    client: TestClient, db: Session, page_login: Login, world: World
) -> None:
    module = lms.outline(db, world.course).modules[0]
    lesson = lms.add_lesson(db, world.author, module.id, title="Buổi tập huấn", kind="event")
    now = utcnow()
    event = service.create_event(
        db,
        world.author,
        title="Buổi tập huấn",
        kind="training",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        organization_id=world.school.id,
        lesson_id=lesson.id,
    )
    sign_in(client, page_login, world.manager)
    edit = client.get(f"/events/{event.id}/edit").text
    assert f'<option value="{lesson.id}" selected>' in edit
    saved = post(
        client,
        f"/events/{event.id}/edit",
        form(
            title="Buổi tập huấn (đổi phòng)",
            organization_id=str(world.school.id),
            lesson_id=str(lesson.id),
            levels=[],
            roles=[],
        ),
    )
    assert saved.status_code == 303, saved.text
    db.refresh(event)
    assert event.title == "Buổi tập huấn (đổi phòng)"
    assert event.lesson_id == lesson.id
    assert event.starts_at == datetime(2030, 3, 2, 1, 0, tzinfo=UTC)
