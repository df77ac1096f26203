"""Awards: given by administrators to a person or an organisation, seen by the right people,
printed as a Vietnamese certificate of merit, shown on a person's awards page, and counted per
organisation and period for the reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.audit import AuditEntry
from app.community.contests import awards, service, stats
from app.community.contests.awards_certificate import place_name, vietnamese_date
from app.community.contests.models import Award
from app.core.config import Settings
from tests.community.test_contests_api import (
    ContestWorld,
    create_contest,
    enter,
    make_contest_world,
)
from tests.conftest import csrf_from
from tests.factories import PASSWORD

Login = Callable[[str, str], TestClient]


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> ContestWorld:
    return make_contest_world(client, db, settings)


def give(client: TestClient, world: ContestWorld, **body: Any) -> Any:
    payload = {
        "title": "Học sinh có thành tích xuất sắc",
        "reason": "Đã có thành tích xuất sắc trong phong trào chuyển đổi số năm học 2026-2027.",
        "decision_number": "42/QĐ-UBND",
        "awarded_at": "2027-01-05T08:00:00+07:00",
        **body,
    }
    return client.post("/api/v1/awards", headers=world.tokens["admin"], json=payload)


def awards_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Award)) or 0


def test_an_admin_gives_awards_to_a_person_and_to_a_school(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    person = give(client, world, user_id=world.student1.id)
    assert person.status_code == 201, person.text
    body = person.json()
    assert (body["recipient_name"], body["scope_organization_id"]) == (
        "Nguyễn Văn An",
        world.thcs.id,
    )
    assert body["issuer_organization_id"] == world.commune.id
    assert body["certificate_url"] == f"/awards/{body['id']}/certificate"
    school = give(client, world, organization_id=world.th.id, title="Tập thể tiên tiến")
    assert school.status_code == 201
    assert school.json()["recipient_name"] == "Trường Tiểu học Tân Cương"
    logged = db.scalars(select(AuditEntry).where(AuditEntry.action == "award.created")).all()
    assert sorted(e.organization_id or 0 for e in logged) == sorted([world.thcs.id, world.th.id])

    # Who sees what.
    def total(who: str) -> int:
        return int(client.get("/api/v1/awards", headers=world.tokens[who]).json()["total"])

    assert total("admin") == 2
    assert total("student1") == 1
    assert total("student2") == 0
    assert total("manager") == 1  # the THCS's awards (its student's)
    other = client.get(f"/api/v1/awards/{body['id']}", headers=world.tokens["student2"])
    assert other.status_code == 404
    found = client.get("/api/v1/awards?q=nguyen van an", headers=world.tokens["admin"]).json()
    assert found["total"] == 1
    assert (
        client.get("/api/v1/awards?year=2026", headers=world.tokens["admin"]).json()["total"] == 0
    )


def test_the_year_filter_is_the_local_calendar_year(
    client: TestClient, world: ContestWorld, page_login: Login
) -> None:
    """A decision dated 1 January at local midnight is 31 December in UTC: it is listed under
    its own year (API and page), and one dated 31 December late in the evening under that one."""
    for title, at in [
        ("Khen thưởng đầu năm", "2027-01-01T00:00:00+07:00"),
        ("Khen thưởng cuối năm", "2026-12-31T23:30:00+07:00"),
    ]:
        assert give(client, world, user_id=world.student1.id, title=title, awarded_at=at).is_success

    def titles(year: int) -> list[str]:
        page = client.get(f"/api/v1/awards?year={year}", headers=world.tokens["admin"]).json()
        return [item["title"] for item in page["items"]]

    assert titles(2027) == ["Khen thưởng đầu năm"]
    assert titles(2026) == ["Khen thưởng cuối năm"]
    page_login(world.admin.email, PASSWORD)
    page = client.get("/awards?year=2027")
    assert page.status_code == 200
    assert "Khen thưởng đầu năm" in page.text
    assert "Khen thưởng cuối năm" not in page.text


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("admin", {}, 422),  # no recipient
        ("admin", {"user_id": 1, "organization_id": 1}, 422),  # two recipients
        ("admin", {"user_id": 99_999_999}, 404),
        ("admin", {"user_id": 0, "awarded_at": "2027-01-05T08:00:00"}, 422),  # no time zone
        ("admin", {"user_id": 0, "reason": "  "}, 422),
        ("manager", {"user_id": 0}, 403),
        ("student1", {"user_id": 0}, 403),
    ],
)
def test_bad_awards_are_refused(
    client: TestClient,
    db: Session,
    world: ContestWorld,
    who: str,
    body: dict[str, Any],
    status: int,
) -> None:
    if body.get("user_id") == 0:
        body = {**body, "user_id": world.student1.id}
    payload = {
        "title": "Khen thưởng",
        "reason": "Thành tích tốt",
        "awarded_at": "2027-01-05T08:00:00+07:00",
        **body,
    }
    response = client.post("/api/v1/awards", headers=world.tokens[who], json=payload)
    assert response.status_code == status, response.text
    assert awards_count(db) == 0


def test_the_certificate_of_merit_has_the_vietnamese_layout(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    award_id = give(client, world, user_id=world.student1.id).json()["id"]
    page_login(world.student1.email, PASSWORD)
    for lang in ("vi", "en"):  # an official paper: Vietnamese whatever the interface language
        page = client.get(f"/awards/{award_id}/certificate?lang={lang}")
        assert page.status_code == 200
        text = page.text[page.text.index('<article class="merit"') :]
        for words in (
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "ỦY BAN NHÂN DÂN",
            "XÃ TÂN CƯƠNG",
            "CHỦ TỊCH ỦY BAN NHÂN DÂN XÃ TÂN CƯƠNG",
            "GIẤY KHEN",
            "KHEN THƯỞNG",
            "Nguyễn Văn An",
            "Trường THCS Tân Cương",
            "Học sinh có thành tích xuất sắc",
            "phong trào chuyển đổi số",
            "Số: 42/QĐ-UBND",
            "Tân Cương, ngày 05 tháng 01 năm 2027",
        ):
            assert words in text, (lang, words)
        # The national motto comes before the title, the title before the recipient.
        assert text.index("Độc lập") < text.index("GIẤY KHEN") < text.index("Nguyễn Văn An")
    # Someone else's certificate is not found.
    page_login(world.student2.email, PASSWORD)
    assert client.get(f"/awards/{award_id}/certificate").status_code == 404


def test_a_school_issued_certificate_names_the_school_and_its_commune(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    award_id = give(
        client, world, user_id=world.student2.id, issuer_organization_id=world.thcs.id
    ).json()["id"]
    page_login(world.manager.email, PASSWORD)
    text = client.get(f"/awards/{award_id}/certificate").text
    assert "UBND XÃ TÂN CƯƠNG" in text
    assert "TRƯỜNG THCS TÂN CƯƠNG" in text
    assert "HIỆU TRƯỞNG" in text
    assert "Tân Cương, ngày 05 tháng 01 năm 2027" in text


def test_awards_pages_the_admin_form_and_a_persons_awards(
    client: TestClient, db: Session, world: ContestWorld, page_login: Login
) -> None:
    page_login(world.admin.email, PASSWORD)
    page = client.get("/awards")
    assert 'method="post" action="/awards"' in page.text
    created = client.post(
        "/awards",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "Học sinh giỏi STEM",
            "recipient": "user",
            "email": world.student3.email.upper(),
            "reason": "Đạt thành tích cao trong hội thi STEM.",
            "decision_number": "7/QĐ-THCS",
            "awarded_on": "2027-03-26",
            "issuer_organization_id": str(world.thcs.id),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    missing = client.post(
        "/awards",
        data={
            "csrf_token": csrf_from(page.text),
            "title": "Thiếu người nhận",
            "recipient": "user",
            "email": "khong-co@truong.edu.vn",
            "reason": "x",
            "awarded_on": "2027-03-26",
        },
    )
    assert missing.status_code == 422
    assert "khong-co@truong.edu.vn" in missing.text
    assert awards_count(db) == 1

    page_login(world.student3.email, PASSWORD)
    mine = client.get(f"/users/{world.student3.id}/awards")
    assert mine.status_code == 200
    assert "Học sinh giỏi STEM" in mine.text
    assert "26/03/2027" in mine.text
    assert 'href="/awards/' in mine.text
    assert "Học sinh giỏi STEM" in client.get("/awards").text
    assert 'method="post" action="/awards"' not in client.get("/awards").text  # students
    assert client.get(f"/users/{world.student1.id}/awards").status_code == 403
    page_login(world.manager.email, PASSWORD)
    assert client.get(f"/users/{world.student3.id}/awards").status_code == 200


def test_awards_for_users_and_organisations(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    give(client, world, user_id=world.student1.id, awarded_at="2027-01-01T08:00:00+07:00")
    give(client, world, user_id=world.student1.id, awarded_at="2027-02-01T08:00:00+07:00")
    give(client, world, organization_id=world.thcs.id)
    mine = awards.awards_for_user(db, world.student1.id)
    assert [a.awarded_at.month for a in mine] == [2, 1]  # newest first
    assert len(awards.awards_for_organization(db, world.thcs.id)) == 1
    assert len(awards.awards_for_organization(db, world.thcs.id, include_people=True)) == 3


def test_counts_per_organisation_and_period_for_the_reports(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    cid = create_contest(client, world)["id"]
    enter(client, world, cid, "student1", "Một")
    enter(client, world, cid, "student2", "Hai")
    give(client, world, user_id=world.student1.id, awarded_at="2027-01-05T08:00:00+07:00")
    give(client, world, organization_id=world.th.id, awarded_at="2027-03-31T23:30:00+07:00")
    give(client, world, organization_id=world.th.id, awarded_at="2027-04-01T00:30:00+07:00")
    ids = [world.thcs.id, world.th.id, world.elsewhere.id]
    today = datetime.now(UTC)
    assert stats.entries_by_organization(db, ids) == {
        world.thcs.id: 2,
        world.th.id: 0,
        world.elsewhere.id: 0,
    }
    assert (
        stats.entries_by_organization(db, ids, today - timedelta(days=1), today + timedelta(1))[
            world.thcs.id
        ]
        == 2
    )
    assert stats.entries_by_organization(
        db, ids, date(2020, 1, 1), date(2020, 12, 31)
    ) == dict.fromkeys(ids, 0)
    # Whole local days: Q1 2027 ends on 31/03 inclusive (23:30 Vietnam time counts; 00:30 on
    # 1 April does not).
    assert stats.awards_by_organization(db, ids, date(2027, 1, 1), date(2027, 3, 31)) == {
        world.thcs.id: 1,
        world.th.id: 1,
        world.elsewhere.id: 0,
    }
    assert stats.awards_by_organization(db, ids)[world.th.id] == 2
    assert stats.awards_by_organization(db, []) == {}


def test_a_contest_awards_entry_is_linked_and_unique_per_person(
    client: TestClient, db: Session, world: ContestWorld
) -> None:
    cid = create_contest(client, world)["id"]
    entry_id = enter(client, world, cid, "student1", "Một")["id"]
    first = give(client, world, user_id=world.student1.id, entry_id=entry_id)
    assert first.status_code == 201
    assert first.json()["entry_id"] == entry_id
    second = give(client, world, user_id=world.student1.id, entry_id=entry_id)
    assert second.status_code == 409
    assert awards_count(db) == 1
    assert service.get_entry(db, entry_id).title == "Một"


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2027, 1, 5), "ngày 05 tháng 01 năm 2027"),
        (date(2027, 2, 28), "ngày 28 tháng 02 năm 2027"),
        (date(2026, 11, 9), "ngày 09 tháng 11 năm 2026"),
        (date(2026, 3, 15), "ngày 15 tháng 3 năm 2026"),
    ],
)
def test_vietnamese_dates(day: date, text: str) -> None:
    assert vietnamese_date(day) == text


def test_place_names_lose_their_administrative_prefix() -> None:
    assert place_name("Xã Tân Cương") == "Tân Cương"
    assert place_name("Phường Gia Sàng") == "Gia Sàng"
    assert place_name("Thị trấn Đại Từ") == "Đại Từ"
    assert place_name("Tân Cương") == "Tân Cương"
