"""A STEM contest in a real browser at 360 px: a student submits an entry with a file, the
deadline passes, two judges score it on their judging pages, the organiser publishes the
results, and the award (with its certificate of merit) appears on the student's awards page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from app.community.contests import service
from app.community.contests.models import Contest
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import ARTIFACTS
from tests.factories import PASSWORD, make_org, make_user
from tests.lcms import samples

pytestmark = pytest.mark.e2e


@dataclass
class Cast:
    contest_id: int
    title: str
    organiser: str
    judge1: str
    judge2: str
    student: str
    student_name: str
    student_id: int
    manager: str  # the student's school manager, who sees the award in the school's report


@pytest.fixture
def cast(live_settings: Settings, base_url: str) -> Iterator[Cast]:
    """A commune with two lower secondary schools, an open contest with two judges."""
    engine = make_engine(live_settings)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            province = make_org(session, kind="province", level=None, name=f"Tỉnh {tag}")
            commune = make_org(
                session, kind="commune", level=None, parent=province, name=f"Xã Tân Cương {tag}"
            )
            school_a = make_org(
                session, level="lower_secondary", parent=commune, name=f"Trường THCS A {tag}"
            )
            school_b = make_org(
                session, level="lower_secondary", parent=commune, name=f"Trường THCS B {tag}"
            )
            people = {
                name: make_user(
                    session,
                    live_settings,
                    role=role,
                    organization=org,
                    email=f"{name}.{tag}@e2e.edu.vn",
                    full_name=full_name,
                )
                for name, role, org, full_name in (
                    ("organiser", "admin", commune, "Phạm Văn Tổ Chức"),
                    ("judge1", "teacher", school_a, "Hoàng Thị Giám Khảo"),
                    ("judge2", "teacher", school_b, "Đỗ Văn Giám Khảo"),
                    ("student", "student", school_b, "Vũ Thị Lan"),
                    ("manager", "school_manager", school_b, "Lê Thị Hiệu Trưởng"),
                )
            }
            title = f"Sáng tạo STEM {tag}"
            contest = service.create_contest(
                session,
                people["organiser"],
                title=title,
                kind="stem",
                rules="Mỗi học sinh gửi một bài dự thi kèm bản thuyết minh.",
                opens_at=now - timedelta(days=1),
                closes_at=now + timedelta(days=7),
                levels=["lower_secondary"],
                criteria=[
                    service.CriterionSpec("Tính sáng tạo", 3, 10),
                    service.CriterionSpec("Tính khả thi", 1, 10),
                ],
                organization_id=commune.id,
                prizes=[service.PrizeSpec(1, "Giải Nhất"), service.PrizeSpec(2, "Giải Nhì")],
            )
            for judge in ("judge1", "judge2"):
                service.add_judge(session, people["organiser"], contest.id, people[judge].id)
            result = Cast(
                contest_id=contest.id,
                title=title,
                organiser=people["organiser"].email,
                judge1=people["judge1"].email,
                judge2=people["judge2"].email,
                student=people["student"].email,
                student_name=people["student"].full_name,
                student_id=people["student"].id,
                manager=people["manager"].email,
            )
        yield result
    finally:
        engine.dispose()


def fits(page: Page, name: str) -> None:
    """No sideways scrolling at 360 px (and a screenshot of the page for review)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"contests-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    expect(page.locator("header .account-name")).to_be_visible()


def new_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 360, "height": 640}, locale="vi-VN"
    )
    return context.new_page()


def close_contest(live_settings: Settings, contest_id: int) -> None:
    """The deadline passes (the test moves it instead of waiting a week)."""
    engine = make_engine(live_settings)
    now = datetime.now(UTC)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            session.execute(
                update(Contest)
                .where(Contest.id == contest_id)
                .values(opens_at=now - timedelta(days=8), closes_at=now - timedelta(seconds=1))
            )
    finally:
        engine.dispose()


def score(page: Page, contest_id: int, values: tuple[str, str], comment: str) -> None:
    page.goto(f"/judging/{contest_id}")
    form = page.locator("form.score-form").first
    inputs = form.locator("input[name=value]")
    expect(inputs).to_have_count(2)
    inputs.nth(0).fill(values[0])
    inputs.nth(1).fill(values[1])
    form.locator("textarea[name=comment]").fill(comment)
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator(".judging-entry .badge-ok")).to_have_count(1)


