"""Events through the API: creation and its bad input, visibility, registration with the
waitlist, check-in codes and their window, attendance marked and imported, event lessons
completing courses, partners."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry
from app.community.events import service
from app.community.events.models import (
    Attendance,
    CheckinFailure,
    Event,
    Partner,
    Registration,
)
from app.core.config import Settings
from app.core.db import utcnow
from app.lms import service as lms
from app.lms.models import Certificate, Enrollment, Lesson, LessonProgress
from tests.accounts.test_auth_api import token_for
from tests.factories import make_user
from tests.lms.helpers import World, build_world

H = dict[str, str]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def h(client: TestClient, user: object) -> H:
    return token_for(client, user.email)  # type: ignore[attr-defined]


def iso(value: datetime) -> str:
    return value.isoformat()


def body(world: World, **fields: object) -> dict[str, object]:
    """A seminar at the world's school, running now (check-in open) unless told otherwise."""
    now = utcnow()
    base: dict[str, object] = {
        "title": "Hội thảo chuyển đổi số",
        "kind": "seminar",
        "starts_at": iso(now - timedelta(minutes=10)),
        "ends_at": iso(now + timedelta(hours=2)),
        "location": "Phòng họp tầng 2",
        "online_url": "https://meet.example.vn/hoi-thao",
        "organization_id": world.school.id,
    }
    base.update(fields)
    return base


def create(client: TestClient, headers: H, payload: dict[str, object]) -> dict:  # type: ignore[type-arg]
    response = client.post("/api/v1/events", headers=headers, json=payload)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


# --- Creation ------------------------------------------------------------------------------


def test_a_manager_creates_an_event_and_it_is_audited(
    client: TestClient, db: Session, world: World
) -> None:
    event = create(client, h(client, world.manager), body(world, levels=["primary"], capacity=30))
    assert event["title"] == "Hội thảo chuyển đổi số"
    assert event["kind"] == "seminar"
    assert event["organization_id"] == world.school.id
    assert event["levels"] == ["primary"]
    assert event["capacity"] == 30
    assert event["seats_left"] == 30
    assert event["is_organiser"] is True
    assert event["ics_url"] == f"/api/v1/events/{event['id']}.ics"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "event.created"))
    assert entry is not None
    assert entry.target_id == str(event["id"])
    assert entry.organization_id == world.school.id


def test_bad_events_are_refused_and_nothing_is_created(
    client: TestClient, db: Session, world: World
) -> None:
    a = h(client, world.admin)
    now = utcnow()
    cases: list[tuple[dict[str, object], int, str]] = [
        (body(world, online_url="javascript:alert(1)"), 422, "http"),
        (body(world, online_url="ftp://example.vn/x"), 422, "http"),
        (
            body(world, starts_at=iso(now + timedelta(hours=2)), ends_at=iso(now)),
            422,
            "end after",
        ),
        (body(world, starts_at="2026-12-01T08:00:00"), 422, ""),  # no offset
        (body(world, kind="party"), 422, ""),
        (body(world, capacity=0), 422, ""),
        (body(world, title="   "), 422, ""),
        (body(world, organization_id=999_999), 404, ""),
        (body(world, materials=[999_999]), 422, "999999"),
        (body(world, partner_ids=[999_999]), 422, "999999"),
        (body(world, audience_organization_ids=[world.other_school.id]), 422, "Audience"),
    ]
    for payload, status, text in cases:
        response = client.post("/api/v1/events", headers=a, json=payload)
        assert response.status_code == status, (payload, response.text)
        if text:
            assert text in response.json()["detail"], response.text
    assert count(db, Event) == 0


