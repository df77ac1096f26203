"""Accessibility and phone checks on every key page, in headless Chromium at 360×640.

The app runs on its own database loaded with the demo data (``hocso demo``) plus a video course
and a judged contest with an award, so every page has something to show. For each page:

- axe-core (bundled by axe-playwright-python, no network) finds no serious or critical
  violation of the WCAG 2.1 A/AA rules;
- ``<html lang>`` is vi (en with ``?lang=en``);
- nothing scrolls sideways at 360 px;
- every visible control in ``main`` is at least 44×44 CSS px, or a text link inside running
  text (the WCAG 2.5.5 inline exception);
- a full-page screenshot at 360 px goes to test-artifacts/a11y-*.png.

Keyboard checks on the main flows: the skip link is the first tab stop and moves focus to main,
the focused control shows a focus ring, and form errors are tied to their fields."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.demo import DEMO_PASSWORD
from app.accounts.demo import load_demo as load_accounts
from app.accounts.models import Organization, User
from app.cli import alembic_config
from app.community.clubs.demo import load_demo as load_clubs
from app.community.clubs.models import Club, Thread
from app.community.contests import service as contests
from app.community.contests.models import Award, Contest
from app.community.events.demo import load_demo as load_events
from app.community.events.models import Event, Partner
from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, session_scope, utcnow
from app.core.storage import make_blob_store
from app.lcms import service as lcms
from app.lcms import tracks
from app.lcms.demo import load_demo as load_content
from app.lcms.models import ContentItem
from app.lms import service as lms
from app.lms.demo import COURSE_TITLE
from app.lms.demo import load_demo as load_course
from app.lms.models import Certificate, Course, Lesson, LessonKind, Module
from app.main import create_app
from app.reports.demo import load_demo as load_reports
from app.reports.periodic import PeriodicReport
from tests.e2e.conftest import ARTIFACTS
from tests.lcms import samples
from tests.lms.helpers import store_bytes
from tests.support.live import live_server

pytestmark = pytest.mark.e2e

PHONE: ViewportSize = {"width": 360, "height": 640}
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
AXE = Axe()

ADMIN = "admin@tancuong.edu.vn"
MANAGER = "quanly.th@tancuong.edu.vn"  # submitted the demo periodic report
AUTHOR = "tacgia@tancuong.edu.vn"
STUDENT = "hs.thcs1@tancuong.edu.vn"
JUDGE = "gv.th@tancuong.edu.vn"
LEARNER = "gv.thcs2@tancuong.edu.vn"  # completed the demo course: has a certificate

# Controls that must be big enough to tap. Inline text links are exempt (WCAG 2.5.5).
TAP_TARGETS_JS = """
() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, '
    + '[role=button]';
  const running = 'p, li, dd, td, th, figcaption, blockquote';
  const bad = [];
  for (const el of document.querySelectorAll('main ' + selector.split(', ').join(', main '))) {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') continue;
    let box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (el.closest('.visually-hidden')) continue;
    // A checkbox, radio or file input is tapped through its label too.
    let width = box.width, height = box.height;
    for (const label of el.labels || []) {
      const lb = label.getBoundingClientRect();
      width = Math.max(width, lb.width);
      height = Math.max(height, lb.height);
    }
    if (width >= 44 - 0.5 && height >= 44 - 0.5) continue;
    // Inline text link inside running text: a sentence, a list item or a cell's text.
    if (el.tagName === 'A' && style.display === 'inline') {
      const block = el.parentElement.closest(running);
      if (block && block.textContent.trim().length > el.textContent.trim().length) continue;
    }
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || el.name || '')
      .trim().slice(0, 40);
    const up = el.parentElement;
    bad.push(`${up.tagName.toLowerCase()}${up.className ? '.' + up.className : ''} > `
      + `${el.tagName.toLowerCase()}${el.className ? '.' + el.className : ''} `
      + `"${text}" ${Math.round(width)}×${Math.round(height)}`);
  }
  return bad;
}
"""


@dataclass
class Site:
    url: str
    ids: dict[str, Any] = field(default_factory=dict)


def _one(session: Session, statement: Any) -> Any:
    value = session.scalar(statement)
    assert value is not None, statement
    return value


def seed(session: Session, settings: Settings) -> dict[str, Any]:
    """The demo data, a course with a video and a PDF lesson, and a judged contest."""
    store = make_blob_store(settings)
    load_accounts(session, settings)
    users = {u.email: u for u in session.scalars(select(User))}
    author, admin = users[AUTHOR], users[ADMIN]
    load_content(session, store, author)
    load_course(session, author, admin, admin.organization)
    load_clubs(session)
    load_events(session, admin, timezone=settings.timezone)
    load_reports(session, settings)
    users = {u.email: u for u in session.scalars(select(User))}
    learner, student, judge = users[LEARNER], users[STUDENT], users[JUDGE]

    # A course with a video lesson and a PDF lesson; the learner is enrolled.
    video = samples.mp4(8192)
    item = lcms.create_item(session, author, title="Video: Nghị quyết 57 là gì?", kind="video")
    lcms.add_version(
        session,
        author,
        item.id,
        sha256=store_bytes(store, video),
        size=len(video),
        media_type="video/mp4",
        filename="nq57.mp4",
    )
    # Vietnamese captions and a transcript: the players show a <track> and a transcript box.
    captions = "WEBVTT\n\n00:00.000 --> 00:02.000\nNghị quyết 57 là gì?\n".encode()
    for kind, data, filename in (
        ("captions", captions, "nq57.vi.vtt"),
        ("transcript", "Nghị quyết 57 là gì? Bản ghi lời.".encode(), "nq57.vi.txt"),
    ):
        prepared = tracks.prepare_track(data, filename, kind=kind, language="vi", label=None)
        tracks.add_track(
            session,
            author,
            item.id,
            1,
            prepared=prepared,
            sha256=tracks.store_bytes(store, prepared.data),
        )
    lcms.publish(session, author, item.id, version=1)
    handbook = _one(session, select(ContentItem).where(ContentItem.kind == "handbook"))
    course = lms.create_course(
        session,
        author,
        title="Học liệu số trong giờ học",
        description="Xem video, đọc sổ tay.",
        levels=["lower_secondary"],
        topics=["CĐS"],
    )
    module = lms.add_module(session, author, course.id, title="Học phần 1")
    video_lesson = lms.add_lesson(
        session, author, module.id, title="Xem video", kind="content", content_id=item.id
    )
    pdf_lesson = lms.add_lesson(
        session, author, module.id, title="Đọc sổ tay", kind="content", content_id=handbook.id
    )
    lms.publish_course(session, author, course.id)
    lms.enroll_self(session, learner, course.id)
    draft = lms.create_course(session, author, title="Khóa học nháp", description="Đang soạn.")
    lms.add_lesson(
        session,
        author,
        lms.add_module(session, author, draft.id, title="Mở đầu").id,
        title="Xem video",
        kind="content",
        content_id=item.id,
    )

    demo_course = _one(session, select(Course).where(Course.title == COURSE_TITLE))
    quiz_lesson = _one(
        session,
        select(Lesson)
        .join(Module, Module.id == Lesson.module_id)
        .where(Module.course_id == demo_course.id, Lesson.kind == LessonKind.quiz),
    )
    certificate = _one(
        session,
        select(Certificate).where(
            Certificate.user_id == learner.id, Certificate.course_id == demo_course.id
        ),
    )

    # A contest: the student's entry, judged and published, with an award.
    commune = _one(session, select(Organization).where(Organization.kind == "commune"))
    now = utcnow()
    contest = contests.create_contest(
        session,
        admin,
        title="Sáng tạo STEM cấp xã",
        kind="stem",
        rules="Mỗi học sinh gửi một bài dự thi kèm bản thuyết minh.",
        opens_at=now - timedelta(days=10),
        closes_at=now + timedelta(days=7),
        levels=["lower_secondary"],
        criteria=[
            contests.CriterionSpec("Tính sáng tạo", 3, 10),
            contests.CriterionSpec("Tính khả thi", 1, 10),
        ],
        organization_id=commune.id,
        prizes=[contests.PrizeSpec(1, "Giải Nhất")],
    )
    contests.add_judge(session, admin, contest.id, judge.id)
    entry = contests.create_entry(
        session, student, contest.id, title="Tưới cây tự động", summary="Cảm biến độ ẩm đất."
    )
    pdf = samples.pdf("Thuyết minh")
    contests.add_entry_file(
        session,
        student,
        entry.id,
        sha256=store_bytes(store, pdf),
        size=len(pdf),
        media_type="application/pdf",
        filename="thuyet-minh.pdf",
    )
    later = now + timedelta(days=8)
    session.flush()
    criteria = contest.criteria
    contests.score_entry(
        session,
        judge,
        entry.id,
        scores={c.id: 8 for c in criteria},
        comment="Ý tưởng thiết thực.",
        now=later,
    )
    contests.publish_results(session, admin, contest.id, decision_number="12/QĐ-UBND", now=later)
    # An open contest too, so the student sees the entry form and the judge the judging page.
    open_contest = contests.create_contest(
        session,
        admin,
        title="Viết về quê hương",
        kind="idea",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=7),
        criteria=[contests.CriterionSpec("Nội dung", 1, 10)],
        organization_id=commune.id,
    )
    contests.add_judge(session, admin, open_contest.id, judge.id)
    session.flush()
    award = _one(session, select(Award).where(Award.user_id == student.id))

    report = _one(
        session,
        select(PeriodicReport).where(
            PeriodicReport.organization_id == users[MANAGER].organization_id
        ),
    )
    event = _one(session, select(Event).order_by(Event.id))
    return {
        "item": handbook.id,
        "video_item": item.id,
        "course": demo_course.id,
        "video_course": course.id,
        "draft_course": draft.id,
        "video_lesson": video_lesson.id,
        "pdf_lesson": pdf_lesson.id,
        "quiz_lesson": quiz_lesson.id,
        "certificate": certificate.code,
        "contest": contest.id,
        "open_contest": open_contest.id,
        "entry": entry.id,
        "award": award.id,
        "student": student.id,
        "manager": users[MANAGER].id,
        "report": report.id,
        "event": event.id,
        "partner": _one(session, select(Partner.id)),
        "club": _one(session, select(Club.id).order_by(Club.id)),
        "thread": _one(session, select(Thread.id).order_by(Thread.id)),
        "school": users[MANAGER].organization_id,
        "contest_title": _one(session, select(Contest.title).where(Contest.id == contest.id)),
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from alembic import command

    data_dir = tmp_path_factory.mktemp("a11y")
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'a11y.db'}",
        secret_key="a11y-secret-key-0123456789abcdef0123456789",
    )
    command.upgrade(alembic_config(settings), "head")
    engine = make_engine(settings)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            ids = seed(session, settings)
    finally:
        engine.dispose()
    with live_server(create_app(settings)) as url:
        yield Site(url, ids)


class Roles:
    """One browser context per role, signed in on first use and reused by every page."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser = browser
        self.url = url
        self.contexts: dict[str, BrowserContext] = {}
        self.pages: dict[str, Page] = {}

    def page(self, email: str | None) -> Page:
        key = email or "anonymous"
        if key not in self.pages:
            context = self.browser.new_context(base_url=self.url, viewport=PHONE, locale="vi-VN")
            self.contexts[key] = context
            page = context.new_page()
            if email is not None:
                page.goto("/login")
                page.fill("input[name=email]", email)
                page.fill("input[name=password]", DEMO_PASSWORD)
                page.click("form.form button[type=submit]")
                expect(page.locator("header .account-name")).to_be_visible()
            self.pages[key] = page
        return self.pages[key]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def roles(browser: Browser, site: Site) -> Iterator[Roles]:
    roles = Roles(browser, site.url)
    yield roles
    roles.close()