def test_student_enters_with_a_file_judges_score_results_and_the_award(
    page: Page, browser: Browser, base_url: str, live_settings: Settings, cast: Cast, tmp_path: Path
) -> None:
    # The student finds the open contest and submits an entry.
    sign_in(page, cast.student)
    page.goto("/contests")
    link = page.locator(f"main a[href='/contests/{cast.contest_id}']")
    expect(link).to_be_visible()
    fits(page, "list")
    link.click()
    expect(page.locator("main h1")).to_have_text(cast.title)
    page.fill("#f-title", "Hệ thống tưới cây tự động bằng cảm biến độ ẩm")
    page.fill("#f-summary", "Cảm biến đo độ ẩm đất, bơm nước khi đất khô.")
    page.click(f"form[action='/contests/{cast.contest_id}/entries'] button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("main h1")).to_have_text("Hệ thống tưới cây tự động bằng cảm biến độ ẩm")
    # ... and adds the project description as a PDF.
    pdf = tmp_path / "Thuyết minh dự án.pdf"
    pdf.write_bytes(samples.pdf("Thuyết minh dự án tưới cây"))
    page.set_input_files("form.upload-form input[type=file]", str(pdf))
    page.click("form.upload-form button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator(".file-list a")).to_have_text("Thuyết minh dự án.pdf")
    fits(page, "entry")
    entry_url = page.url.split("#")[0]

    # The deadline passes: the entry is locked.
    close_contest(live_settings, cast.contest_id)
    page.goto(entry_url)
    expect(page.locator("form.upload-form")).to_have_count(0)
    expect(page.locator("#edit-title")).to_have_count(0)

    # Two judges score it, each on their own page.
    judge1 = new_page(browser, base_url)
    sign_in(judge1, cast.judge1)
    score(judge1, cast.contest_id, ("9", "8"), "Ý tưởng thiết thực.")
    fits(judge1, "judging")
    judge2 = new_page(browser, base_url)
    sign_in(judge2, cast.judge2)
    judge2.goto(f"/judging/{cast.contest_id}")
    expect(judge2.locator("main")).not_to_contain_text("Ý tưởng thiết thực.")  # not A's
    score(judge2, cast.contest_id, ("7", "6"), "Cần thêm số liệu thử nghiệm.")

    # The organiser publishes the results, with the decision number for the awards.
    organiser = new_page(browser, base_url)
    sign_in(organiser, cast.organiser)
    organiser.goto(f"/contests/{cast.contest_id}")
    organiser.fill("#f-decision_number", "25/QĐ-UBND")
    organiser.click(f"form[action='/contests/{cast.contest_id}/publish'] button[type=submit]")
    expect(organiser.locator(".flash-success")).to_be_visible()
    results = organiser.locator("table.results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Giải Nhất")
    expect(results.first).to_contain_text("77,5")  # (87.5 + 67.5) / 2, Vietnamese decimals
    fits(organiser, "results")

    # The award appears on the student's awards page, with its certificate of merit.
    page.goto("/awards")
    page.click(f"a[href='/users/{cast.student_id}/awards']")
    award = page.locator(".award-item")
    expect(award).to_have_count(1)
    expect(award).to_contain_text("Giải Nhất")
    expect(award).to_contain_text("25/QĐ-UBND")
    fits(page, "awards")
    award.locator("a[href$='/certificate']").click()
    merit = page.locator("article.merit")
    expect(merit).to_contain_text("GIẤY KHEN")
    expect(merit).to_contain_text("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    expect(merit).to_contain_text(cast.student_name)
    expect(merit).to_contain_text("Số: 25/QĐ-UBND")
    fits(page, "certificate")

    # The school's report counts the award and the entry (dashboard, community activity).
    manager = new_page(browser, base_url)
    sign_in(manager, cast.manager)
    manager.goto("/reports")
    community = manager.locator("table.community-figures")
    expect(community.locator("[data-figure='community-awards']")).to_have_text("1")
    expect(community.locator("tbody")).to_contain_text("1")  # the contest entry
    fits(manager, "report-community")
    for extra in (judge1, judge2, organiser, manager):
        extra.context.close()