def test_who_may_create_and_where(client: TestClient, db: Session, world: World) -> None:
    teacher = client.post("/api/v1/events", headers=h(client, world.teacher), json=body(world))
    assert teacher.status_code == 403
    foreign = client.post(
        "/api/v1/events",
        headers=h(client, world.manager),
        json=body(world, organization_id=world.other_school.id),
    )
    assert foreign.status_code == 403
    assert "your own organisation" in foreign.json()["detail"]
    # A commune author may hold an event at one of the commune's schools.
    create(client, h(client, world.author), body(world, organization_id=world.other_school.id))
    assert count(db, Event) == 1


def test_events_are_visible_within_their_organisation(
    client: TestClient, db: Session, world: World
) -> None:
    a = h(client, world.admin)
    school_event = create(client, a, body(world, title="Chỉ trường Tiểu học"))
    commune_event = create(
        client, a, body(world, title="Cả xã", organization_id=world.school.parent_id)
    )
    outsider = h(client, world.outsider)
    listed = client.get("/api/v1/events", headers=outsider).json()
    assert [e["id"] for e in listed["items"]] == [commune_event["id"]]
    assert listed["total"] == 1
    assert client.get(f"/api/v1/events/{school_event['id']}", headers=outsider).status_code == 404
    mine = client.get("/api/v1/events", headers=h(client, world.teacher)).json()
    assert {e["id"] for e in mine["items"]} == {school_event["id"], commune_event["id"]}
    filtered = client.get(
        "/api/v1/events", headers=a, params={"organization_id": world.other_school.id}
    ).json()
    assert filtered["total"] == 0