# (name, who, path): every key page. Paths name seeded records as {key}.
PAGES: list[tuple[str, str | None, str]] = [
    ("sign-in", None, "/login"),
    ("verify", None, "/verify/{certificate}"),
    ("home-student", STUDENT, "/"),
    ("home-learner", LEARNER, "/"),
    ("home-author", AUTHOR, "/"),
    ("home-manager", MANAGER, "/"),
    ("home-admin", ADMIN, "/"),
    ("library", AUTHOR, "/library"),
    ("library-item", AUTHOR, "/library/{item}"),
    ("library-video", LEARNER, "/library/{video_item}"),
    ("studio", AUTHOR, "/studio"),
    ("studio-item", AUTHOR, "/studio/items/{video_item}"),
    ("studio-courses", AUTHOR, "/studio/courses"),
    ("course-builder", AUTHOR, "/studio/courses/{video_course}"),
    ("course-builder-draft", AUTHOR, "/studio/courses/{draft_course}"),
    ("catalogue", LEARNER, "/courses"),
    ("course", LEARNER, "/courses/{course}"),
    ("lesson-video", LEARNER, "/lessons/{video_lesson}"),
    ("lesson-pdf", LEARNER, "/lessons/{pdf_lesson}"),
    ("quiz", LEARNER, "/lessons/{quiz_lesson}/quiz"),
    ("my-learning", LEARNER, "/my"),
    ("my-certificates", LEARNER, "/my/certificates"),
    ("certificate", LEARNER, "/courses/{course}/certificate"),
    ("certificate-code", LEARNER, "/certificates/{certificate}"),
    ("reports", MANAGER, "/reports"),
    ("completion", MANAGER, "/reports/completion"),
    ("learners", MANAGER, "/reports/completion/learners"),
    ("course-learners", AUTHOR, "/courses/{course}/learners"),
    ("periodic-list", MANAGER, "/reports/periodic"),
    ("periodic-new", MANAGER, "/reports/periodic/new"),
    ("periodic-view", MANAGER, "/reports/periodic/{report}"),
    ("periodic-overview", ADMIN, "/reports/periodic/overview"),
    ("admin-users", ADMIN, "/admin/users"),
    ("admin-user-new", ADMIN, "/admin/users/new"),
    ("admin-user", ADMIN, "/admin/users/{manager}"),
    ("admin-organisations", ADMIN, "/admin/organizations"),
    ("admin-organisation", ADMIN, "/admin/organizations/{school}"),
    ("admin-audit", ADMIN, "/admin/audit"),
    ("events", ADMIN, "/events"),
    ("event", ADMIN, "/events/{event}"),
    ("event-new", ADMIN, "/events/new"),
    ("event-checkin", LEARNER, "/events/{event}/checkin"),
    ("partners", ADMIN, "/partners"),
    ("partner", ADMIN, "/partners/{partner}"),
    ("clubs", STUDENT, "/clubs"),
    ("club", STUDENT, "/clubs/{club}"),
    ("thread", STUDENT, "/threads/{thread}"),
    ("contests", ADMIN, "/contests"),
    ("contest-open", STUDENT, "/contests/{open_contest}"),
    ("contest-results", STUDENT, "/contests/{contest}"),
    ("entry", STUDENT, "/entries/{entry}"),
    ("judging", JUDGE, "/judging/{open_contest}"),
    ("awards", ADMIN, "/awards"),
    ("my-awards", STUDENT, "/users/{student}/awards"),
    ("award-certificate", STUDENT, "/awards/{award}/certificate"),
]


