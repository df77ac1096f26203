"""Community activity in the reports: counted per organisation and period, rolled up, frozen
into the periodic report's snapshot, summed in the commune overview, printed in the PDF."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.community.clubs.models import Club
from app.community.contests import awards
from app.community.events.models import Attendance, Event
from app.core import i18n
from app.core.config import Settings
from app.reports import community, periodic
from tests.accounts.test_auth_api import token_for
from tests.factories import PASSWORD, make_user
from tests.lms.helpers import World, build_world

Login = Callable[[str, str], TestClient]

# Inside 2026-Q4 (1 October – 31 December 2026).
NOW = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    before = i18n.get_locale()
    i18n.set_locale("en")
    yield
    i18n.set_locale(before)


@pytest.fixture
def world(client: TestClient, db: Session, settings: Settings) -> World:
    return build_world(db, settings, client.app.state.blob_store)  # type: ignore[attr-defined]


def event(db: Session, world: World, org_id: int, starts: datetime, *present: User) -> Event:
    held = Event(
        title="Hội thảo chuyển đổi số",
        kind="seminar",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        organization_id=org_id,
        created_by_id=world.admin.id,
    )
    db.add(held)
    db.flush()
    for person in present:
        db.add(Attendance(event_id=held.id, user_id=person.id, source="organiser"))
    db.flush()
    return held


def activity(db: Session, settings: Settings, world: World) -> None:
    """In 2026-Q4 at the school: 2 events (3 attendances), 1 club, 1 award; plus an event
    before the period and one at the other school, which must not count for this school."""
    other_teacher = make_user(db, settings, role="teacher", organization=world.school)
    event(db, world, world.school.id, datetime(2026, 10, 5, 1, tzinfo=UTC), world.teacher)
    event(
        db,
        world,
        world.school.id,
        datetime(2026, 11, 9, 1, tzinfo=UTC),
        world.teacher,
        other_teacher,
    )
    event(db, world, world.school.id, datetime(2026, 9, 20, 1, tzinfo=UTC), world.teacher)
    event(db, world, world.other_school.id, datetime(2026, 11, 9, 1, tzinfo=UTC), world.outsider)
    db.add(
        Club(
            name="CLB Robotics",
            organization_id=world.school.id,
            created_at=datetime(2026, 10, 1, 2, tzinfo=UTC),
        )
    )
    awards.create_award(
        db,
        world.admin,
        title="Giấy khen giáo viên tiêu biểu",
        user_id=world.teacher.id,
        reason="Tích cực chuyển đổi số",
        decision_number="12/QĐ-UBND",
        awarded_at=datetime(2026, 12, 1, 2, tzinfo=UTC),
    )
    db.flush()


def test_figures_per_organisation_and_period(db: Session, settings: Settings, world: World) -> None:
    activity(db, settings, world)
    q4 = community.community_figures(
        db, [world.school.id, world.other_school.id], date(2026, 10, 1), date(2026, 12, 31), now=NOW
    )
    school = q4[world.school.id]
    assert (school.events_held, school.attendance, school.clubs, school.awards) == (2, 3, 1, 1)
    assert q4[world.other_school.id].events_held == 1
    # The commune sums itself and its schools.
    commune_id = world.school.parent_id
    assert commune_id is not None
    total = community.rolled_up(db, commune_id, date(2026, 10, 1), date(2026, 12, 31), now=NOW)
    assert (total.events_held, total.attendance, total.awards) == (3, 4, 1)
    # Events that have not started yet are not "held".
    early = community.community_figures(
        db,
        [world.school.id],
        date(2026, 10, 1),
        date(2026, 12, 31),
        now=datetime(2026, 10, 6, tzinfo=UTC),
    )
    assert early[world.school.id].events_held == 1


def test_the_snapshot_freezes_the_community_figures(
    client: TestClient, db: Session, settings: Settings, world: World
) -> None:
    activity(db, settings, world)
    report = periodic.create_draft(
        db,
        world.manager,
        organization_id=world.school.id,
        period="2026-Q4",
        narrative="Tổ chức hai hội thảo, thành lập CLB Robotics.",
        now=NOW,
    )
    report = periodic.submit(db, world.manager, report.id, now=NOW)
    frozen = dict(report.figures["community"])  # type: ignore[index]
    assert frozen == {
        "events_held": 2,
        "attendance": 3,
        "clubs": 1,
        "contest_entries": 0,
        "awards": 1,
    }
    # Later activity never changes a submitted report.
    event(db, world, world.school.id, datetime(2026, 12, 10, 1, tzinfo=UTC), world.teacher)
    figures = periodic.figures_of(db, world.manager, report, now=NOW + timedelta(days=1))
    assert figures.community == frozen
    overview = periodic.commune_overview(db, world.admin, "2026-Q4", now=NOW)
    assert overview.rollup_community == frozen

    headers = token_for(client, world.manager.email)
    pdf = client.get(f"/api/v1/reports/periodic/{report.id}.pdf", headers=headers)
    assert pdf.status_code == 200
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "HOẠT ĐỘNG CỘNG ĐỒNG" in text
    assert "Hội thảo, tập huấn, chuyên đề đã tổ chức" in text


def test_snapshots_from_before_the_community_figures_still_show(
    db: Session, settings: Settings, world: World
) -> None:
    report = periodic.create_draft(
        db,
        world.manager,
        organization_id=world.school.id,
        period="2026-Q4",
        narrative="Báo cáo cũ.",
        now=NOW,
    )
    report = periodic.submit(db, world.manager, report.id, now=NOW)
    old = dict(report.figures or {})
    old.pop("community")
    report.figures = old  # as frozen by version 1
    db.flush()
    figures = periodic.figures_of(db, world.manager, report)
    assert figures.community is None
    document = periodic.report_document(report, figures, today=NOW.date())
    assert [s.heading[:3] for s in document.sections] == ["I. ", "II."]


def test_the_dashboard_shows_community_activity_per_school(
    client: TestClient, db: Session, settings: Settings, world: World, page_login: Login
) -> None:
    activity(db, settings, world)
    db.commit()
    client.cookies.clear()
    page_login(world.admin.email, PASSWORD)
    client.cookies.set("hocso_lang", "en")
    page = client.get("/reports", params={"from": "2026-10-01", "to": "2026-12-31"}).text
    assert "Community activity" in page
    section = page[page.index('id="community-title"') :]
    # By the school and its sibling: 2 + 1 events held in the dates, 1 award, 1 club in all.
    assert re.search(r'data-figure="community-events">3<', section)
    assert re.search(r'data-figure="community-awards">1<', section)
    client.cookies.clear()
    page_login(world.manager.email, PASSWORD)
    client.cookies.set("hocso_lang", "en")
    mine = client.get("/reports", params={"from": "2026-10-01", "to": "2026-12-31"}).text
    section = mine[mine.index('id="community-title"') :]
    assert re.search(r'data-figure="community-events">2<', section)  # their school only


def test_the_dashboard_counts_the_communes_own_events(
    client: TestClient, db: Session, settings: Settings, world: World, page_login: Login
) -> None:
    """A seminar run by the commune office counts in the commune's dashboard, in a row of the
    commune's own, although no commune staff member is enrolled in a course."""
    activity(db, settings, world)  # 2 + 1 events at the two schools in the dates
    commune_id = world.school.parent_id
    assert commune_id is not None
    event(db, world, commune_id, datetime(2026, 10, 20, 1, tzinfo=UTC), world.teacher)
    q4 = (date(2026, 10, 1), date(2026, 12, 31))
    assert community.rolled_up(db, commune_id, *q4, now=NOW).events_held == 4
    db.commit()
    client.cookies.clear()
    page_login(world.admin.email, PASSWORD)
    client.cookies.set("hocso_lang", "en")
    page = client.get(
        "/reports", params={"organization_id": commune_id, "from": "2026-10-01", "to": "2026-12-31"}
    ).text
    section = page[page.index('id="community-title"') :]
    section = section[: section.index("</section>")]
    assert re.findall(r'data-figure="community-events">(\d+)<', section) == ["4"]
    rows = re.findall(r'<th scope="row">([^<]*)</th>\s*<td[^>]*>(\d+)<', section)
    assert ("Total", "4") in rows
    assert any(label.endswith("(own members)") and held == "1" for label, held in rows), rows
