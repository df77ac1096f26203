"""Reports in a real browser at 360 px: a school manager opens the dashboard, filters it by a
course, downloads the XLSX (its totals are the figures the page shows), prepares and submits the
quarterly report; the commune admin sees the school as submitted in the overview for that
quarter and downloads the report as a PDF that names the school."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope, utcnow
from app.reports.periods import default_period
from app.reports.service import REPORT_TZ
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ARTIFACTS
from tests.factories import PASSWORD, make_org, make_user
from tests.reports.test_completion import add_course, attempt, enrol

pytestmark = pytest.mark.e2e

FIGURES = ("enrolled", "completed", "completion_rate", "in_progress", "overdue", "average_score")
# The XLSX totals row: label, enrolled, not started, in progress, completed, overdue, rate,
# average progress, average score.
XLSX_COLUMN = {
    "enrolled": 1,
    "in_progress": 3,
    "completed": 4,
    "overdue": 5,
    "completion_rate": 6,
    "average_score": 8,
}


@dataclass
class School:
    name: str
    manager_email: str
    manager_name: str
    course_id: int
    course_title: str
    other_course_title: str


@pytest.fixture
def school(live_settings: Settings, base_url: str) -> Iterator[School]:
    """A school of Xã Tân Cương with five teachers in two courses, in the live database."""
    engine = make_engine(live_settings)
    tag = uuid.uuid4().hex[:6]
    now = utcnow()
    day = timedelta(days=1)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            commune = session.scalar(
                select(Organization).where(Organization.name == "Xã Tân Cương")
            )
            assert commune is not None
            org = make_org(session, parent=commune, name=f"Trường Tiểu học Hòa Bình {tag}")
            manager = make_user(
                session,
                live_settings,
                role="school_manager",
                organization=org,
                email=f"hieutruong.{tag}@e2e.edu.vn",
                full_name="Đinh Thị Hiền",
            )
            author = make_user(session, live_settings, role="author", organization=commune)

            def teacher(name: str) -> User:
                return make_user(
                    session,
                    live_settings,
                    role="teacher",
                    organization=org,
                    full_name=name,
                    password=None,
                )

            t1, t2, t3, t4 = (teacher(n) for n in ("An", "Bình", "Chi", "Dũng"))
            k1, (quiz,) = add_course(session, author, f"Chuyển đổi số {tag}", due_at=now - day)
            k2, _lessons = add_course(session, author, f"An toàn thông tin {tag}")
            # K1: one completed (quiz 8/10), one half way, two untouched; its due date passed.
            enrol(session, t1, k1, enrolled_at=now - 30 * day, completed_at=now - 2 * day)
            attempt(session, t1, quiz, 8)
            enrol(session, t2, k1, progress=50, last_activity_at=now - day)
            enrol(session, t3, k1)
            enrol(session, t4, k1)
            # K2: both completed, so the unfiltered figures differ from K1's.
            enrol(session, t1, k2, completed_at=now - day)
            enrol(session, t2, k2, completed_at=now - day)
            result = School(
                name=org.name,
                manager_email=manager.email,
                manager_name=manager.full_name,
                course_id=k1.id,
                course_title=k1.title,
                other_course_title=k2.title,
            )
        yield result
    finally:
        engine.dispose()


def fits(page: Page, name: str) -> None:
    """No sideways scrolling at 360 px (and a screenshot of the page for review)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"reports-{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def sign_in(page: Page, email: str, password: str, name: str) -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form.form button[type=submit]")
    expect(page.locator("main h1")).to_contain_text(name)


def vi_number(text: str) -> float | None:
    """A figure as the Vietnamese page shows it: "1.234", "33,3%", "–"."""
    text = text.strip().rstrip("%").replace(".", "").replace(",", ".")
    return None if text in ("", "–") else float(text)


def shown_figures(page: Page) -> dict[str, float | None]:
    return {
        key: vi_number(page.locator(f"[data-figure={key}] .stat-value").inner_text())
        for key in FIGURES
    }


def test_manager_reports_and_the_commune_admin_receives_it(
    page: Page, tmp_path: Path, school: School
) -> None:
    # The dashboard, from the menu.
    sign_in(page, school.manager_email, PASSWORD, school.manager_name)
    page.click("header nav a[href='/reports']")
    expect(page.locator("main h1")).to_contain_text(school.name)
    expect(page.locator("main")).to_contain_text(school.other_course_title)
    unfiltered = shown_figures(page)
    assert unfiltered["enrolled"] == 6
    assert page.locator("main svg[role=img]").count() == 3  # two bar charts and the trend
    fits(page, "dashboard")

    # Filter by the course.
    page.select_option("select[name=course_id]", str(school.course_id))
    page.click("form.report-filters button[type=submit]")
    expect(page).to_have_url(re.compile(rf"course_id={school.course_id}"))
    expect(page.locator("select[name=course_id]")).to_have_value(str(school.course_id))
    figures = shown_figures(page)
    assert figures == {
        "enrolled": 4,
        "completed": 1,
        "completion_rate": 25.0,
        "in_progress": 1,
        "overdue": 3,
        "average_score": 80.0,
    }
    by_course = page.locator("section[aria-labelledby=course-title] table")
    expect(by_course).to_contain_text(school.course_title)
    expect(by_course).not_to_contain_text(school.other_course_title)
    fits(page, "dashboard-filtered")

    # Its XLSX: the totals row is what the page shows.
    with page.expect_download() as info:
        page.locator("main a[href^='/reports/completion.xlsx']").first.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / "bao-cao.xlsx"
    download.save_as(path)
    rows = [tuple(r) for r in load_workbook(path).active.iter_rows(values_only=True)]
    totals = rows[-1]
    assert totals[0] == "Tổng cộng"
    for key, column in XLSX_COLUMN.items():
        assert totals[column] == figures[key], (key, totals)
    assert [r[0] for r in rows[2:-1]] == [school.course_title]

    # The quarterly report: the quarter that has just ended, the activities, submit.
    period = default_period(utcnow().astimezone(REPORT_TZ).date())
    page.click("header nav a[href='/reports/periodic']")
    page.locator("main a[href='/reports/periodic/new']").first.click()
    page.select_option("select[name=period]", period.label)
    page.fill(
        "textarea[name=narrative]",
        "Tổ chức hội thảo chuyên đề về Nghị quyết 57.\nThành lập câu lạc bộ STEM khối 5.",
    )
    fits(page, "periodic-new")
    page.click("form[action='/reports/periodic'] button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    report_url = page.url
    assert re.search(r"/reports/periodic/\d+$", report_url)
    page.check("#f-confirm")
    page.click("form[action$='/submit'] button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("form[action$='/submit']")).to_have_count(0)
    fits(page, "periodic-submitted")

    # The commune admin: the school has submitted for that quarter; the PDF names it.
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, "Quản Trị E2E")
    page.goto(f"/reports/periodic/overview?period={period.label}&lang=en")
    row = page.locator("main tr", has_text=school.name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(re.compile(r"Submitted (on time|late)"))
    fits(page, "overview")
    row.locator("a").click()
    expect(page).to_have_url(report_url)
    with page.expect_download() as info:
        page.click("main a[href$='.pdf']")
    pdf = info.value
    pdf_path = tmp_path / "bao-cao.pdf"
    pdf.save_as(pdf_path)
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    words = " ".join(text.split()).upper()  # the header may wrap the name over two lines
    assert school.name.upper() in words
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in words