def axe_problems(page: Page) -> list[str]:
    options = {"runOnly": {"type": "tag", "values": WCAG}, "resultTypes": ["violations"]}
    results = AXE.run(page, options=options)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            problems.append(
                f"{violation['id']} ({violation['impact']}): {node['target']} "
                f"{node.get('failureSummary', '')[:200]}"
            )
    return problems


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"a11y-{name}.png"), full_page=True)


@pytest.mark.parametrize(("name", "who", "path"), PAGES, ids=[p[0] for p in PAGES])
def test_page_is_accessible_on_a_phone(
    roles: Roles, site: Site, name: str, who: str | None, path: str
) -> None:
    page = roles.page(who)
    response = page.goto(path.format(**site.ids))
    assert response is not None
    assert response.status == 200, (path, response.status)
    page.wait_for_load_state("load")
    shoot(page, name)
    problems: list[str] = []
    lang = page.evaluate("document.documentElement.lang")
    if lang != "vi":
        problems.append(f"lang is {lang!r}, not 'vi'")
    if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        width = page.evaluate("document.documentElement.scrollWidth")
        problems.append(f"scrolls sideways at 360 px: {width} px wide")
    problems += [f"small tap target: {t}" for t in page.evaluate(TAP_TARGETS_JS)]
    problems += axe_problems(page)
    assert not problems, "\n".join([path, *problems])


