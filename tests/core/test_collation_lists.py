"""Every list a person reads that is ordered by a person's or an organisation's name comes in
Vietnamese order (issue #8 item 5), on SQLite and PostgreSQL alike, paginated in SQL where the
list is.

The names are chosen so that the code-point order of the raw strings ("B" < "D" < "Á" < "Đ" <
"Ấ"), their case-folded order and their accent-stripped order all differ from the Vietnamese
one; people sort by given name first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.orm import Session

from app.accounts import auth, importer
from app.accounts import service as accounts
from app.accounts.models import Organization, User
from app.cli import alembic_config
from app.community.clubs import service as clubs
from app.community.clubs.models import ClubMember, MemberRole
from app.community.contests import awards
from app.community.contests import service as contests
from app.community.events import service as events
from app.core import i18n
from app.core.collation import vi_name_key, vi_sort_key
from app.core.config import Settings
from app.lms.models import Lesson, Module
from app.reports import periodic
from tests.factories import PASSWORD, make_org, make_user
from tests.reports.test_completion import add_course, enrol

# In Vietnamese order. Binary order would be Bình Sơn, Dương Tự Minh, Ánh Sáng, Đồng Bẩm,
# Ấp Bắc; accent-stripped order would put Đồng Bẩm before Dương Tự Minh.
SCHOOLS = [
    "Trường Tiểu học Ánh Sáng",
    "Trường Tiểu học Ấp Bắc",
    "Trường Tiểu học Bình Sơn",
    "Trường Tiểu học Dương Tự Minh",
    "Trường Tiểu học Đồng Bẩm",
]
# In Vietnamese order: by given name (An, Ánh, Ấn, Bé, Dung, Đức), whatever the family name.
PEOPLE = [
    "Nguyễn Văn An",
    "Đặng Văn Ánh",
    "Lê Thị Ấn",
    "Dương Thị Bé",
    "Phạm Thị Dung",
    "Trần Văn Đức",
]


def scrambled(names: list[str]) -> list[str]:
    """The order rows are created in: neither the expected order nor its reverse."""
    return names[1::2] + names[::2]


def h(settings: Settings, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.issue_token(settings, user)}"}


def get(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def in_page_order(html: str, names: list[str]) -> list[str]:
    """``names`` in the order they first appear in ``html``."""
    found = {name: html.find(name) for name in names}
    missing = [name for name, at in found.items() if at < 0]
    assert not missing, f"not on the page: {missing}"
    return sorted(names, key=found.__getitem__)


@dataclass
class World:
    province: Organization
    commune: Organization
    schools: dict[str, Organization]  # by name
    admin: User
    people: dict[str, User]  # teachers of the first created school, by full name


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.get_locale()
    i18n.set_locale("en")
    yield
    i18n.set_locale(before)


@pytest.fixture
def world(db: Session, settings: Settings) -> World:
    province = make_org(db, kind="province", level=None, name="Tỉnh Thái Nguyên")
    commune = make_org(db, kind="commune", level=None, parent=province, name="Xã Tân Cương")
    schools = {name: make_org(db, name=name, parent=commune) for name in scrambled(SCHOOLS)}
    home = schools[SCHOOLS[2]]
    admin = make_user(
        db, settings, role="admin", organization=commune, full_name="Quản Trị", password=PASSWORD
    )
    people = {
        name: make_user(db, settings, organization=home, full_name=name, password=None)
        for name in scrambled(PEOPLE)
    }
    return World(province, commune, schools, admin, people)


# --- the keys are stored and kept -------------------------------------------------------------


def test_sort_keys_are_set_on_creation_rename_and_import(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    user = world.people["Lê Thị Ấn"]
    assert user.sort_name == vi_name_key("Lê Thị Ấn")
    school = world.schools[SCHOOLS[0]]
    assert school.sort_name == vi_sort_key(SCHOOLS[0])

    headers = h(settings, world.admin)
    renamed = client.patch(
        f"/api/v1/users/{user.id}", headers=headers, json={"full_name": "Lê Thị Ân"}
    )
    assert renamed.status_code == 200, renamed.text
    moved = client.patch(
        f"/api/v1/organizations/{school.id}", headers=headers, json={"name": "Trường Tiểu học Yên"}
    )
    assert moved.status_code == 200, moved.text
    db.expire_all()
    assert db.get(User, user.id).sort_name == vi_name_key("Lê Thị Ân")  # type: ignore[union-attr]
    assert db.get(Organization, school.id).sort_name == vi_sort_key(  # type: ignore[union-attr]
        "Trường Tiểu học Yên"
    )
    created = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "vu.thi.anh@truong.edu.vn",
            "full_name": "Vũ Thị Ánh",
            "role": "teacher",
            "organization_id": school.id,
        },
    )
    assert created.status_code == 201, created.text

    csv_text = (
        "email,full_name,role,organization_id\n"
        f"do.van.duc@truong.edu.vn,Đỗ Văn Đức,teacher,{school.id}\n"
    )
    result = importer.import_users(db, settings, world.admin, csv_text.encode())
    assert not result.errors
    stored = dict(db.execute(select(User.full_name, User.sort_name)).tuples().all())
    assert stored["Vũ Thị Ánh"] == vi_name_key("Vũ Thị Ánh")
    assert stored["Đỗ Văn Đức"] == vi_name_key("Đỗ Văn Đức")
    # Every row agrees with its name (nothing written around the models).
    for full_name, sort_name in stored.items():
        assert sort_name == vi_name_key(full_name)
    for name, sort_name in db.execute(select(Organization.name, Organization.sort_name)):
        assert sort_name == vi_sort_key(name)


def test_the_key_columns_compare_in_binary_order(db: Session) -> None:
    columns = {
        table: {c["name"]: c for c in inspect(db.connection()).get_columns(table)}
        for table in ("accounts_user", "accounts_organization")
    }
    for table, found in columns.items():
        collation = getattr(found["sort_name"]["type"], "collation", None)
        if db.get_bind().dialect.name == "postgresql":
            # Without COLLATE "C" PostgreSQL would compare the keys under the server's locale.
            assert collation == "C", table
        else:
            assert collation is None, table  # SQLite: BINARY
    indexes = {i["name"] for i in inspect(db.connection()).get_indexes("accounts_user")}
    assert "ix_accounts_user_sort_name" in indexes


# --- accounts ---------------------------------------------------------------------------------


def test_users_api_lists_people_by_given_name_page_by_page(
    client: TestClient, settings: Settings, world: World
) -> None:
    headers = h(settings, world.admin)
    home = world.schools[SCHOOLS[2]].id
    body = get(client, "/api/v1/users", headers, organization_id=home)
    assert [u["full_name"] for u in body["items"]] == PEOPLE
    # The order holds across pages (SQL does the ordering, not Python on one page).
    paged = [
        u["full_name"]
        for offset in range(0, len(PEOPLE), 4)
        for u in get(
            client, "/api/v1/users", headers, organization_id=home, limit=4, offset=offset
        )["items"]
    ]
    assert paged == PEOPLE


def test_admin_users_page_lists_people_in_vietnamese_order(
    client: TestClient, page_login: Any, world: World
) -> None:
    page_login(world.admin.email, PASSWORD)
    home = world.schools[SCHOOLS[2]].id
    response = client.get(f"/admin/users?organization_id={home}&lang=en")
    assert response.status_code == 200, response.text
    assert in_page_order(response.text, PEOPLE) == PEOPLE


def test_organisations_api_and_tree_list_schools_in_vietnamese_order(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    body = get(client, "/api/v1/organizations", h(settings, world.admin))
    assert [o["name"] for o in body["items"] if o["name"] in SCHOOLS] == SCHOOLS
    (province,) = [n for n in accounts.organization_tree(db) if n.org.id == world.province.id]
    (commune,) = province.children
    assert [n.org.name for n in commune.children] == SCHOOLS


# --- learning and reports ---------------------------------------------------------------------


def test_course_roster_lists_learners_in_vietnamese_order(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    course, _lessons = add_course(db, world.admin, "Chuyển đổi số")
    for name in scrambled(PEOPLE):
        enrol(db, world.people[name], course)
    headers = h(settings, world.admin)
    body = get(client, f"/api/v1/courses/{course.id}/enrollments", headers)
    assert [r["full_name"] for r in body["items"]] == PEOPLE
    second = get(client, f"/api/v1/courses/{course.id}/enrollments", headers, limit=3, offset=3)
    assert [r["full_name"] for r in second["items"]] == PEOPLE[3:]


def test_report_learners_by_school_then_name_and_schools_in_vietnamese_order(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    course, _lessons = add_course(db, world.admin, "Chuyển đổi số")
    # Two people in each of two schools whose binary order is the reverse of Vietnamese.
    placed = {
        "Dương Thị Bé": SCHOOLS[2],  # Bình Sơn
        "Nguyễn Văn An": SCHOOLS[2],
        "Trần Văn Đức": SCHOOLS[1],  # Ấp Bắc
        "Đặng Văn Ánh": SCHOOLS[1],
    }
    for name, school in placed.items():
        user = world.people[name]
        user.organization_id = world.schools[school].id
        enrol(db, user, course)
    db.flush()
    headers = h(settings, world.admin)
    body = get(
        client, "/api/v1/reports/completion/learners", headers, organization_id=world.commune.id
    )
    assert [(r["organization_name"], r["full_name"]) for r in body["items"]] == [
        (SCHOOLS[1], "Đặng Văn Ánh"),
        (SCHOOLS[1], "Trần Văn Đức"),
        (SCHOOLS[2], "Nguyễn Văn An"),
        (SCHOOLS[2], "Dương Thị Bé"),
    ]
    report = get(client, "/api/v1/reports/completion", headers, organization_id=world.commune.id)
    assert [r["label"] for r in report["rows"] if r["label"] in SCHOOLS] == SCHOOLS


def test_periodic_overview_and_rollup_in_vietnamese_order(
    client: TestClient, db: Session, page_login: Any, world: World
) -> None:
    overview = periodic.commune_overview(db, world.admin, "2026-Q4", world.commune.id)
    assert [s.name for s in overview.schools] == SCHOOLS
    labels = ["An toàn giao thông", "Âm nhạc", "Dinh dưỡng", "Đạo đức"]
    snapshots = [{"rows": [{"key": str(i), "label": label} for i, label in enumerate(labels)]}]
    snapshots[0]["rows"].reverse()
    rows, _totals = periodic.rollup(snapshots)
    assert [r["label"] for r in rows] == labels

    page_login(world.admin.email, PASSWORD)
    listing = client.get("/reports/periodic?lang=en")
    assert listing.status_code == 200, listing.text
    assert in_page_order(listing.text, SCHOOLS) == SCHOOLS
    page = client.get(
        f"/reports/periodic/overview?period=2026-Q4&organization_id={world.commune.id}"
    )
    assert page.status_code == 200, page.text
    schools_section = page.text[page.text.index('id="schools-title"') :]
    assert in_page_order(schools_section, SCHOOLS) == SCHOOLS


# --- community --------------------------------------------------------------------------------


def test_club_members_leaders_first_then_by_name(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    home = world.schools[SCHOOLS[2]]
    leader = world.people["Trần Văn Đức"]
    club = clubs.create_club(db, leader, name="CLB Robot", organization_id=home.id)
    for name in scrambled(PEOPLE):
        if name != leader.full_name:
            db.add(ClubMember(club_id=club.id, user_id=world.people[name].id))
    db.flush()
    body = get(client, f"/api/v1/clubs/{club.id}/members", h(settings, leader))
    assert [(m["full_name"], m["role"]) for m in body["items"]] == [
        ("Trần Văn Đức", MemberRole.leader.value)
    ] + [(name, MemberRole.member.value) for name in PEOPLE if name != "Trần Văn Đức"]


def test_clubs_without_news_and_club_places_in_vietnamese_order(db: Session, world: World) -> None:
    names = ["Âm nhạc", "Bóng đá", "Dân ca", "Đọc sách"]
    home = world.schools[SCHOOLS[2]]
    member = world.people["Nguyễn Văn An"]
    for name in scrambled(names):
        club = clubs.create_club(db, world.admin, name=name, organization_id=home.id)
        db.add(ClubMember(club_id=club.id, user_id=member.id))
    db.flush()
    assert [s.name for s in clubs.unread_summary(db, member)] == names
    places = [o.name for o in clubs.creatable_organizations(db, world.admin)]
    assert [p for p in places if p in SCHOOLS] == SCHOOLS


def test_event_attendance_list_in_vietnamese_order(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    starts = datetime.now(UTC) + timedelta(days=3)
    event = events.create_event(
        db,
        world.admin,
        title="Hội thảo chuyển đổi số",
        kind="seminar",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        organization_id=world.commune.id,
        location="Hội trường xã",
    )
    for name in scrambled(PEOPLE):
        events.register(db, world.people[name], event.id)
    headers = h(settings, world.admin)
    body = get(client, f"/api/v1/events/{event.id}/attendance", headers)
    assert [r["full_name"] for r in body["items"]] == PEOPLE
    second = get(client, f"/api/v1/events/{event.id}/attendance", headers, limit=2, offset=2)
    assert [r["full_name"] for r in second["items"]] == PEOPLE[2:4]


def test_contest_judges_by_name_and_tied_results_by_submitter(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    now = datetime.now(UTC)
    contest = contests.create_contest(
        db,
        world.admin,
        title="Ý tưởng sáng tạo",
        kind="idea",
        opens_at=now - timedelta(days=2),
        closes_at=now + timedelta(days=1),
        criteria=[contests.CriterionSpec(name="Sáng tạo", weight=1, max_score=10)],
        organization_id=world.commune.id,
        prizes=[contests.PrizeSpec(rank=1, name="Giải Nhất")],
    )
    # Judges from another school than the entrants; entrants are students.
    judging_school = world.schools[SCHOOLS[4]]
    judges = {
        name: make_user(db, settings, organization=judging_school, full_name=name, password=None)
        for name in scrambled(["Vũ Thị Ánh", "Đinh Văn An", "Bùi Thị Bích"])
    }
    for judge in judges.values():
        contests.add_judge(db, world.admin, contest.id, judge.id)
    headers = h(settings, world.admin)
    detail = get(client, f"/api/v1/contests/{contest.id}", headers)
    assert [j["full_name"] for j in detail["judges"]] == [
        "Đinh Văn An",
        "Vũ Thị Ánh",
        "Bùi Thị Bích",
    ]

    entrants = scrambled(PEOPLE[:4])
    entries = {}
    for name in entrants:
        person = world.people[name]
        person.role = "student"
        entries[name] = contests.create_entry(db, person, contest.id, title=f"Bài của {name}")
    judge = judges["Đinh Văn An"]
    later = now + timedelta(days=1, hours=1)
    criterion = contest.criteria[0].id
    for name, entry in entries.items():
        # Everyone ties at 9 except Lê Thị Ấn (10): rank 1, then three tied at rank 2.
        value = 10.0 if name == "Lê Thị Ấn" else 9.0
        contests.score_entry(db, judge, entry.id, scores={criterion: value}, now=later)
    published = contests.publish_results(db, world.admin, contest.id, now=later)
    expected = ["Lê Thị Ấn", "Nguyễn Văn An", "Đặng Văn Ánh", "Dương Thị Bé"]
    assert [e.submitted_by.full_name for e in published] == expected
    results = get(client, f"/api/v1/contests/{contest.id}/results", headers)
    assert [(r["rank"], r["members"][0]) for r in results["items"]] == [
        (1, "Lê Thị Ấn"),
        (2, "Nguyễn Văn An"),
        (2, "Đặng Văn Ánh"),
        (2, "Dương Thị Bé"),
    ]
    page = get(client, f"/api/v1/contests/{contest.id}/entries", headers, limit=2, offset=2)
    assert [e["title"] for e in page["items"]] == [f"Bài của {n}" for n in expected[2:]]


def test_awards_of_one_date_by_recipient_name(
    client: TestClient, settings: Settings, db: Session, world: World
) -> None:
    when = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    for name in scrambled(PEOPLE):
        awards.create_award(
            db,
            world.admin,
            title="Giấy khen",
            user_id=world.people[name].id,
            reason="Hoàn thành xuất sắc nhiệm vụ",
            awarded_at=when,
        )
    awards.create_award(
        db,
        world.admin,
        title="Giấy khen",
        user_id=world.people["Nguyễn Văn An"].id,
        reason="Giáo viên dạy giỏi",
        awarded_at=when + timedelta(days=1),
    )
    body = get(client, "/api/v1/awards", h(settings, world.admin), limit=100)
    names = [a["recipient_name"] for a in body["items"]]
    assert names == ["Nguyễn Văn An", *PEOPLE]  # the newest first, then one date by name
    home = world.schools[SCHOOLS[2]].id
    school_awards = awards.awards_for_organization(db, home, include_people=True)
    assert [a.recipient_name for a in school_awards] == ["Nguyễn Văn An", *PEOPLE]


# --- the migration fills in existing rows -----------------------------------------------------


@pytest.fixture
def empty_database(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A database of its own on the suite's backend, dropped afterwards."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'backfill.db'}"
        return
    name = f"hocso_backfill_{uuid.uuid4().hex[:12]}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_the_migration_fills_in_keys_of_existing_rows(
    empty_database: str, settings: Settings
) -> None:
    cfg = alembic_config(settings.model_copy(update={"database_url": empty_database}))
    command.upgrade(cfg, "a1a2a3a4a5a6")
    engine = create_engine(empty_database)
    names = scrambled(PEOPLE) * 170  # more rows than one batch of the backfill (1,000)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts_organization (id, name, kind, created_at) "
                    "VALUES (:id, :name, 'province', :at)"
                ),
                [
                    {"id": i + 1, "name": name, "at": datetime(2026, 1, 1)}
                    for i, name in enumerate(SCHOOLS)
                ],
            )
            conn.execute(
                text(
                    "INSERT INTO accounts_user (email, full_name, role, organization_id, "
                    "is_active, token_version, created_at, updated_at) "
                    "VALUES (:email, :name, 'teacher', 1, :yes, 0, :at, :at)"
                ),
                [
                    {"email": f"u{i}@x.vn", "name": n, "yes": True, "at": datetime(2026, 1, 1)}
                    for i, n in enumerate(names)
                ],
            )
        command.upgrade(cfg, "b2b3b4b5b6b7")
        with engine.connect() as conn:
            users = conn.execute(
                text("SELECT full_name FROM accounts_user ORDER BY sort_name, id")
            ).scalars()
            assert list(dict.fromkeys(users)) == PEOPLE
            orgs = conn.execute(
                text("SELECT name FROM accounts_organization ORDER BY sort_name")
            ).scalars()
            assert list(orgs) == SCHOOLS
            for full_name, key in conn.execute(
                text("SELECT full_name, sort_name FROM accounts_user")
            ):
                assert key == vi_name_key(full_name)
        command.downgrade(cfg, "a1a2a3a4a5a6")
        with engine.connect() as conn:
            assert "sort_name" not in {
                c["name"] for c in inspect(conn).get_columns("accounts_user")
            }
    finally:
        engine.dispose()


# --- lists of titles that are not paginated ---------------------------------------------------

COURSE_TITLES = [
    "An toàn mạng",
    "Bài giảng số",
    "Dạy học STEM",
    "Đổi mới sáng tạo",
    "Em yêu khoa học",
    "Ôn tập cuối kỳ",
    "Ứng dụng AI",
]


def test_report_course_choices_and_linkable_event_lessons_in_vietnamese_order(
    db: Session, world: World
) -> None:
    from app.reports.pages import _courses

    courses = {}
    for title in scrambled(COURSE_TITLES):
        course, _lessons = add_course(db, world.admin, title, quizzes=0)
        courses[title] = course
        module_id = db.scalar(select(Module.id).where(Module.course_id == course.id))
        db.add(Lesson(module_id=module_id, title="Hội thảo", kind="event"))
    db.flush()
    assert [title for _id, title in _courses(db)] == COURSE_TITLES
    linkable = events.linkable_lessons(db, world.admin)
    assert [title for _lesson, title in linkable] == COURSE_TITLES
    # Binary order would put "Em" before "Đổi" (E < U+0110) and "Ôn" before them both.
    assert sorted(COURSE_TITLES) != COURSE_TITLES