def test_organisers_edit_and_others_cannot(client: TestClient, world: World) -> None:
    event = create(client, h(client, world.author), body(world))
    url = f"/api/v1/events/{event['id']}"
    changed = client.patch(
        url, headers=h(client, world.manager), json={"title": "Đổi tên", "capacity": None}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Đổi tên"
    refused = client.patch(url, headers=h(client, world.teacher), json={"title": "Không"})
    assert refused.status_code == 403
    bad = client.patch(
        url, headers=h(client, world.author), json={"online_url": "javascript:alert(1)"}
    )
    assert bad.status_code == 422
    assert client.get(url, headers=h(client, world.author)).json()["online_url"] == (
        "https://meet.example.vn/hoi-thao"
    )


# --- Registration --------------------------------------------------------------------------


def test_registration_twice_full_waitlist_and_promotion(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    event = create(client, h(client, world.manager), body(world, capacity=1))
    url = f"/api/v1/events/{event['id']}/register"
    t = h(client, world.teacher)
    first = client.post(url, headers=t)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "registered"
    again = client.post(url, headers=t)
    assert again.status_code == 409
    assert "already registered" in again.json()["detail"]

    other = make_user(db, settings, role="teacher", organization=world.school)
    o = h(client, other)
    full = client.post(url, headers=o)
    assert full.status_code == 409
    assert full.json()["error"] == "event_full"
    assert full.json()["waitlist_available"] is True
    assert "waitlist" in full.json()["detail"]
    assert count(db, Registration) == 1  # nothing changed

    waiting = client.post(url, headers=o, json={"waitlist": True})
    assert waiting.status_code == 201
    assert waiting.json()["status"] == "waitlisted"
    assert waiting.json()["waitlist_position"] == 1
    third = make_user(db, settings, role="student", organization=world.school)
    assert (
        client.post(url, headers=h(client, third), json={"waitlist": True}).json()[
            "waitlist_position"
        ]
        == 2
    )
    assert client.post(url, headers=o, json={"waitlist": True}).status_code == 409

    cancelled = client.delete(url, headers=t)
    assert cancelled.status_code == 200
    assert cancelled.json()["promoted_user_ids"] == [other.id]  # first come, first served
    detail = client.get(f"/api/v1/events/{event['id']}", headers=o).json()
    assert detail["me"]["registration"] == "registered"
    assert detail["seats_left"] == 0
    third_view = client.get(f"/api/v1/events/{event['id']}", headers=h(client, third)).json()
    assert third_view["me"] == {
        "registration": "waitlisted",
        "waitlist_position": 1,
        "attended": False,
        "attended_at": None,
    }
    # The teacher may come back, at the end of the queue.
    back = client.post(url, headers=t, json={"waitlist": True})
    assert back.json()["status"] == "waitlisted"
    assert back.json()["waitlist_position"] == 2
    # Raising the capacity seats the waiting people.
    client.patch(
        f"/api/v1/events/{event['id']}", headers=h(client, world.manager), json={"capacity": 3}
    )
    statuses = set(
        db.scalars(select(Registration.status).where(Registration.event_id == event["id"]))
    )
    assert statuses == {"registered"}


def test_the_audience_limits_who_registers(client: TestClient, world: World) -> None:
    event = create(
        client, h(client, world.admin), body(world, roles=["teacher"], levels=["primary"])
    )
    url = f"/api/v1/events/{event['id']}/register"
    student = client.post(url, headers=h(client, world.student))
    assert student.status_code == 403
    assert "roles" in student.json()["detail"]
    assert client.post(url, headers=h(client, world.teacher)).status_code == 201
    hidden = client.post(url, headers=h(client, world.outsider))
    assert hidden.status_code == 404  # another school: the event does not exist for them


def test_levels_restrict_school_users(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    commune_id = world.school.parent_id
    event = create(
        client,
        h(client, world.admin),
        body(world, organization_id=commune_id, levels=["lower_secondary"]),
    )
    url = f"/api/v1/events/{event['id']}/register"
    primary = client.post(url, headers=h(client, world.teacher))
    assert primary.status_code == 403
    assert "levels" in primary.json()["detail"]


def test_registration_after_the_end_is_refused(client: TestClient, world: World) -> None:
    now = utcnow()
    event = create(
        client,
        h(client, world.admin),
        body(
            world,
            starts_at=iso(now - timedelta(days=2)),
            ends_at=iso(now - timedelta(days=1)),
        ),
    )
    response = client.post(
        f"/api/v1/events/{event['id']}/register", headers=h(client, world.teacher)
    )
    assert response.status_code == 409
    assert "ended" in response.json()["detail"]


# --- Check-in ------------------------------------------------------------------------------


def new_code(client: TestClient, headers: H, event_id: int) -> dict:  # type: ignore[type-arg]
    response = client.post(f"/api/v1/events/{event_id}/checkin-code", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_check_in_with_the_code(client: TestClient, db: Session, world: World) -> None:
    m = h(client, world.manager)
    event = create(client, h(client, world.author), body(world))
    code = new_code(client, m, event["id"])
    assert len(code["code"]) == service.CODE_LENGTH
    assert set(code["code"]) <= set(service.CODE_ALPHABET)
    assert code["checkin_url"].endswith(f"/events/{event['id']}/checkin?code={code['code']}")
    assert datetime.fromisoformat(code["expires_at"]) == datetime.fromisoformat(event["ends_at"])

    t = h(client, world.teacher)
    url = f"/api/v1/events/{event['id']}/checkin"
    typed = code["code"].lower()[:3] + " " + code["code"][3:]  # case and spaces do not matter
    first = client.post(url, headers=t, json={"code": typed})
    assert first.status_code == 200, first.text
    assert first.json()["already"] is False
    again = client.post(url, headers=t, json={"code": code["code"]})
    assert again.status_code == 200
    assert again.json()["already"] is True
    assert again.json()["attended_at"] == first.json()["attended_at"]
    assert count(db, Attendance) == 1
    assert client.get(f"/api/v1/events/{event['id']}", headers=t).json()["me"]["attended"]


def test_wrong_rotated_and_unauthorised_codes(
    client: TestClient, db: Session, world: World
) -> None:
    event = create(client, h(client, world.manager), body(world))
    refused = client.post(
        f"/api/v1/events/{event['id']}/checkin-code", headers=h(client, world.teacher)
    )
    assert refused.status_code == 403
    t = h(client, world.teacher)
    url = f"/api/v1/events/{event['id']}/checkin"
    before_any = client.post(url, headers=t, json={"code": "ABCDEF"})
    assert before_any.status_code == 422
    old = new_code(client, h(client, world.manager), event["id"])["code"]
    new = new_code(client, h(client, world.admin), event["id"])["code"]
    assert new != old
    wrong = client.post(url, headers=t, json={"code": old})
    assert wrong.status_code == 422
    assert wrong.json()["error"] == "wrong_code"
    assert "organiser" in wrong.json()["detail"]
    assert count(db, Attendance) == 0
    assert count(db, CheckinFailure) == 2  # answered, not raised: the failures are kept
    assert client.post(url, headers=t, json={"code": new}).status_code == 200


def test_too_many_wrong_codes_are_throttled(client: TestClient, db: Session, world: World) -> None:
    event = create(client, h(client, world.manager), body(world))
    code = new_code(client, h(client, world.manager), event["id"])["code"]
    t = h(client, world.teacher)
    url = f"/api/v1/events/{event['id']}/checkin"
    wrong = "222222" if code != "222222" else "333333"
    for _ in range(service.CHECKIN_MAX_FAILURES):
        assert client.post(url, headers=t, json={"code": wrong}).status_code == 422
    blocked = client.post(url, headers=t, json={"code": code})
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    assert count(db, Attendance) == 0


def test_check_in_outside_the_window(client: TestClient, db: Session, world: World) -> None:
    now = utcnow()
    m = h(client, world.manager)
    later = create(
        client,
        m,
        body(
            world,
            starts_at=iso(now + timedelta(days=2)),
            ends_at=iso(now + timedelta(days=2, hours=2)),
        ),
    )
    code = new_code(client, m, later["id"])["code"]  # shown in advance, valid from 30' before
    early = client.post(
        f"/api/v1/events/{later['id']}/checkin",
        headers=h(client, world.teacher),
        json={"code": code},
    )
    assert early.status_code == 403
    assert "opens" in early.json()["detail"]
    # An event that ended: no new code, no check-in.
    ended = create(
        client,
        m,
        body(
            world,
            starts_at=iso(now - timedelta(hours=3)),
            ends_at=iso(now + timedelta(minutes=5)),
        ),
    )
    code = new_code(client, m, ended["id"])["code"]
    event = db.get(Event, ended["id"])
    assert event is not None
    event.ends_at = now - timedelta(minutes=1)
    event.starts_at = now - timedelta(hours=3)
    db.flush()
    late = client.post(
        f"/api/v1/events/{ended['id']}/checkin",
        headers=h(client, world.teacher),
        json={"code": code},
    )
    assert late.status_code == 403
    assert "closed" in late.json()["detail"]
    assert client.post(f"/api/v1/events/{ended['id']}/checkin-code", headers=m).status_code == 409
    assert count(db, Attendance) == 0


# --- Attendance ----------------------------------------------------------------------------


def test_organisers_list_mark_and_import_attendance(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    m = h(client, world.manager)
    event = create(client, m, body(world))
    eid = event["id"]
    client.post(f"/api/v1/events/{eid}/register", headers=h(client, world.teacher))
    assert (
        client.get(f"/api/v1/events/{eid}/attendance", headers=h(client, world.teacher)).status_code
        == 403
    )

    marked = client.put(f"/api/v1/events/{eid}/attendance/{world.teacher.id}", headers=m, json={})
    assert marked.status_code == 200, marked.text
    assert marked.json()["attended"] is True
    assert marked.json()["source"] == "organiser"
    foreign = client.put(
        f"/api/v1/events/{eid}/attendance/{world.outsider.id}", headers=m, json={"present": True}
    )
    assert foreign.status_code == 422
    assert "audience" in foreign.json()["detail"]

    second = make_user(db, settings, role="teacher", organization=world.school)
    bad_csv = (
        "email\n"
        f"{world.student.email}\n"
        "khong.co@truong.edu.vn\n"
        "not-an-email\n"
        f"{world.outsider.email}\n"
    ).encode()
    response = client.post(
        f"/api/v1/events/{eid}/attendance/import",
        headers=m,
        files={"file": ("diem-danh.csv", bad_csv, "text/csv")},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["line"] for e in errors] == [3, 4, 5]
    assert "khong.co@truong.edu.vn" in errors[0]["message"]
    assert count(db, Attendance) == 1  # all or nothing

    good_csv = (
        f"email;ho_ten\n{world.student.email};HS\n{second.email};GV\n{world.teacher.email};GV\n"
    )
    response = client.post(
        f"/api/v1/events/{eid}/attendance/import",
        headers=m,
        files={"file": ("diem-danh.csv", good_csv.encode(), "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"marked": 2, "already": 1, "errors": []}
    listing = client.get(f"/api/v1/events/{eid}/attendance", headers=m).json()
    assert listing["total"] == 3
    assert listing["attended"] == 3
    assert listing["registered"] == 1
    by_user = {row["user_id"]: row for row in listing["items"]}
    assert by_user[world.teacher.id]["registration"] == "registered"
    assert by_user[second.id]["source"] == "import"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "event.attendance_imported"))
    assert entry is not None
    assert entry.detail == {"marked": 2, "already": 1}

    removed = client.put(
        f"/api/v1/events/{eid}/attendance/{second.id}", headers=m, json={"present": False}
    )
    assert removed.json()["attended"] is False
    assert count(db, Attendance) == 2


def test_attendance_cannot_be_recorded_long_before_the_event(
    client: TestClient, db: Session, world: World
) -> None:
    now = utcnow()
    m = h(client, world.manager)
    event = create(
        client,
        m,
        body(
            world,
            starts_at=iso(now + timedelta(days=3)),
            ends_at=iso(now + timedelta(days=3, hours=1)),
        ),
    )
    response = client.put(
        f"/api/v1/events/{event['id']}/attendance/{world.teacher.id}", headers=m, json={}
    )
    assert response.status_code == 409
    assert count(db, Attendance) == 0


# --- Event lessons -------------------------------------------------------------------------


@dataclass
class EventCourse:
    course_id: int
    video_id: int
    event_lesson_id: int


def event_course(client: TestClient, db: Session, world: World) -> EventCourse:
    """A published course: a video lesson, then a required event lesson."""
    a = h(client, world.author)
    course = client.post("/api/v1/courses", headers=a, json={"title": "Tập huấn CĐS"}).json()
    module = client.post(
        f"/api/v1/courses/{course['id']}/modules", headers=a, json={"title": "Học phần"}
    ).json()
    video = client.post(
        f"/api/v1/modules/{module['id']}/lessons",
        headers=a,
        json={"title": "Video", "kind": "content", "content_id": world.item.id},
    ).json()
    lesson = client.post(
        f"/api/v1/modules/{module['id']}/lessons",
        headers=a,
        json={"title": "Hội thảo trực tiếp", "kind": "event"},
    )
    assert lesson.status_code == 201, lesson.text
    assert lesson.json()["kind"] == "event"
    assert lesson.json()["content_id"] is None
    assert client.post(f"/api/v1/courses/{course['id']}/publish", headers=a).status_code == 200
    return EventCourse(course["id"], video["id"], lesson.json()["id"])


def test_check_in_completes_the_event_lesson_and_the_course_once(
    client: TestClient, db: Session, world: World
) -> None:
    ec = event_course(client, db, world)
    a = h(client, world.author)
    event = create(client, a, body(world, lesson_id=ec.event_lesson_id))
    assert event["lesson_id"] == ec.event_lesson_id
    t = h(client, world.teacher)
    assert client.post(f"/api/v1/courses/{ec.course_id}/enroll", headers=t).status_code == 200
    done = client.post(
        f"/api/v1/lessons/{ec.video_id}/progress",
        headers=t,
        json={"event_id": str(uuid.uuid4()), "percent": 100},
    ).json()
    assert done["course_completed"] is False
    # A progress event cannot complete an event lesson: only attendance does.
    refused = client.post(
        f"/api/v1/lessons/{ec.event_lesson_id}/progress",
        headers=t,
        json={"event_id": str(uuid.uuid4()), "status": "completed"},
    )
    assert refused.status_code == 422

    code = new_code(client, a, event["id"])["code"]
    checked = client.post(f"/api/v1/events/{event['id']}/checkin", headers=t, json={"code": code})
    assert checked.status_code == 200, checked.text
    assert checked.json()["lesson_completed"] is True
    record = db.scalar(
        select(LessonProgress).where(
            LessonProgress.user_id == world.teacher.id,
            LessonProgress.lesson_id == ec.event_lesson_id,
        )
    )
    assert record is not None
    assert record.status == "completed"
    enrollment = db.scalar(
        select(Enrollment).where(
            Enrollment.user_id == world.teacher.id, Enrollment.course_id == ec.course_id
        )
    )
    assert enrollment is not None
    assert enrollment.completed_at is not None
    assert enrollment.progress_percent == 100
    again = client.post(f"/api/v1/events/{event['id']}/checkin", headers=t, json={"code": code})
    assert again.json()["lesson_completed"] is False
    client.put(f"/api/v1/events/{event['id']}/attendance/{world.teacher.id}", headers=a, json={})
    certificates = db.scalar(
        select(func.count())
        .select_from(Certificate)
        .where(Certificate.user_id == world.teacher.id, Certificate.course_id == ec.course_id)
    )
    assert certificates == 1


def test_attendance_of_someone_not_enrolled_completes_nothing_until_they_enrol(
    client: TestClient, db: Session, world: World
) -> None:
    ec = event_course(client, db, world)
    a = h(client, world.author)
    event = create(client, a, body(world, lesson_id=ec.event_lesson_id))
    client.put(f"/api/v1/events/{event['id']}/attendance/{world.student.id}", headers=a, json={})
    assert count(db, LessonProgress) == 0
    s = h(client, world.student)
    assert client.post(f"/api/v1/courses/{ec.course_id}/enroll", headers=s).status_code == 200
    # Marking again (or checking in again) brings the transcript up to date.
    client.put(f"/api/v1/events/{event['id']}/attendance/{world.student.id}", headers=a, json={})
    record = db.scalar(select(LessonProgress).where(LessonProgress.lesson_id == ec.event_lesson_id))
    assert record is not None
    assert record.status == "completed"


def test_lesson_links_are_checked(client: TestClient, db: Session, world: World) -> None:
    ec = event_course(client, db, world)
    a = h(client, world.author)
    not_event = client.post("/api/v1/events", headers=a, json=body(world, lesson_id=ec.video_id))
    assert not_event.status_code == 422
    assert "event lesson" in not_event.json()["detail"]
    # A school manager does not own the course: they cannot tie its completion to an event.
    manager = client.post(
        "/api/v1/events",
        headers=h(client, world.manager),
        json=body(world, lesson_id=ec.event_lesson_id),
    )
    assert manager.status_code == 403
    first = create(client, a, body(world, lesson_id=ec.event_lesson_id))
    second = client.post(
        "/api/v1/events", headers=a, json=body(world, lesson_id=ec.event_lesson_id)
    )
    assert second.status_code == 409
    other = create(client, a, body(world, title="Buổi khác"))
    relink = client.patch(
        f"/api/v1/events/{other['id']}", headers=a, json={"lesson_id": ec.event_lesson_id}
    )
    assert relink.status_code == 409
    unlink = client.patch(f"/api/v1/events/{first['id']}", headers=a, json={"lesson_id": None})
    assert unlink.json()["lesson_id"] is None
    relink = client.patch(
        f"/api/v1/events/{other['id']}", headers=a, json={"lesson_id": ec.event_lesson_id}
    )
    assert relink.status_code == 200
    assert count(db, Event) == 2


def test_an_enrolled_learner_sees_the_event_of_their_lesson(
    client: TestClient, db: Session, world: World
) -> None:
    ec = event_course(client, db, world)
    a = h(client, world.author)
    # Held at the primary school, but the course is open to all: its learners see the event.
    event = create(client, a, body(world, lesson_id=ec.event_lesson_id))
    o = h(client, world.outsider)
    assert client.get(f"/api/v1/events/{event['id']}", headers=o).status_code == 404
    client.post(f"/api/v1/courses/{ec.course_id}/enroll", headers=o)
    assert client.get(f"/api/v1/events/{event['id']}", headers=o).status_code == 200
    assert event["id"] in [e["id"] for e in client.get("/api/v1/events", headers=o).json()["items"]]
    lesson = db.get(Lesson, ec.event_lesson_id)
    assert lesson is not None
    assert lms.get_lesson(db, lesson.id).kind == "event"


# --- Partners ------------------------------------------------------------------------------


def test_partners_crud_and_co_organisers(client: TestClient, db: Session, world: World) -> None:
    a = h(client, world.admin)
    created = client.post(
        "/api/v1/partners",
        headers=a,
        json={
            "name": "Viện Khoa học Giáo dục",
            "kind": "institute",
            "website": "https://vkhgd.example.vn",
            "contact": "0208 123 456",
            "content_ids": [world.item.id],
        },
    )
    assert created.status_code == 201, created.text
    partner = created.json()
    assert partner["content_ids"] == [world.item.id]
    for payload, status in (
        ({"name": "Công ty X", "kind": "business", "website": "javascript:alert(1)"}, 422),
        ({"name": "Viện Khoa học Giáo dục", "kind": "other"}, 409),
        ({"name": "Y", "kind": "club"}, 422),
        ({"name": "Z", "kind": "ngo", "content_ids": [999_999]}, 422),
    ):
        response = client.post("/api/v1/partners", headers=a, json=payload)
        assert response.status_code == status, response.text
    assert count(db, Partner) == 1
    refused = client.post(
        "/api/v1/partners", headers=h(client, world.manager), json={"name": "A", "kind": "ngo"}
    )
    assert refused.status_code == 403
    listed = client.get("/api/v1/partners", headers=h(client, world.teacher)).json()
    assert listed["total"] == 1
    patched = client.patch(
        f"/api/v1/partners/{partner['id']}", headers=a, json={"website": None, "kind": "agency"}
    )
    assert patched.json()["website"] is None
    assert patched.json()["kind"] == "agency"

    event = create(client, a, body(world, partner_ids=[partner["id"]], materials=[world.item.id]))
    assert event["partners"] == [
        {"id": partner["id"], "name": "Viện Khoa học Giáo dục", "kind": "agency"}
    ]
    assert event["materials"] == [world.item.id]
    assert client.delete(f"/api/v1/partners/{partner['id']}", headers=a).status_code == 204
    assert client.get(f"/api/v1/events/{event['id']}", headers=a).json()["partner_ids"] == []


def test_the_demo_loader_is_idempotent(db: Session, world: World) -> None:
    from app.community.events import demo

    created = demo.load_demo(db, world.admin)
    assert created == 2  # the world's schools are primary: no STEM day
    assert count(db, Partner) == 1
    events = list(db.scalars(select(Event)))
    assert [e.title for e in events] == ["Hội thảo: Ứng dụng trí tuệ nhân tạo trong dạy học"]
    assert events[0].values("role") == ["teacher", "school_manager"]
    assert demo.load_demo(db, world.admin) == 0
    assert count(db, Event) == 1