@pytest.mark.parametrize("path", ["/library/{video_item}", "/lessons/{video_lesson}"])
def test_video_offers_its_captions_and_transcript(roles: Roles, site: Site, path: str) -> None:
    """Where the author supplied them (WCAG 1.2): the captions load as a text track of the
    video, and the transcript is one tap away under the player, in Vietnamese."""
    page = roles.page(LEARNER)
    page.goto(path.format(**site.ids))
    track = page.locator("video track[kind=captions]")
    assert track.get_attribute("srclang") == "vi"
    assert track.get_attribute("default") is not None
    cues = page.evaluate(
        """() => new Promise((resolve) => {
            const t = document.querySelector("video track[kind=captions]");
            t.track.mode = "hidden";  // load the cues without needing the video to play
            const done = () => resolve([...t.track.cues].map((c) => c.text));
            t.readyState === 2 ? done() : t.addEventListener("load", done);
        })"""
    )
    assert cues == ["Nghị quyết 57 là gì?"]
    transcript = page.locator("details", has_text="Bản ghi lời")
    transcript.locator("summary").click()
    assert "Bản ghi lời." in transcript.inner_text()


def test_english_pages_say_so(roles: Roles, site: Site) -> None:
    page = roles.page(None)
    page.goto("/login?lang=en")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert axe_problems(page) == []
    page.goto("/login?lang=vi")
    assert page.evaluate("document.documentElement.lang") == "vi"


def focus_ring(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => {
              const s = getComputedStyle(document.activeElement);
              return {tag: document.activeElement.tagName, outline: s.outlineStyle,
                      width: s.outlineWidth, shadow: s.boxShadow};
            }"""
        )
    )


def visible_focus(ring: dict[str, str]) -> bool:
    outline = ring["outline"] != "none" and ring["width"] not in ("0px", "")
    return outline or ring["shadow"] != "none"


@pytest.mark.parametrize(
    ("who", "path"),
    [(None, "/login"), (LEARNER, "/courses/{course}"), (MANAGER, "/reports")],
    ids=["sign-in", "course", "reports"],
)
def test_skip_link_and_visible_focus(roles: Roles, site: Site, who: str | None, path: str) -> None:
    page = roles.page(who)
    page.goto(path.format(**site.ids))
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    first = page.evaluate(
        "[document.activeElement.className, document.activeElement.getAttribute('href')]"
    )
    assert first == ["skip-link", "#main"]
    assert visible_focus(focus_ring(page))
    # The skip link shows itself when focused (it is not left off-screen).
    box = page.locator(".skip-link").bounding_box()
    assert box is not None
    assert box["y"] >= 0, box
    assert box["x"] >= 0, box
    assert box["height"] >= 44, box
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # The next stops are in the main content, and each shows where the focus is.
    for _ in range(4):
        page.keyboard.press("Tab")
        ring = focus_ring(page)
        if ring["tag"] == "BODY":
            break
        inside = page.evaluate("!!document.activeElement.closest('main')")
        assert inside, ring
        assert visible_focus(ring), ring


def test_sign_in_error_is_tied_to_the_fields(roles: Roles) -> None:
    page = roles.page(None)
    page.goto("/login")
    page.fill("input[name=email]", f"nobody.{uuid.uuid4().hex[:6]}@tancuong.edu.vn")
    page.fill("input[name=password]", "wrong-password")
    page.click("form.form button[type=submit]")
    field = page.locator("input[name=email]")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby")
    assert described
    message = page.locator(f"#{described.split()[0]}")
    expect(message).to_be_visible()
    assert message.inner_text().strip()
    assert axe_problems(page) == []


def invalid_fields_are_described(page: Page) -> None:
    """Each field marked invalid names its error message, which is shown and not empty."""
    invalid = page.locator("main [aria-invalid=true]")
    expect(invalid.first).to_be_visible()
    for i in range(invalid.count()):
        described = invalid.nth(i).get_attribute("aria-describedby")
        assert described, invalid.nth(i).evaluate("e => e.outerHTML")
        texts = [page.locator(f"[id='{x}']").inner_text().strip() for x in described.split()]
        assert any(texts), (described, texts)


def test_builder_form_errors_are_tied_to_their_fields(roles: Roles, site: Site) -> None:
    # The course builder: a module without a title (the browser's own check is skipped).
    page = roles.page(AUTHOR)
    page.goto("/studio/courses/{draft_course}".format(**site.ids))
    form = page.locator("#add-module form")
    form.evaluate("f => { f.noValidate = true; }")
    form.locator("button[type=submit]").click()
    field = page.locator("#f-module-title")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#add-module-error")).to_be_visible()
    invalid_fields_are_described(page)
    assert axe_problems(page) == []
    shoot(page, "course-builder-error")

    # The event form: an end before the start is an error on the end time.
    page = roles.page(ADMIN)
    page.goto("/events/new")
    page.fill("#f-title", "Sinh hoạt chuyên môn")
    page.fill("#f-start-date", "2026-05-20")
    page.fill("#f-start-time", "14:00")
    page.fill("#f-end-date", "2026-05-20")
    page.fill("#f-end-time", "13:00")
    page.locator("form.event-form button[type=submit]").click()
    expect(page.locator("#f-end-time")).to_have_attribute("aria-invalid", "true")
    invalid_fields_are_described(page)
    assert axe_problems(page) == []
    shoot(page, "event-new-errors")


ON_PAPER_JS = """
() => [...document.querySelectorAll('nav, button, form, .btn, .skip-link, summary, a.action, '
      + 'input:not([type=hidden]), select, textarea, .flashes > *')]
  .filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden';
  })
  .map(e => e.outerHTML.slice(0, 120))
"""


@pytest.mark.parametrize(
    ("name", "who", "path", "landscape"),
    [
        ("certificate", LEARNER, "/courses/{course}/certificate", True),
        ("award-certificate", STUDENT, "/awards/{award}/certificate", True),
        ("periodic-view", MANAGER, "/reports/periodic/{report}", False),
        ("reports", MANAGER, "/reports", False),
    ],
    ids=["certificate", "award-certificate", "periodic-view", "reports"],
)
def test_certificates_and_reports_print_cleanly(
    roles: Roles, site: Site, name: str, who: str, path: str, landscape: bool
) -> None:
    """On paper: no menus, buttons or forms; a certificate is one A4 landscape page, a report
    keeps the printer's portrait pages."""
    page = roles.page(who)
    page.goto(path.format(**site.ids))
    page.emulate_media(media="print")
    try:
        assert page.evaluate(ON_PAPER_JS) == []
        expect(page.locator("main h1, main .certificate, main .merit").first).to_be_visible()
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    finally:
        page.emulate_media(media="screen")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"a11y-print-{name}.pdf").write_bytes(pdf)
    pages = PdfReader(io.BytesIO(pdf)).pages
    box = pages[0].mediabox
    if landscape:
        assert len(pages) == 1
        assert box.width > box.height
    else:
        assert box.width < box.height


def test_artifacts_are_ignored_by_git() -> None:
    ignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "test-artifacts/" in ignore
